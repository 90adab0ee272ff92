"""Never overwrite what a user made: checks for output paths and run directories."""

from __future__ import annotations

import os
import pathlib


class OutputExistsError(FileExistsError):
    """An output would replace an existing file or a run directory with results."""


def refuse_overwrite(paths, overwrite: bool = False, hint: str = "pass overwrite=True") -> None:
    """Raises `OutputExistsError` if any path exists and `overwrite` is False."""
    existing = [str(p) for p in paths if pathlib.Path(p).exists()]
    if existing and not overwrite:
        raise OutputExistsError(f"Refusing to overwrite existing output: {', '.join(existing)} ({hint}).")


def prepare_run_dir(run_dir: str | os.PathLike, overwrite: bool = False, results=("model.keras", "metrics.json")) -> pathlib.Path:
    """Creates a run directory; refuses one that already holds a finished run's results.

    A directory holding only a `backup/` (an interrupted run) is reused, so the run resumes.
    """
    run_dir = pathlib.Path(run_dir)
    refuse_overwrite([run_dir / r for r in results], overwrite, hint="use --overwrite or another run directory")
    run_dir.mkdir(parents=True, exist_ok=True)
    return run_dir
