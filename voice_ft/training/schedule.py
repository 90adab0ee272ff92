"""Linear warm-up then linear decay to zero (the BERT fine-tuning schedule)."""

from __future__ import annotations

import keras


@keras.saving.register_keras_serializable(package="voice_ft")
class LinearWarmupDecay(keras.optimizers.schedules.LearningRateSchedule):
    """`peak * step / warmup` for the first `warmup_steps`, then linear decay to 0 at `total_steps`.

    Keras 3.15 has warm-up only for cosine decay; this is the linear one.
    """

    def __init__(self, peak_learning_rate: float, total_steps: int, warmup_steps: int):
        self.peak_learning_rate = float(peak_learning_rate)
        self.total_steps = max(int(total_steps), 1)
        self.warmup_steps = min(int(warmup_steps), self.total_steps)

    def __call__(self, step):
        step = keras.ops.cast(step, "float32")
        peak = self.peak_learning_rate
        warmup = keras.ops.cast(max(self.warmup_steps, 1), "float32")
        decay_span = keras.ops.cast(max(self.total_steps - self.warmup_steps, 1), "float32")
        warm = peak * (step + 1.0) / warmup
        decayed = peak * keras.ops.maximum(0.0, (self.total_steps - step) / decay_span)
        return keras.ops.where(step < self.warmup_steps, warm, decayed)

    def get_config(self):
        return {"peak_learning_rate": self.peak_learning_rate, "total_steps": self.total_steps, "warmup_steps": self.warmup_steps}
