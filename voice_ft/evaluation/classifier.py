"""Evaluation of classifiers on datasets: predictions, accuracy, macro-F1, confusion, calibration."""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from voice_ft.data.labels import OOS_LABEL_ID
from voice_ft.data.text_pipeline import encode_dataset, is_raw_text
from voice_ft.evaluation import metrics
from voice_ft.evaluation.calibration import (
    DEFAULT_BINS,
    DEFAULT_OOS_RECALL,
    DEFAULT_REJECTION_RATE,
    Calibration,
    calibrate_logits,
)
from voice_ft.evaluation.distance_score import fit_class_gaussians, logits_and_embeddings
from voice_ft.evaluation.inference import inference_function


def _batched(model: keras.Model, dataset: tf.data.Dataset, batch_size: int) -> tf.data.Dataset:
    if is_raw_text(dataset):
        encoder = getattr(model, "text_encoder", None)
        if encoder is None:
            raise ValueError("A raw text dataset needs a model with a text_encoder (built by a voice_ft text builder).")
        return encode_dataset(dataset, encoder, batch_size=batch_size, cache=False, report_truncation=False)
    return dataset


def predict_classes(model: keras.Model, dataset: tf.data.Dataset, batch_size: int = 64) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Runs the model over `(x, y)` data; returns (true ids, predicted ids, logits)."""
    batched = _batched(model, dataset, batch_size)
    predict = inference_function(model)
    labels, logits = [], []
    for x, y, *_ in batched:
        logits.append(np.asarray(predict(x)))
        labels.append(np.asarray(y))
    logits_array = np.concatenate(logits).astype(np.float32)
    return np.concatenate(labels), logits_array.argmax(-1), logits_array


def evaluate(model: keras.Model, dataset: tf.data.Dataset, labels=None, batch_size: int = 64) -> dict:
    """Accuracy, macro-F1 and the confusion matrix of a classifier on a dataset.

    Out-of-scope examples (label id -1) are left out: they have no right label to predict (their
    rejection is measured by `calibrate` and `export_tflite`); `num_oos` counts them.
    """
    y_true, y_pred, _ = predict_classes(model, dataset, batch_size)
    num_oos = int(np.sum(y_true < 0))
    y_true, y_pred = y_true[y_true >= 0], y_pred[y_true >= 0]
    num_labels = len(labels) if labels is not None else int(model.output_shape[-1])
    return {
        "accuracy": metrics.accuracy(y_true, y_pred),
        "macro_f1": metrics.macro_f1(y_true, y_pred, num_labels),
        "num_examples": int(len(y_true)),
        "confusion_matrix": metrics.confusion_matrix(y_true, y_pred, num_labels).tolist(),
        **({"num_oos": num_oos} if num_oos else {}),
    }


def calibrate(model: keras.Model, validation: tf.data.Dataset, labels=None, bins: int = DEFAULT_BINS,
              target_in_scope_rejection: float | None = DEFAULT_REJECTION_RATE, batch_size: int = 64,
              score: str = "auto", oos_label: str | None = None,
              target_oos_recall: float | None = DEFAULT_OOS_RECALL, train: tf.data.Dataset | None = None) -> Calibration:
    """Fits a temperature and a rejection threshold for a trained classifier on its validation data.

    Args:
        model: a classifier returning logits (e.g. from `build_intent_classifier`).
        validation: `(text, label_id)` (or encoded) validation data; label id -1 (`OOS_LABEL_ID`,
            from `voice_ft.datasets.load(..., oos_label=...)`) marks out-of-scope examples, which
            then choose the threshold (max in-scope accuracy + OOS recall, lowered as far as
            `target_oos_recall` allows).
        labels: the model's label names (checked against its outputs).
        bins: equal-width bins for ECE and the reliability diagram.
        target_in_scope_rejection: without OOS examples, the fraction of in-scope validation
            examples the threshold rejects (default 2%); None for no threshold.
        score: "max_softmax", "energy", "mahalanobis" (a text classifier given `train`) or "auto"
            (whichever separates in-scope from OOS validation examples best, by AUROC; the max
            softmax without OOS examples).
        oos_label: the name of an explicit out-of-scope class among `labels` (a class trained on
            negatives, e.g. "oos"): it rejects whenever it wins, and the sidecar records it.
        train: a text classifier's training split: with OOS validation examples (or
            `score="mahalanobis"`), the Mahalanobis score is fitted on it and compared too
            (`voice_ft.evaluation.distance_score`); one more pass over it.

    Returns:
        A `Calibration`; pass it to `export_tflite(..., calibration=...)` to ship it in the sidecar,
        and to `voice_ft.evaluation.reports.plot_reliability_diagram` for the PNG.
    """
    num_outputs = int(model.output_shape[-1])
    if labels is not None and len(labels) != num_outputs:
        raise ValueError(f"{len(labels)} labels given but the model has {num_outputs} outputs.")
    oos_class = None
    if oos_label is not None:
        if labels is None or oos_label not in list(labels):
            raise ValueError(f"oos_label {oos_label!r} is not one of the labels {labels}")
        oos_class = list(labels).index(oos_label)
    if score == "mahalanobis" and train is None:
        raise ValueError("score='mahalanobis' needs train (the split its class Gaussians are fitted on)")
    gaussians, distance = None, None
    if train is not None and score in ("auto", "mahalanobis"):
        y_true, logits, embeddings = logits_and_embeddings(model, validation, batch_size)
        if score == "mahalanobis" or (y_true == OOS_LABEL_ID).any():  # "auto" can only choose it with OOS rows
            gaussians = fit_class_gaussians(model, train, oos_class)
            distance = gaussians.score(embeddings)
    else:
        y_true, _, logits = predict_classes(model, validation, batch_size)
    calibration = calibrate_logits(logits, y_true, bins=bins, target_in_scope_rejection=target_in_scope_rejection,
                                   score=score, oos_class=oos_class, oos_label=oos_label,
                                   target_oos_recall=target_oos_recall, distance_score=distance)  # fmt: skip
    calibration.gaussians = gaussians
    return calibration
