"""Keras layers that live inside exported models (audio front ends).

Every layer here converts to TFLite builtin ops, so an exported model takes raw audio.
"""

from voice_ft.layers.log_mel import LogMelSpectrogram
from voice_ft.layers.normalize import UtteranceNormalization
from voice_ft.layers.spec_augment import SpecAugment
from voice_ft.layers.speech_embedding_mel import SpeechEmbeddingMel

__all__ = ["LogMelSpectrogram", "SpecAugment", "SpeechEmbeddingMel", "UtteranceNormalization"]
