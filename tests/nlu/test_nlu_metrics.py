"""NLU metrics: conlleval-rule entity F1 checked against seqeval on the same predictions."""

import random

import pytest
from seqeval.metrics import f1_score, precision_score, recall_score
from seqeval.metrics.sequence_labeling import get_entities

from voice_ft.nlu import metrics as nlu_metrics
from voice_ft.runtime.slot_alignment import bio_chunks


def corrupt(tags, rng, slots):
    """Random edits that also produce invalid BIO (I- after O, type switches inside a chunk)."""
    out = list(tags)
    for i in range(len(out)):
        if rng.random() < 0.2:
            out[i] = rng.choice(["O", *(f"{p}-{s}" for s in slots for p in "BI")])
    return out


def test_chunks_follow_conlleval_rules():
    tags = ["I-time", "I-time", "O", "B-city", "I-city", "I-state", "B-city", "B-city", "I-city", "O", "I-x"]
    assert bio_chunks(tags) == [("time", 0, 2), ("city", 3, 5), ("state", 5, 6), ("city", 6, 7), ("city", 7, 9), ("x", 10, 11)]
    assert [(t, s, e - 1) for t, s, e in bio_chunks(tags)] == get_entities(tags)


def test_slot_f1_matches_seqeval_on_real_snips_rows_with_noisy_predictions(snips_rows):
    rng = random.Random(0)
    truth = [r["slots"] for r in snips_rows]
    slots = sorted({t[2:] for tags in truth for t in tags if t != "O"})
    predicted = [corrupt(tags, rng, slots) for tags in truth]
    assert any(nlu_metrics.slot_prf([p], [p])["f1"] for p in predicted)
    prf = nlu_metrics.slot_prf(truth, predicted)
    assert prf["f1"] == pytest.approx(f1_score(truth, predicted), abs=1e-12)
    assert prf["precision"] == pytest.approx(precision_score(truth, predicted), abs=1e-12)
    assert prf["recall"] == pytest.approx(recall_score(truth, predicted), abs=1e-12)
    for t, p in zip(truth[:100], predicted[:100]):  # per sentence too (degenerate cases included)
        if bio_chunks(t) or bio_chunks(p):
            assert nlu_metrics.slot_f1([t], [p]) == pytest.approx(f1_score([t], [p]), abs=1e-12)


def test_intent_and_sentence_accuracy():
    true_intents = ["A", "A", "B", "B"]
    predicted_intents = ["A", "B", "B", "B"]
    true_tags = [["O", "B-x"], ["O"], ["B-y", "I-y"], ["O"]]
    predicted_tags = [["O", "B-x"], ["O"], ["B-y", "O"], ["O"]]
    assert nlu_metrics.intent_accuracy(true_intents, predicted_intents) == 0.75
    # row 1: intent wrong; row 2: one slot tag wrong -> 2 of 4 fully right
    assert nlu_metrics.sentence_accuracy(true_intents, predicted_intents, true_tags, predicted_tags) == 0.5
    report = nlu_metrics.nlu_report(true_intents, predicted_intents, true_tags, predicted_tags)
    assert report["slot_precision"] == 0.5 and report["slot_recall"] == 0.5 and report["num_entities"] == 2


def test_metric_argument_errors():
    with pytest.raises(ValueError, match="true intent labels but"):
        nlu_metrics.intent_accuracy(["A"], ["A", "B"])
    with pytest.raises(ValueError, match="sentence 0: 2 true tags but 1 predicted"):
        nlu_metrics.slot_f1([["O", "O"]], [["O"]])
    with pytest.raises(ValueError, match="no slot labels"):
        nlu_metrics.slot_f1([], [])
