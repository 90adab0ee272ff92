"""Never overwrite or half-write what a user made: output checks, run directories, atomic writes."""

from __future__ import annotations

import contextlib
import os
import pathlib
import shutil
import tempfile
from collections.abc import Callable, Iterator


class OutputExistsError(FileExistsError):
    """An output would replace an existing file or a run directory with results."""


def refuse_overwrite(paths, overwrite: bool = False, hint: str = "pass overwrite=True") -> None:
    """Raises `OutputExistsError` if any path exists and `overwrite` is False."""
    existing = [str(p) for p in paths if pathlib.Path(p).exists()]
    if existing and not overwrite:
        raise OutputExistsError(f"Refusing to overwrite existing output: {', '.join(existing)} ({hint}).")


def prepare_run_dir(run_dir: str | os.PathLike, overwrite: bool = False, results=("model.keras", "metrics.json")) -> pathlib.Path:
    """Creates a run directory; refuses one that already holds a finished run's results.

    A directory holding only a `backup/` (an interrupted run) is reused, so the run resumes; with
    `overwrite`, that backup is removed too, so the run starts over instead of resuming.
    """
    run_dir = pathlib.Path(run_dir)
    refuse_overwrite([run_dir / r for r in results], overwrite, hint="use --overwrite or another run directory")
    if overwrite and (run_dir / "backup").is_dir():
        shutil.rmtree(run_dir / "backup")
    run_dir.mkdir(parents=True, exist_ok=True)
    return run_dir


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike) -> Iterator[pathlib.Path]:
    """Yields a temporary path beside `path`, renamed onto `path` only when the block succeeds.

    A crash or a kill while writing leaves at most a `.partial-<name>` file, never a half-written
    file under the final name (and an existing file there stays intact). The temporary name keeps
    the final name's ending, since Keras and matplotlib choose the format from it (`.keras`,
    `.weights.h5`, `.png`).
    """
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".partial-{path.name}")
    try:
        yield partial
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)


def write_text_atomic(path: str | os.PathLike, text: str) -> pathlib.Path:
    """Writes UTF-8 `text` to `path` through `atomic_output`."""
    with atomic_output(path) as partial:
        partial.write_text(text, encoding="utf-8")
    return pathlib.Path(path)


class ResumeMismatchError(ValueError):
    """An interrupted run would be resumed with other settings than it was started with."""


def record_run_config(run_dir: str | os.PathLike, config: dict, name: str = "config.json") -> bool:
    """Writes a run's settings to `run_dir/config.json`; returns True when it resumes an interrupted run.

    A run directory holding a `backup/` belongs to an interrupted run. Its recorded settings must
    equal `config` (compared as JSON), or resuming would continue its weights and optimizer state
    under another recipe: that is a `ResumeMismatchError` naming the settings that differ.
    """
    import json

    run_dir = pathlib.Path(run_dir)
    path = run_dir / name
    encoded = json.loads(json.dumps(config, default=str))
    resuming = (run_dir / "backup").is_dir()
    if resuming and path.exists():
        recorded = json.loads(path.read_text(encoding="utf-8"))
        differing = sorted(k for k in set(recorded) | set(encoded) if recorded.get(k) != encoded.get(k))
        if differing:
            raise ResumeMismatchError(
                f"{run_dir} holds an interrupted run started with other settings ({', '.join(differing)} differ); "
                "resume it with the same command, or use --overwrite or another run directory."
            )
    write_text_atomic(path, json.dumps(encoded, indent=2) + "\n")
    return resuming


def build_folder_once(folder: str | os.PathLike, ready: Callable[[pathlib.Path], bool],
                      write: Callable[[pathlib.Path], object]) -> pathlib.Path:
    """`folder` if `ready(folder)`; else `write(tmp)` into a temporary sibling, then rename it into place.

    For caches of converted checkpoints: an interrupted conversion leaves no half folder under the
    final name, and when two processes convert at once the first rename wins and the other's copy
    is dropped.
    """
    folder = pathlib.Path(folder)
    if ready(folder):
        return folder
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = pathlib.Path(tempfile.mkdtemp(prefix=f".{folder.name}-", dir=folder.parent))
    try:
        write(tmp)
        if folder.exists():  # a concurrent conversion won
            shutil.rmtree(tmp)
        else:
            tmp.rename(folder)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return folder
