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


def test_mean_pooling_ignores_padding(tiny_backbone):
    model = voice_ft.build_text_classifier(tiny_backbone, 3, sequence_length=16, pooling="mean", dropout=0.0)
    assert not model.get_layer("bert_backbone").get_layer("pooled_dense").trainable
    x = model.text_encoder(tf.constant(["play some jazz"]))
    noisy = {"token_ids": tf.where(x["padding_mask"] == 1, x["token_ids"], 7), "padding_mask": x["padding_mask"]}
    # padded positions change the tokens the encoder sees there, but the masked mean skips them
    # (attention also ignores them), so the logits stay the same
    np.testing.assert_allclose(model(noisy), model(x), atol=1e-5)
    with pytest.raises(ValueError, match="pooling must be one of"):
        voice_ft.build_text_classifier(tiny_backbone, 3, pooling="median")


def test_classifier_trains_on_any_length_and_exports_at_its_sequence_length(tiny_backbone, tmp_path):
    import voice_ft
    from voice_ft.runtime.interpreter import TFLiteModel

    model = voice_ft.build_intent_classifier(tiny_backbone, num_labels=3, sequence_length=24)
    ids = np.array([[2, 40, 41, 3] + [0] * 20], "int32")
    mask = (ids > 0).astype("int32")
    full = model({"token_ids": ids, "padding_mask": mask}).numpy()
    cut = model({"token_ids": ids[:, :8], "padding_mask": mask[:, :8]}).numpy()
    np.testing.assert_allclose(cut, full, atol=1e-5)  # padding beyond the text changes nothing
    voice_ft.export_tflite(model, tmp_path / "m.tflite", quantization="float32")
    details = TFLiteModel(tmp_path / "m.tflite").input_details
    assert {name: d["shape_signature"].tolist() for name, d in details.items()} == {
        "token_ids": [-1, 24], "padding_mask": [-1, 24]}
