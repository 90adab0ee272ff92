"""Runs one `examples/` trainer under MirroredStrategy on two logical CPU devices.

    python tests/training/mirrored_trainer.py train_nlu <train_nlu.py flags>

The logical devices must be configured before TensorFlow initialises, so this sets them up first
and then runs the trainer's `main` with the given flags (plus `--strategy=mirrored`).
"""

from __future__ import annotations

import importlib
import pathlib
import sys

REPO = pathlib.Path(__file__).resolve().parents[2]
sys.path[:0] = [str(REPO), str(REPO / "examples")]


def main() -> None:
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    from absl import app

    trainer = importlib.import_module(sys.argv[1])
    from voice_ft.training.distribution import strategy_from_name

    assert strategy_from_name("mirrored").num_replicas_in_sync == 2
    app.run(trainer.main, argv=[sys.argv[0], *sys.argv[2:], "--strategy=mirrored"])


if __name__ == "__main__":
    main()
