"""Time of one optimizer update of a text classifier's weights: Keras's AdamW vs voice_ft's.

    PYTHONPATH=. .venv/bin/python bench/optimizer_speed.py [--backbone=all-minilm-l6-v2 --rounds=3 --updates=20]

The weights are those `fit` trains for the text classifiers (all-MiniLM-L6-v2 with its word-embedding
table frozen, and the head), with the recipe's AdamW settings (weight decay, clipnorm, the weight
average, the head at 10x). Each update runs in a `tf.function` on fixed random gradients, as inside a
training step; the two optimizers alternate `--rounds` times so both see the same machine load.
  keras  `keras.optimizers.AdamW`: Keras 3.15's Adam update, a dozen element-wise ops per variable;
  fused  `voice_ft.training.optimizer.build_optimizer`: the same update as one `ResourceApplyAdam` op.
Last line (JSON): `keras_ms`, `fused_ms` (median ms per update), `speedup` (keras / fused),
`max_abs_diff` (largest weight difference after `--updates` updates of each, the head left out: Keras's AdamW
has no 10x head), `max_abs_update` (largest weight change those updates made), `num_variables`,
`num_weights`.
"""

from __future__ import annotations

import pathlib
import statistics
import sys
import time

from absl import app, flags

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from common import machine, print_result  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_string("backbone", "all-minilm-l6-v2", "Backbone preset or path.")
flags.DEFINE_integer("rounds", 3, "Times each optimizer is timed, alternating.")
flags.DEFINE_integer("updates", 20, "Updates timed per round.")


def main(argv):
    del argv
    import keras
    import numpy as np
    import tensorflow as tf

    import voice_ft
    from voice_ft.training.freezing import apply_trainability, find_backbone
    from voice_ft.training.optimizer import NO_DECAY_NAMES, build_optimizer

    model = voice_ft.build_intent_classifier(voice_ft.load_backbone(FLAGS.backbone), 7, sequence_length=32)
    apply_trainability(model, False, 0, None, True)  # the text classifiers' recipe: the word table frozen
    variables = model.trainable_variables
    rng = np.random.default_rng(0)
    gradients = [tf.constant(rng.normal(size=v.shape).astype("float32") * 1e-3) for v in variables]
    start = [np.array(v) for v in variables]
    # No warm-up and a long decay: every timed update moves the weights (~1e-3), so the comparison means something.
    recipe = voice_ft.Recipe(learning_rate=1e-3, warmup_ratio=0.0, ema_momentum=0.99, head_learning_rate_multiplier=10)
    fused = build_optimizer(recipe, 10**6, model=model, backbone=find_backbone(model))
    plain = keras.optimizers.AdamW(learning_rate=fused._learning_rate, weight_decay=recipe.weight_decay,
                                   clipnorm=recipe.clipnorm, use_ema=True, ema_momentum=recipe.ema_momentum)  # fmt: skip
    plain.exclude_from_weight_decay(var_names=NO_DECAY_NAMES)
    steps, after = {}, {}
    for name, optimizer in (("keras", plain), ("fused", fused)):
        for v, s in zip(variables, start):
            v.assign(s)
        optimizer.build(variables)
        steps[name] = tf.function(lambda g, o=optimizer: o.apply(g, variables))
        for _ in range(FLAGS.updates):  # the first call traces; the same number of updates for both
            steps[name](gradients)
        after[name] = [np.array(v) for v in variables]
    times = {name: [] for name in steps}
    for _ in range(FLAGS.rounds):
        for name, step in steps.items():
            began = time.perf_counter()
            for _ in range(FLAGS.updates):
                step(gradients)
            times[name].append((time.perf_counter() - began) / FLAGS.updates * 1000)
    keras_ms, fused_ms = statistics.median(times["keras"]), statistics.median(times["fused"])
    # Keras's AdamW has no per-variable rates: only the backbone's weights are compared.
    head = {v.path for v in model.trainable_variables} - {v.path for v in find_backbone(model).variables}
    diff = max(float(np.max(np.abs(a - b))) for v, a, b in zip(variables, after["keras"], after["fused"]) if v.path not in head)
    moved = max(float(np.max(np.abs(a - s))) for a, s in zip(after["keras"], start))
    print(f"Keras AdamW {keras_ms:.1f} ms, fused {fused_ms:.1f} ms per update ({len(variables)} variables)", flush=True)
    print_result({"keras_ms": keras_ms, "fused_ms": fused_ms, "speedup": keras_ms / fused_ms, "max_abs_diff": diff, "max_abs_update": moved,
                  "num_variables": len(variables), "num_weights": int(sum(np.prod(v.shape) for v in variables)),
                  "machine": machine()})  # fmt: skip


if __name__ == "__main__":
    app.run(main)
