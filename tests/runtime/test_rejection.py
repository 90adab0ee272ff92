"""The rejection rule in numpy: energy scores, an explicit out-of-scope class, sidecar checks."""

import math
import pathlib

import numpy as np
import pytest

from voice_ft.runtime.probabilities import energy
from voice_ft.runtime.rejection import SCORES, Rejection, rejection_scores, sidecar_rejection
from voice_ft.runtime.sidecar import SidecarError

LABELS = ["PlayMusic", "GetWeather", "oos"]
SIDECAR = pathlib.Path("model.json")


def test_energy_is_t_logsumexp_of_logits_over_t():
    logits = np.array([[1.0, 2.0, 3.0], [1000.0, 1000.0, -5.0]])
    want = [2.0 * math.log(sum(math.exp(v / 2.0) for v in row)) if row[0] < 100 else 1000 + 2.0 * math.log(2 + math.exp(-1005 / 2))
            for row in logits]  # fmt: skip
    np.testing.assert_allclose(energy(logits, 2.0), want, rtol=1e-12)


def test_max_softmax_rule_rejects_below_the_threshold():
    logits = np.log(np.array([[0.9, 0.1], [0.55, 0.45]]))
    _, best, value, rejected = Rejection(0.6).decide(logits)
    assert best.tolist() == [0, 0] and value == pytest.approx([0.9, 0.55]) and rejected.tolist() == [False, True]


def test_oos_class_rejects_when_it_wins_and_best_is_an_in_scope_label():
    logits = np.array([[3.0, 1.0, 0.0], [0.0, 1.0, 4.0], [0.0, 2.0, 1.9]])
    probs, best, value, rejected = Rejection(None, oos_index=2).decide(logits)
    assert best.tolist() == [0, 1, 1] and rejected.tolist() == [False, True, False]
    assert value[2] == pytest.approx(probs[2, 1])  # the in-scope label's probability under the full softmax


def test_energy_rule_scores_the_in_scope_logits_only():
    logits = np.array([[5.0, 4.0, 9.0], [0.1, 0.2, -3.0]])
    _, _, value, rejected = Rejection(2.0, score="energy", oos_index=2).decide(logits)
    np.testing.assert_allclose(value, [math.log(math.exp(5) + math.exp(4)), math.log(math.exp(0.1) + math.exp(0.2))])
    assert rejected.tolist() == [True, True]  # oos wins the first; the second is below 2.0
    _, _, _, rejected = Rejection(0.5, score="energy").decide(logits[1:, :2])
    assert rejected.tolist() == [False]


def test_unknown_score_is_a_value_error():
    with pytest.raises(ValueError, match="score must be one of"):
        rejection_scores(np.zeros((1, 2)), score="logit")


def test_mahalanobis_rule_takes_the_models_distance_output():
    logits = np.array([[3.0, 1.0, 0.0], [0.0, 1.0, 4.0], [0.0, 2.0, 1.9]])
    _, best, value, rejected = Rejection(-10.0, score="mahalanobis", oos_index=2).decide(logits, 1.0, [-3.0, -1.0, -12.5])
    assert best.tolist() == [0, 1, 1] and value.tolist() == [-3.0, -1.0, -12.5]
    assert rejected.tolist() == [False, True, True]  # oos wins the second; the third is below -10
    with pytest.raises(ValueError, match="needs the model's mahalanobis output"):
        Rejection(-10.0, score="mahalanobis").decide(logits)


@pytest.mark.parametrize("block, pattern", [
    ({"method": "threshold", "threshold": 0.5, "score": "logit"}, r"rejection.score 'logit'"),
    ({"method": "threshold", "threshold": 3.0}, r"in \[0, 1\]"),
    ({"method": "threshold", "threshold": None, "score": "energy"}, r"finite number for the energy"),
    ({"method": "threshold", "threshold": 0.5, "oos_label": "nope"}, r"oos_label 'nope' is not one of the labels"),
    ({"method": "threshold", "threshold": 0.5, "oos_label": 3}, r"oos_label 3"),
])  # fmt: skip
def test_bad_blocks_are_sidecar_errors(block, pattern):
    with pytest.raises(SidecarError, match=pattern):
        sidecar_rejection({"rejection": block}, SIDECAR, LABELS)


def test_mahalanobis_blocks_are_for_runtimes_that_read_the_distance_output():
    block = {"rejection": {"method": "threshold", "threshold": -40.0, "score": "mahalanobis"}}
    assert sidecar_rejection(block, SIDECAR, LABELS, SCORES) == Rejection(-40.0, "mahalanobis")  # TextClassifier
    with pytest.raises(SidecarError, match=r"'mahalanobis' is not one of \['max_softmax', 'energy'\] \(the mahalanobis "
                                           r"score is a text classifier's\)"):  # NLUParser, AudioClassifier
        sidecar_rejection(block, SIDECAR, LABELS)
    with pytest.raises(SidecarError, match="finite number for the mahalanobis score"):
        sidecar_rejection({"rejection": {**block["rejection"], "threshold": None}}, SIDECAR, LABELS, SCORES)


def test_good_blocks():
    assert sidecar_rejection({}, SIDECAR, LABELS) is None
    assert sidecar_rejection({"rejection": {"method": "threshold", "threshold": -7.5, "score": "energy"}}, SIDECAR,
                             LABELS) == Rejection(-7.5, "energy")  # fmt: skip
    assert sidecar_rejection({"rejection": {"method": "threshold", "threshold": None, "oos_label": "oos"}}, SIDECAR,
                             LABELS) == Rejection(None, "max_softmax", 2)  # fmt: skip
