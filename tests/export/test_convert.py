"""convert_to_tflite reuses the SavedModel of a model it converted lately, and only while nothing changed."""

import numpy as np
import pytest

import keras
from ai_edge_litert.interpreter import Interpreter

from voice_ft.export import convert


def small_model(seed: int) -> keras.Model:
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((32,), name="features")
    return keras.Model(inputs, keras.layers.Dense(3, name="logits")(keras.layers.Dense(64, activation="relu")(inputs)))


def run(tflite: bytes, x: np.ndarray) -> np.ndarray:
    interpreter = Interpreter(model_content=tflite)
    interpreter.allocate_tensors()
    interpreter.set_tensor(interpreter.get_input_details()[0]["index"], x)
    interpreter.invoke()
    return interpreter.get_tensor(interpreter.get_output_details()[0]["index"])


@pytest.fixture()
def saved_model_writes(monkeypatch):
    """The models each conversion wrote a SavedModel for (none when the last one was reused)."""
    convert.recent_saved_models.clear()
    written = []
    write = convert.export_saved_model

    def counting(model, directory, input_signature=None):
        written.append(model.name)
        return write(model, directory, input_signature)

    monkeypatch.setattr(convert, "export_saved_model", counting)
    yield written
    convert.recent_saved_models.clear()


def test_the_same_model_is_written_once_for_every_quantization(saved_model_writes):
    model = small_model(0)
    x = np.random.default_rng(0).normal(size=(1, 32)).astype(np.float32)
    float32 = convert.convert_to_tflite(model, "float32")
    dynamic = convert.convert_to_tflite(model, "dynamic")
    assert len(saved_model_writes) == 1 and len(dynamic) < len(float32) / 2  # int8 weights: the one write served both
    np.testing.assert_allclose(run(float32, x), model.predict(x, verbose=0), rtol=1e-5, atol=1e-6)


def test_new_weights_another_model_or_other_inputs_write_a_new_one(saved_model_writes):
    import tensorflow as tf

    model = small_model(0)
    x = np.ones((1, 32), np.float32)
    before = run(convert.convert_to_tflite(model, "float32"), x)
    model.layers[-1].kernel.assign(model.layers[-1].kernel * 2.0)  # what a training step does
    after = run(convert.convert_to_tflite(model, "float32"), x)
    np.testing.assert_allclose(after, model.predict(x, verbose=0), rtol=1e-5, atol=1e-6)
    assert not np.allclose(after, before)
    other = small_model(0)  # the same weights, but another model object
    convert.convert_to_tflite(other, "float32")
    convert.convert_to_tflite(other, "float32", input_signature=[tf.TensorSpec((2, 32), tf.float32, name="features")])
    assert len(saved_model_writes) == 4
    convert.convert_to_tflite(model, "float32")  # two are kept: the first model's fell out
    assert len(saved_model_writes) == 5


def test_a_failed_write_leaves_nothing_to_reuse(saved_model_writes, monkeypatch):
    model = small_model(0)

    def failing(model, directory, input_signature=None):
        raise RuntimeError("disk full")

    monkeypatch.setattr(convert, "export_saved_model", failing)
    with pytest.raises(RuntimeError, match="disk full"):
        convert.convert_to_tflite(model, "float32")
    assert convert.recent_saved_models._entries == []


def test_a_directory_in_use_is_not_evicted_by_a_conversion_in_another_thread():
    import pathlib
    import threading

    cache = convert._RecentSavedModels(size=1)
    first, second = small_model(0), small_model(1)
    write = lambda d: pathlib.Path(d, "saved_model.pb").write_bytes(b"x")  # noqa: E731
    used = []

    def convert_second():
        with cache.use(second, ("serving",), write) as d:
            used.append(d)

    with cache.use(first, ("serving",), write) as directory:
        other = threading.Thread(target=convert_second)
        other.start()
        other.join(timeout=0.5)
        assert other.is_alive()  # it waits: making its entry would evict (delete) the one being read
        assert (pathlib.Path(directory) / "saved_model.pb").is_file()
    other.join(timeout=10)
    assert not other.is_alive() and not pathlib.Path(directory).exists()  # evicted once released
    assert len(used) == 1 and pathlib.Path(used[0], "saved_model.pb").is_file()
    cache.clear()
