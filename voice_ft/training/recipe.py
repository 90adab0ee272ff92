"""`Recipe`: every fine-tuning hyper-parameter in one place, with defaults that work for BERT-size
encoders on a few thousand examples."""

from __future__ import annotations

import dataclasses
import math

# tf.distribute strategies `fit` can train under (see voice_ft.training.distribution).
STRATEGIES = ("default", "mirrored", "multi_worker", "tpu")


@dataclasses.dataclass
class Recipe:
    """What `voice_ft.fit` does.

    Attributes:
        epochs: passes over the training data (when `steps` is not set).
        steps: if set, train for this many optimizer steps instead of whole epochs (the data
            repeats), validating every `steps_per_validation` steps; the warm-up and decay span
            the steps. `voice_ft.training.choose_recipe` picks it from the data.
        steps_per_validation: steps between validations (and backups, checkpoints and early
            stopping checks) when `steps` is set; default: one epoch.
        batch_size: examples per step on each replica (used when `fit` batches raw text itself);
            under a strategy with N replicas a step sees `batch_size * N` examples (the global
            batch) and the steps, warm-up and decay count global steps.
        learning_rate: peak learning rate, reached at the end of warm-up.
        warmup_ratio: fraction of all steps spent warming up linearly from 0; the rest decays
            linearly to 0 (BERT's schedule).
        weight_decay: AdamW decoupled weight decay; LayerNorm weights and biases are excluded.
        clipnorm: gradient-norm clip applied to each variable's gradient (Keras's `clipnorm`, as the figures
            in bench/README.md were measured), not to the global norm.
        layerwise_lr_decay: if set (e.g. 0.9), layer k of L gets `lr * decay**(L - k)`: lower
            layers move less. Off by default.
        head_learning_rate_multiplier: the new task head (every trainable variable outside the
            backbone) trains at `learning_rate` times this: a freshly initialised head over many
            classes learns slowly at a rate chosen not to disturb the pretrained encoder.
        freeze_backbone: train only the head.
        freeze_layers: freeze the embeddings and the bottom N transformer layers.
        freeze_embeddings: freeze the backbone's token-embedding table (its word vectors; the
            position embeddings and every layer above still train). For a BERT-size encoder this
            table is about half of the weights but gets a gradient only on the few rows a batch
            uses, while AdamW updates all of it every step: freezing it makes a step ~1.1x faster
            on a 2-core CPU (all-MiniLM-L6-v2), with the same accuracy. Not for decoders whose
            output layer shares the table (GPT-2's tied embeddings).
        lora_rank: if set, freeze the backbone and train rank-r LoRA adapters on its attention
            query/value projections (keras-hub's `enable_lora`) plus the head.
        mixed_precision: compute in bfloat16 (CPU) / float16 (GPU); call
            `voice_ft.training.use_mixed_precision()` before building the model. Off by default:
            on CPUs without bf16 units it is slower.
        ema_momentum: if set (e.g. 0.99), keep an exponential moving average of the trainable
            weights (Polyak averaging; Keras's `use_ema`) and use it for validation, the best
            checkpoint and the final model: the average of the last ~1/(1 - momentum) steps is
            less noisy than the last step's weights. Off by default.
        early_stopping_patience: stop after this many epochs (or validations, with `steps`)
            without a lower validation loss and restore the best weights; None disables.
        class_weight: None, "balanced" (inverse label frequency), or {label_id: weight}.
        jit_compile: XLA-compile the train, validation and predict steps (each batch shape is
            compiled once: worth it for long runs on few shapes, e.g. length-bucketed text).
        seed: shuffling and initialisation seed.
        strategy: the `tf.distribute` strategy, one of `STRATEGIES`: "default" (none), "mirrored"
            (the local GPUs), "multi_worker" (the cluster in TF_CONFIG) or "tpu". Build the model
            inside `voice_ft.training.distribution_scope(recipe)`.
    """

    epochs: int = 3
    steps: int | None = None
    steps_per_validation: int | None = None
    batch_size: int = 32
    learning_rate: float = 5e-5
    warmup_ratio: float = 0.1
    weight_decay: float = 0.01
    clipnorm: float | None = 1.0
    layerwise_lr_decay: float | None = None
    head_learning_rate_multiplier: float = 1.0
    freeze_backbone: bool = False
    freeze_layers: int = 0
    freeze_embeddings: bool = False
    lora_rank: int | None = None
    mixed_precision: bool = False
    ema_momentum: float | None = None
    early_stopping_patience: int | None = None
    class_weight: str | dict | None = None
    jit_compile: bool = False
    seed: int = 42
    strategy: str = "default"

    def __post_init__(self):
        checks = [
            (self.epochs >= 1, "epochs must be >= 1"),
            (self.steps is None or self.steps >= 1, "steps must be >= 1"),
            (self.steps_per_validation is None or self.steps_per_validation >= 1, "steps_per_validation must be >= 1"),
            (self.batch_size >= 1, "batch_size must be >= 1"),
            (self.learning_rate > 0, "learning_rate must be > 0"),
            (0 <= self.warmup_ratio < 1, "warmup_ratio must be in [0, 1)"),
            (self.weight_decay >= 0, "weight_decay must be >= 0"),
            (self.layerwise_lr_decay is None or 0 < self.layerwise_lr_decay <= 1, "layerwise_lr_decay must be in (0, 1]"),
            (self.head_learning_rate_multiplier > 0, "head_learning_rate_multiplier must be > 0"),
            (self.ema_momentum is None or 0 < self.ema_momentum < 1, "ema_momentum must be in (0, 1)"),
            (self.freeze_layers >= 0, "freeze_layers must be >= 0"),
            (self.lora_rank is None or self.lora_rank >= 1, "lora_rank must be >= 1"),
            (self.strategy in STRATEGIES, f"strategy must be one of {', '.join(STRATEGIES)}"),
            (self.class_weight in (None, "balanced") or isinstance(self.class_weight, dict), "class_weight must be None, 'balanced' or a dict"),
        ]
        for ok, message in checks:
            if not ok:
                raise ValueError(f"Recipe: {message}")
        exclusive = [bool(self.freeze_backbone), self.freeze_layers > 0, self.lora_rank is not None]
        if sum(exclusive) > 1:
            raise ValueError("Recipe: choose one of freeze_backbone, freeze_layers and lora_rank.")

    def schedule(self, steps_per_epoch: int) -> tuple[int, int]:
        """(Keras epochs, steps per Keras epoch) for data of `steps_per_epoch` batches a pass.

        With `steps`, a Keras "epoch" is one validation interval over repeated data, rounded so the
        run is a whole number of intervals.
        """
        if self.steps is None:
            return self.epochs, steps_per_epoch
        interval = min(self.steps_per_validation or steps_per_epoch, self.steps)
        return math.ceil(self.steps / interval), interval

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)
