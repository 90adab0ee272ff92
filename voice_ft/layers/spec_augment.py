"""SpecAugment (time and frequency masking) as a Keras layer: active in training, identity at inference.

It must live inside the model because the features do: the model takes raw audio. At export time
(`training=False`) it is an identity, so it adds no ops to the .tflite file.
"""

from __future__ import annotations

import keras
import tensorflow as tf


@keras.saving.register_keras_serializable(package="voice_ft")
class SpecAugment(keras.layers.Layer):
    """Zeroes random time and frequency bands of `(batch, frames, features)` during training.

    After per-utterance normalisation, zero is the mean, so a mask removes information without adding
    an outlier value.

    Args:
        time_masks, max_time_width: number of time masks and their max width in frames.
        freq_masks, max_freq_width: number of frequency masks and their max width in features.
    """

    def __init__(self, time_masks: int = 2, max_time_width: int = 10, freq_masks: int = 2, max_freq_width: int = 4, **kwargs):
        super().__init__(**kwargs)
        self.time_masks = time_masks
        self.max_time_width = max_time_width
        self.freq_masks = freq_masks
        self.max_freq_width = max_freq_width

    @staticmethod
    def _masks(batch, length, count, max_width):
        """`(batch, length)` float mask, 0 inside `count` random bands of width <= max_width."""
        positions = tf.range(length)[None, None, :]
        width = tf.random.uniform([batch, count, 1], 0, max_width + 1, dtype=tf.int32)
        room = tf.cast(tf.maximum(length - width, 1), tf.float32)
        start = tf.cast(tf.random.uniform([batch, count, 1]) * room, tf.int32)
        inside = (positions >= start) & (positions < start + width)
        return 1.0 - tf.cast(tf.reduce_any(inside, axis=1), tf.float32)

    def call(self, features, training=None):
        if not training:
            return features
        shape = tf.shape(features)
        batch, frames, bins = shape[0], shape[1], shape[2]
        time_mask = self._masks(batch, frames, self.time_masks, self.max_time_width)[:, :, None]
        freq_mask = self._masks(batch, bins, self.freq_masks, self.max_freq_width)[:, None, :]
        return features * time_mask * freq_mask

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {
            **super().get_config(),
            "time_masks": self.time_masks,
            "max_time_width": self.max_time_width,
            "freq_masks": self.freq_masks,
            "max_freq_width": self.max_freq_width,
        }
