"""`MahalanobisScore`: the distance out-of-scope score inside an exported classifier.

The phone runtime sees only the `.tflite`, so the score `-min_c (x - mu_c)^T Sigma^-1 (x - mu_c)` of
`voice_ft.evaluation.mahalanobis.ClassGaussians` is computed in the graph, from the sentence
embedding, with its fitted constants as weights: with Sigma^-1 = W W^T, the distance to class c is
|(x - mu_c) W|^2. Differences, one matrix product and sums: TFLite builtin ops.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf


class MahalanobisScore(keras.layers.Layer):
    """`(batch, dim)` embeddings -> `(batch,)` scores, -min over classes of the squared Mahalanobis distance.

    Built for export (`voice_ft.evaluation.distance_score.with_distance_score`), on top of a
    trained classifier; the classifier's `.keras` file does not hold it (the fitted constants travel
    in the exported graph).

    The class means are subtracted before the whitening product (|(x - mu_c) W|^2, not
    |xW - mu_c W|^2), so that no two large, nearly equal terms cancel in float32. The score is
    sensitive to small moves of the embedding along its low-variance directions, which W stretches: on
    the tiny test model (32 dimensions, barely trained) dynamic-int8 weights moved the embedding by
    0.7% and the scores from about -5 to -300, and the exporter's verification refuses such a file; on
    all-MiniLM-L6-v2 the dynamic-int8 file's OOS recall stays within 0.3 points of Keras (`bench/oos.py`).

    Args:
        whitening: float[dim, dim], W with Sigma^-1 = W W^T.
        means: float[classes, dim], the class means mu_c.
    """

    def __init__(self, whitening, means, **kwargs):
        super().__init__(dtype="float32", **kwargs)
        self._whitening = np.asarray(whitening, np.float32)
        self._means = np.asarray(means, np.float32)
        if self._whitening.ndim != 2 or self._means.ndim != 2 or self._means.shape[1] != self._whitening.shape[0]:
            raise ValueError(f"whitening must be [dim, dim] and means [classes, dim], got {self._whitening.shape} "
                             f"and {self._means.shape}")  # fmt: skip

    def build(self, input_shape):
        def constant(name, value):
            return self.add_weight(name=name, shape=value.shape, initializer=keras.initializers.Constant(value),
                                   trainable=False)  # fmt: skip

        self.whitening = constant("whitening", self._whitening)
        self.means = constant("means", self._means)

    def call(self, embeddings):
        classes, dim = self._means.shape
        difference = tf.cast(embeddings, tf.float32)[:, None, :] - self.means[None, :, :]  # [batch, classes, dim]
        whitened = tf.matmul(tf.reshape(difference, [-1, dim]), self.whitening)
        distances = tf.reshape(tf.reduce_sum(whitened * whitened, axis=1), [-1, classes])
        return -tf.reduce_min(distances, axis=1)

    def compute_output_shape(self, input_shape):
        return (input_shape[0],)
