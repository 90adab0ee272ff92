"""Negatives as an explicit out-of-scope intent of a joint NLU model: examples, encoding, calibration."""

import numpy as np
import pytest

from voice_ft.data.labels import OOS_LABEL_ID
from voice_ft.data.negatives import Negatives
from voice_ft.data.slot_examples import make_example
from voice_ft.nlu import train as nlu_train
from voice_ft.nlu.data import encode_nlu
from voice_ft.nlu.model import build_joint_nlu_model
from voice_ft.nlu.negatives import add_nlu_negatives, negative_examples

NEGATIVES = Negatives(train=["what is the meaning of life", "tell me\ta  joke", "how tall is mount everest"],
                      validation=["who painted the mona lisa", "why is the sky blue"])  # fmt: skip


@pytest.fixture(scope="module")
def data(snips_rows):
    examples = [make_example(r["tokens"], r["slots"], r["intent"], "train.jsonl", i + 1) for i, r in enumerate(snips_rows)]
    intents = sorted({e.intent for e in examples})
    tags = ["O"] + sorted({t for e in examples for t in e.tags if t != "O"})
    return examples[:24], examples[24:40], intents, tags


def test_negative_examples_are_all_outside_words_of_the_oos_intent():
    examples = negative_examples(["tell me\ta  joke", " why\u00a0not "], "oos", "negatives.txt")
    assert [e.tokens for e in examples] == [("tell", "me", "a", "joke"), ("why\u00a0not",)]  # ASCII whitespace, as NLUParser
    assert all(set(e.tags) == {"O"} and len(e.tags) == len(e.tokens) and e.intent == "oos" for e in examples)
    assert [(e.path, e.line) for e in examples] == [("negatives.txt", 1), ("negatives.txt", 2)]


def test_training_negatives_get_the_new_intent_and_validation_ones_minus_one(data, tiny_backbone):
    train, validation, intents, tags = data
    train, validation, all_intents = add_nlu_negatives(train, validation, intents, NEGATIVES, "oos")
    assert all_intents == [*intents, "oos"] and len(train) == 24 + 3 and len(validation) == 16 + 2
    tokenizer = tiny_backbone.tokenizer
    encoded_train = encode_nlu(train, tokenizer, 24, all_intents, tags)
    encoded_validation = encode_nlu(validation, tokenizer, 24, all_intents, tags, oos_label="oos")
    assert list(encoded_train.intent_ids[-3:]) == [len(intents)] * 3  # the model learns the oos intent
    assert list(encoded_validation.intent_ids[-2:]) == [OOS_LABEL_ID] * 2  # they choose the threshold
    assert encoded_validation.num_oos == 2 and len(encoded_validation.in_scope()) == 16
    assert (encoded_train.slot_labels[-3:] <= 0).all()  # tag O (id 0) on first pieces, -1 elsewhere


def test_add_nlu_negatives_refuses_a_known_intent_or_no_training_negatives(data):
    train, validation, intents, _ = data
    with pytest.raises(ValueError, match="already one of the intents"):
        add_nlu_negatives(train, validation, intents, NEGATIVES, intents[0])
    with pytest.raises(ValueError, match="no training negatives"):
        add_nlu_negatives(train, validation, intents, Negatives([], ["hello there"]), "oos")


def test_calibrate_nlu_makes_the_oos_intent_reject_whatever_the_score(data, tiny_backbone):
    train, validation, intents, tags = data
    _, validation, all_intents = add_nlu_negatives(train, validation, intents, NEGATIVES, "oos")
    model = build_joint_nlu_model(tiny_backbone, all_intents, tags, sequence_length=24)
    head = model.get_layer("intent_logits")
    bias = np.zeros(len(all_intents), np.float32)
    bias[-1] = 50.0  # the oos intent wins every utterance
    head.bias.assign(bias)
    calibration = nlu_train.calibrate_nlu(model, validation, score="max_softmax", oos_label="oos")
    assert calibration.oos_index == len(intents) and calibration.rejection.oos_index == len(intents)
    rule = calibration.report["rejection"]
    assert rule["oos_label"] == "oos" and rule["validation"]["num_oos"] == 2 and rule["validation"]["num_in_scope"] == 16
    assert rule["validation"]["oos_recall"] == 1.0 and rule["validation"]["in_scope_rejection"] == 1.0
    assert calibration.sidecar_fields()["rejection"]["oos_label"] == "oos"
    plain = nlu_train.calibrate_nlu(model, validation, score="max_softmax")  # no oos_label: an ordinary intent
    assert plain.oos_index is None and "oos_label" not in plain.report["rejection"]
