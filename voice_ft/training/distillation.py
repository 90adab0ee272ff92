"""Knowledge distillation: train a small on-device student to match a large pretrained teacher.

Why: a pretrained encoder (e.g. the speech_embedding model) generalises to unseen speakers far
better than a from-scratch DS-CNN, but it is too large for the on-device budget. Distillation
(Hinton et al. 2015) trains the student on the teacher's softened class probabilities as well as
the labels. The teacher runs on the same augmented batch as the student ("consistent teaching",
Beyer et al. 2022), so every noisy, shifted or sped-up clip gets a fresh soft target instead of
the one hard label of its clean original.

`Distiller` is a `keras.Model` whose forward pass is the student's; only `compute_loss` differs,
so it trains with `voice_ft.fit` (or `Model.fit`) and its metrics are the student's. Export
`distiller.student`.
"""

from __future__ import annotations

import keras
from keras import ops

# Hinton et al.'s usual range; their FSDD figures (bench/speech_fsdd.py --teacher=speech_embedding) are in bench/README.md.
DEFAULT_TEMPERATURE = 4.0
DEFAULT_ALPHA = 0.3


class Distiller(keras.Model):
    """Student logits, trained on `alpha * CE(labels) + (1 - alpha) * T^2 * KL(teacher_T || student_T)`.

    Args:
        student: the model to train; logits out.
        teacher: a trained model over the same inputs with the same classes; logits out. Frozen.
        temperature: softening temperature `T` applied to both logits (> 0).
        alpha: weight of the hard-label loss, in [0, 1]; `1 - alpha` weights the distillation term.

    Example:
        >>> distiller = Distiller(student, teacher, temperature=4.0, alpha=0.3)
        >>> voice_ft.fit(distiller, train, validation, recipe=recipe)
        >>> voice_ft.export_audio_classifier(distiller.student, "model.tflite", "int8", ...)
    """

    def __init__(
        self,
        student: keras.Model,
        teacher: keras.Model,
        temperature: float = DEFAULT_TEMPERATURE,
        alpha: float = DEFAULT_ALPHA,
        **kwargs,
    ):
        if temperature <= 0:
            raise ValueError(f"Distiller: temperature must be > 0, got {temperature}.")
        if not 0.0 <= alpha <= 1.0:
            raise ValueError(f"Distiller: alpha must be in [0, 1], got {alpha}.")
        student_classes, teacher_classes = student.output_shape[-1], teacher.output_shape[-1]
        if student_classes != teacher_classes:
            raise ValueError(
                f"Distiller: the student predicts {student_classes} classes but the teacher {teacher_classes}."
            )
        super().__init__(name=kwargs.pop("name", f"distilled_{student.name}"), **kwargs)
        self.student = student
        self.teacher = teacher
        self.teacher.trainable = False
        self.temperature = float(temperature)
        self.alpha = float(alpha)
        # Both sub-models are built already; say so, or BackupAndRestore refuses an "unbuilt" model.
        self.built = student.built and teacher.built

    def call(self, inputs, training=False):
        return self.student(inputs, training=training)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        hard = super().compute_loss(x=x, y=y, y_pred=y_pred, sample_weight=sample_weight, training=training)
        if self.alpha == 1.0:
            return hard
        teacher_logits = ops.stop_gradient(self.teacher(x, training=False))
        soft_loss = distillation_loss(teacher_logits, y_pred, self.temperature)
        return self.alpha * hard + (1.0 - self.alpha) * soft_loss


def distillation_loss(teacher_logits, student_logits, temperature: float):
    """Mean `T^2 * KL(softmax(teacher / T) || softmax(student / T))` over the batch.

    The `T^2` factor keeps the gradient scale independent of `T` (Hinton et al. 2015, section 2).
    """
    teacher_probs = ops.softmax(ops.cast(teacher_logits, "float32") / temperature, axis=-1)
    student_probs = ops.softmax(ops.cast(student_logits, "float32") / temperature, axis=-1)
    return ops.mean(keras.losses.kl_divergence(teacher_probs, student_probs)) * temperature**2
