"""Text classifier builders: functional graph, .keras round trip, label checks on restore."""

import numpy as np
import pytest
import tensorflow as tf

import voice_ft


def test_builds_functional_model_over_backbone(tiny_backbone):
    model = voice_ft.build_intent_classifier(tiny_backbone, num_labels=7, sequence_length=16)
    assert model.name == "intent_classifier"
    assert sorted(i.name for i in model.inputs) == ["padding_mask", "token_ids"]
    assert model.output_shape == (None, 7)
    logits = model(model.text_encoder(tf.constant(["play jazz", "book a table"])))
    assert logits.shape == (2, 7) and logits.dtype == tf.float32


def test_sentiment_builder_and_argument_checks(tiny_backbone):
    assert voice_ft.build_sentiment_classifier(tiny_backbone, 4, 16).name == "sentiment_classifier"
    with pytest.raises(ValueError, match="num_labels"):
        voice_ft.build_text_classifier(tiny_backbone, 1)
    with pytest.raises(ValueError, match="exceeds the backbone's 64 positions"):
        voice_ft.build_text_classifier(tiny_backbone, 3, sequence_length=128)


def test_save_and_load_round_trip(tiny_backbone, tmp_path):
    model = voice_ft.build_intent_classifier(tiny_backbone, num_labels=3, sequence_length=16)
    labels = ["a", "b", "c"]
    voice_ft.save_model(model, tmp_path, labels=labels)
    restored, restored_labels = voice_ft.load_model(tmp_path)
    assert restored_labels == labels
    x = model.text_encoder(tf.constant(["set the volume to five"]))
    np.testing.assert_allclose(restored(x), model(x), atol=1e-6)
    assert restored.text_encoder(tf.constant(["play"]))["token_ids"].numpy().tolist() == model.text_encoder(tf.constant(["play"]))["token_ids"].numpy().tolist()
    with pytest.raises(FileExistsError, match="Refusing to overwrite"):
        voice_ft.save_model(model, tmp_path, labels=labels)


def test_restore_with_other_labels_fails(tiny_backbone, tmp_path):
    model = voice_ft.build_intent_classifier(tiny_backbone, num_labels=2, sequence_length=16)
    voice_ft.save_model(model, tmp_path, labels=["on", "off"])
    with pytest.raises(ValueError, match="Label set does not match the model restored"):
        voice_ft.load_model(tmp_path, labels=["off", "on"])
