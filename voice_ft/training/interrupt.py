"""Ctrl-C during training: stop cleanly, keep the last backup, and say how to resume.

`fit` turns the `KeyboardInterrupt` Keras lets through into `TrainingInterrupted`, whose message
names the backup; Keras skips `on_train_end` then, so `BackupAndRestore` keeps its backup and the
same call (or trainer command) resumes from the last finished epoch. Trainers wrap their `main` in
`exit_on_interrupt`, which prints that message instead of a traceback and exits with 130
(128 + SIGINT, the shell's convention).

Python runs a signal handler at whatever bytecode comes next, and a `KeyboardInterrupt` raised
inside a finaliser (TensorFlow's iterators and resources have many `__del__`s) is printed as
"Exception ignored" and lost: a run then ignored Ctrl-C and finished. So during `fit`,
`deferred_interrupt` records SIGINT and `callbacks.RaiseOnInterrupt` raises it at the next batch or epoch end,
a point in Keras's loop that always propagates; a second Ctrl-C while one is pending raises at once.
"""

from __future__ import annotations

import contextlib
import functools
import pathlib
import signal
import sys
import threading

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


@contextlib.contextmanager
def deferred_interrupt():
    """Within: SIGINT sets the yielded event (a second one raises at once). Outside the main
    thread, where handlers cannot be installed, and where SIGINT is ignored, it keeps its handler."""
    pending = threading.Event()
    if threading.current_thread() is not threading.main_thread() or signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        yield pending  # no handler can be set here, or the process chose to ignore Ctrl-C (nohup, xdist workers)
        return

    def handler(signum, frame):
        if pending.is_set():
            raise KeyboardInterrupt
        pending.set()

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield pending
    finally:
        signal.signal(signal.SIGINT, previous)
    if pending.is_set():  # arrived after the last callback: still an interruption
        raise KeyboardInterrupt
