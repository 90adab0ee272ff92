"""Calibration metrics in numpy: ECE by hand, temperature recovery, NLL, rejection thresholds."""

import math
import pathlib

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
from voice_ft.runtime.rejection import rejection_scores

SIDECAR = pathlib.Path("model.json")


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


def test_threshold_is_lowered_as_far_as_the_oos_recall_target_allows():
    # in scope (all right): 0.65, 0.7, 0.8, 0.9; OOS: 0.3, 0.4, 0.66, 0.67. The balanced cut (0.685) gives up
    # 0.65 to catch the last two OOS (0.75 + 1.0); a 50% recall target keeps every in-scope answer (cut 0.525,
    # the highest that does); at a 75% target lowering would keep none more, so the balanced cut stays.
    in_conf, right, oos_conf = [0.65, 0.7, 0.8, 0.9], [True] * 4, [0.3, 0.4, 0.66, 0.67]
    assert threshold_for_oos(in_conf, right, oos_conf) == pytest.approx(0.685)
    assert threshold_for_oos(in_conf, right, oos_conf, target_recall=0.5) == pytest.approx(0.525)
    assert threshold_for_oos(in_conf, right, oos_conf, target_recall=0.75) == pytest.approx(0.685)
    # a target above the balanced cut's recall does not raise the threshold past it
    hard = threshold_for_oos([0.3, 0.9], [True, True], [0.2, 0.35, 0.95])
    assert threshold_for_oos([0.3, 0.9], [True, True], [0.2, 0.35, 0.95], target_recall=0.99) == hard
    with pytest.raises(ValueError, match="target OOS recall"):
        threshold_for_oos(in_conf, right, oos_conf, target_recall=0.0)


def test_calibrate_logits_with_oos_uses_the_oos_criterion():
    logits, labels = synthetic(400, 3, 4.0, seed=3)
    oos_logits = np.zeros((50, 3)) + np.random.default_rng(4).normal(size=(50, 3)) * 0.1  # flat: low confidence
    calibration = calibrate_logits(np.concatenate([logits, oos_logits]), np.concatenate([labels, [OOS_LABEL_ID] * 50]))
    rejection = calibration.report["rejection"]
    assert rejection["criterion"] == "max in_scope_accuracy + oos_recall, lowered to oos_recall >= 0.95"
    assert rejection["target_oos_recall"] == 0.95
    assert rejection["validation"]["num_oos"] == 50 and rejection["validation"]["oos_recall"] >= 0.95
    balanced = calibrate_logits(np.concatenate([logits, oos_logits]), np.concatenate([labels, [OOS_LABEL_ID] * 50]),
                                target_oos_recall=None).report["rejection"]  # fmt: skip
    assert balanced["criterion"] == "max in_scope_accuracy + oos_recall" and balanced["validation"]["oos_recall"] == 1.0
    assert calibration.threshold <= balanced["threshold"]
    assert rejection["validation"]["in_scope_accuracy"] >= balanced["validation"]["in_scope_accuracy"]
    assert calibration.temperature == pytest.approx(fit_temperature(logits, labels))  # OOS rows do not move T


def test_no_rejection_when_target_is_none():
    logits, labels = synthetic(100, 3, 1.0)
    calibration = calibrate_logits(logits, labels, target_in_scope_rejection=None)
    assert calibration.threshold is None and set(calibration.sidecar_fields()) == {"calibration"}


def test_auroc_by_hand_with_ties():
    from voice_ft.evaluation.metrics import auroc

    # pairs (p, n): 3 > 1, 3 > 2, 2 = 2 (half), 1 = 1 (half) ... positives [3, 2, 1], negatives [2, 1]
    # 3 beats both (2), 2 beats 1 and ties 2 (1.5), 1 ties 1 (0.5): 4 / 6
    assert auroc([3, 2, 1], [2, 1]) == pytest.approx(4 / 6)
    assert auroc([5, 6], [1, 2]) == 1.0 and auroc([1], [2]) == 0.0


def test_auto_score_picks_energy_when_it_separates_better():
    """In-scope rows: one large logit on a high floor; OOS rows: the same shape, every logit lower.

    Max softmax cannot tell them apart (same gaps, so same probabilities); energy can.
    """
    rng = np.random.default_rng(0)
    labels_in = rng.integers(0, 4, 200)
    logits_in = np.full((200, 4), 5.0) + rng.normal(0, 0.1, (200, 4))
    logits_in[np.arange(200), labels_in] += 3.0
    logits_oos = logits_in[:100] - 6.0
    logits = np.concatenate([logits_in, logits_oos])
    labels = np.concatenate([labels_in, np.full(100, OOS_LABEL_ID)])
    got = calibrate_logits(logits, labels)
    assert got.score == "energy" and got.report["rejection"]["auroc"]["energy"] == 1.0
    assert got.report["rejection"]["auroc"]["max_softmax"] < 0.6
    rates = got.report["rejection"]["validation"]
    assert rates["oos_recall"] == 1.0 and rates["in_scope_accuracy"] == 1.0 and rates["oos_precision"] == 1.0
    assert calibrate_logits(logits, labels, score="max_softmax").score == "max_softmax"


def test_oos_class_rejects_when_it_wins_and_is_recorded():
    logits = np.array([[4.0, 0.0, 0.0], [0.0, 4.0, 0.0], [0.0, 0.0, 4.0], [3.0, 0.0, 3.5], [0.0, 3.0, 0.0]])
    labels = np.array([0, 1, OOS_LABEL_ID, OOS_LABEL_ID, 1])
    got = calibrate_logits(logits, labels, oos_class=2, oos_label="oos", score="max_softmax")
    block = got.sidecar_fields()["rejection"]
    assert block["oos_label"] == "oos" and block["score"] == "max_softmax"
    best, rejected = got.decide(logits)
    assert best.tolist() == [0, 1, 0, 0, 1] and rejected.tolist() == [False, False, True, True, False]
    none = calibrate_logits(logits, labels, oos_class=2, oos_label="oos", target_in_scope_rejection=None)
    assert none.threshold is None and none.sidecar_fields()["rejection"]["threshold"] is None
    with pytest.raises(ValueError, match="oos_label"):
        calibrate_logits(logits, labels, oos_class=2)


def test_probability_threshold_stays_in_0_1_with_an_oos_class():
    """The NLU bench found this: rows the oos class wins score below all others (the lowest other score
    minus 1), and the chosen cut can fall between them and the rest, below 0 (-0.067 here before the
    fix, -0.08 in the bench); NLUParser then refused the trainer's own sidecar. A cut below 0 rejects no
    more than 0 does."""
    from voice_ft.runtime.rejection import sidecar_rejection

    rng = np.random.default_rng(154)  # a draw that gave -0.067
    labels_in = rng.integers(0, 2, 60)
    logits_in = rng.normal(0, 1.0, (60, 3))
    logits_in[np.arange(60), labels_in] += rng.uniform(0, 4.0, 60)
    logits_oos = rng.normal(0, 1.0, (20, 3))
    logits_oos[:, 2] += rng.uniform(0, 5, 20)
    logits = np.concatenate([logits_in, logits_oos])
    labels = np.concatenate([labels_in, np.full(20, OOS_LABEL_ID)])
    got = calibrate_logits(logits, labels, oos_class=2, oos_label="oos", score="max_softmax")
    assert got.threshold == 0.0  # clamped: rejects exactly what the negative cut rejected
    assert sidecar_rejection(got.sidecar_fields(), SIDECAR, ["a", "b", "oos"]).threshold == 0.0
    _, _, _, oos_wins = rejection_scores(logits, got.temperature, "max_softmax", 2)
    _, rejected = got.decide(logits)
    assert rejected.tolist() == oos_wins.tolist()  # only the oos class rejects


def test_reject_all_threshold_clears_the_top_score_by_a_margin():
    """A model that cannot tell OOS apart gets the reject-all threshold; it must sit clearly above the
    highest score, so the .tflite's ~1e-6 differences cannot accept that example (a flaky export check)."""
    from voice_ft.evaluation.calibration import EDGE_MARGIN, threshold_for_oos

    in_conf = np.array([0.30, 0.40])
    oos_conf = np.array([0.35, 0.45, 0.50, 0.55, 0.60])  # every OOS above the in-scope scores
    threshold = threshold_for_oos(in_conf, [False, False], oos_conf)
    assert threshold >= 0.60 + EDGE_MARGIN * 0.999
    oos_energy = 20 - 10 * oos_conf  # 16.5 .. 14.0, all above the in-scope -3.0 .. -4.0
    energy = threshold_for_oos(-10 * in_conf, [False, False], oos_energy, probability=False)
    assert energy >= oos_energy.max() * (1 + 0.999 * EDGE_MARGIN)
