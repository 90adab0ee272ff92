"""Slot supervision: a training-only slot head on the intent classifier, on real SNIPS rows."""

import json

import numpy as np
import pytest
import tensorflow as tf

import voice_ft
from voice_ft.nlu.data import encode_nlu, load_nlu
from voice_ft.runtime.errors import DataError
from voice_ft.text_classification.slot_supervision import (
    fit_with_slot_supervision,
    load_slot_data,
    slot_supervised_batches,
    untagged_examples,
)


@pytest.fixture(scope="module")
def snips():
    train, validation, _, intents, slot_tags = load_nlu("snips")
    return train[:400], validation[::10], intents, slot_tags  # validation is sorted by intent


def test_the_slot_head_trains_with_the_classifier_and_is_not_saved_with_it(tiny_backbone, snips, tmp_path):
    _, _, intents, slot_tags = snips
    model = voice_ft.build_intent_classifier(tiny_backbone, len(intents), sequence_length=32, slot_tags=slot_tags)
    training_model = model.slot_supervision.training_model
    assert model.output_shape == (None, 7)
    assert training_model.output_names == ["logits", "slot_logits"]
    assert training_model.output_shape == [(None, 7), (None, None, len(slot_tags))]
    shared = {id(v) for v in training_model.weights}
    assert all(id(v) in shared for v in model.weights)  # one set of weights: training the one trains the other
    assert len(training_model.weights) == len(model.weights) + 2  # + the slot head's kernel and bias
    x = model.text_encoder(tf.constant(["play the new album by daft punk"]))
    np.testing.assert_allclose(training_model(x)["logits"], model(x), atol=1e-6)

    plain = voice_ft.build_intent_classifier(tiny_backbone, len(intents), sequence_length=32)
    voice_ft.save_model(model, tmp_path, labels=intents)
    restored, _ = voice_ft.load_model(tmp_path)
    assert len(restored.weights) == len(plain.weights) and getattr(restored, "slot_supervision", None) is None
    np.testing.assert_allclose(restored(x), model(x), atol=1e-6)


def test_word_by_word_pieces_are_the_classifiers_own_tokens(tiny_backbone, snips):
    """Training encodes words one by one (each tag on its word's first piece); the classifier, its
    evaluation and the phone tokenise the sentence: the ids must be the same."""
    train, _, intents, slot_tags = snips
    encoder = voice_ft.build_intent_classifier(tiny_backbone, len(intents), sequence_length=48).text_encoder
    by_words = encode_nlu(train, encoder.tokenizer, 48, intents, slot_tags)
    by_sentence = encoder(tf.constant([ex.text for ex in train]))
    np.testing.assert_array_equal(by_words.token_ids, by_sentence["token_ids"].numpy())
    np.testing.assert_array_equal(by_words.padding_mask, by_sentence["padding_mask"].numpy())


def test_batches_are_cut_to_their_longest_sentence_with_their_slot_labels(tiny_backbone, snips):
    train, _, intents, slot_tags = snips
    model = voice_ft.build_intent_classifier(tiny_backbone, len(intents), sequence_length=48, slot_tags=slot_tags)
    words, widths = 0, set()
    for x, y in slot_supervised_batches(model, train, intents, batch_size=16, shuffle=True, seed=0):
        width = x["token_ids"].shape[1]
        widths.add(width)
        assert x["padding_mask"].shape[1] == y["slot_logits"].shape[1] == width and width % 8 == 0
        labelled = y["slot_logits"].numpy() >= 0
        assert not (labelled & (x["padding_mask"].numpy() == 0)).any()  # tags sit on real pieces only
        assert (labelled.sum(axis=1) > 0).all() and y["logits"].shape == (x["token_ids"].shape[0],)
        words += int(labelled.sum())
    encoded = encode_nlu(train, model.text_encoder.tokenizer, 48, intents, slot_tags)
    assert words == int((encoded.slot_labels >= 0).sum()) > 3000  # every word's tag, none lost to the cut
    assert len(widths) > 2 and min(widths) <= 24  # bucketed: not all padded to the sequence length


def test_slot_supervision_teaches_the_tags_through_the_shared_encoder(tiny_backbone, snips):
    train, validation, intents, slot_tags = snips
    model = voice_ft.build_intent_classifier(tiny_backbone, len(intents), sequence_length=48, slot_tags=slot_tags)
    recipe = voice_ft.Recipe(epochs=6, batch_size=32, learning_rate=1e-3, head_learning_rate_multiplier=10, seed=0,
                             early_stopping_patience=None)  # fmt: skip
    history = fit_with_slot_supervision(model, train, validation, intents, recipe=recipe, verbose=0).history
    assert {"logits_accuracy", "slot_logits_loss", "val_logits_accuracy", "val_slot_logits_loss"} <= set(history)
    # The tags are learnt (3.5 -> 1.7 in the first and sixth epochs, on validation 2.4 -> 1.6)...
    assert history["slot_logits_loss"][-1] < 0.6 * history["slot_logits_loss"][0]
    assert history["val_slot_logits_loss"][-1] < 0.8 * history["val_slot_logits_loss"][0]
    # ...and the classifier scored on validation is the training model's intent output (its weights).
    predictions = np.argmax(model.predict(model.text_encoder(tf.constant([ex.text for ex in validation])), verbose=0), -1)
    gold = np.array([intents.index(ex.intent) for ex in validation])
    assert np.mean(predictions == gold) == pytest.approx(history["val_logits_accuracy"][-1], abs=1 / len(gold))


def test_fit_refuses_a_classifier_without_a_slot_head_and_class_weights(tiny_backbone, snips):
    train, validation, intents, slot_tags = snips
    plain = voice_ft.build_intent_classifier(tiny_backbone, len(intents), sequence_length=32)
    with pytest.raises(ValueError, match="no slot head"):
        fit_with_slot_supervision(plain, train, validation, intents)
    model = voice_ft.build_intent_classifier(tiny_backbone, len(intents), sequence_length=32, slot_tags=slot_tags)
    with pytest.raises(ValueError, match="class_weight"):
        fit_with_slot_supervision(model, train, validation, intents, recipe=voice_ft.Recipe(class_weight="balanced"))
    with pytest.raises(ValueError, match="including 'O'"):
        voice_ft.build_intent_classifier(tiny_backbone, 7, sequence_length=32, slot_tags=["B-city", "I-city"])


def test_load_slot_data_reads_tags_and_names_what_is_missing(tmp_path):
    train, validation, _, intents, slot_tags = load_nlu("snips")
    data = load_slot_data("snips", intents, train_limit=100)
    assert len(data.train) == 100 and data.train == train[:100] and len(data.validation) == len(validation)
    assert data.slot_tags == slot_tags
    with pytest.raises(DataError, match=r"train\.jsonl:\d+: .*'PlayMusic'"):
        load_slot_data("snips", [i for i in intents if i != "PlayMusic"])

    folder = tmp_path / "untagged"
    folder.mkdir()
    for split in ("train", "validation", "test"):  # what train_intent.py reads, but no slot tags
        (folder / f"{split}.jsonl").write_text(json.dumps({"text": "turn on the lights", "intent": "on"}) + "\n")
    with pytest.raises(DataError, match=r"train\.jsonl:1: missing field 'slots'"):
        load_slot_data(str(folder), ["on", "off"])


def test_out_of_scope_negatives_are_tagged_outside_every_slot():
    examples = untagged_examples(["what is your favourite colour", "   ", "tell me a joke"], "oos", "negatives")
    assert [ex.tokens for ex in examples] == [("what", "is", "your", "favourite", "colour"), ("tell", "me", "a", "joke")]
    assert all(set(ex.tags) == {"O"} and ex.intent == "oos" for ex in examples)
    assert [ex.line for ex in examples] == [1, 3]
