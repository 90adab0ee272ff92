"""Every `examples/` trainer under MirroredStrategy on two logical CPU devices (a smoke test each:
tiny models, a few steps): `--strategy=mirrored` builds the model under the strategy, records it in
the recipe, trains on global batches of 2 x --batch_size and still evaluates and exports."""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).parent))  # tiny_audio

RUNNER = pathlib.Path(__file__).with_name("mirrored_trainer.py")
TIMEOUT_S = 240


def run_mirrored(script: str, *args: str) -> subprocess.CompletedProcess:
    """`examples/<script>.py <args> --strategy=mirrored` on two logical CPU devices; fails with its output."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    process = subprocess.run([sys.executable, str(RUNNER), script, *args], env=env, capture_output=True, text=True,
                             timeout=TIMEOUT_S, cwd=RUNNER.parents[2])  # fmt: skip
    assert process.returncode == 0, f"{process.stdout[-3000:]}\n{process.stderr[-5000:]}"
    assert "2 replica(s)" in process.stderr  # voice_ft.fit's log line: it trained on both devices
    return process


def test_nlu_trainer(tiny_preset, tmp_path):
    run_dir = tmp_path / "run"
    process = run_mirrored("train_nlu", f"--backbone={tiny_preset}", f"--run_dir={run_dir}", "--epochs=1", "--train_limit=32",
                 "--batch_size=8", "--sequence_length=32", "--learning_rate=1e-3", "--quantization=float32",
                 "--tolerance=100")  # fmt: skip
    config = json.loads((run_dir / "config.json").read_text())
    assert config["recipe"]["strategy"] == "mirrored" and config["recipe"]["batch_size"] == 8
    assert "2 steps x 1 epochs" in process.stderr  # global batches: 32 examples / (2 x 8)
    assert len((run_dir / "history.csv").read_text().splitlines()) == 2  # header + one epoch
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["tflite"]["float32"]["tflite"]["slot_f1"] == pytest.approx(metrics["test"]["slot_f1"])


def test_speech_commands_trainer(tmp_path):
    from tiny_audio import fsdd_manifest

    run_dir = tmp_path / "run"
    process = run_mirrored("train_speech_commands", f"--manifest={fsdd_manifest(tmp_path / 'fsdd')}",
                           f"--run_dir={run_dir}", "--model=dscnn", "--epochs=1", "--filters=8", "--num_blocks=1",
                           "--batch_size=4", "--repeat_augmented=1", "--quantization=float32", "--tolerance=100")  # fmt: skip
    assert "3 steps x 1 epochs" in process.stderr  # global batches: 24 clips / (2 x 4)
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["test"]["num_examples"] == 6 and metrics["epochs_run"] == 1
    assert (run_dir / "model.keras").is_file() and (run_dir / "speech_commands_dscnn_float32.tflite").is_file()
    assert metrics["exports"]["float32"]["tflite_accuracy"] == pytest.approx(metrics["test"]["accuracy"])
