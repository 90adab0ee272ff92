"""Classification metrics in numpy (shared by training, export verification and benchmarks)."""

from __future__ import annotations

import numpy as np


def accuracy(y_true, y_pred) -> float:
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    if y_true.size == 0:
        raise ValueError("accuracy of an empty set")
    return float(np.mean(y_true == y_pred))


def confusion_matrix(y_true, y_pred, num_labels: int) -> np.ndarray:
    """Rows are true labels, columns predicted labels."""
    matrix = np.zeros((num_labels, num_labels), np.int64)
    np.add.at(matrix, (np.asarray(y_true), np.asarray(y_pred)), 1)
    return matrix


def macro_f1(y_true, y_pred, num_labels: int) -> float:
    """Unweighted mean of per-label F1 over the labels that occur in y_true or y_pred."""
    matrix = confusion_matrix(y_true, y_pred, num_labels)
    tp = np.diag(matrix).astype(float)
    predicted = matrix.sum(0).astype(float)
    actual = matrix.sum(1).astype(float)
    present = (predicted + actual) > 0
    f1 = np.divide(2 * tp, predicted + actual, out=np.zeros_like(tp), where=(predicted + actual) > 0)
    return float(f1[present].mean())


def auroc(positive_scores, negative_scores) -> float:
    """Area under the ROC curve: P(a random positive scores above a random negative), ties counting half.

    The Mann-Whitney U statistic over the pooled average ranks; exact, no thresholds sampled.
    Used to compare out-of-scope scores (positives: in-scope inputs, negatives: out-of-scope ones).
    """
    pos, neg = np.asarray(positive_scores, np.float64).ravel(), np.asarray(negative_scores, np.float64).ravel()
    if pos.size == 0 or neg.size == 0:
        raise ValueError("auroc needs at least one positive and one negative score")
    pooled = np.concatenate([pos, neg])
    order = np.argsort(pooled, kind="mergesort")
    ranks = np.empty(pooled.size)
    sorted_values = pooled[order]
    # average rank (1-based) for each run of equal values
    starts = np.flatnonzero(np.r_[True, sorted_values[1:] != sorted_values[:-1]])
    ends = np.r_[starts[1:], pooled.size]
    for start, end in zip(starts, ends):
        ranks[order[start:end]] = (start + end + 1) / 2
    u = ranks[: pos.size].sum() - pos.size * (pos.size + 1) / 2
    return float(u / (pos.size * neg.size))
