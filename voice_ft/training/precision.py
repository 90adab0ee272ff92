"""Mixed precision: a global Keras dtype policy, set before the model is built."""

from __future__ import annotations

import keras
import tensorflow as tf


def use_mixed_precision(enabled: bool = True) -> str:
    """Sets the global policy: `mixed_float16` on a GPU, `mixed_bfloat16` on CPU; float32 if not enabled.

    Must run before the model is built (layers read the policy when created). Returns the policy name.
    """
    if not enabled:
        name = "float32"
    else:
        name = "mixed_float16" if tf.config.list_physical_devices("GPU") else "mixed_bfloat16"
    keras.mixed_precision.set_global_policy(name)
    return name


def check_model_precision(model: keras.Model, mixed_precision: bool) -> None:
    """Fails early when the recipe and the model disagree about mixed precision."""
    policy = model.dtype_policy.name if hasattr(model, "dtype_policy") else "float32"
    if mixed_precision and not policy.startswith("mixed"):
        raise ValueError(
            "Recipe(mixed_precision=True) but the model was built in float32: call "
            "voice_ft.training.use_mixed_precision() before building the model."
        )
