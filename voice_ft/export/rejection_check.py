"""Verification of an exported classifier's "I didn't understand" rule against the Keras model.

Why: quantization moves logits a little, and near the threshold a little is enough to reject a
right answer or to accept an out-of-scope input. So an exporter given a `Calibration` applies its
rule (`Calibration.decide`, the very rule the phone runtimes apply) to the Keras and the `.tflite`
logits of the same held-out rows and compares two figures, with the same tolerance as accuracy:

- in-scope accuracy: accepted and right, over the in-scope rows (label id >= 0);
- OOS recall: rejected, over the out-of-scope rows (label id `OOS_LABEL_ID`), when there are any.

Shared by the NLU (intent head) and audio exporters, so they report the same fields by the same names.
"""

from __future__ import annotations

import numpy as np

from voice_ft.evaluation.calibration import decision_rates

# The fields `rejection_figures` fills (None without a rejection rule, OOS ones None without OOS rows).
REJECTION_FIELDS = ("keras_in_scope_accuracy", "tflite_in_scope_accuracy", "keras_oos_recall", "tflite_oos_recall",
                    "tflite_oos_precision", "num_oos")  # fmt: skip


def rejection_figures(calibration, keras_logits, tflite_logits, labels, keras_distance=None,
                      tflite_distance=None) -> dict:  # fmt: skip
    """In-scope accuracy and OOS recall of both models under `calibration`'s rule ({} without a rule).

    Args:
        calibration: a `voice_ft.Calibration` (or None).
        keras_logits, tflite_logits: float[n, classes] on the same rows.
        labels: int[n] label ids, `OOS_LABEL_ID` (-1) for out-of-scope rows.
        keras_distance, tflite_distance: float[n], each model's "mahalanobis" output, for that score.
    """
    if calibration is None or calibration.rejection is None:
        return {}
    labels = np.asarray(labels)
    keras_rates = decision_rates(*calibration.decide(keras_logits, keras_distance), labels)
    tflite_rates = decision_rates(*calibration.decide(tflite_logits, tflite_distance), labels)
    return {
        "keras_in_scope_accuracy": keras_rates["in_scope_accuracy"],
        "tflite_in_scope_accuracy": tflite_rates["in_scope_accuracy"],
        "keras_oos_recall": keras_rates["oos_recall"],
        "tflite_oos_recall": tflite_rates["oos_recall"],
        "tflite_oos_precision": tflite_rates["oos_precision"],
        "num_oos": keras_rates["num_oos"],
    }


def rejection_failures(figures: dict, tolerance: float) -> list[str]:
    """Why the `.tflite` falls short: one line per figure more than `tolerance` points below Keras."""
    checks = [("in-scope accuracy (with rejection)", "in_scope_accuracy"), ("OOS recall", "oos_recall")]
    failures = []
    for what, key in checks:
        keras_value, tflite_value = figures.get(f"keras_{key}"), figures.get(f"tflite_{key}")
        if keras_value is None or tflite_value is None:
            continue
        drop = 100.0 * (keras_value - tflite_value)
        if drop > tolerance:
            failures.append(f"{what} {tflite_value:.4f} vs Keras {keras_value:.4f} ({drop:.2f} points below)")
    return failures


def rejection_line(figures: dict) -> str:
    """"with rejection: in-scope accuracy X (Keras Y), OOS recall ..." for a trainer's report ("" without figures)."""
    if not figures or figures.get("tflite_in_scope_accuracy") is None:
        return ""
    line = (f"with rejection: in-scope accuracy {figures['tflite_in_scope_accuracy']:.4f} "
            f"(Keras {figures['keras_in_scope_accuracy']:.4f})")  # fmt: skip
    if figures.get("tflite_oos_recall") is not None:
        line += f", OOS recall {figures['tflite_oos_recall']:.4f} (Keras {figures['keras_oos_recall']:.4f})"
    return line
