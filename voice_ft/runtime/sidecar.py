"""The JSON sidecar beside every exported `.tflite` (`<stem>.json`): reading it safely.

A sidecar comes with a file from elsewhere (an app bundle, a download), so the runtime treats it
as untrusted input: its fields are type-checked, the files it names (vocabulary, merges, labels)
must lie in the sidecar's own folder (no `../`, no absolute path, no symlink out of the folder),
and its labels must fit the model's outputs. Every problem is a `SidecarError` naming the sidecar.
"""

from __future__ import annotations

import json
import os
import pathlib
from typing import Any


class SidecarError(ValueError):
    """The JSON sidecar beside a `.tflite` file is missing or does not fit the schema."""


def sidecar_path(tflite_path: str | os.PathLike) -> pathlib.Path:
    """`model.tflite` -> `model.json` (same folder, same stem)."""
    return pathlib.Path(tflite_path).with_suffix(".json")


def load_sidecar(tflite_path: str | os.PathLike, task: str | None = None) -> dict[str, Any]:
    """Reads the sidecar of `tflite_path`, checking its `task` when given."""
    path = sidecar_path(tflite_path)
    if not path.is_file():
        raise SidecarError(f"Sidecar {path} not found; it is written next to the .tflite by voice_ft.export.")
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise SidecarError(f"Sidecar {path} is not valid JSON: {e}") from e
    if not isinstance(meta, dict):
        raise SidecarError(f"Sidecar {path} must hold a JSON object, got {type(meta).__name__}.")
    if task is not None and meta.get("task") != task:
        raise SidecarError(f"Sidecar {path} has task {meta.get('task')!r}, expected {task!r}.")
    return meta


def require_field(meta: dict, path: pathlib.Path, key: str, kind: type | tuple[type, ...]) -> Any:
    value = meta.get(key)
    if not isinstance(value, kind) or isinstance(value, bool) and kind is int:
        raise SidecarError(f"Sidecar {path}: field {key!r} is missing or not a {getattr(kind, '__name__', kind)}.")
    return value


def companion_file(sidecar: pathlib.Path, name: Any, field: str = "file") -> pathlib.Path:
    """The file `name` (from the sidecar) beside `sidecar`, refusing any path that leaves its folder.

    Only a plain relative name inside the folder is accepted: absolute paths, `..` parts and
    symbolic links resolving outside the folder are refused, so a crafted sidecar cannot make the
    runtime read another file of the phone.
    """
    if not isinstance(name, str) or not name:
        raise SidecarError(f"Sidecar {sidecar}: {field} must be a file name, got {name!r}.")
    relative = pathlib.PurePath(name)
    if relative.is_absolute() or ".." in relative.parts or pathlib.PureWindowsPath(name).drive:
        raise SidecarError(f"Sidecar {sidecar}: {field} {name!r} must be a file name inside {sidecar.parent}.")
    folder = sidecar.parent.resolve()
    path = (folder / relative).resolve()
    if folder != path.parent and folder not in path.parents:
        raise SidecarError(f"Sidecar {sidecar}: {field} {name!r} resolves to {path}, outside {folder}.")
    if not path.is_file():
        raise SidecarError(f"Sidecar {sidecar}: {field} {path} not found.")
    return path


def check_output_width(sidecar: pathlib.Path, output_details: dict, output: str, names: list, what: str) -> None:
    """Refuses a sidecar whose `names` (labels, tags) do not match the width of `output`."""
    shape = [int(x) for x in output_details[output]["shape"]]
    if shape and shape[-1] != len(names):
        raise SidecarError(
            f"Sidecar {sidecar} lists {len(names)} {what} but the model's output {output!r} has {shape[-1]}."
        )
