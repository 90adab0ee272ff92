"""Training speed of a text classifier: fixed-length batches vs length-bucketed batches.

    PYTHONPATH=. .venv/bin/python bench/text_training_speed.py [--data=snips --steps=60 --sequence_length=32]

Same model, same data, same recipe; only the batching differs (`encode_dataset(bucket_by_length=...)`,
which `voice_ft.fit` turns on for models that take any length). Each variant trains `--steps` steps
after a warm-up, alternating the two variants `--rounds` times so both see the same machine load.
Last line (JSON): `examples_per_s_fixed`, `examples_per_s_bucketed`, `speedup`, `mean_tokens_fixed`,
`mean_tokens_bucketed` (padded width per example).
"""

from __future__ import annotations

import sys
import time
import pathlib

from absl import app, flags

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from common import print_result  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_string("data", "snips", "Bundled data set or folder.")
flags.DEFINE_string("backbone", "all-minilm-l6-v2", "Backbone.")
flags.DEFINE_integer("sequence_length", 32, "Padded length (fixed batches) and cap (bucketed).")
flags.DEFINE_integer("batch_size", 32, "Batch size.")
flags.DEFINE_integer("steps", 60, "Timed steps per variant and round.")
flags.DEFINE_integer("rounds", 2, "Alternations of the two variants.")


def main(argv):
    del argv
    import keras
    import numpy as np

    import voice_ft
    from voice_ft.data.text_pipeline import encode_dataset

    train, *_ , labels = voice_ft.datasets.load(FLAGS.data)
    backbone = voice_ft.load_backbone(FLAGS.backbone)
    model = voice_ft.build_intent_classifier(backbone, num_labels=len(labels), sequence_length=FLAGS.sequence_length)
    model.compile(keras.optimizers.AdamW(5e-5), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    batches = {
        name: encode_dataset(train, model.text_encoder, FLAGS.batch_size, shuffle=True, seed=0, bucket_by_length=bucketed)
        .repeat()
        for name, bucketed in (("fixed", False), ("bucketed", True))
    }
    iterators = {name: iter(ds) for name, ds in batches.items()}
    seconds, examples, tokens = {n: 0.0 for n in batches}, {n: 0 for n in batches}, {n: [] for n in batches}
    for name, iterator in iterators.items():  # warm-up: trace every batch width once
        for _ in range(20):
            x, y = next(iterator)
            model.train_on_batch(x, y)
    for _ in range(FLAGS.rounds):
        for name, iterator in iterators.items():
            for _ in range(FLAGS.steps):
                x, y = next(iterator)
                start = time.perf_counter()
                model.train_on_batch(x, y)
                seconds[name] += time.perf_counter() - start
                examples[name] += int(y.shape[0])
                tokens[name].append(int(x["token_ids"].shape[1]))
    rate = {n: examples[n] / seconds[n] for n in batches}
    print_result({
        "data": FLAGS.data,
        "examples_per_s_fixed": rate["fixed"],
        "examples_per_s_bucketed": rate["bucketed"],
        "speedup": rate["bucketed"] / rate["fixed"],
        "mean_tokens_fixed": float(np.mean(tokens["fixed"])),
        "mean_tokens_bucketed": float(np.mean(tokens["bucketed"])),
    })


if __name__ == "__main__":
    app.run(main)
