"""The one error type for bad input data, always naming where the problem is.

It lives in the TF-free runtime because both sides raise it: the phone-side readers (audio files)
and the training-side readers and pipelines (`voice_ft.data`, the task packages).
"""

from __future__ import annotations

import os


class DataError(ValueError):
    """Bad input data. The message names the file and line (or the argument) at fault.

    Raised while reading, before any training time is spent.
    """

    def __init__(self, message: str, path: str | os.PathLike | None = None, line: int | None = None):
        self.path = None if path is None else str(path)
        self.line = line
        self.reason = message  # the message without the "path:line: " prefix
        where = ""
        if self.path is not None:
            where = f"{self.path}:{line}: " if line is not None else f"{self.path}: "
        super().__init__(where + message)


class InputTypeError(DataError, TypeError):
    """An argument of the wrong type (None, bytes, a number where text or audio is expected).

    A `DataError` (the one bad-input type) that is also a `TypeError`, so either `except` catches it.
    """
