"""Keras model -> .tflite bytes, through a SavedModel, with builtin ops only.

Why this path (TF 2.21 / Keras 3.15): `TFLiteConverter.from_keras_model` raises on Keras 3 models and
`from_concrete_functions` leaves the weights unfrozen (NaN outputs); `model.export(dir,
format="tf_saved_model")` then `TFLiteConverter.from_saved_model(dir)` works for every model here.

Writing the SavedModel is the larger part of a conversion (a tiny BERT: ~6 s of it against ~3.5 s
for the converter on a 2-core CPU). A trainer exports one model in several quantizations, so the
last SavedModels are kept (`recent_saved_models`) and reused while the same model object, with the
same weights and inputs, is converted again.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
import tempfile
import threading
import warnings
import weakref
from collections.abc import Callable, Iterable, Iterator

import keras
import numpy as np
import tensorflow as tf
from absl import logging

from voice_ft.export.quantization import check_quantization
from voice_ft.training.precision import float32_compute


class FlexOpsError(RuntimeError):
    """The model needs TensorFlow (Flex) ops, which a phone's TFLite runtime does not have."""

    def __init__(self, ops: list[str], detail: str):
        self.ops = ops
        super().__init__(
            "The model needs ops outside the TFLite builtin set (they would require the Flex delegate, "
            f"which voice_ft does not ship): {', '.join(ops) or 'see the converter log below'}.\n{detail[-2000:]}"
        )


def export_saved_model(model: keras.Model, directory: str, input_signature: list | None = None) -> str:
    """Writes the model's serving function as a SavedModel: its own input names and shapes, or
    `input_signature` (e.g. a fixed length for a model that trains on any length). A model trained in
    mixed precision is written computing in float32 (TFLite has no bfloat16 kernels; its weights are
    float32 already)."""
    with float32_compute(model):
        model.export(directory, format="tf_saved_model", verbose=False, input_signature=input_signature)
    return directory


def make_converter(saved_model_dir: str, quantization: str, representative_data: Callable[[], Iterable[dict]] | None = None,
                   signature_keys: list[str] | None = None) -> tf.lite.TFLiteConverter:
    """A converter configured for one of the four quantization modes.

    Args:
        saved_model_dir: from `export_saved_model`.
        quantization: "float32"; "float16" (weights in fp16); "dynamic" (int8 weights, float
            activations); "int8" (int8 weights and activations, calibrated on
            `representative_data`; inputs/outputs keep their float/int32 types).
        representative_data: a callable returning an iterable of `{signature input name: array}`
            with batch size 1, needed for "int8".
        signature_keys: which SavedModel signatures to convert (default: serving_default).
    """
    check_quantization(quantization)
    converter = tf.lite.TFLiteConverter.from_saved_model(saved_model_dir, signature_keys=signature_keys)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    if quantization == "float16":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_types = [tf.float16]
    elif quantization == "dynamic":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    elif quantization == "int8":
        if representative_data is None:
            raise ValueError("quantization='int8' needs representative data (e.g. 100-500 training examples).")
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = representative_data
        # int8 kernels wherever they exist; an op with no int8 kernel stays float rather than failing.
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8, tf.lite.OpsSet.TFLITE_BUILTINS]
    return converter


def run_converter(converter: tf.lite.TFLiteConverter) -> bytes:
    """Converts, turning a "needs Flex ops" failure into a `FlexOpsError` listing them."""
    try:
        with warnings.catch_warnings():
            # TF 2.21's calibrator (full-int8 conversion) builds a tf.lite.Interpreter inside
            # `convert()` and warns that it is deprecated; not a use of voice_ft's, which runs
            # files with ai_edge_litert only (tests/conftest.py turns the warning into an error).
            warnings.filterwarnings("ignore", message=r"(?s).*tf\.lite\.Interpreter is deprecated")
            return converter.convert()
    except Exception as e:  # the converter raises ConverterError (and others) with a text log
        message = str(e)
        ops = sorted(set(re.findall(r"\btf\.(\w+)", message)))
        if ops or "select-tf-ops" in message or "Flex" in message:
            raise FlexOpsError([f"tf.{op}" for op in ops], message) from None
        raise


def weights_digest(model: keras.Model) -> str:
    """A digest of every variable's name, shape, dtype and value (any training step changes it)."""
    digest = hashlib.blake2b(digest_size=16)
    for variable in model.variables:
        value = np.ascontiguousarray(keras.ops.convert_to_numpy(variable.value))
        digest.update(f"{variable.path}|{value.shape}|{value.dtype}".encode())
        digest.update(value.tobytes())
    return digest.hexdigest()


class _RecentSavedModels:
    """The SavedModels of the last models converted, reused while a model and its weights are unchanged.

    Each is keyed by the model object itself (a weak reference: a new model is never taken for a
    collected one whose id it reuses), what the writer was asked for (`key`: input signature, dtype
    policy, or a speech recogniser's part and shapes) and `weights_digest`. The last `size` are kept;
    a temporary directory is removed when it falls out, or at exit.
    """

    def __init__(self, size: int = 2):
        self._size = size
        self._lock = threading.Lock()
        self._entries: list[tuple[weakref.ref, tuple, tempfile.TemporaryDirectory]] = []  # newest last

    @contextlib.contextmanager
    def use(self, model: keras.Model, key: tuple, write: Callable[[str], object]) -> Iterator[str]:
        """A SavedModel directory of `model` for `key` (reused, or made by `write(directory)`), held for the
        `with` block: no conversion in another thread evicts and deletes it while this one reads it."""
        key = (*key, weights_digest(model))
        with self._lock:
            for i, (model_ref, entry_key, directory) in enumerate(self._entries):
                if model_ref() is model and entry_key == key:
                    self._entries.append(self._entries.pop(i))
                    logging.info("Reusing the SavedModel of %s (same weights and inputs).", model.name)
                    yield directory.name
                    return
            directory = tempfile.TemporaryDirectory(prefix="voice_ft_savedmodel_")
            try:
                write(directory.name)
            except BaseException:
                directory.cleanup()
                raise
            self._entries.append((weakref.ref(model), key, directory))
            while len(self._entries) > self._size:
                self._entries.pop(0)[2].cleanup()
            yield directory.name

    def clear(self) -> None:
        with self._lock:
            for _, _, directory in self._entries:
                directory.cleanup()
            self._entries.clear()


recent_saved_models = _RecentSavedModels()


def convert_to_tflite(
    model: keras.Model,
    quantization: str = "float32",
    representative_data: Callable[[], Iterable[dict]] | None = None,
    input_signature: list | None = None,
) -> bytes:
    """Converts a Keras model to .tflite bytes with builtin ops only (see `export_saved_model` for
    `input_signature`).

    Example:
        >>> tflite_bytes = convert_to_tflite(model, "dynamic")
    """
    check_quantization(quantization)
    key = ("serving", repr(input_signature), model.dtype_policy.name)
    with recent_saved_models.use(model, key, lambda d: export_saved_model(model, d, input_signature)) as directory:
        tflite = run_converter(make_converter(directory, quantization, representative_data))
    logging.info("Converted %s to TFLite (%s): %.1f MB", model.name, quantization, len(tflite) / 1e6)
    return tflite
