"""The fine-tuning recipe: `Recipe` says what, `fit` does it (AdamW, warm-up + decay, clipping,
layer-wise LR decay, freezing, LoRA, mixed precision, checkpoints, resume, logs),
`Distiller` to train a small student from a large teacher, and `distribution_scope` /
`strategy_from_name` to train under tf.distribute (`Recipe.strategy`).

Names load on first use (PEP 562), so a trainer can import `voice_ft.training.interrupt` before its
flags are parsed without importing TensorFlow.
"""

import importlib

_EXPORTS = {
    "DataProfile": "voice_ft.training.auto_recipe",
    "Distiller": "voice_ft.training.distillation",
    "Recipe": "voice_ft.training.recipe",
    "RecipeChoice": "voice_ft.training.auto_recipe",
    "TrainingInterrupted": "voice_ft.training.interrupt",
    "choose_recipe": "voice_ft.training.auto_recipe",
    "distribution_scope": "voice_ft.training.distribution",
    "evaluate": "voice_ft.evaluation.classifier",
    "exit_on_interrupt": "voice_ft.training.interrupt",
    "fit": "voice_ft.training.fitting",
    "tune": "voice_ft.training.tuning",
    "predict_classes": "voice_ft.evaluation.classifier",
    "recipe_overrides": "voice_ft.training.recipe_flags",
    "strategy_from_name": "voice_ft.training.distribution",
    "use_mixed_precision": "voice_ft.training.precision",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'voice_ft.training' has no attribute {name!r}")
    value = getattr(importlib.import_module(_EXPORTS[name]), name)
    globals()[name] = value
    return value


def __dir__():
    return __all__
