"""The shared check of an exported rejection rule against Keras (voice_ft.export.rejection_check)."""

import numpy as np
import pytest

from voice_ft.evaluation.calibration import calibrate_logits
from voice_ft.export.rejection_check import rejection_failures, rejection_figures, rejection_line

# 4 in-scope rows (confident and right, then unsure) and 2 out-of-scope rows (unsure).
LOGITS = np.array([[6.0, 0.0], [0.0, 6.0], [0.3, 0.0], [5.0, 0.0], [0.1, 0.0], [0.0, 0.2]])
LABELS = np.array([0, 1, 0, 0, -1, -1])


def test_figures_apply_the_rule_to_both_models_and_a_drop_beyond_tolerance_fails():
    calibration = calibrate_logits(LOGITS, LABELS, score="max_softmax")
    assert calibration.threshold is not None
    same = rejection_figures(calibration, LOGITS, LOGITS, LABELS)
    assert same["num_oos"] == 2 and same["tflite_oos_recall"] == same["keras_oos_recall"] == 1.0
    assert rejection_failures(same, tolerance=0.5) == []
    # A .tflite whose confident row 0 became unsure is rejected there: in-scope accuracy drops 25 points.
    shifted = LOGITS.copy()
    shifted[0] = [0.05, 0.0]
    figures = rejection_figures(calibration, LOGITS, shifted, LABELS)
    assert figures["keras_in_scope_accuracy"] - figures["tflite_in_scope_accuracy"] == pytest.approx(0.25)
    failures = rejection_failures(figures, tolerance=0.5)
    assert len(failures) == 1 and failures[0].startswith("in-scope accuracy (with rejection)") and "25.00 points" in failures[0]
    assert rejection_failures(figures, tolerance=30) == []
    assert "OOS recall 1.0000 (Keras 1.0000)" in rejection_line(figures)


def test_no_rule_gives_no_figures():
    calibration = calibrate_logits(LOGITS, LABELS, target_in_scope_rejection=None)
    assert calibration.rejection is None
    assert rejection_figures(calibration, LOGITS, LOGITS, LABELS) == {} and rejection_figures(None, LOGITS, LOGITS, LABELS) == {}
    assert rejection_line({}) == ""
