"""Per-utterance feature normalisation: zero mean, unit variance per feature over time."""

from __future__ import annotations

import keras
import tensorflow as tf


@keras.saving.register_keras_serializable(package="voice_ft")
class UtteranceNormalization(keras.layers.Layer):
    """Normalises `(batch, frames, features)` per utterance and per feature over the time axis.

    This removes the recording's channel and loudness (cepstral mean and variance normalisation):
    a cheap, parameter-free way to make a small model robust to new microphones and speakers.

    Args:
        epsilon: added to the variance.
    """

    def __init__(self, epsilon: float = 1e-3, **kwargs):
        super().__init__(**kwargs)
        self.epsilon = epsilon

    def call(self, features):
        mean = tf.reduce_mean(features, axis=1, keepdims=True)
        centred = features - mean
        variance = tf.reduce_mean(tf.square(centred), axis=1, keepdims=True)
        return centred * tf.math.rsqrt(variance + self.epsilon)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "epsilon": self.epsilon}
