"""A multi-worker run with one worker SIGKILLed mid-epoch resumes from the last backup when both
workers are started again with the same command (what a cluster manager does when a task dies).

Two real processes on 127.0.0.1 (MultiWorkerMirroredStrategy, a tiny DS-CNN on 24 FSDD clips, the
cheapest model to start: `voice_ft.fit` with a run directory, so `BackupAndRestore` in
`run_dir/backup`): worker 1 is killed
in the middle of epoch 2, the chief, stuck in the next all-reduce, is killed too; the restarted pair
trains epochs 2-3 only, ends at the step count of an uninterrupted run, in sync, and only the chief
wrote the run directory.
"""

from __future__ import annotations

import csv
import re
import signal
import subprocess
import time

import numpy as np

from test_distribution import AUDIO_WORKER, start, weights, worker_envs
from tiny_audio import fsdd_manifest

EPOCHS, STEPS_PER_EPOCH = 4, 3  # 24 clips, global batch 2 x 4
KILL_AT = "step epoch=2 batch=1"  # worker 1's line after the second step of epoch 2
TIMEOUT_S = 120


def logged_epochs(run_dir) -> list[int]:
    path = run_dir / "history.csv"
    if not path.exists():
        return []
    with path.open(newline="") as f:
        return [int(row["epoch"]) for row in csv.DictReader(f)]


def steps_logged(log) -> list[tuple[int, int]]:
    return [(int(e), int(b)) for e, b in re.findall(r"^step epoch=(\d+) batch=(\d+)$", log.read_text(), re.M)]


def stop(processes: list[subprocess.Popen]) -> None:
    for p in processes:
        if p.poll() is None:
            p.kill()
        p.wait()


def test_a_killed_worker_resumes_from_the_last_backup(tmp_path):
    manifest = fsdd_manifest(tmp_path / "fsdd", digits="012", train=8)
    envs = worker_envs(tmp_path)
    run_dir = tmp_path / "run"

    def command(i: int, attempt: str) -> tuple:  # start()'s arguments
        args = [f"--manifest={manifest}", "--batch_size=4", f"--epochs={EPOCHS}", f"--run_dir={run_dir}",
                f"--out={tmp_path / f'w{i}.npz'}", "--log_steps", "--step_pause=0.3"]  # the kill lands within 0.3 s
        tmpdir = tmp_path / f"tmp{i}-{attempt}"  # a fresh TMPDIR per attempt: the killed worker's is not cleaned
        tmpdir.mkdir()
        return args, {**envs[i], "TMPDIR": str(tmpdir)}, tmp_path / f"w{i}-{attempt}.log", AUDIO_WORKER

    first = []
    try:
        first = [start(*command(i, "first")) for i in (0, 1)]
        deadline = time.monotonic() + TIMEOUT_S
        while KILL_AT not in (tmp_path / "w1-first.log").read_text():
            assert time.monotonic() < deadline and all(p.poll() is None for p in first), \
                (tmp_path / "w0-first.log").read_text()[-3000:]  # fmt: skip
            time.sleep(0.02)
        first[1].send_signal(signal.SIGKILL)
        first[1].wait()
        time.sleep(0.5)  # the chief cannot go on alone (it waits in the next collective): the job is restarted
    finally:
        stop(first)
    assert first[1].returncode == -signal.SIGKILL
    assert logged_epochs(run_dir) == [0, 1] and (run_dir / "backup").is_dir()  # killed in epoch 2
    assert max(steps_logged(tmp_path / "w1-first.log")) < (2, STEPS_PER_EPOCH - 1)  # mid-epoch
    rows_before = (run_dir / "history.csv").read_text().splitlines()

    second = []
    try:
        second = [start(*command(i, "again")) for i in (0, 1)]  # the same command
        codes = [p.wait(timeout=TIMEOUT_S) for p in second]
    finally:
        stop(second)
    logs = {i: (tmp_path / f"w{i}-again.log").read_text()[-3000:] for i in (0, 1)}
    assert codes == [0, 0], logs
    for i in (0, 1):  # from epoch 2, the epoch the kill cut short: epochs 0 and 1 were not trained again
        assert steps_logged(tmp_path / f"w{i}-again.log") == [(e, b) for e in (2, 3) for b in range(STEPS_PER_EPOCH)]
        result = np.load(tmp_path / f"w{i}.npz")
        assert int(result["iterations"]) == EPOCHS * STEPS_PER_EPOCH  # the restored step counter went on
        assert len(result["losses"]) == EPOCHS - 2
    chief, other = weights(tmp_path / "w0.npz"), weights(tmp_path / "w1.npz")
    assert all(np.array_equal(a, b) for a, b in zip(chief, other))  # both restored the chief's backup
    # Only the chief wrote the run directory: one row an epoch, the first run's rows kept as they were.
    assert logged_epochs(run_dir) == list(range(EPOCHS))
    assert (run_dir / "history.csv").read_text().splitlines()[: len(rows_before)] == rows_before
    assert not (run_dir / "backup").exists()  # a finished run removes its backup
    assert not any((tmp_path / "tmp1-again").iterdir())  # the other worker's files were removed
