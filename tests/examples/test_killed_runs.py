"""A trainer killed mid-run (SIGKILL) or stopped with Ctrl-C (SIGINT) resumes with the same command.

Real processes (forked from the suite's pre-imported server, Ctrl-C at Python's default as from a user's
shell; `example_runner.start_example`): the resumed run starts from the last backup,
trains no finished epoch again, leaves what the first run finished as it was, and ends close to an
uninterrupted run (the bench `bench/resume.py` measures how close on SNIPS).
"""

import csv
import json
import pathlib
import signal
import time

import pytest

from example_runner import run_example, start_example

EPOCHS = 3


def command(tiny_preset, run_dir) -> list[str]:
    return ["train_intent.py", f"--backbone={tiny_preset}", f"--run_dir={run_dir}", f"--epochs={EPOCHS}",
            "--train_limit=192", "--batch_size=16", "--sequence_length=24", "--learning_rate=1e-3",
            "--quantization=", "--calibrate=false"]  # fmt: skip  (no export: these tests are about training state)


def history_epochs(run_dir: pathlib.Path) -> list[int]:
    path = run_dir / "history.csv"
    if not path.exists():
        return []
    with path.open(newline="") as f:
        return [int(row["epoch"]) for row in csv.DictReader(f)]


def start_and_interrupt(args: list[str], run_dir: pathlib.Path, sig: int, after_epochs: int = 2, timeout: float = 300):
    """Starts a trainer, sends `sig` once `after_epochs` epochs are logged; returns the process (ended).

    The trainer is forked from the suite's pre-imported server (`example_runner.start_example`) with
    Ctrl-C at Python's default, as from a user's shell.
    """
    process = start_example(*args)
    deadline = time.monotonic() + timeout
    try:
        while len(history_epochs(run_dir)) < after_epochs:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                out, err = process.communicate()
                raise AssertionError(f"the run ended or stalled before {after_epochs} epochs:\n{out[-2000:]}\n{err[-3000:]}")
            time.sleep(0.02)
        process.send_signal(sig)
        process.wait(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    return process


@pytest.fixture(scope="module")
def uninterrupted(tiny_preset, tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("runs") / "whole"
    run_example(*command(tiny_preset, run_dir))
    return json.loads((run_dir / "metrics.json").read_text())


def test_stopped_then_killed_run_resumes_from_its_last_backup(tiny_preset, tmp_path, uninterrupted):
    """Ctrl-C after epoch 0 ends cleanly and keeps the backup; a start with other settings is refused;
    the same command resumes, is killed (SIGKILL) after epoch 1, and the same command again finishes."""
    run_dir = tmp_path / "run"
    stopped = start_and_interrupt(command(tiny_preset, run_dir), run_dir, signal.SIGINT, after_epochs=1)
    _, err = stopped.communicate()
    assert stopped.returncode == 130, err[-3000:]
    assert "Training interrupted" in err and "run the same command" in err and "Traceback" not in err
    assert (run_dir / "backup" / "latest.weights.h5").exists()

    changed = [a if not a.startswith("--learning_rate") else "--learning_rate=5e-4" for a in command(tiny_preset, run_dir)]
    process = run_example(*changed, check=False)
    assert process.returncode != 0 and "interrupted run started with other settings (recipe differ)" in process.stderr
    assert (run_dir / "backup" / "latest.weights.h5").exists()  # still resumable with the original command

    killed = start_and_interrupt(command(tiny_preset, run_dir), run_dir, signal.SIGKILL, after_epochs=2)
    assert killed.returncode == -signal.SIGKILL
    finished = history_epochs(run_dir)
    assert finished[:2] == [0, 1] and len(finished) < EPOCHS  # epoch 0 was not trained again
    assert (run_dir / "backup").is_dir() and not (run_dir / "metrics.json").exists()
    rows_before = (run_dir / "history.csv").read_text().splitlines()
    config_before = (run_dir / "config.json").read_bytes()

    resumed = run_example(*command(tiny_preset, run_dir))
    assert history_epochs(run_dir) == list(range(EPOCHS))  # every epoch once: none trained twice
    assert (run_dir / "history.csv").read_text().splitlines()[: len(rows_before)] == rows_before
    assert (run_dir / "config.json").read_bytes() == config_before
    assert not (run_dir / "backup").exists()  # a finished run removes its backup
    assert not list(run_dir.rglob(".partial-*"))  # no half-written file left anywhere
    metrics = json.loads((run_dir / "metrics.json").read_text())
    # The resumed parts see their epochs' batches in another order than the uninterrupted run;
    # on this tiny model that moves test accuracy by a few points at most.
    assert abs(metrics["test"]["accuracy"] - uninterrupted["test"]["accuracy"]) < 0.15
    assert "Keras test accuracy" in resumed.stdout
