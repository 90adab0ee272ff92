"""Logits -> calibrated probabilities -> accept or reject ("I didn't understand"), numpy only.

Shared by the phone runtime (`TextClassifier`) and by training-side calibration
(`voice_ft.evaluation.calibration`), so the probabilities a threshold was chosen on and the ones
the phone compares with it come from the same lines.

The sidecar may hold two optional blocks (both written by `voice_ft.export_tflite(...,
calibration=...)`):

    "calibration": {"temperature": 1.7, "ece_before": 0.08, "ece_after": 0.02, "bins": 15}
    "rejection":   {"method": "threshold", "threshold": 0.41, "target_in_scope_rejection": 0.02, ...}

Without "calibration" the temperature is 1 (plain softmax); without "rejection" nothing is rejected.
`energy` is the alternative rejection score (see `voice_ft.runtime.rejection`).
A sidecar comes from outside the app, so both are checked: a temperature that is not a positive
finite number, or a threshold outside [0, 1], is a `SidecarError`.
"""

from __future__ import annotations

import math
import pathlib

import numpy as np

from voice_ft.runtime.sidecar import SidecarError


def softmax(logits: np.ndarray) -> np.ndarray:
    """Numerically stable softmax over the last axis, in float64."""
    z = np.asarray(logits, dtype=np.float64)
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def calibrated_softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """softmax(logits / temperature), in float64 (temperature scaling, Guo et al. 2017)."""
    return softmax(np.asarray(logits, dtype=np.float64) / float(temperature))


def energy(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """The (negative free) energy score T * logsumexp(logits / T) over the last axis, in float64.

    Liu et al. (2020), "Energy-based Out-of-distribution Detection": unlike the max softmax
    probability it keeps the logits' scale, so an input far from every class (all logits low) scores
    low even when one logit is much larger than the rest. Higher means more in scope.
    """
    z = np.asarray(logits, dtype=np.float64) / float(temperature)
    top = z.max(axis=-1, keepdims=True)
    return float(temperature) * (top + np.log(np.exp(z - top).sum(axis=-1, keepdims=True)))[..., 0]


def _number(value) -> float | None:
    """`value` as a finite float, or None for anything else (bools, strings, NaN, infinities)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def sidecar_temperature(meta: dict, path: pathlib.Path) -> float:
    """The calibration temperature of a sidecar: 1.0 without a "calibration" block."""
    block = meta.get("calibration")
    if block is None:
        return 1.0
    if not isinstance(block, dict):
        raise SidecarError(f"Sidecar {path}: field 'calibration' must be an object, got {type(block).__name__}.")
    temperature = _number(block.get("temperature"))
    if temperature is None or temperature <= 0:
        raise SidecarError(
            f"Sidecar {path}: calibration.temperature must be a positive finite number, got {block.get('temperature')!r}."
        )
    return temperature
