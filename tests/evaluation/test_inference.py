"""One traced inference function per model, shared by every prediction over it."""

import gc
import weakref

import keras
import numpy as np

from voice_ft.evaluation import inference
from voice_ft.evaluation.inference import inference_function


def small_model(seed: int = 0) -> keras.Model:
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((6,))
    return keras.Model(inputs, keras.layers.Dense(3)(keras.layers.Dropout(0.5)(inputs)))


def test_one_function_per_model_traced_at_most_twice_whatever_the_batch_sizes():
    model = small_model()
    predict = inference_function(model)
    assert inference_function(model) is predict and inference_function(small_model(1)) is not predict
    x = np.random.default_rng(0).normal(size=(64, 6)).astype("float32")
    for batch in (64, 60, 64, 7, 1):  # full batches and smaller last ones, as evaluation and export checks meet them
        np.testing.assert_allclose(predict(x[:batch]), model(x[:batch], training=False), rtol=1e-6)  # no dropout
    assert predict.experimental_get_tracing_count() == 2


def test_weights_set_after_the_first_call_are_used():
    model, other = small_model(0), small_model(1)
    x = np.ones((4, 6), "float32")
    before = np.asarray(inference_function(model)(x))
    model.set_weights(other.get_weights())
    after = np.asarray(inference_function(model)(x))
    assert not np.allclose(before, after)
    np.testing.assert_allclose(after, other(x, training=False), rtol=1e-6)


def test_the_function_does_not_keep_its_model_alive():
    model = small_model()
    inference_function(model)(np.ones((2, 6), "float32"))
    alive = weakref.ref(model)
    del model
    gc.collect()
    assert alive() is None  # and so its cache entry went with it
    assert all(m is not None for m in inference._FUNCTIONS.keys())
