"""One process of a distributed-training test: trains a tiny intent classifier on SNIPS rows and
saves its final weights and losses (`.npz`, no pickle) for the test to compare.

    python tests/training/distributed_worker.py --preset DIR --out FILE [--strategy multi_worker] [--no_fix]

The cluster comes from TF_CONFIG (set by the test). `--no_fix` makes the multi-worker strategy
directly, without voice_ft's Keras 3.15 fix, to show the fix is what makes it work.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import sys
import time

REPO = pathlib.Path(__file__).resolve().parents[2]
sys.path[:0] = [str(REPO), str(REPO / "tests")]


def _batch_losses_callback():
    import keras

    class BatchLosses(keras.callbacks.Callback):
        """The running mean loss Keras logs after each step (the order of the batches shows in it);
        with `log_steps`, also prints `step epoch=E batch=B` after each one (a test watches for it),
        then sleeps `pause` seconds (so a test's kill lands mid-epoch)."""

        def __init__(self, log_steps: bool = False, pause: float = 0.0):
            super().__init__()
            self.losses, self.log_steps, self.pause, self.epoch = [], log_steps, pause, None

        def on_epoch_begin(self, epoch, logs=None):
            self.epoch = epoch

        def on_train_batch_end(self, batch, logs=None):
            self.losses.append(float(logs["loss"]))
            if self.log_steps:
                print(f"step epoch={self.epoch} batch={batch}", flush=True)
            time.sleep(self.pause)

    return BatchLosses


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--preset", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--strategy", default="multi_worker")
    parser.add_argument("--batch_size", type=int, default=8, help="per replica")
    parser.add_argument("--examples", type=int, default=64)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--run_dir", default=None)
    parser.add_argument("--learning_rate", type=float, default=1e-3)
    parser.add_argument("--clipnorm", type=float, default=None)
    parser.add_argument("--no_fix", action="store_true")
    parser.add_argument("--log_steps", action="store_true", help="print each step's epoch and batch")
    parser.add_argument("--step_pause", type=float, default=0.0, help="seconds to sleep after each step")
    args = parser.parse_args()

    import numpy as np
    import tensorflow as tf
    import keras

    import voice_ft
    from conftest import DATA, read_rows
    from voice_ft.data.labels import LabelVocabulary
    from voice_ft.data.readers import TextExample
    from voice_ft.data.text_pipeline import examples_to_dataset

    BatchLosses = _batch_losses_callback()
    recipe = voice_ft.Recipe(epochs=args.epochs, batch_size=args.batch_size, learning_rate=args.learning_rate, seed=7, clipnorm=args.clipnorm,
                             strategy="default" if args.no_fix else args.strategy)
    if args.no_fix:
        scope = tf.distribute.MultiWorkerMirroredStrategy().scope()
    else:
        voice_ft.training.strategy_from_name(recipe.strategy)  # before TensorFlow runs anything
        scope = voice_ft.training.distribution_scope(recipe)
    rows = read_rows(DATA / "snips" / "train.jsonl", args.examples)
    labels = LabelVocabulary.from_records(r["intent"] for r in rows)
    examples = [TextExample(r["text"], r["intent"], "train.jsonl", i + 1) for i, r in enumerate(rows)]
    train = examples_to_dataset(examples, labels)
    keras.utils.set_random_seed(0)
    with scope:
        backbone = voice_ft.load_backbone(args.preset)
        model = voice_ft.build_intent_classifier(backbone, len(labels), sequence_length=16, dropout=0.0)
    for layer in model._flatten_layers():
        if isinstance(layer, keras.layers.Dropout):
            layer.rate = 0.0  # the same forward pass in every process: the weights must match exactly
    steps = BatchLosses(args.log_steps, args.step_pause)
    history = voice_ft.fit(model, train, recipe=recipe, run_dir=args.run_dir, callbacks=[steps], verbose=0)
    np.savez(args.out, *[np.asarray(w) for w in model.get_weights()],
             losses=np.asarray(history.history["loss"], np.float64), step_losses=np.asarray(steps.losses, np.float64),
             iterations=np.asarray(int(model.optimizer.iterations.numpy())))
    print(json.dumps({"losses": history.history["loss"], "step_losses": steps.losses}), flush=True)


if __name__ == "__main__":
    main()
