"""The "I didn't understand" rule a sidecar describes, applied to logits, numpy only.

Shared by the phone runtimes (`TextClassifier`, `NLUParser`, `AudioClassifier`) and by the
training-side calibration (`voice_ft.evaluation.calibration`), so the rule a threshold was chosen
with is the rule the phone applies. Sidecar block (all but "method" and "threshold" optional):

    "rejection": {"method": "threshold", "threshold": 0.41, "score": "max_softmax", "oos_label": "oos", ...}

- `score`: what is compared with the threshold. "max_softmax" (the default): the calibrated
  probability softmax(logits / T) of the best in-scope label, threshold in [0, 1]. "energy":
  T * logsumexp(in-scope logits / T) (`probabilities.energy`), threshold any finite number.
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

SCORES = ("max_softmax", "energy")


def rejection_scores(logits, temperature: float = 1.0, score: str = "max_softmax", oos_index: int | None = None):
    """(probabilities [n, k], best in-scope index [n], score [n], OOS class wins [n]) for a batch of logits."""
    if score not in SCORES:
        raise ValueError(f"score must be one of {SCORES}, got {score!r}")
    logits = np.asarray(logits, np.float64)
    probs = calibrated_softmax(logits, temperature)
    in_scope = np.ones(logits.shape[-1], bool)
    if oos_index is not None:
        in_scope[oos_index] = False
    columns = np.flatnonzero(in_scope)
    best = columns[probs[:, columns].argmax(axis=1)]
    if score == "max_softmax":
        value = probs[np.arange(len(best)), best]
    else:
        value = energy(logits[:, columns], temperature)
    oos_wins = probs.argmax(axis=1) == oos_index if oos_index is not None else np.zeros(len(best), bool)
    return probs, best, value, oos_wins


@dataclasses.dataclass(frozen=True)
class Rejection:
    """A threshold on a score, and optionally an out-of-scope class; `decide` applies both."""

    threshold: float | None
    score: str = "max_softmax"
    oos_index: int | None = None

    def decide(self, logits, temperature: float = 1.0):
        """(probabilities, best in-scope index, score, rejected) per row of `logits`."""
        probs, best, value, rejected = rejection_scores(logits, temperature, self.score, self.oos_index)
        if self.threshold is not None:
            rejected = rejected | (value < self.threshold)
        return probs, best, value, rejected


def sidecar_rejection(meta: dict, path: pathlib.Path, labels: Sequence[str]) -> Rejection | None:
    """The checked rejection rule of a sidecar; None without a "rejection" block."""
    block = meta.get("rejection")
    if block is None:
        return None
    if not isinstance(block, dict):
        raise SidecarError(f"Sidecar {path}: field 'rejection' must be an object, got {type(block).__name__}.")
    if block.get("method") != "threshold":
        raise SidecarError(f"Sidecar {path}: rejection.method {block.get('method')!r} is not supported (only 'threshold').")
    score = block.get("score", "max_softmax")
    if score not in SCORES:
        raise SidecarError(f"Sidecar {path}: rejection.score {score!r} is not one of {list(SCORES)}.")
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
        raise SidecarError(f"Sidecar {path}: rejection.threshold must be a finite number for the energy score, got {raw!r}.")
    return Rejection(threshold, score, oos_index)


def rejected_result(labels: Sequence[str], probs: np.ndarray, best: int, value: float, rejected: bool,
                    rule: Rejection, key: str = "label") -> dict:
    """The shared part of a runtime result under a rejection rule.

    `{key: label or None, "not_understood", "best_<key>", "confidence"}` plus `"energy"` with that score.
    """
    result = {key: None if rejected else labels[best], "not_understood": bool(rejected), f"best_{key}": labels[best],
              "confidence": float(probs[best])}  # fmt: skip
    if rule.score == "energy":
        result["energy"] = float(value)
    return result
