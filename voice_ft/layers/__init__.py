"""Keras layers that live inside exported models (audio front ends, the text classifiers' distance score).

Every layer here converts to TFLite builtin ops, so an exported model takes raw audio (or token ids)
and computes what the phone needs.
"""

from voice_ft.layers.log_mel import LogMelSpectrogram
from voice_ft.layers.mahalanobis import MahalanobisScore
from voice_ft.layers.normalize import UtteranceNormalization
from voice_ft.layers.spec_augment import SpecAugment
from voice_ft.layers.speech_embedding_mel import SpeechEmbeddingMel

__all__ = ["LogMelSpectrogram", "MahalanobisScore", "SpecAugment", "SpeechEmbeddingMel", "UtteranceNormalization"]
