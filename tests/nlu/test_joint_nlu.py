"""The joint intent + slot model: outputs, masked and CRF losses, training, parse, save/load."""

import itertools

import keras
import numpy as np
import pytest
import tensorflow as tf

import voice_ft
from voice_ft.data.slot_examples import make_example
from voice_ft.nlu import model as nlu_model
from voice_ft.nlu import train as nlu_train
from voice_ft.nlu.model import SlotLoss, build_joint_nlu_model, crf_negative_log_likelihood


def examples_from(rows):
    return [make_example(r["tokens"], r["slots"], r["intent"], "train.jsonl", i + 1) for i, r in enumerate(rows)]


@pytest.fixture(scope="module")
def data(snips_rows):
    examples = examples_from(snips_rows)
    intents = sorted({e.intent for e in examples})
    tags = ["O"] + sorted({t for e in examples for t in e.tags if t != "O"})
    return examples[:192], examples[320:], intents, tags


@pytest.fixture(scope="module")
def trained(tiny_preset, data):
    train, test, intents, tags = data
    model = build_joint_nlu_model(voice_ft.load_backbone(tiny_preset), intents, tags, sequence_length=32, slot_loss_weight=2.0)
    history = nlu_train.fit_nlu(model, train, test, voice_ft.Recipe(epochs=2, learning_rate=3e-3, batch_size=16), verbose=0)
    return model, history


def test_two_named_outputs_and_attributes(tiny_preset, data):
    _, _, intents, tags = data
    model = build_joint_nlu_model(voice_ft.load_backbone(tiny_preset), intents, tags, sequence_length=24)
    out = model({"token_ids": np.ones((2, 24), np.int32), "padding_mask": np.ones((2, 24), np.int32)})
    assert set(out) == {"intent_logits", "slot_logits"}
    assert out["intent_logits"].shape == (2, len(intents)) and out["slot_logits"].shape == (2, 24, len(tags))
    assert model.intent_labels == intents and model.slot_tags == tags and model.slot_decoding == "bio"
    assert model.text_encoder.sequence_length == 24


def test_builder_argument_errors(tiny_preset, data):
    _, _, intents, tags = data
    backbone = voice_ft.load_backbone(tiny_preset)
    with pytest.raises(ValueError, match="must include 'O'"):
        build_joint_nlu_model(backbone, intents, tags[1:])
    with pytest.raises(ValueError, match="use 'crf' exactly when crf=True"):
        build_joint_nlu_model(backbone, intents, tags, decoding="crf")
    with pytest.raises(ValueError, match="exceeds the backbone's 64 positions"):
        build_joint_nlu_model(backbone, intents, tags, sequence_length=128)


def test_slot_loss_ignores_masked_positions_and_is_weighted():
    labels = tf.constant([[-1, 2, -1, 0, -1]])
    logits = tf.random.stateless_normal((1, 5, 3), seed=(1, 2))
    changed = tf.tensor_scatter_nd_update(logits, [[0, 0], [0, 2], [0, 4]], tf.fill((3, 3), 50.0))
    loss = SlotLoss(1.0)
    assert float(loss(labels, logits)) == pytest.approx(float(loss(labels, changed)))
    expected = keras.losses.sparse_categorical_crossentropy(tf.constant([2, 0]), tf.gather(logits[0], [1, 3]), from_logits=True)
    assert float(loss(labels, logits)) == pytest.approx(float(tf.reduce_mean(expected)), rel=1e-5)
    assert float(SlotLoss(2.5)(labels, logits)) == pytest.approx(2.5 * float(loss(labels, logits)), rel=1e-5)


def test_crf_likelihood_matches_brute_force_over_word_positions():
    rng = np.random.default_rng(0)
    k = 3
    emissions = rng.normal(size=(1, 6, k)).astype(np.float32)
    labels = np.array([[-1, 2, -1, 0, 1, -1]], np.int32)  # words at positions 1, 3, 4
    transitions, start, end = (rng.normal(size=s).astype(np.float32) for s in ((k, k), (k,), (k,)))

    def score(path):
        em = emissions[0, [1, 3, 4]]
        return (start[path[0]] + sum(em[i, t] for i, t in enumerate(path))
                + sum(transitions[a, b] for a, b in zip(path, path[1:])) + end[path[-1]])

    log_z = np.log(sum(np.exp(score(p)) for p in itertools.product(range(k), repeat=3)))
    expected = log_z - score([2, 0, 1])
    got = crf_negative_log_likelihood(tf.constant(emissions), tf.constant(labels), tf.constant(transitions),
                                      tf.constant(start), tf.constant(end))
    assert float(got[0]) == pytest.approx(expected, rel=1e-5)


def test_training_learns_and_evaluates(trained, data):
    model, history = trained
    _, test, intents, tags = data
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert {"intent_logits_intent_accuracy", "slot_logits_slot_token_accuracy", "val_loss"} <= set(history.history)
    report = nlu_train.evaluate_nlu(model, test)
    assert report["num_examples"] == len(test) and 0 <= report["slot_f1"] <= 1
    assert report["sentence_accuracy"] <= report["intent_accuracy"]


def test_parse_returns_word_level_slots_with_character_offsets(trained):
    model, _ = trained
    text = "  Play   the  album\tBACK in black by ac dc  "
    result = nlu_model.parse(model, text)
    assert set(result) == {"intent", "confidence", "slots"} and result["intent"] in model.intent_labels
    assert 0 < result["confidence"] <= 1
    for slot in result["slots"]:
        assert text[slot["start"] : slot["end"]] == slot["value"] and slot["value"] == slot["value"].strip()
        assert set(slot) == {"slot", "value", "start", "end"}
    assert nlu_model.parse(model, [text, "rain"])[0] == result


def test_crf_model_trains_saves_and_reloads(tiny_preset, data, tmp_path):
    train, test, intents, tags = data
    model = build_joint_nlu_model(voice_ft.load_backbone(tiny_preset), intents, tags, crf=True, sequence_length=32)
    crf = nlu_model.crf_layer(model)
    before = crf.crf_potentials()[0].copy()
    history = nlu_train.fit_nlu(model, train[:96], None, voice_ft.Recipe(epochs=1, learning_rate=3e-3, batch_size=16), verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    assert np.abs(crf.crf_potentials()[0] - before).max() > 0.05, "the CRF transitions should learn"
    assert model.slot_decoding == "crf" and nlu_train.evaluate_nlu(model, test[:20])["num_examples"] == 20

    nlu_model.save_nlu_model(model, tmp_path / "m")
    restored = nlu_model.load_nlu_model(tmp_path / "m")
    assert restored.slot_tags == tags and restored.intent_labels == intents and restored.slot_decoding == "crf"
    np.testing.assert_allclose(nlu_model.crf_layer(restored).crf_potentials()[0], crf.crf_potentials()[0])
    text = "play the album back in black"
    assert nlu_model.parse(restored, text)["slots"] == nlu_model.parse(model, text)["slots"]
    with pytest.raises(FileExistsError):
        nlu_model.save_nlu_model(model, tmp_path / "m")
