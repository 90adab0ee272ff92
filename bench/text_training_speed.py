"""Training speed of a text classifier: what each of the recipe's speed-ups buys, side by side.

    PYTHONPATH=. .venv/bin/python bench/text_training_speed.py [--data=snips --steps=60 --sequence_length=32]

Same model, data and optimizer; variants, each adding one thing to the one it names:
  fixed       batches padded to --sequence_length (the trainers before length bucketing);
  bucketed    length-bucketed batches, each cut to its longest text (`encode_dataset(bucket_by_length=True)`,
              which `voice_ft.fit` uses for models that take any length);
  frozen      + the token-embedding table frozen (`Recipe.freeze_embeddings`);
  frozen_xla  + the step XLA-compiled (`Recipe.jit_compile`, `--jit_compile`; not chosen for the text
              classifiers: its compiles cost more than it saves on a SNIPS-size run);
  frozen_layers2  `frozen` with the bottom 2 transformer layers frozen too (`Recipe.freeze_layers=2`,
              `--freeze_layers=2`): no gradient flows below the third layer, so the backward pass is shorter.
  frozen_bf16 `frozen` computed in bfloat16 (Keras's `mixed_bfloat16` policy, `Recipe.mixed_precision`,
              `--mixed_precision`): the matrix products run on the CPU's bf16 units where it has them.
  frozen_slots `frozen` with slot supervision (`build_intent_classifier(slot_tags=...)`, what
              `train_intent.py` trains on slot-tagged data such as SNIPS): the training model's step with
              the slot head and its loss, on `slot_supervised_batches`.
Each variant trains `--steps` steps after a warm-up, the variants alternating `--rounds` times so all
see the same machine load; a step on a batch width a variant has not yet seen (a retrace or an XLA
compile) is not timed (the compiles are reported apart, as `xla_compile_s`).
Last line (JSON): `examples_per_s_fixed`, `examples_per_s_bucketed`, `examples_per_s_frozen`,
`examples_per_s_frozen_xla`, `speedup` (bucketed / fixed), `speedup_recipe` (frozen / fixed: what
`choose_recipe` gives the text classifiers), `speedup_xla` (frozen_xla / frozen, compiles excluded),
`mean_tokens_fixed`, `mean_tokens_bucketed` (padded width per example), `xla_compile_s`,
`examples_per_s_frozen_layers2`, `speedup_layers2` (frozen_layers2 / frozen), `examples_per_s_frozen_bf16`,
`speedup_bf16` (frozen_bf16 / frozen), `cpu_bf16` (whether the CPU has bf16 units), `matmul_gflops_float32`,
`matmul_gflops_bfloat16`, `matmul_speedup_bf16` (one feed-forward product of all-MiniLM-L6-v2, 512 tokens
x 384 @ 384 x 1536, alone: what bfloat16 buys where nothing else in the step dilutes it),
`examples_per_s_frozen_slots`, `speedup_slots` (frozen_slots / frozen: what slot supervision costs a step),
`speedup_recipe_slots` (frozen_slots / fixed).
"""

from __future__ import annotations

import sys
import time
import pathlib
from typing import NamedTuple

from absl import app, flags

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from common import machine, print_result  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_string("data", "snips", "Bundled data set or folder.")
flags.DEFINE_string("backbone", "all-minilm-l6-v2", "Backbone.")
flags.DEFINE_integer("sequence_length", 32, "Padded length (fixed batches) and cap (bucketed).")
flags.DEFINE_integer("batch_size", 32, "Batch size.")
flags.DEFINE_integer("steps", 60, "Timed steps per variant and round.")
flags.DEFINE_integer("rounds", 2, "Alternations of the variants.")
flags.DEFINE_integer("warmup_steps", 20, "Untimed steps per variant before the first round.")
flags.DEFINE_list("variants", None, "Variants to time (default: all); the speed-ups of absent ones are left out.")

class Variant(NamedTuple):
    """How a variant trains (see the module docstring)."""

    bucketed: bool = True  # length-bucketed batches
    frozen: bool = False  # token-embedding table frozen
    frozen_layers: int = 0  # bottom transformer layers frozen
    xla: bool = False
    bf16: bool = False
    slots: bool = False  # slot supervision (its batches are always bucketed)


VARIANTS = {
    "fixed": Variant(bucketed=False),
    "bucketed": Variant(),
    "frozen": Variant(frozen=True),
    "frozen_xla": Variant(frozen=True, xla=True),
    "frozen_layers2": Variant(frozen=True, frozen_layers=2),
    "frozen_bf16": Variant(frozen=True, bf16=True),
    "frozen_slots": Variant(frozen=True, slots=True),
}


def matmul_gflops(dtype, repeats: int = 200) -> float:
    """GFLOP/s of a 512x384 @ 384x1536 product (a MiniLM feed-forward layer on 16 batches of 32 tokens) in `dtype`."""
    import tensorflow as tf

    a = tf.cast(tf.random.stateless_normal([512, 384], seed=[0, 1]), dtype)
    b = tf.cast(tf.random.stateless_normal([384, 1536], seed=[0, 2]), dtype)
    product = tf.function(tf.matmul)
    product(a, b).numpy()  # trace and warm up
    start = time.perf_counter()
    for _ in range(repeats):
        result = product(a, b)
    result.numpy()
    return 2 * 512 * 384 * 1536 * repeats / (time.perf_counter() - start) / 1e9


def main(argv):
    del argv
    import keras
    import numpy as np

    import voice_ft
    from voice_ft.data.text_pipeline import encode_dataset
    from voice_ft.text_classification.slot_supervision import (load_slot_data, slot_supervised_batches,
                                                               slot_supervised_losses)  # fmt: skip
    from voice_ft.training.cpu_features import cpu_has_bf16
    from voice_ft.training.freezing import apply_trainability

    unknown = set(FLAGS.variants or ()) - set(VARIANTS)
    if unknown:
        raise app.UsageError(f"--variants: unknown {sorted(unknown)}; choose from {list(VARIANTS)}")
    variants = {n: v for n, v in VARIANTS.items() if not FLAGS.variants or n in FLAGS.variants}
    train, *_, labels = voice_ft.datasets.load(FLAGS.data)
    models, iterators = {}, {}
    intent_loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    for name, variant in variants.items():
        keras.utils.set_random_seed(0)
        slot_data = load_slot_data(FLAGS.data, labels) if variant.slots else None
        voice_ft.use_mixed_precision(variant.bf16)  # the policy is read when the layers are built
        model = voice_ft.build_intent_classifier(voice_ft.load_backbone(FLAGS.backbone), num_labels=len(labels),
                                                 sequence_length=FLAGS.sequence_length,
                                                 slot_tags=slot_data.slot_tags if slot_data else None)  # fmt: skip
        voice_ft.use_mixed_precision(False)
        apply_trainability(model, freeze_layers=variant.frozen_layers, freeze_embeddings=variant.frozen)
        if slot_data:
            batches = slot_supervised_batches(model, slot_data.train, labels, FLAGS.batch_size, shuffle=True, seed=0)
            losses = slot_supervised_losses(model)  # what fit_with_slot_supervision trains on
            model = model.slot_supervision.training_model
            model.compile(keras.optimizers.AdamW(5e-5), losses, jit_compile=variant.xla)
        else:
            model.compile(keras.optimizers.AdamW(5e-5), intent_loss, jit_compile=variant.xla)
            batches = encode_dataset(train, model.text_encoder, FLAGS.batch_size, shuffle=True, seed=0,
                                     bucket_by_length=variant.bucketed)  # fmt: skip
        models[name] = model
        iterators[name] = iter(batches.repeat())
    seconds = {n: 0.0 for n in variants}
    examples = {n: 0 for n in variants}
    tokens = {n: [] for n in variants}
    seen = {n: set() for n in variants}
    first_steps = {n: 0.0 for n in variants}  # steps on a new width: traces, and for XLA compiles

    def step(name, timed: bool):
        x, y = next(iterators[name])
        width = int(x["token_ids"].shape[1])
        start = time.perf_counter()
        models[name].train_on_batch(x, y)
        elapsed = time.perf_counter() - start
        if width not in seen[name]:
            seen[name].add(width)
            first_steps[name] += elapsed
        elif timed:
            seconds[name] += elapsed
            examples[name] += int(x["token_ids"].shape[0])
            tokens[name].append(width)

    for name in variants:
        for _ in range(FLAGS.warmup_steps):
            step(name, timed=False)
    for _ in range(FLAGS.rounds):
        for name in variants:
            for _ in range(FLAGS.steps):
                step(name, timed=True)
    rate = {n: examples[n] / seconds[n] for n in variants}
    ratios = {"speedup": ("bucketed", "fixed"), "speedup_recipe": ("frozen", "fixed"),
              "speedup_xla": ("frozen_xla", "frozen"), "speedup_layers2": ("frozen_layers2", "frozen"),
              "speedup_bf16": ("frozen_bf16", "frozen"), "speedup_slots": ("frozen_slots", "frozen"),
              "speedup_recipe_slots": ("frozen_slots", "fixed")}  # fmt: skip
    result = {"data": FLAGS.data, **{f"examples_per_s_{n}": rate[n] for n in variants},
              **{key: rate[a] / rate[b] for key, (a, b) in ratios.items() if a in rate and b in rate},
              "cpu_bf16": cpu_has_bf16()}  # fmt: skip
    for name in ("fixed", "bucketed", "frozen_slots"):
        if name in tokens:
            result[f"mean_tokens_{name}"] = float(np.mean(tokens[name]))
    if "frozen_xla" in first_steps and "frozen" in first_steps:
        result["xla_compile_s"] = first_steps["frozen_xla"] - first_steps["frozen"]
    if "bucketed" in seen:
        result["batch_widths"] = sorted(seen["bucketed"])
    import tensorflow as tf

    gflops = {name: matmul_gflops(getattr(tf, name)) for name in ("float32", "bfloat16")}
    result.update({f"matmul_gflops_{name}": value for name, value in gflops.items()},
                  matmul_speedup_bf16=gflops["bfloat16"] / gflops["float32"])
    print_result({**result, "machine": machine()})


if __name__ == "__main__":
    app.run(main)
