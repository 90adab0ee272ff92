"""AdamW for fine-tuning: decoupled weight decay without LayerNorm/bias, per-tensor norm clipping,
optional layer-wise learning-rate decay (LLRD) and a faster head, on TensorFlow's fused Adam kernel."""

from __future__ import annotations

import re

import keras

from voice_ft.training.recipe import Recipe
from voice_ft.training.schedule import LinearWarmupDecay

# Variable names (Keras 3: the last path component) that get no weight decay: LayerNorm's scale
# and shift, and every bias.
NO_DECAY_NAMES = ["bias", "gamma", "beta"]

_LAYER_INDEX = re.compile(r"transformer_layer_(\d+)/")
_EMBEDDING_HINTS = ("embedding", "embeddings_layer_norm")


@keras.saving.register_keras_serializable(package="voice_ft")
class LayerwiseAdamW(keras.optimizers.AdamW):
    """AdamW whose learning rate is scaled per variable by `lr_multipliers[variable.path]`, and whose
    Adam update is TensorFlow's fused kernel.

    Keras 3.15 optimizers take one learning rate for all variables, and scaling gradients does not
    help (Adam normalises them away), so the scaled rate is applied in `update_step`. Decoupled
    weight decay still uses the base rate (as Keras applies it before the update).

    Keras 3.15's Adam `update_step` is a dozen element-wise ops per variable; on a 2-core CPU a
    BERT-size encoder's ~100 variables make that tens of milliseconds of op dispatch a step. On the
    TensorFlow backend a dense float update of an undistributed variable therefore runs as one
    `ResourceApplyAdam` op, the same formula as Keras's (see `fused_adam_update`); sparse gradients,
    AMSGrad and variables mirrored by a `tf.distribute` strategy keep Keras's update.
    """

    def __init__(self, lr_multipliers: dict[str, float] | None = None, **kwargs):
        super().__init__(**kwargs)
        self.lr_multipliers = dict(lr_multipliers or {})
        self._multiplier_by_index: list[float] = []

    def build(self, variables):
        super().build(variables)
        self._multiplier_by_index = [float(self.lr_multipliers.get(v.path, 1.0)) for v in variables]

    def update_step(self, gradient, variable, learning_rate):
        index = self._get_variable_index(variable)
        multiplier = self._multiplier_by_index[index]
        if multiplier != 1.0:
            learning_rate = learning_rate * multiplier
        if self.fused_update_applies(gradient, variable):
            return fused_adam_update(self, gradient, variable, self._momentums[index], self._velocities[index],
                                     learning_rate)  # fmt: skip
        return super().update_step(gradient, variable, learning_rate)

    def fused_update_applies(self, gradient, variable) -> bool:
        """Whether `variable`'s update can be the fused kernel (checked once, when the step is traced)."""
        if keras.backend.backend() != "tensorflow" or self.amsgrad:
            return False
        import tensorflow as tf

        if isinstance(gradient, tf.IndexedSlices) or not keras.backend.standardize_dtype(variable.dtype).startswith("float"):
            return False
        index = self._get_variable_index(variable)
        state = (variable, self._momentums[index], self._velocities[index])
        return not any(isinstance(_tf_variable(v), tf.distribute.DistributedValues) for v in state)

    def get_config(self):
        return {**super().get_config(), "lr_multipliers": self.lr_multipliers}


def _tf_variable(variable):
    return variable.value if isinstance(variable, keras.Variable) else variable


def fused_adam_update(optimizer: keras.optimizers.Adam, gradient, variable, momentum, velocity, learning_rate):
    """One Adam step of `variable` with TensorFlow's fused `ResourceApplyAdam` kernel.

    The kernel's update is Keras 3.15's `Adam.update_step`, term for term: `m += (g - m)(1 - beta_1)`,
    `v += (g^2 - v)(1 - beta_2)`, `var -= lr sqrt(1 - beta_2^t) / (1 - beta_1^t) m / (sqrt(v) + epsilon)`
    with `t = iterations + 1` (`tests/training/test_optimizer.py` checks both give the same weights).
    """
    import tensorflow as tf

    var = _tf_variable(variable)
    dtype = var.dtype
    step = tf.cast(optimizer.iterations + 1, dtype)
    beta_1, beta_2 = tf.cast(optimizer.beta_1, dtype), tf.cast(optimizer.beta_2, dtype)
    return tf.raw_ops.ResourceApplyAdam(
        var=var.handle, m=_tf_variable(momentum).handle, v=_tf_variable(velocity).handle,
        beta1_power=tf.pow(beta_1, step), beta2_power=tf.pow(beta_2, step), lr=tf.cast(learning_rate, dtype),
        beta1=beta_1, beta2=beta_2, epsilon=tf.cast(optimizer.epsilon, dtype), grad=tf.cast(gradient, dtype),
    )  # fmt: skip


def layer_depth(path: str, num_layers: int) -> int:
    """Depth of a variable: 0 for embeddings, k+1 for transformer layer k, num_layers+1 above."""
    match = _LAYER_INDEX.search(path + "/")
    if match:
        return int(match.group(1)) + 1
    if any(hint in path for hint in _EMBEDDING_HINTS):
        return 0
    return num_layers + 1


def layerwise_multipliers(model: keras.Model, num_layers: int, decay: float) -> dict[str, float]:
    """`decay ** (num_layers + 1 - depth)` for every trainable variable of `model`."""
    top = num_layers + 1
    return {v.path: decay ** (top - layer_depth(v.path, num_layers)) for v in model.trainable_variables}


def head_multipliers(model: keras.Model, backbone: keras.Model | None, multiplier: float) -> dict[str, float]:
    """`multiplier` for every trainable variable of `model` outside `backbone` (the task head)."""
    inside = {v.path for v in backbone.variables} if backbone is not None else set()
    return {v.path: multiplier for v in model.trainable_variables if v.path not in inside}


def build_optimizer(recipe: Recipe, total_steps: int, model: keras.Model | None = None, num_layers: int | None = None,
                    backbone: keras.Model | None = None):
    """The recipe's AdamW with its warm-up + linear decay schedule (and weight averaging if the recipe asks).

    Always a `LayerwiseAdamW`: per-variable rates (layer-wise decay, a faster head) where the recipe
    asks for them, and TensorFlow's fused Adam kernel in every case.
    """
    schedule = LinearWarmupDecay(recipe.learning_rate, total_steps, round(recipe.warmup_ratio * total_steps))
    kwargs = dict(learning_rate=schedule, weight_decay=recipe.weight_decay, clipnorm=recipe.clipnorm)
    if recipe.ema_momentum is not None:
        kwargs.update(use_ema=True, ema_momentum=recipe.ema_momentum)
    multipliers: dict[str, float] = {}
    if recipe.layerwise_lr_decay and recipe.layerwise_lr_decay != 1.0:
        if model is None or not num_layers:
            raise ValueError("layerwise_lr_decay needs the model and its number of transformer layers.")
        multipliers = layerwise_multipliers(model, num_layers, recipe.layerwise_lr_decay)
    if recipe.head_learning_rate_multiplier != 1.0:
        if model is None:
            raise ValueError("head_learning_rate_multiplier needs the model.")
        for path, m in head_multipliers(model, backbone, recipe.head_learning_rate_multiplier).items():
            multipliers[path] = multipliers.get(path, 1.0) * m
    optimizer = LayerwiseAdamW(lr_multipliers=multipliers, **kwargs)  # also without multipliers: its fused update
    optimizer.exclude_from_weight_decay(var_names=NO_DECAY_NAMES)
    return optimizer
