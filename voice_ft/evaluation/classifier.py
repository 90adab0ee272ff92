"""Evaluation of classifiers on encoded datasets: predictions, accuracy, macro-F1, confusion."""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from voice_ft.data.text_pipeline import encode_dataset, is_raw_text
from voice_ft.evaluation import metrics


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
    predict = tf.function(lambda x: model(x, training=False))
    labels, logits = [], []
    for x, y, *_ in batched:
        logits.append(np.asarray(predict(x)))
        labels.append(np.asarray(y))
    logits_array = np.concatenate(logits).astype(np.float32)
    return np.concatenate(labels), logits_array.argmax(-1), logits_array


def evaluate(model: keras.Model, dataset: tf.data.Dataset, labels=None, batch_size: int = 64) -> dict:
    """Accuracy, macro-F1 and the confusion matrix of a classifier on a dataset."""
    y_true, y_pred, _ = predict_classes(model, dataset, batch_size)
    num_labels = len(labels) if labels is not None else int(model.output_shape[-1])
    return {
        "accuracy": metrics.accuracy(y_true, y_pred),
        "macro_f1": metrics.macro_f1(y_true, y_pred, num_labels),
        "num_examples": int(len(y_true)),
        "confusion_matrix": metrics.confusion_matrix(y_true, y_pred, num_labels).tolist(),
    }
