"""The fine-tuning recipe: `Recipe` says what, `fit` does it (AdamW, warm-up + decay, clipping,
layer-wise LR decay, freezing, LoRA, mixed precision, checkpoints, resume, logs), and
`Distiller` to train a small student from a large teacher."""

from voice_ft.evaluation.classifier import evaluate, predict_classes
from voice_ft.training.distillation import Distiller
from voice_ft.training.fit import fit
from voice_ft.training.interrupt import TrainingInterrupted, exit_on_interrupt
from voice_ft.training.precision import use_mixed_precision
from voice_ft.training.recipe import Recipe

__all__ = ["Distiller", "Recipe", "TrainingInterrupted", "evaluate", "exit_on_interrupt", "fit", "predict_classes",
           "use_mixed_precision"]
