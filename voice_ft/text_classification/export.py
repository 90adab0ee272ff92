"""`export_tflite` for text classifiers: convert, verify against Keras, write sidecar + vocabulary.

The exported file takes what the phone computes itself (int32 `token_ids` and `padding_mask` of
the model's sequence length) and returns logits. Verification runs the `.tflite` with LiteRT on
held-out data and compares accuracy and raw outputs with the Keras model; a file whose accuracy
drops by more than `tolerance` points is refused (not written).

With a `Calibration` (from `voice_ft.calibrate`) the sidecar also carries its temperature and
rejection rule (threshold, score, explicit out-of-scope label; `voice_ft.runtime.rejection`), and verification applies both to the Keras and the `.tflite` outputs alike:
in-scope accuracy (accepted and right) and, when `verify_on` holds out-of-scope examples (label
id -1), OOS recall (rejected) are compared too, with the same tolerance. Plain accuracy is always
over the in-scope examples. A rule on the "mahalanobis" score (`voice_ft.calibrate(..., train=)`) is built into
the file: it then has a second output, the score of the sentence embedding (`distance_score.with_distance_score`),
named in the sidecar's `outputs.mahalanobis`, and verification applies the rule to both models' scores.
"""

from __future__ import annotations

import dataclasses
import os
import pathlib

import keras
import numpy as np
import tensorflow as tf
from absl import logging

from voice_ft.backbones.encoder import text_input_signature
from voice_ft.data.text_pipeline import encode_dataset, is_raw_text
from voice_ft.evaluation import metrics
from voice_ft.evaluation.calibration import Calibration
from voice_ft.evaluation.inference import inference_function
from voice_ft.export.companions import check_export_target, text_model_companions, tokenizer_metadata, write_companions
from voice_ft.export.convert import convert_to_tflite
from voice_ft.export.quantization import check_quantization, milder_quantization
from voice_ft.export.errors import ExportVerificationError
from voice_ft.export.rejection_check import rejection_figures
from voice_ft.export.sidecar import sidecar_path, write_sidecar
from voice_ft.export.staging import write_verified
from voice_ft.runtime.interpreter import TFLiteModel
from voice_ft.runtime.rejection import DISTANCE_SCORE
from voice_ft.evaluation.distance_score import with_distance_score


@dataclasses.dataclass
class ExportResult:
    """What was written and how it compared with Keras."""

    path: pathlib.Path
    sidecar: pathlib.Path
    quantization: str
    size_bytes: int
    keras_accuracy: float | None = None
    tflite_accuracy: float | None = None
    agreement: float | None = None  # fraction of examples where both predict the same label
    max_abs_diff: float | None = None  # largest |logit difference|
    # with a calibration that has a threshold: calibrated probabilities, rejections counted as wrong
    keras_in_scope_accuracy: float | None = None
    tflite_in_scope_accuracy: float | None = None
    keras_oos_recall: float | None = None  # fraction of out-of-scope examples rejected (None: none given)
    tflite_oos_recall: float | None = None
    tflite_oos_precision: float | None = None  # fraction of rejected examples that are out of scope
    num_oos: int | None = None

    def to_dict(self) -> dict:
        return {k: (str(v) if isinstance(v, pathlib.Path) else v) for k, v in dataclasses.asdict(self).items()}


def representative_examples(model: keras.Model, dataset: tf.data.Dataset, count: int = 200):
    """A callable yielding `count` single-example input dicts, as the int8 converter wants."""
    batched = _encoded(model, dataset, batch_size=1)

    def generate():
        for x, *_ in batched.take(count):
            yield {name: np.asarray(value) for name, value in x.items()}

    return generate


def tflite_logits(tflite: TFLiteModel, batched: tf.data.Dataset, output_name: str,
                  extra_output: str | None = None) -> tuple[np.ndarray, ...]:  # fmt: skip
    """Runs a converted classifier over `(x, y)` batches; returns (labels, logits), and the
    `extra_output` (the "mahalanobis" score, flattened) third when it is named.

    Shows a Keras progress bar (the verification pass is the slow part of an export).
    """
    labels, logits, extra = [], [], []
    count = int(batched.cardinality())
    progress = keras.utils.Progbar(count if count > 0 else None, unit_name="batch")
    for x, y, *_ in batched.as_numpy_iterator():
        out = tflite(**x)
        logits.append(out[output_name])
        if extra_output:
            extra.append(out[extra_output].reshape(-1))
        labels.append(y)
        progress.add(1)
    if extra_output:
        return np.concatenate(labels), np.concatenate(logits), np.concatenate(extra)
    return np.concatenate(labels), np.concatenate(logits)


def export_tflite(
    model: keras.Model,
    path: str | os.PathLike,
    quantization: str = "dynamic",
    verify_on: tf.data.Dataset | None = None,
    labels=None,
    representative_data: tf.data.Dataset | None = None,
    tolerance: float = 0.5,
    overwrite: bool = False,
    num_representative: int = 200,
    keep_refused: bool = False,
    calibration: Calibration | None = None,
) -> ExportResult:
    """Exports a text classifier to `.tflite` with a sidecar, verified against Keras.

    Args:
        model: a classifier from `build_text_classifier` (it carries its `text_encoder`).
        path: the `.tflite` file to write. `<stem>.json`, `vocab.txt` and `labels.txt` go beside it.
        quantization: "float32", "float16", "dynamic" (int8 weights) or "int8" (full integer).
        verify_on: labelled data (raw text or encoded batches) to compare Keras and TFLite on.
        labels: label names in output order (written to the sidecar and labels.txt).
        representative_data: calibration data for "int8" (drawn from the training set).
        tolerance: largest accepted accuracy drop, in percentage points.
        overwrite: replace existing files.
        num_representative: examples used for int8 calibration.
        keep_refused: keep a file refused by verification as `<stem>.tflite.refused`.
        calibration: from `voice_ft.calibrate`: its temperature and rejection threshold go into
            the sidecar (so `TextClassifier` returns calibrated confidences and "not understood"),
            and verification checks in-scope accuracy and OOS recall with them.

    Returns:
        An `ExportResult`.

    Raises:
        ExportVerificationError: accuracy dropped by more than `tolerance` points.
        voice_ft.export.convert.FlexOpsError: the model needs non-builtin ops.
    """
    check_quantization(quantization)
    encoder = getattr(model, "text_encoder", None)
    if encoder is None:
        raise ValueError("export_tflite needs a model built by a voice_ft text builder (it carries text_encoder).")
    num_outputs = int(model.output_shape[-1])
    if labels is not None and len(labels) != num_outputs:
        raise ValueError(f"{len(labels)} labels given but the model has {num_outputs} outputs.")
    companions = text_model_companions(encoder, pathlib.Path(path).parent, {"labels.txt": labels})
    path = check_export_target(path, overwrite, companions)
    if quantization == "int8" and representative_data is None:
        raise ValueError("quantization='int8' needs representative_data (pass the training set).")

    scored = calibration is not None and calibration.rejection is not None and calibration.score == DISTANCE_SCORE
    if scored and calibration.gaussians is None:
        raise ValueError("The calibration rejects on the mahalanobis score but holds no class Gaussians to build it "
                         "from: calibrate with voice_ft.calibrate(..., train=<training split>).")  # fmt: skip
    exported = with_distance_score(model, calibration.gaussians) if scored else model
    representative = representative_examples(model, representative_data, num_representative) if quantization == "int8" else None
    tflite_bytes = convert_to_tflite(exported, quantization, representative, text_input_signature(encoder.sequence_length))

    result = ExportResult(path=path, sidecar=sidecar_path(path), quantization=quantization, size_bytes=len(tflite_bytes))
    outputs = {}

    def verify(staged: pathlib.Path) -> None:
        tflite = TFLiteModel(staged)
        outputs.update(_output_names(tflite, scored))
        if verify_on is not None:
            _verify(exported, tflite, outputs, verify_on, result, tolerance, calibration)

    write_verified(path, tflite_bytes, verify, keep_refused)

    write_companions(companions)
    write_sidecar(
        path,
        {
            "task": "text_classification",
            "labels": list(labels) if labels is not None else [str(i) for i in range(num_outputs)],
            "tokenizer": tokenizer_metadata(encoder),
            "sequence_length": encoder.sequence_length,
            "inputs": {"token_ids": "token_ids", "padding_mask": "padding_mask"},
            "outputs": outputs,
            "quantization": quantization,
            "verification": {k: v for k, v in result.to_dict().items() if k not in ("path", "sidecar")},
            **(calibration.sidecar_fields() if calibration is not None else {}),
        },
    )
    logging.info("Exported %s (%s, %.1f MB): %s", path, quantization, result.size_bytes / 1e6, result.to_dict())
    return result


def _encoded(model: keras.Model, dataset: tf.data.Dataset, batch_size: int) -> tf.data.Dataset:
    if is_raw_text(dataset):
        return encode_dataset(dataset, model.text_encoder, batch_size=batch_size, cache=False, report_truncation=False)
    return dataset.unbatch().batch(batch_size)


def _output_names(tflite: TFLiteModel, scored: bool) -> dict:
    """The sidecar's "outputs": {"logits": name} (the only output), plus {"mahalanobis": name} for a
    model exported with its distance score (Keras names the outputs by their dict keys)."""
    if not scored:
        return {"logits": tflite.output_names[0]}
    missing = {"logits", DISTANCE_SCORE} - set(tflite.output_names)
    if missing:
        raise RuntimeError(f"the converted model's outputs {tflite.output_names} lack {sorted(missing)}")
    return {"logits": "logits", DISTANCE_SCORE: DISTANCE_SCORE}


def _verify(model, tflite: TFLiteModel, outputs: dict, dataset, result: ExportResult, tolerance: float,
            calibration: Calibration | None = None) -> None:
    batched = _encoded(model, dataset, batch_size=64)
    distance_name = outputs.get(DISTANCE_SCORE)  # the "mahalanobis" output, if the model has it
    y_true, tflite_out, *rest = tflite_logits(tflite, batched, outputs["logits"], distance_name)
    tflite_distance = rest[0] if distance_name else None
    predict = inference_function(model)
    keras_outputs = [predict(x) for x, *_ in batched]

    def keras_output(key):
        return np.concatenate([np.asarray(o[key] if key else o) for o in keras_outputs]).astype(np.float32)

    keras_out = keras_output("logits" if distance_name else None)
    keras_distance = keras_output(DISTANCE_SCORE) if distance_name else None
    in_scope = y_true >= 0
    if not in_scope.any():
        raise ValueError("verify_on holds no in-scope examples (every label id is -1, out of scope).")
    result.keras_accuracy = metrics.accuracy(y_true[in_scope], keras_out[in_scope].argmax(-1))
    result.tflite_accuracy = metrics.accuracy(y_true[in_scope], tflite_out[in_scope].argmax(-1))
    result.agreement = float(np.mean(keras_out.argmax(-1) == tflite_out.argmax(-1)))
    result.max_abs_diff = float(np.max(np.abs(keras_out - tflite_out)))
    checks = [("accuracy", result.keras_accuracy, result.tflite_accuracy)]
    figures = rejection_figures(calibration, keras_out, tflite_out, y_true, keras_distance, tflite_distance)
    for name, value in figures.items():
        setattr(result, name, value)
    if result.keras_in_scope_accuracy is not None:
        checks.append(("in-scope accuracy (with rejection)", result.keras_in_scope_accuracy, result.tflite_in_scope_accuracy))
        if result.num_oos:
            checks.append(("OOS recall", result.keras_oos_recall, result.tflite_oos_recall))
    for what, keras_value, tflite_value in checks:
        drop = 100.0 * (keras_value - tflite_value)
        if drop > tolerance:
            raise ExportVerificationError(
                f"{result.quantization} TFLite {what} {tflite_value:.4f} is {drop:.2f} points below Keras "
                f"({keras_value:.4f}); tolerance is {tolerance} points. "
                f"Try a milder quantization ({milder_quantization(result.quantization)!r}).",
                result,
            )
