"""Ctrl-C during training: stop cleanly, keep the last backup, and say how to resume.

`fit` turns the `KeyboardInterrupt` Keras lets through into `TrainingInterrupted`, whose message
names the backup; Keras skips `on_train_end` then, so `BackupAndRestore` keeps its backup and the
same call (or trainer command) resumes from the last finished epoch. Trainers wrap their `main` in
`exit_on_interrupt`, which prints that message instead of a traceback and exits with 130
(128 + SIGINT, the shell's convention).
"""

from __future__ import annotations

import functools
import pathlib
import sys

from absl import logging


class TrainingInterrupted(KeyboardInterrupt):
    """Training was interrupted (Ctrl-C / SIGINT); the message says what was kept."""

    def __init__(self, run_dir: str | pathlib.Path | None):
        self.run_dir = None if run_dir is None else pathlib.Path(run_dir)
        if self.run_dir is None:
            message = "Training interrupted. It had no run directory, so nothing was backed up."
        else:
            message = (f"Training interrupted. The last finished epoch is backed up in {self.run_dir / 'backup'}; "
                       "run the same command (or fit with the same run_dir) to resume from it.")  # fmt: skip
        super().__init__(message)


def exit_on_interrupt(main):
    """Wraps a trainer's `main(argv)`: `TrainingInterrupted` -> its message and exit status 130."""

    @functools.wraps(main)
    def wrapped(*args, **kwargs):
        try:
            return main(*args, **kwargs)
        except TrainingInterrupted as e:
            logging.warning("%s", e)
            print(e, file=sys.stderr, flush=True)
            sys.exit(130)

    return wrapped
