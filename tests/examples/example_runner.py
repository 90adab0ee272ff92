"""Runs an `examples/` trainer in a subprocess, as a user would, with its output in any failure."""

import os
import pathlib
import subprocess
import sys

REPO = pathlib.Path(__file__).resolve().parents[2]


def run_example(script: str, *args: str, check: bool = True, timeout: int = 600) -> subprocess.CompletedProcess:
    """`python examples/<script> <args>` from the repository root; with `check`, a non-zero exit fails the test."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    process = subprocess.run([sys.executable, str(REPO / "examples" / script), *args],
                             capture_output=True, text=True, env=env, cwd=REPO, timeout=timeout)  # fmt: skip
    if check and process.returncode != 0:
        raise AssertionError(f"{script} failed:\n{process.stdout[-3000:]}\n{process.stderr[-5000:]}")
    return process
