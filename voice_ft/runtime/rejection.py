"""The "I didn't understand" rule a sidecar describes, applied to logits, numpy only.

Shared by the phone runtimes (`TextClassifier`, `NLUParser`, `AudioClassifier`) and by the
training-side calibration (`voice_ft.evaluation.calibration`), so the rule a threshold was chosen
with is the rule the phone applies. Sidecar block (all but "method" and "threshold" optional):

    "rejection": {"method": "threshold", "threshold": 0.41, "score": "max_softmax", "oos_label": "oos", ...}

- `score`: what is compared with the threshold. "max_softmax" (the default): the calibrated
  probability softmax(logits / T) of the best in-scope label, threshold in [0, 1]. "energy":
  T * logsumexp(in-scope logits / T) (`probabilities.energy`), threshold any finite number.
  "mahalanobis" (text classifiers): minus the squared Mahalanobis distance of the sentence embedding
  to the nearest in-scope class, which the `.tflite` computes itself as a second output (the sidecar's
  `outputs.mahalanobis`; `voice_ft.evaluation.distance_score`), threshold any finite number.
- `oos_label`: one of the model's labels that is an explicit out-of-scope class (trained on
  negatives); an input whose most probable label it is gets rejected whatever its score. The
  threshold may then be null (only the class rejects). `best_label` is always an in-scope label.

An input is rejected when the OOS label wins or when its score is strictly below the threshold.
Bad values (an unknown score, a threshold out of range, an `oos_label` the labels lack) are a
`SidecarError` naming the sidecar and the field.
"""

from __future__ import annotations

import dataclasses
import pathlib
from collections.abc import Sequence

import numpy as np

from voice_ft.runtime.probabilities import _number, calibrated_softmax, energy
from voice_ft.runtime.sidecar import SidecarError

LOGIT_SCORES = ("max_softmax", "energy")  # computed from the logits alone
DISTANCE_SCORE = "mahalanobis"  # a model output of its own
SCORES = (*LOGIT_SCORES, DISTANCE_SCORE)


def rejection_scores(logits, temperature: float = 1.0, score: str = "max_softmax", oos_index: int | None = None,
                     distance_score=None):  # fmt: skip
    """(probabilities [n, k], best in-scope index [n], score [n], OOS class wins [n]) for a batch of logits.

    `distance_score`: float[n], the model's "mahalanobis" output, needed (only) for that score.
    """
    if score not in SCORES:
        raise ValueError(f"score must be one of {SCORES}, got {score!r}")
    if score == DISTANCE_SCORE and distance_score is None:
        raise ValueError("the mahalanobis score needs the model's mahalanobis output (distance_score)")
    logits = np.asarray(logits, np.float64)
    probs = calibrated_softmax(logits, temperature)
    in_scope = np.ones(logits.shape[-1], bool)
    if oos_index is not None:
        in_scope[oos_index] = False
    columns = np.flatnonzero(in_scope)
    best = columns[probs[:, columns].argmax(axis=1)]
    if score == "max_softmax":
        value = probs[np.arange(len(best)), best]
    elif score == "energy":
        value = energy(logits[:, columns], temperature)
    else:
        value = np.asarray(distance_score, np.float64).reshape(len(best))
    oos_wins = probs.argmax(axis=1) == oos_index if oos_index is not None else np.zeros(len(best), bool)
    return probs, best, value, oos_wins


@dataclasses.dataclass(frozen=True)
class Rejection:
    """A threshold on a score, and optionally an out-of-scope class; `decide` applies both."""

    threshold: float | None
    score: str = "max_softmax"
    oos_index: int | None = None

    def decide(self, logits, temperature: float = 1.0, distance_score=None):
        """(probabilities, best in-scope index, score, rejected) per row of `logits` (and of the
        model's "mahalanobis" output, for that score)."""
        probs, best, value, rejected = rejection_scores(logits, temperature, self.score, self.oos_index, distance_score)
        if self.threshold is not None:
            rejected = rejected | (value < self.threshold)
        return probs, best, value, rejected


def sidecar_rejection(meta: dict, path: pathlib.Path, labels: Sequence[str],
                      scores: Sequence[str] = LOGIT_SCORES) -> Rejection | None:  # fmt: skip
    """The checked rejection rule of a sidecar; None without a "rejection" block. `scores`: those
    the calling runtime can compute (`SCORES` where the model has a "mahalanobis" output)."""
    block = meta.get("rejection")
    if block is None:
        return None
    if not isinstance(block, dict):
        raise SidecarError(f"Sidecar {path}: field 'rejection' must be an object, got {type(block).__name__}.")
    if block.get("method") != "threshold":
        raise SidecarError(f"Sidecar {path}: rejection.method {block.get('method')!r} is not supported (only 'threshold').")
    score = block.get("score", "max_softmax")
    if score not in scores:
        raise SidecarError(f"Sidecar {path}: rejection.score {score!r} is not one of {list(scores)}"
                           + (" (the mahalanobis score is a text classifier's)." if score == DISTANCE_SCORE else "."))
    oos_label = block.get("oos_label")
    oos_index = None
    if oos_label is not None:
        if not isinstance(oos_label, str) or oos_label not in labels:
            raise SidecarError(f"Sidecar {path}: rejection.oos_label {oos_label!r} is not one of the labels {list(labels)}.")
        if len(labels) < 2:
            raise SidecarError(f"Sidecar {path}: rejection.oos_label needs at least one other label.")
        oos_index = list(labels).index(oos_label)
    raw = block.get("threshold")
    threshold = _number(raw)
    if raw is None and oos_index is not None:
        return Rejection(None, score, oos_index)
    if score == "max_softmax" and (threshold is None or not 0.0 <= threshold <= 1.0):
        raise SidecarError(f"Sidecar {path}: rejection.threshold must be a number in [0, 1], got {raw!r}.")
    if threshold is None:
        raise SidecarError(f"Sidecar {path}: rejection.threshold must be a finite number for the {score} score, got {raw!r}.")
    return Rejection(threshold, score, oos_index)


def rejected_result(labels: Sequence[str], probs: np.ndarray, best: int, value: float, rejected: bool,
                    rule: Rejection, key: str = "label") -> dict:
    """The shared part of a runtime result under a rejection rule.

    `{key: label or None, "not_understood", "best_<key>", "confidence"}` plus `"energy"` or
    `"mahalanobis"` with that score.
    """
    result = {key: None if rejected else labels[best], "not_understood": bool(rejected), f"best_{key}": labels[best],
              "confidence": float(probs[best])}  # fmt: skip
    if rule.score in ("energy", DISTANCE_SCORE):
        result[rule.score] = float(value)
    return result
