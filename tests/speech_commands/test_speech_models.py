"""Speech-command builders: the DS-CNN, encoder reuse, and the classifiers on the pretrained speech_embedding."""

import numpy as np
import pytest

import keras

from voice_ft.speech_commands.model import build_speech_command_classifier, reuse_audio_encoder


def test_dscnn_shapes_size_and_save_round_trip(tmp_path):
    model = build_speech_command_classifier(10, upper_edge_hertz=4000)
    assert model.input.shape == (None, 16000)
    assert 20_000 < model.count_params() < 30_000  # DS-CNN-S scale: fits an int8 budget of 150 KB
    x = np.random.default_rng(0).normal(size=(2, 16000)).astype("float32") * 0.1
    path = tmp_path / "m.keras"
    model.save(path)
    restored = keras.saving.load_model(path)
    np.testing.assert_allclose(restored(x).numpy(), model(x).numpy(), atol=1e-5)


def test_reuse_audio_encoder_freezes_and_replaces_head():
    base = build_speech_command_classifier(10, filters=8, num_blocks=1)
    reused = reuse_audio_encoder(base, num_classes=3)
    assert reused.output.shape == (None, 3)
    trainable = {w.path.split("/")[0] for w in reused.trainable_weights}
    assert trainable == {"new_logits"}
    # The encoder's weights are shared with the trained model, not re-initialised.
    assert reused.get_layer("conv0") is base.get_layer("conv0")
    unfrozen = reuse_audio_encoder(base, num_classes=3, freeze=False)
    assert len(unfrozen.trainable_weights) > 2


def test_speech_embedding_classifier_trains_only_its_head(onnx_dir):
    from voice_ft.speech_commands.spoken_intent import build_spoken_intent_classifier

    model = build_spoken_intent_classifier(4, clip_seconds=1.0)
    assert model.get_layer("encoder").output.shape == (None, 3, 96)
    assert model.output.shape == (None, 4)
    assert not model.get_layer("encoder").trainable_weights
    assert model.get_layer("head").trainable_weights


def test_speech_embedding_dscnn_keeps_the_pretrained_stem(onnx_dir, tmp_path):
    from voice_ft.backbones.speech_embedding import build_embedding_cnn_from_onnx
    from voice_ft.speech_commands.pretrained import build_speech_embedding_dscnn

    model = build_speech_embedding_dscnn(3)
    assert model.input.shape == (None, 16000) and model.output.shape == (None, 3)
    assert model.count_params() < 60_000  # with the float mel front end: an int8 file under 150 KB
    stem, full = model.get_layer("stem"), build_embedding_cnn_from_onnx(onnx_dir / "embedding_model.onnx")
    assert stem.output.shape == (None, None, 8, 48)
    mel = np.random.default_rng(3).uniform(-1, 3, size=(2, 97, 32)).astype("float32")
    pretrained = keras.Model(full.input, full.get_layer("pool_6").output)
    np.testing.assert_allclose(stem(mel).numpy(), pretrained(mel).numpy(), atol=1e-5)  # ONNX weights, not fresh ones
    assert stem.trainable_weights  # fine-tuned with the blocks by default
    assert not build_speech_embedding_dscnn(3, trainable_stem=False).get_layer("stem").trainable_weights

    x = np.random.default_rng(0).normal(size=(2, 16000)).astype("float32") * 0.1
    model.save(tmp_path / "m.keras")
    np.testing.assert_allclose(keras.saving.load_model(tmp_path / "m.keras")(x).numpy(), model(x).numpy(), atol=1e-5)


def test_speech_embedding_stem_refuses_unknown_layer(onnx_dir):
    from voice_ft.backbones.speech_embedding import load_speech_embedding_stem
    from voice_ft.speech_commands.pretrained import build_speech_embedding_dscnn

    with pytest.raises(ValueError, match=r"last_layer='conv_99'.*pool_6"):
        load_speech_embedding_stem("conv_99")
    with pytest.raises(ValueError, match="clip_samples=8000 gives 47"):
        build_speech_embedding_dscnn(3, clip_seconds=0.5)
