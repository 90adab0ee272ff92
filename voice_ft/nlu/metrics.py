"""Joint NLU metrics (numpy only): intent accuracy, entity-level slot F1 by the conlleval rules,
and sentence accuracy (intent and every word's slot tag right), as reported by JointBERT and
Goo et al. (2018).

Slot F1 counts entities `(slot, first word, last word)`: an entity is right only when its type
and both boundaries match (conlleval / `seqeval.metrics.f1_score` in its default mode, micro
averaged over all entities of all sentences).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from voice_ft.runtime.slot_alignment import bio_chunks


def intent_accuracy(true_intents: Sequence, predicted_intents: Sequence) -> float:
    true_intents, predicted_intents = list(true_intents), list(predicted_intents)
    _check_lengths(true_intents, predicted_intents, "intent")
    return float(np.mean([t == p for t, p in zip(true_intents, predicted_intents)]))


def slot_prf(true_tags: Sequence[Sequence[str]], predicted_tags: Sequence[Sequence[str]]) -> dict:
    """Entity-level precision, recall and F1 (micro) plus the counts, by the conlleval rules."""
    _check_lengths(true_tags, predicted_tags, "slot")
    correct = found_true = found_predicted = 0
    for i, (truth, prediction) in enumerate(zip(true_tags, predicted_tags)):
        if len(truth) != len(prediction):
            raise ValueError(f"sentence {i}: {len(truth)} true tags but {len(prediction)} predicted")
        true_chunks = set(bio_chunks(truth))
        predicted_chunks = set(bio_chunks(prediction))
        correct += len(true_chunks & predicted_chunks)
        found_true += len(true_chunks)
        found_predicted += len(predicted_chunks)
    precision = correct / found_predicted if found_predicted else 0.0
    recall = correct / found_true if found_true else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1, "correct": correct,
            "true_entities": found_true, "predicted_entities": found_predicted}  # fmt: skip


def slot_f1(true_tags: Sequence[Sequence[str]], predicted_tags: Sequence[Sequence[str]]) -> float:
    """Entity-level micro F1 (conlleval)."""
    return slot_prf(true_tags, predicted_tags)["f1"]


def sentence_accuracy(true_intents, predicted_intents, true_tags, predicted_tags) -> float:
    """Fraction of utterances whose intent and every word's slot tag are right."""
    _check_lengths(true_intents, predicted_intents, "intent")
    _check_lengths(true_tags, predicted_tags, "slot")
    _check_lengths(true_intents, true_tags, "intent/slot")
    right = [ti == pi and list(tt) == list(pt)
             for ti, pi, tt, pt in zip(true_intents, predicted_intents, true_tags, predicted_tags)]  # fmt: skip
    return float(np.mean(right))


def nlu_report(true_intents, predicted_intents, true_tags, predicted_tags) -> dict:
    """All three headline metrics (fractions in [0, 1]) plus slot precision/recall and counts."""
    prf = slot_prf(true_tags, predicted_tags)
    return {
        "intent_accuracy": intent_accuracy(true_intents, predicted_intents),
        "slot_f1": prf["f1"],
        "sentence_accuracy": sentence_accuracy(true_intents, predicted_intents, true_tags, predicted_tags),
        "slot_precision": prf["precision"],
        "slot_recall": prf["recall"],
        "num_examples": len(list(true_intents)),
        "num_entities": prf["true_entities"],
    }


def _check_lengths(a, b, what: str) -> None:
    if len(a) != len(b):
        raise ValueError(f"{len(a)} true {what} labels but {len(b)} predictions")
    if len(a) == 0:
        raise ValueError(f"no {what} labels to score")
