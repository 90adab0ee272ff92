"""The recipe's pieces: validation, schedule shape, weight-decay exclusions, layer-wise LR."""

import numpy as np
import pytest

import voice_ft
from voice_ft.training.optimizer import build_optimizer, layer_depth, layerwise_multipliers
from voice_ft.training.schedule import LinearWarmupDecay


def test_recipe_rejects_bad_values():
    with pytest.raises(ValueError, match="warmup_ratio"):
        voice_ft.Recipe(warmup_ratio=1.5)
    with pytest.raises(ValueError, match="choose one of"):
        voice_ft.Recipe(freeze_backbone=True, lora_rank=4)
    with pytest.raises(ValueError, match="class_weight"):
        voice_ft.Recipe(class_weight="inverse")
    with pytest.raises(ValueError, match="ema_momentum"):
        voice_ft.Recipe(ema_momentum=1.0)


def test_warmup_then_linear_decay():
    schedule = LinearWarmupDecay(1e-3, total_steps=100, warmup_steps=10)
    lrs = np.array([float(schedule(s)) for s in range(101)])
    assert np.all(np.diff(lrs[:10]) > 0) and lrs[9] == pytest.approx(1e-3)
    assert np.all(np.diff(lrs[10:]) < 0) and lrs[100] == pytest.approx(0.0)
    assert lrs[55] == pytest.approx(1e-3 * 45 / 90)


def test_layer_norm_and_bias_get_no_weight_decay(tiny_backbone):
    model = voice_ft.build_intent_classifier(tiny_backbone, 3, 16)
    optimizer = build_optimizer(voice_ft.Recipe(), total_steps=10)
    optimizer.build(model.trainable_variables)
    decayed = {v.path for v in model.trainable_variables if optimizer._use_weight_decay(v)}
    assert any(p.endswith("query/kernel") for p in decayed)
    assert not any(p.endswith(("/bias", "/gamma", "/beta")) for p in decayed)


def test_layerwise_multipliers(tiny_backbone):
    model = voice_ft.build_intent_classifier(tiny_backbone, 3, 16)
    multipliers = layerwise_multipliers(model, num_layers=2, decay=0.5)
    assert layer_depth("transformer_layer_1/self_attention_layer/query/kernel", 2) == 2
    by_suffix = lambda s: {m for p, m in multipliers.items() if s in p}  # noqa: E731
    assert by_suffix("token_embedding") == {0.125}
    assert by_suffix("transformer_layer_0/") == {0.25}
    assert by_suffix("transformer_layer_1/") == {0.5}
    assert by_suffix("logits") == {1.0}


def test_head_trains_faster_than_the_backbone_when_asked(tiny_backbone):
    """`head_learning_rate_multiplier` scales only the variables outside the backbone, on top of LLRD."""
    import keras

    model = voice_ft.build_intent_classifier(tiny_backbone, 3, 16)
    optimizer = build_optimizer(voice_ft.Recipe(head_learning_rate_multiplier=10.0, layerwise_lr_decay=0.5), total_steps=10,
                                model=model, num_layers=2, backbone=tiny_backbone.model)  # fmt: skip
    head = {p: m for p, m in optimizer.lr_multipliers.items() if "logits" in p}
    assert head and set(head.values()) == {10.0}
    assert {m for p, m in optimizer.lr_multipliers.items() if "token_embedding" in p} == {0.125}
    # Without layer-wise decay, only the head has a multiplier.
    plain = build_optimizer(voice_ft.Recipe(head_learning_rate_multiplier=10.0), total_steps=10, model=model,
                            backbone=tiny_backbone.model)  # fmt: skip
    assert set(plain.lr_multipliers.values()) == {10.0}
    no_multipliers = build_optimizer(voice_ft.Recipe(), total_steps=10, model=model)
    assert isinstance(no_multipliers, keras.optimizers.AdamW) and no_multipliers.lr_multipliers == {}
    with pytest.raises(ValueError, match="head_learning_rate_multiplier"):
        voice_ft.Recipe(head_learning_rate_multiplier=0)
