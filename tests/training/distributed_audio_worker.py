"""One process of the distributed audio test: trains a tiny speech-commands DS-CNN on FSDD clips and
saves its final weights (`.npz`, no pickle) for the test to compare.

    python tests/training/distributed_audio_worker.py --manifest CSV --out FILE [--strategy multi_worker]
        [--run_dir DIR] [--log_steps --step_pause S]

The cluster comes from TF_CONFIG (set by the test). No dropout, no SpecAugment and no waveform
augmentation: every process must compute the same forward pass for the weights to match exactly.
"""

from __future__ import annotations

import argparse
import pathlib
import sys

REPO = pathlib.Path(__file__).resolve().parents[2]
sys.path[:0] = [str(REPO), str(REPO / "tests" / "training")]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--manifest", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--strategy", default="multi_worker")
    parser.add_argument("--batch_size", type=int, default=4, help="per replica")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--run_dir", default=None, help="checkpoints, resume backup and logs (the chief's)")
    parser.add_argument("--log_steps", action="store_true", help="print each step's epoch and batch")
    parser.add_argument("--step_pause", type=float, default=0.0, help="seconds to sleep after each step")
    args = parser.parse_args()

    import voice_ft
    from voice_ft.training import distribution

    strategy, _ = distribution.start_strategy(args.strategy)  # before TensorFlow runs anything
    import keras
    import numpy as np

    from voice_ft.data.audio import AudioSource
    from voice_ft.data.audio_readers import read_audio_manifest, select_split

    recipe = voice_ft.Recipe(epochs=args.epochs, batch_size=args.batch_size, learning_rate=3e-3, seed=7,
                             strategy=args.strategy)  # fmt: skip
    train = AudioSource.from_examples(select_split(read_audio_manifest(args.manifest), "train"), sample_rate=8000,
                                      clip_seconds=0.5)  # fmt: skip
    batches = train.dataset(distribution.global_batch_size(recipe.batch_size, strategy), shuffle=True, seed=3)
    keras.utils.set_random_seed(0)  # the same initial weights in every process
    with distribution.distribution_scope(recipe):
        model = voice_ft.build_speech_command_classifier(len(train.labels), 8000, 0.5, upper_edge_hertz=4000,
                                                         filters=8, num_blocks=1, dropout=0.0, spec_augment=False)  # fmt: skip
    from distributed_worker import _batch_losses_callback

    steps = _batch_losses_callback()(args.log_steps, args.step_pause)
    history = voice_ft.fit(model, distribution.distribute_batches(batches, strategy), recipe=recipe,
                           run_dir=args.run_dir, callbacks=[steps], verbose=0)  # fmt: skip
    np.savez(args.out, *[np.asarray(w) for w in model.get_weights()], losses=np.asarray(history.history["loss"]),
             iterations=np.asarray(int(model.optimizer.iterations.numpy())))  # fmt: skip


if __name__ == "__main__":
    main()
