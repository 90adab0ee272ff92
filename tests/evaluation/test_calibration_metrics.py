"""Calibration metrics in numpy: ECE by hand, temperature recovery, NLL, rejection thresholds."""

import math

import numpy as np
import pytest

from voice_ft.evaluation.calibration import (
    OOS_LABEL_ID,
    calibrate_logits,
    expected_calibration_error,
    fit_temperature,
    negative_log_likelihood,
    reliability_bins,
    threshold_for_oos,
    threshold_for_rejection_rate,
)
from voice_ft.runtime.probabilities import softmax


def synthetic(n: int, classes: int, scale: float, seed: int = 0):
    """Labels drawn from softmax(true_logits); returns (true_logits * scale, labels)."""
    rng = np.random.default_rng(seed)
    true_logits = rng.normal(size=(n, classes)) * 2.0
    cumulative = np.cumsum(softmax(true_logits), axis=1)
    labels = np.minimum((cumulative < rng.random((n, 1))).sum(axis=1), classes - 1)
    return true_logits * scale, labels


def test_ece_equals_a_hand_computation():
    probs = np.array([[0.9, 0.1], [0.05, 0.95], [0.7, 0.3], [0.3, 0.7], [0.55, 0.45]])
    labels = np.array([0, 0, 0, 1, 1])
    # 15 bins of width 1/15: 0.9 -> bin 13 (right), 0.95 -> bin 14 (wrong), both 0.7 -> bin 10 (right),
    # 0.55 -> bin 8 (wrong). ECE = (|1 - .9| + |0 - .95| + 2 |1 - .7| + |0 - .55|) / 5 = 2.2 / 5.
    assert expected_calibration_error(probs, labels, bins=15) == pytest.approx(0.44, abs=1e-12)
    table = reliability_bins(probs, labels, bins=15)
    assert [i for i, c in enumerate(table["count"]) if c] == [8, 10, 13, 14]
    assert table["count"][10] == 2 and table["accuracy"][10] == 1.0 and table["confidence"][10] == pytest.approx(0.7)
    assert table["lower"][0] == 0.0 and table["upper"][-1] == 1.0 and len(table["upper"]) == 15


def test_ece_is_zero_when_confidence_matches_accuracy():
    probs = np.array([[0.75, 0.25]] * 4)
    assert expected_calibration_error(probs, np.array([0, 0, 0, 1])) == pytest.approx(0.0, abs=1e-12)


def test_ece_and_nll_ignore_out_of_scope_rows():
    probs = np.array([[0.75, 0.25]] * 4 + [[0.99, 0.01]])
    labels = np.array([0, 0, 0, 1, OOS_LABEL_ID])
    assert expected_calibration_error(probs, labels) == pytest.approx(0.0, abs=1e-12)
    logits = np.log(probs)
    assert negative_log_likelihood(logits, labels) == pytest.approx(-(3 * math.log(0.75) + math.log(0.25)) / 4)


@pytest.mark.parametrize("scale", [0.5, 2.5])
def test_temperature_fitting_recovers_a_known_temperature(scale):
    logits, labels = synthetic(20000, 5, scale)
    assert fit_temperature(logits, labels) == pytest.approx(scale, rel=0.05)


def test_calibration_lowers_nll_and_ece_and_keeps_predictions():
    logits, labels = synthetic(5000, 4, 3.0, seed=1)
    calibration = calibrate_logits(logits, labels)
    report = calibration.report
    assert report["nll_after"] < report["nll_before"]
    assert calibration.ece_after < calibration.ece_before
    assert calibration.ece_before == report["ece_before"] and report["bins"] == 15
    np.testing.assert_array_equal(calibration.probabilities(logits).argmax(1), logits.argmax(1))
    np.testing.assert_allclose(calibration.probabilities(logits), softmax(logits / calibration.temperature))


def test_threshold_from_in_scope_data_rejects_the_target_fraction():
    logits, labels = synthetic(150, 4, 3.0, seed=2)
    calibration = calibrate_logits(logits, labels, target_in_scope_rejection=0.02)
    confidence = calibration.probabilities(logits).max(1)
    assert len(np.unique(confidence)) == 150
    assert int(np.sum(confidence < calibration.threshold)) == 3  # floor(0.02 * 150)
    rejection = calibration.sidecar_fields()["rejection"]
    assert rejection["method"] == "threshold" and rejection["threshold"] == calibration.threshold
    assert rejection["target_in_scope_rejection"] == 0.02 and rejection["criterion"] == "target_in_scope_rejection"
    assert rejection["validation"]["in_scope_rejection"] == pytest.approx(3 / 150)
    assert rejection["validation"]["oos_recall"] is None


def test_threshold_for_rejection_rate_by_hand():
    confidence = [0.9, 0.3, 0.5, 0.8, 0.4, 0.7, 0.6, 0.95, 0.99, 0.2]
    assert threshold_for_rejection_rate(confidence, 0.2) == pytest.approx(0.35)  # rejects 0.2 and 0.3
    assert threshold_for_rejection_rate(confidence, 0.05) == 0.0  # floor(0.5) = 0: nothing rejected
    assert threshold_for_rejection_rate(confidence, 0.3) == pytest.approx(0.45)  # 0.3 * 10 rejects 3, not 2
    assert threshold_for_rejection_rate(list(range(100)), 0.29) == 28.5  # 0.29 * 100 < 29 in floats; still 29
    with pytest.raises(ValueError, match="rejection rate"):
        threshold_for_rejection_rate(confidence, 1.0)


def test_threshold_with_oos_maximises_accuracy_plus_recall():
    # in scope: 0.7 is a wrong prediction; OOS: 0.5, 0.6, 0.75. Rejecting below 0.775 keeps every
    # right in-scope answer (3/4) and catches all OOS (3/3): 1.75, better than any other cut.
    threshold = threshold_for_oos([0.9, 0.8, 0.7, 0.95], [True, True, False, True], [0.5, 0.6, 0.75])
    assert threshold == pytest.approx(0.775)


def test_calibrate_logits_with_oos_uses_the_oos_criterion():
    logits, labels = synthetic(400, 3, 4.0, seed=3)
    oos_logits = np.zeros((50, 3)) + np.random.default_rng(4).normal(size=(50, 3)) * 0.1  # flat: low confidence
    calibration = calibrate_logits(np.concatenate([logits, oos_logits]), np.concatenate([labels, [OOS_LABEL_ID] * 50]))
    rejection = calibration.report["rejection"]
    assert rejection["criterion"] == "max in_scope_accuracy + oos_recall"
    assert rejection["validation"]["num_oos"] == 50 and rejection["validation"]["oos_recall"] == 1.0
    assert calibration.temperature == pytest.approx(fit_temperature(logits, labels))  # OOS rows do not move T


def test_no_rejection_when_target_is_none():
    logits, labels = synthetic(100, 3, 1.0)
    calibration = calibrate_logits(logits, labels, target_in_scope_rejection=None)
    assert calibration.threshold is None and set(calibration.sidecar_fields()) == {"calibration"}
