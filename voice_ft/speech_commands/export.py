"""Waveform-in audio classifiers -> `.tflite`, quantized where it is safe, verified against Keras.

The exported file takes float32 PCM `(batch, clip_samples)` at the model rate (the front end is
inside the model) and returns logits. Quantization of audio models has a known trap: the front end
(STFT power, mel matmul, log, DCT, per-utterance normalisation) spans a huge dynamic range, so
quantizing it to int8 ruins accuracy (FSDD DS-CNN: 0.90 -> 0.17), while the convolutions below it
quantize well. So `"int8"` here means: every op of the front-end layers stays float32
(the converter's `QuantizationDebugger` with `denylisted_nodes`), the rest is full int8.

Every variant is verified on held-out data and refused if its accuracy falls more than
`tolerance` points below Keras. With a `Calibration` its rejection rule is applied to both, and
in-scope accuracy (accepted and right) and OOS recall (held-out clips with label id -1 rejected)
must stay within the tolerance too (`voice_ft.export.rejection_check`); plain accuracy is over
the in-scope clips. `quantization="auto"` tries int8, dynamic, float16, float32 in that
order and keeps the first that passes, saying in the log, the result and the sidecar what it
quantized and why others were refused.
"""

from __future__ import annotations

import collections
import dataclasses
import os
import pathlib
import re
import tempfile

import keras
import numpy as np
import tensorflow as tf
from absl import logging

from voice_ft.evaluation import metrics
from voice_ft.evaluation.inference import inference_function
from voice_ft.export.companions import check_export_target
from voice_ft.export.convert import convert_to_tflite, export_saved_model, make_converter, run_converter
from voice_ft.export.quantization import QUANTIZATIONS
from voice_ft.export.errors import ExportVerificationError
from voice_ft.export.rejection_check import rejection_failures, rejection_figures
from voice_ft.export.sidecar import sidecar_path, write_sidecar
from voice_ft.export.staging import write_verified
from voice_ft.layers import LogMelSpectrogram, SpeechEmbeddingMel, UtteranceNormalization
from voice_ft.runtime.interpreter import TFLiteModel

AUTO_ORDER = ("int8", "dynamic", "float16", "float32")
FRONTEND_LAYERS = (LogMelSpectrogram, SpeechEmbeddingMel, UtteranceNormalization)


@dataclasses.dataclass
class AudioExportResult:
    """What was written, what was quantized, and how it compared with Keras."""

    path: pathlib.Path
    sidecar: pathlib.Path
    quantization: str
    size_bytes: int
    frontend_float: bool
    int8_ops: dict[str, int]
    float_ops: dict[str, int]
    keras_accuracy: float | None = None
    tflite_accuracy: float | None = None
    agreement: float | None = None
    max_abs_diff: float | None = None
    # with a calibration that rejects: its rule applied to both (voice_ft.export.rejection_check)
    keras_in_scope_accuracy: float | None = None
    tflite_in_scope_accuracy: float | None = None
    keras_oos_recall: float | None = None
    tflite_oos_recall: float | None = None
    tflite_oos_precision: float | None = None
    num_oos: int | None = None
    refused: list[dict] = dataclasses.field(default_factory=list)  # variants tried first and refused (auto)

    def to_dict(self) -> dict:
        return {k: (str(v) if isinstance(v, pathlib.Path) else v) for k, v in dataclasses.asdict(self).items()}

    def summary(self) -> str:
        int8 = ", ".join(f"{k} x{v}" for k, v in sorted(self.int8_ops.items())) or "none"
        where = " (front end kept float32)" if self.frontend_float else ""
        return f"{self.quantization}{where}: int8 ops: {int8}; {sum(self.float_ops.values())} float ops"


def frontend_layer_names(model: keras.Model) -> list[str]:
    """Names of the feature-extraction layers, searched through nested models."""
    names = []
    for layer in model.layers:
        if isinstance(layer, FRONTEND_LAYERS):
            names.append(layer.name)
        elif isinstance(layer, keras.Model):
            names.extend(frontend_layer_names(layer))
    return names


def _ops(tflite_bytes: bytes):
    """(op name, output tensor names, first input dtype) for each op; uses LiteRT's op listing."""
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_content=tflite_bytes)
    for op in interpreter._get_ops_details():  # noqa: SLF001 (LiteRT has no public op listing)
        outputs = [interpreter._get_tensor_details(t, 0)["name"] for t in op["outputs"]]
        inputs = [interpreter._get_tensor_details(t, 0)["dtype"] for t in op["inputs"] if t >= 0]
        yield op["op_name"], outputs, (inputs[0] if inputs else None)


def describe_quantization(tflite_bytes: bytes) -> tuple[dict[str, int], dict[str, int]]:
    """Counts ops computing in int8 and in float32 (shape arithmetic in int32 is left out)."""
    int8, floating = collections.Counter(), collections.Counter()
    for name, _, dtype in _ops(tflite_bytes):
        if dtype == np.int8 and name not in ("DEQUANTIZE",):
            int8[name] += 1
        elif dtype in (np.float32, np.float16, np.complex64) and name != "QUANTIZE":
            floating[name] += 1
    return dict(int8), dict(floating)


def convert_audio_model(
    model: keras.Model,
    quantization: str,
    representative_waveforms: np.ndarray | None = None,
    keep_frontend_float: bool = True,
) -> bytes:
    """Converts a waveform-in model; for "int8" the front-end layers' ops stay float32 by default.

    The converter has no public option to keep some nodes float. TF 2.21's
    `tf.lite.experimental.QuantizationDebugger(...).get_nondebug_quantized_model()` does it in two
    steps: a calibration-only conversion, then `mlir_quantize(..., denylisted_nodes=...)`. voice_ft
    runs those two steps itself (`_quantize_except`) because the debugger also converts a second
    float model and builds two deprecated `tf.lite.Interpreter`s it never needs here.
    """
    if quantization != "int8":
        return convert_to_tflite(model, quantization)
    if representative_waveforms is None or len(representative_waveforms) == 0:
        raise ValueError("quantization='int8' needs representative_waveforms (e.g. 200 training clips).")
    input_name = model.inputs[0].name
    waveforms = np.asarray(representative_waveforms, np.float32)

    def representative():
        for clip in waveforms:
            yield {input_name: clip[None]}

    with tempfile.TemporaryDirectory(prefix="voice_ft_audio_") as directory:
        export_saved_model(model, directory)
        converter = make_converter(directory, "int8", representative)
        if not keep_frontend_float:
            return run_converter(converter)
        pattern = re.compile(r"/(%s)(_\d+)?/" % "|".join(map(re.escape, frontend_layer_names(model))))
        float_model = run_converter(make_converter(directory, "float32"))
        nodes = [n for _, outputs, _ in _ops(float_model) for n in outputs if pattern.search(n)]
        if not nodes:
            raise ValueError(f"{model.name}: no front-end layer ({[c.__name__ for c in FRONTEND_LAYERS]}) found to keep float.")
        return _quantize_except(converter, nodes)


def _quantize_except(converter: tf.lite.TFLiteConverter, float_nodes: list[str]) -> bytes:
    """Full-int8 quantization leaving `float_nodes` (output tensor names) in float32.

    The two steps of TF 2.21's `QuantizationDebugger.get_nondebug_quantized_model` with
    `QuantizationDebugOptions(denylisted_nodes=...)` (its defaults: not fully quantized, no numeric
    verification), through the same private converter API the debugger uses.
    """
    from tensorflow.lite.python import convert as tflite_convert  # what QuantizationDebugger calls (TF 2.21)

    converter.experimental_mlir_quantizer = True
    converter._experimental_calibrate_only = True  # noqa: SLF001  as the debugger sets it
    calibrated = run_converter(converter)
    return tflite_convert.mlir_quantize(
        calibrated,
        disable_per_channel=converter._experimental_disable_per_channel,  # noqa: SLF001
        fully_quantize=False,
        enable_numeric_verify=False,
        denylisted_nodes=float_nodes,
    )


def tflite_predict(tflite: TFLiteModel, waveforms: np.ndarray, batch_size: int = 1) -> np.ndarray:
    """Logits of a waveform-in .tflite for `(n, clip_samples)` waveforms."""
    name, out = tflite.input_names[0], tflite.output_names[0]
    return np.concatenate([tflite(**{name: waveforms[i : i + batch_size]})[out] for i in range(0, len(waveforms), batch_size)])


def keras_predict(model: keras.Model, waveforms: np.ndarray, batch_size: int = 64) -> np.ndarray:
    predict = inference_function(model)
    return np.concatenate([np.asarray(predict(waveforms[i : i + batch_size])) for i in range(0, len(waveforms), batch_size)])


def export_audio_classifier(
    model: keras.Model,
    path: str | os.PathLike,
    quantization: str = "auto",
    verify_on: tuple[np.ndarray, np.ndarray] | None = None,
    labels=None,
    representative_waveforms: np.ndarray | None = None,
    sample_rate: int = 16000,
    pad: str = "center",
    tolerance: float = 0.5,
    keep_frontend_float: bool = True,
    overwrite: bool = False,
    calibration=None,
) -> AudioExportResult:
    """Exports a waveform-in classifier to `.tflite` + `<stem>.json`, verified against Keras.

    Args:
        model: waveform `(batch, clip_samples)` -> logits (e.g. `build_speech_command_classifier`).
        path: the `.tflite` to write.
        quantization: "float32", "float16", "dynamic", "int8" (front end float, rest int8) or "auto".
        verify_on: `(waveforms, label_ids)` held-out data; needed for "auto" and strongly advised otherwise.
            Label id -1 (`OOS_LABEL_ID`) marks out-of-scope clips (they measure OOS recall).
        labels: label names in output order (sidecar).
        representative_waveforms: calibration clips for int8 (from the training set).
        sample_rate: the model rate (sidecar; the runtime resamples to it).
        pad: how training clips were padded/trimmed ("center" or "end"; `AudioSource.pad`), for the runtime.
        tolerance: the largest accepted accuracy drop in points; worse variants are refused.
        keep_frontend_float: for int8, keep the front-end ops float32 (set False only to see why).
        overwrite: replace existing files.
        calibration: a `voice_ft.Calibration` (`calibrate_logits` on validation logits): its
            temperature and rejection rule go into the sidecar, and `AudioClassifier` then answers
            `label=None, not_understood=True` below the threshold. Verification then also compares
            in-scope accuracy and OOS recall under that rule.

    Raises:
        ExportVerificationError: the requested variant dropped more than `tolerance` points (nothing written).
    """
    if quantization not in (*AUTO_ORDER, "auto"):
        raise ValueError(f"quantization must be one of {(*QUANTIZATIONS, 'auto')}, got {quantization!r}")
    path = check_export_target(path, overwrite)
    num_outputs = int(model.output_shape[-1])
    if labels is not None and len(labels) != num_outputs:
        raise ValueError(f"{len(labels)} labels given but the model has {num_outputs} outputs.")
    if quantization == "auto" and verify_on is None:
        raise ValueError("quantization='auto' needs verify_on data to choose a variant.")
    candidates = AUTO_ORDER if quantization == "auto" else (quantization,)
    if quantization == "auto" and representative_waveforms is None:
        candidates = AUTO_ORDER[1:]
    keras_logits = keras_predict(model, verify_on[0]) if verify_on is not None else None

    refused = []
    for candidate in candidates:
        tflite_bytes = convert_audio_model(model, candidate, representative_waveforms, keep_frontend_float)
        int8_ops, float_ops = describe_quantization(tflite_bytes)
        result = AudioExportResult(
            path, sidecar_path(path), candidate, len(tflite_bytes),
            frontend_float=candidate == "int8" and keep_frontend_float, int8_ops=int8_ops, float_ops=float_ops,
        )

        def verify(staged: pathlib.Path) -> None:
            if verify_on is not None:
                _verify(TFLiteModel(staged), verify_on[1], keras_logits, verify_on[0], result, calibration)
            drop = _drop(result)
            failures = [f"accuracy {result.tflite_accuracy:.4f}, {drop:.2f} points below Keras ({result.keras_accuracy:.4f})"
                        ] if drop is not None and drop > tolerance else []  # fmt: skip
            failures += rejection_failures(dataclasses.asdict(result), tolerance)
            if failures:
                reason = f"{result.summary()} -> {'; '.join(failures)}; tolerance {tolerance}"
                raise ExportVerificationError(reason, {"quantization": candidate, "tflite_accuracy": result.tflite_accuracy,
                                                       "reason": reason})

        try:
            write_verified(path, tflite_bytes, verify)
        except ExportVerificationError as e:
            refused.append(e.result)
            logging.warning("Refused %s", e.result["reason"])
            continue
        result.refused = refused
        _write_sidecar(model, path, result, labels, sample_rate, pad, num_outputs, calibration)
        logging.info("Exported %s: %s, %d bytes, accuracy %s (Keras %s)", path, result.summary(),
                     result.size_bytes, result.tflite_accuracy, result.keras_accuracy)
        return result
    raise ExportVerificationError(
        "No variant within tolerance: " + "; ".join(r["reason"] for r in refused) + ". Nothing was written.",
        refused,
    )


def _drop(result: AudioExportResult) -> float | None:
    if result.keras_accuracy is None:
        return None
    return 100.0 * (result.keras_accuracy - result.tflite_accuracy)


def _verify(tflite: TFLiteModel, y_true, keras_logits, waveforms, result: AudioExportResult, calibration=None) -> None:
    tflite_logits = tflite_predict(tflite, np.asarray(waveforms, np.float32))
    y_true = np.asarray(y_true)
    in_scope = y_true >= 0
    if not in_scope.any():
        raise ValueError("verify_on holds no in-scope clips (every label id is -1, out of scope).")
    result.keras_accuracy = metrics.accuracy(y_true[in_scope], keras_logits[in_scope].argmax(-1))
    result.tflite_accuracy = metrics.accuracy(y_true[in_scope], tflite_logits[in_scope].argmax(-1))
    for name, value in rejection_figures(calibration, keras_logits, tflite_logits, y_true).items():
        setattr(result, name, value)
    result.agreement = float(np.mean(keras_logits.argmax(-1) == tflite_logits.argmax(-1)))
    result.max_abs_diff = float(np.max(np.abs(keras_logits - tflite_logits)))


def _write_sidecar(model, path, result: AudioExportResult, labels, sample_rate: int, pad: str, num_outputs: int,
                   calibration=None) -> None:
    tflite = TFLiteModel(path)
    clip_samples = int(model.inputs[0].shape[-1])
    write_sidecar(
        path,
        {
            "task": "audio_classification",
            "labels": list(labels) if labels is not None else [str(i) for i in range(num_outputs)],
            "audio": {"sample_rate": sample_rate, "clip_samples": clip_samples, "pad": pad, "channels": 1,
                      "scale": "float32 PCM in [-1, 1]"},
            "inputs": {"waveform": tflite.input_names[0]},
            "outputs": {"logits": tflite.output_names[0]},
            "quantization": result.quantization,
            "quantization_detail": {"frontend_float": result.frontend_float, "int8_ops": result.int8_ops,
                                    "float_ops": result.float_ops},
            "verification": {k: v for k, v in result.to_dict().items() if k not in ("path", "sidecar")},
            **(calibration.sidecar_fields() if calibration is not None else {}),
        },
    )
