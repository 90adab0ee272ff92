"""The fused Adam update gives Keras's AdamW weights, and steps aside where it does not apply."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import voice_ft
from voice_ft.training.optimizer import LayerwiseAdamW, build_optimizer

SETTINGS = dict(learning_rate=1e-2, weight_decay=0.01, clipnorm=1.0, use_ema=True, ema_momentum=0.9)


def run_steps(optimizer, variables, gradients_per_step):
    optimizer.build(variables)

    @tf.function
    def step(gradients):
        optimizer.apply(gradients, variables)

    for gradients in gradients_per_step:
        step(gradients)
    return [np.array(v) for v in variables], [np.array(a) for a in optimizer._model_variables_moving_average]


def fresh_variables(seed=0):
    rng = np.random.default_rng(seed)
    shapes = [(8, 16), (16,), (16, 4)]
    return [keras.Variable(rng.normal(size=s).astype("float32"), name=f"w{i}") for i, s in enumerate(shapes)]


def gradients(variables, steps=6, seed=1):
    rng = np.random.default_rng(seed)
    return [[tf.constant(rng.normal(size=v.shape).astype("float32") * 3) for v in variables] for _ in range(steps)]


def test_fused_update_gives_keras_adamw_weights_and_average():
    keras_vars, fused_vars = fresh_variables(), fresh_variables()
    grads = gradients(keras_vars)
    expected, expected_average = run_steps(keras.optimizers.AdamW(**SETTINGS), keras_vars, grads)
    fused = LayerwiseAdamW(**SETTINGS)
    got, got_average = run_steps(fused, fused_vars, grads)
    assert all(fused.fused_update_applies(tf.zeros(v.shape), v.value) for v in fused_vars)
    assert not np.allclose(got[0], fresh_variables()[0])  # it trained
    for a, b in zip(expected + expected_average, got + got_average):
        np.testing.assert_allclose(b, a, rtol=1e-6, atol=1e-6)


def test_fused_update_keeps_the_per_variable_rates(monkeypatch):
    unfused_vars, fused_vars = fresh_variables(), fresh_variables()
    multipliers = {unfused_vars[2].path: 10.0, unfused_vars[0].path: 0.5}
    grads = gradients(unfused_vars)
    fused = LayerwiseAdamW(lr_multipliers=multipliers, **SETTINGS)
    got, _ = run_steps(fused, fused_vars, grads)
    unfused = LayerwiseAdamW(lr_multipliers=multipliers, **SETTINGS)
    monkeypatch.setattr(unfused, "fused_update_applies", lambda gradient, variable: False)
    expected, _ = run_steps(unfused, unfused_vars, grads)
    for a, b in zip(expected, got):  # float32 rounding differs by a few ulps at a 10x rate of 0.1
        np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-5)
    plain, _ = run_steps(LayerwiseAdamW(**SETTINGS), fresh_variables(), grads)
    assert not np.allclose(plain[2], got[2])  # the multiplier changed the update


def test_sparse_gradients_and_amsgrad_keep_keras_update():
    """An unfrozen word-embedding table gets IndexedSlices gradients: Keras's own update handles them."""
    optimizer = LayerwiseAdamW(**SETTINGS)
    table = keras.Variable(np.ones((5, 3), "float32"))
    optimizer.build([table])
    sparse = tf.IndexedSlices(tf.ones((2, 3)), tf.constant([0, 3]), tf.constant([5, 3]))
    assert not optimizer.fused_update_applies(sparse, table.value)
    assert optimizer.fused_update_applies(tf.ones((5, 3)), table.value)
    assert not LayerwiseAdamW(amsgrad=True).fused_update_applies(tf.ones((5, 3)), table.value)

    rng = np.random.default_rng(2)
    steps = [[tf.IndexedSlices(tf.constant(rng.normal(size=(2, 3)).astype("float32")), tf.constant([i % 5, 4]),
                               tf.constant([5, 3]))] for i in range(4)]  # fmt: skip
    tables = [keras.Variable(rng.normal(size=(5, 3)).astype("float32")) for _ in range(2)]
    tables[1].assign(tables[0])
    expected, _ = run_steps(keras.optimizers.AdamW(**SETTINGS), [tables[0]], steps)
    got, _ = run_steps(LayerwiseAdamW(**SETTINGS), [tables[1]], steps)
    np.testing.assert_allclose(got[0], expected[0], rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("recipe", [voice_ft.Recipe(), voice_ft.Recipe(head_learning_rate_multiplier=10)])
def test_build_optimizer_always_gives_the_fused_optimizer(tiny_backbone, recipe):
    model = voice_ft.build_intent_classifier(tiny_backbone, 3, sequence_length=16)
    optimizer = build_optimizer(recipe, total_steps=10, model=model, backbone=tiny_backbone.model)
    assert isinstance(optimizer, LayerwiseAdamW)
