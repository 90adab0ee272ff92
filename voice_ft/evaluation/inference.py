"""One traced inference-mode forward pass per model, shared by evaluation, calibration and export checks.

A training run predicts with its model several times: the test split, the validation split for
calibration, and once per exported quantization to check the `.tflite` against Keras. A fresh
`tf.function(lambda x: model(x, training=False))` at each of them traced the whole model again
(twice, with the last, smaller batch), which on a CPU cost more than the predictions themselves.
`inference_function(model)` is made once per model and reused. It relaxes the batch dimension after
the second shape it meets (`reduce_retracing`), so the last batch's size costs at most one more trace.
"""

from __future__ import annotations

import weakref

import tensorflow as tf

_FUNCTIONS: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def inference_function(model):
    """`model(x, training=False)` as a `tf.function`, the same one for every call with the same model.

    The function holds only a weak reference to the model, so the cache entry goes with the model. It
    reads the model's variables when called, so weights loaded or trained after the first call are used.
    """
    function = _FUNCTIONS.get(model)
    if function is None:
        reference = weakref.ref(model)
        function = tf.function(lambda x: reference()(x, training=False), reduce_retracing=True)
        _FUNCTIONS[model] = function
    return function
