"""Mixed precision: trained in bfloat16, evaluated and exported in float32; a half-mixed model refused."""

import keras
import numpy as np
import pytest

import voice_ft
from voice_ft.export.convert import convert_to_tflite
from voice_ft.runtime.interpreter import TFLiteModel
from voice_ft.training.precision import (
    check_model_precision,
    compute_in_float32,
    float32_compute,
    mixed_layers,
    mixed_precision_policy,
)


def build(preset, mixed: bool):
    keras.utils.set_random_seed(0)
    voice_ft.use_mixed_precision(mixed)
    try:
        return voice_ft.build_intent_classifier(voice_ft.load_backbone(str(preset)), 3, sequence_length=16)
    finally:
        voice_ft.use_mixed_precision(False)


@pytest.fixture(scope="module")
def models(tiny_preset):
    mixed, plain = build(tiny_preset, True), build(tiny_preset, False)
    plain.set_weights(mixed.get_weights())  # float32 weights under either policy
    rng = np.random.default_rng(0)
    x = {"token_ids": rng.integers(5, 200, (4, 16)).astype("int32"), "padding_mask": np.ones((4, 16), bool)}
    return mixed, plain, x


def test_float32_compute_matches_a_float32_model_inside_and_restores_after(models):
    mixed, plain, x = models
    expected = plain(x, training=False).numpy()
    assert np.abs(mixed(x, training=False).numpy() - expected).max() > 1e-5  # bfloat16 rounds
    with float32_compute(mixed):
        assert not mixed_layers(mixed)
        np.testing.assert_allclose(mixed(x, training=False).numpy(), expected, atol=1e-5)
    assert mixed.dtype_policy.name == "mixed_bfloat16" and len(mixed_layers(mixed)) > 10


def test_the_export_of_a_mixed_model_computes_in_float32(models, tmp_path):
    mixed, plain, x = models
    path = tmp_path / "mixed.tflite"
    path.write_bytes(convert_to_tflite(mixed, "float32"))
    logits = next(iter(TFLiteModel(path)(**x).values()))
    np.testing.assert_allclose(logits, plain(x, training=False).numpy(), atol=1e-4)
    assert mixed.dtype_policy.name == "mixed_bfloat16"  # the user's model is left as it was


def test_compute_in_float32_is_for_good(tiny_preset):
    model = build(tiny_preset, True)
    assert compute_in_float32(model) is model and not mixed_layers(model)
    check_model_precision(model, False)


def test_a_backbone_loaded_before_the_policy_is_refused(tiny_preset):
    backbone = voice_ft.load_backbone(str(tiny_preset))  # float32
    voice_ft.use_mixed_precision(True)
    try:
        model = voice_ft.build_intent_classifier(backbone, 3, sequence_length=16)  # only the head is mixed
    finally:
        voice_ft.use_mixed_precision(False)
    with pytest.raises(ValueError, match=r"(?s)of its weights.*before loading the backbone"):
        check_model_precision(model, True)
    check_model_precision(build(tiny_preset, True), True)


def test_the_policy_block_builds_in_bfloat16_and_restores_the_global_policy(tiny_preset):
    with mixed_precision_policy(True):
        model = voice_ft.build_intent_classifier(voice_ft.load_backbone(str(tiny_preset)), 3, sequence_length=16)
    assert keras.mixed_precision.global_policy().name == "float32"
    check_model_precision(model, True)  # the backbone was built inside the block too
