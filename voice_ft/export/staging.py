"""Write an exported file only once it has passed verification.

The bytes go to `<path>.partial`, `verify(staging_path)` runs on that file, and only then is it
renamed into place, so a refused or failed export never leaves a half-checked `.tflite` behind.
With `keep_refused`, a file refused by verification is kept as `<stem>.tflite.refused` for
inspection (benchmarks time it).
"""

from __future__ import annotations

import os
import pathlib
from collections.abc import Callable

from voice_ft.export.errors import ExportVerificationError


def write_verified(path: pathlib.Path, tflite_bytes: bytes, verify: Callable[[pathlib.Path], None],
                   keep_refused: bool = False) -> None:
    """Stages `tflite_bytes`, runs `verify` on the staged file, then moves it to `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = path.with_suffix(".tflite.partial")
    staging.write_bytes(tflite_bytes)
    try:
        verify(staging)
    except ExportVerificationError:
        if keep_refused:
            os.replace(staging, path.with_suffix(".tflite.refused"))
        staging.unlink(missing_ok=True)
        raise
    except BaseException:
        staging.unlink(missing_ok=True)
        raise
    os.replace(staging, path)
