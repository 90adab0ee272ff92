"""TextEncoder: raw strings -> fixed-length `token_ids` / `padding_mask` (int32), inside tf.data.

A keras-hub tokenizer plus `keras_hub.layers.StartEndPacker` (`[CLS] ... [SEP] [PAD]...`), i.e. what
`BertTextClassifierPreprocessor` does, but with the padding mask cast to int32: a bool mask breaks
`tf.distribute` (Keras reduces the first batch across replicas) and is one more TFLite input type.
"""

from __future__ import annotations

import json
import os
import pathlib

import keras_hub
import tensorflow as tf

from voice_ft.data.files import write_text_atomic


class TextEncoder:
    """Tokenises and packs text to `sequence_length` tokens.

    Args:
        tokenizer: a keras-hub tokenizer with start/end/pad tokens (BERT-style WordPiece).
        sequence_length: total length including the start and end tokens.

    Example:
        >>> encoder = TextEncoder(backbone.tokenizer, sequence_length=32)
        >>> encoder(tf.constant(["wake me up at seven"]))["token_ids"].shape
        TensorShape([1, 32])
    """

    def __init__(self, tokenizer: keras_hub.tokenizers.Tokenizer, sequence_length: int = 64):
        if sequence_length < 3:
            raise ValueError(f"sequence_length must be >= 3, got {sequence_length}")
        self.tokenizer = tokenizer
        self.sequence_length = int(sequence_length)
        self.start_id = _token_id(tokenizer, ("cls_token_id", "start_token_id"))
        self.end_id = _token_id(tokenizer, ("sep_token_id", "end_token_id"))
        self.pad_id = _token_id(tokenizer, ("pad_token_id",))
        self._packer = keras_hub.layers.StartEndPacker(
            sequence_length=self.sequence_length,
            start_value=self.start_id,
            end_value=self.end_id,
            pad_value=self.pad_id,
            return_padding_mask=True,
        )

        # Traced once per encoder and reused by every tf.data map that calls it: tracing the tokenizer (keras-hub
        # 0.x WordPiece + packer) into each dataset's map function took ~2 s a map, and a training run maps
        # its splits six times or more (train, validation, test, truncation counts, calibration, export checks).
        self._encode_batch = tf.function(self._encode, input_signature=[tf.TensorSpec([None], tf.string)])
        self._batch_lengths = tf.function(lambda texts: self.tokenizer(texts).row_lengths(),
                                          input_signature=[tf.TensorSpec([None], tf.string)])  # fmt: skip

    def __call__(self, texts: tf.Tensor) -> dict[str, tf.Tensor]:
        """Encodes a string tensor (scalar or batch) to int32 `token_ids` and `padding_mask`."""
        texts = tf.convert_to_tensor(texts, tf.string)
        if texts.shape.rank == 1:
            return self._encode_batch(texts)
        return self._encode(texts)

    def _encode(self, texts: tf.Tensor) -> dict[str, tf.Tensor]:
        token_ids, padding_mask = self._packer(self.tokenizer(texts))
        return {"token_ids": tf.cast(token_ids, tf.int32), "padding_mask": tf.cast(padding_mask, tf.int32)}

    def count_truncated(self, texts: tf.data.Dataset) -> tuple[int, int]:
        """Counts texts with more word pieces than fit in `sequence_length` (they get truncated).

        Args:
            texts: an unbatched dataset of scalar strings.

        Returns:
            (number truncated, number of texts).
        """
        limit = self.sequence_length - 2

        def count(batch):
            lengths = self._batch_lengths(batch)
            return tf.reduce_sum(tf.cast(lengths > limit, tf.int64)), tf.size(batch, tf.int64)

        totals = texts.batch(1024).map(count).reduce(
            (tf.constant(0, tf.int64), tf.constant(0, tf.int64)), lambda acc, x: (acc[0] + x[0], acc[1] + x[1])
        )
        return int(totals[0]), int(totals[1])

    # --- Persistence: what a run directory / sidecar needs to rebuild the encoder -------------
    def config(self) -> dict:
        """A JSON-able description (the vocabulary is saved separately by `save`)."""
        return {
            "kind": "wordpiece",
            "class": type(self.tokenizer).__name__,
            "vocabulary": "vocab.txt",
            "lowercase": bool(getattr(self.tokenizer, "lowercase", False)),
            "strip_accents": bool(getattr(self.tokenizer, "strip_accents", False)),
            "sequence_length": self.sequence_length,
            "start_id": self.start_id,
            "end_id": self.end_id,
            "pad_id": self.pad_id,
        }

    def save(self, directory: str | os.PathLike) -> dict:
        """Writes vocab.txt and tokenizer.json into `directory`; returns the config."""
        directory = pathlib.Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        vocab = self.tokenizer.get_vocabulary()
        write_text_atomic(directory / "vocab.txt", "\n".join(vocab) + "\n")
        config = self.config()
        write_text_atomic(directory / "tokenizer.json", json.dumps(config, indent=2) + "\n")
        return config

    @classmethod
    def load(cls, directory: str | os.PathLike) -> "TextEncoder":
        """Rebuilds an encoder saved with `save`."""
        directory = pathlib.Path(directory)
        config_path = directory / "tokenizer.json"
        if not config_path.exists():
            raise FileNotFoundError(f"{config_path} not found: not a directory written by TextEncoder.save")
        config = json.loads(config_path.read_text(encoding="utf-8"))
        tokenizer_class = getattr(keras_hub.tokenizers, config.get("class", "BertTokenizer"), keras_hub.tokenizers.BertTokenizer)
        tokenizer = tokenizer_class(
            vocabulary=str(directory / config["vocabulary"]),
            lowercase=config["lowercase"],
            strip_accents=config["strip_accents"],
        )
        return cls(tokenizer, config["sequence_length"])


def _token_id(tokenizer, attributes: tuple[str, ...]) -> int:
    for attribute in attributes:
        value = getattr(tokenizer, attribute, None)
        if value is not None:
            return int(value)
    raise ValueError(f"{type(tokenizer).__name__} has none of {attributes}; a BERT-style tokenizer is needed.")
