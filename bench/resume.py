"""Killed and resumed vs uninterrupted: SNIPS intent accuracy of the same trainer command.

    PYTHONPATH=. .venv/bin/python bench/resume.py [--epochs=3 --train_limit=4000 --kill_after=1]

Runs `examples/train_intent.py` (all-MiniLM-L6-v2) twice into fresh run directories: once to the
end, once killed with SIGKILL as soon as `--kill_after` epochs are logged and then started again
with the same command. Last line (JSON): `uninterrupted_accuracy`, `resumed_accuracy`,
`difference_points`, `killed_after_epochs`, `epochs_logged` (each epoch once when nothing was
trained twice), `seconds_uninterrupted`, `seconds_killed_and_resumed`.
"""

from __future__ import annotations

import csv
import json
import pathlib
import signal
import subprocess
import sys
import tempfile
import time

from absl import app, flags

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench"))
from common import print_result  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_integer("epochs", 3, "Training epochs.")
flags.DEFINE_integer("train_limit", 4000, "SNIPS training examples (all: 13,084).")
flags.DEFINE_integer("kill_after", 1, "SIGKILL once this many epochs are logged.")
flags.DEFINE_string("backbone", "all-minilm-l6-v2", "Backbone.")


def trainer(run_dir: pathlib.Path) -> list[str]:
    return [sys.executable, str(REPO / "examples" / "train_intent.py"), f"--backbone={FLAGS.backbone}",
            f"--run_dir={run_dir}", f"--epochs={FLAGS.epochs}", f"--train_limit={FLAGS.train_limit}",
            "--quantization="]  # fmt: skip


def logged_epochs(run_dir: pathlib.Path) -> list[int]:
    path = run_dir / "history.csv"
    if not path.exists():
        return []
    with path.open(newline="") as f:
        return [int(row["epoch"]) for row in csv.DictReader(f)]


def accuracy(run_dir: pathlib.Path) -> float:
    return json.loads((run_dir / "metrics.json").read_text())["test"]["accuracy"]


def main(argv):
    del argv
    with tempfile.TemporaryDirectory(prefix="voice_ft_resume_") as tmp:
        whole, killed = pathlib.Path(tmp) / "whole", pathlib.Path(tmp) / "killed"
        start = time.perf_counter()
        subprocess.run(trainer(whole), check=True, cwd=REPO, capture_output=True)
        seconds_whole = time.perf_counter() - start

        start = time.perf_counter()
        process = subprocess.Popen(trainer(killed), cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        while len(logged_epochs(killed)) < FLAGS.kill_after:
            if process.poll() is not None:
                raise SystemExit("the run ended before it could be killed")
            time.sleep(0.05)
        process.send_signal(signal.SIGKILL)
        process.wait()
        killed_after = len(logged_epochs(killed))
        subprocess.run(trainer(killed), check=True, cwd=REPO, capture_output=True)
        seconds_killed = time.perf_counter() - start

        result = {
            "uninterrupted_accuracy": accuracy(whole),
            "resumed_accuracy": accuracy(killed),
            "difference_points": 100 * (accuracy(killed) - accuracy(whole)),
            "killed_after_epochs": killed_after,
            "epochs_logged": logged_epochs(killed),
            "seconds_uninterrupted": seconds_whole,
            "seconds_killed_and_resumed": seconds_killed,
        }
    print_result(result)


if __name__ == "__main__":
    app.run(main)
