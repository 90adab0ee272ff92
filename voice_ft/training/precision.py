"""Mixed precision: a global Keras dtype policy, set before the model is built, and the way back to float32.

Training computes in bfloat16 (CPU) or float16 (GPU) with float32 weights; evaluation, calibration and the
exported file compute in float32 (`compute_in_float32`), as the phone does.
"""

from __future__ import annotations

import contextlib
import math

import keras
import tensorflow as tf


def use_mixed_precision(enabled: bool = True) -> str:
    """Sets the global policy: `mixed_float16` on a GPU, `mixed_bfloat16` on CPU; float32 if not enabled.

    Must run before the model is built, backbone included (layers read the policy when created).
    Returns the policy name.
    """
    if not enabled:
        name = "float32"
    else:
        name = "mixed_float16" if tf.config.list_physical_devices("GPU") else "mixed_bfloat16"
    keras.mixed_precision.set_global_policy(name)
    return name


@contextlib.contextmanager
def mixed_precision_policy(enabled: bool):
    """Layers built inside the block (load the backbone inside it too) compute in 16 bits if `enabled`;
    the global policy is what it was after the block.

    Example:
        >>> with mixed_precision_policy(recipe.mixed_precision):
        ...     model = voice_ft.build_intent_classifier(voice_ft.load_backbone(name), num_labels)
        >>> voice_ft.fit(model, train, recipe=recipe)
        >>> compute_in_float32(model)  # evaluate and export as the phone computes
    """
    before = keras.mixed_precision.global_policy()
    use_mixed_precision(enabled)
    try:
        yield
    finally:
        keras.mixed_precision.set_global_policy(before)


def mixed_layers(model: keras.Model) -> list[keras.layers.Layer]:
    """The layers of `model` (itself and every nested one) whose dtype policy computes in 16 bits."""
    return [layer for layer in model._flatten_layers(include_self=True, recursive=True)
            if layer.dtype_policy.name.startswith("mixed")]  # fmt: skip


def compute_in_float32(model: keras.Model) -> keras.Model:
    """Makes every layer of `model` compute in float32 from now on, and returns it.

    Under mixed precision the weights are float32 already, so nothing is converted: only the casts go.
    The trainers call this after training, so that evaluation, calibration, the saved `.keras` file and
    the exported `.tflite` all compute as the phone will.
    """
    for layer in mixed_layers(model):
        layer.dtype_policy = "float32"
    return model


@contextlib.contextmanager
def float32_compute(model: keras.Model):
    """`model` computes in float32 inside the block and as before after it (the exporter's view of a
    mixed-precision model: TFLite has no bfloat16 kernels)."""
    changed = {id(layer): (layer, layer.dtype_policy) for layer in mixed_layers(model)}
    try:
        compute_in_float32(model)
        yield model
    finally:
        for layer, policy in changed.values():
            layer.dtype_policy = policy


def check_model_precision(model: keras.Model, mixed_precision: bool) -> None:
    """Fails early when the recipe and the model disagree about mixed precision: the model, or most of
    its weights (a backbone loaded before the policy was set), were built in float32."""
    if not mixed_precision:
        return
    owner = {}  # each weight's innermost layer: `_flatten_layers` lists a layer before the ones inside it
    for layer in model._flatten_layers(include_self=True, recursive=True):
        for variable in layer.weights:
            owner[id(variable)] = (layer, math.prod(variable.shape))
    total = sum(size for _, size in owner.values())
    float32_share = sum(size for layer, size in owner.values()
                        if not layer.dtype_policy.name.startswith("mixed")) / max(total, 1)  # fmt: skip
    if not model.dtype_policy.name.startswith("mixed") or float32_share > 0.5:
        raise ValueError(
            f"Recipe(mixed_precision=True) but the model (or {float32_share:.0%} of its weights, e.g. a backbone "
            "loaded earlier) was built in float32: call voice_ft.training.use_mixed_precision() before loading "
            "the backbone and building the model."
        )
