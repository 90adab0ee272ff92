"""Where an export goes, and the plain-text files written beside it.

Every exporter writes `<stem>.tflite` and its sidecar `<stem>.json`; text exporters also write
`vocab.txt` and label lists (`labels.txt`, `slot_labels.txt`) that all files exported into one
folder share. `check_export_target` refuses, before any conversion time is spent, a path that is
not a `.tflite` or an export that would overwrite something different; `write_companions` writes
the text files once the `.tflite` has passed verification.
"""

from __future__ import annotations

import os
import pathlib
from collections.abc import Mapping, Sequence

from voice_ft.data.files import refuse_overwrite, write_text_atomic
from voice_ft.export.sidecar import sidecar_path

TOKENIZER_KEYS = ("kind", "vocabulary", "lowercase", "strip_accents", "start_id", "end_id", "pad_id")


def check_export_target(
    path: str | os.PathLike, overwrite: bool, companions: Mapping[pathlib.Path, str] | None = None
) -> pathlib.Path:
    """`path` as a `Path`, after refusing a non-`.tflite` name or an overwrite.

    The `.tflite` and its sidecar may not exist (unless `overwrite`); a companion text file may
    exist only with exactly the text about to be written (another export into the same folder).
    """
    path = pathlib.Path(path)
    if path.suffix != ".tflite":
        raise ValueError(f"Export path must end in .tflite, got {path}")
    refuse_overwrite([path, sidecar_path(path)], overwrite)
    differing = [p for p, text in (companions or {}).items() if p.exists() and p.read_text(encoding="utf-8") != text]
    refuse_overwrite(differing, overwrite)
    return path


def text_model_companions(encoder, directory: pathlib.Path, label_files: Mapping[str, Sequence[str] | None]) -> dict[pathlib.Path, str]:
    """`vocab.txt` from the model's tokenizer plus one file per label list (`{"labels.txt": [...]}`; None skips)."""
    files = {directory / "vocab.txt": _lines(encoder.tokenizer.get_vocabulary())}
    files.update({directory / name: _lines(values) for name, values in label_files.items() if values is not None})
    return files


def write_companions(companions: Mapping[pathlib.Path, str]) -> None:
    for path, text in companions.items():
        write_text_atomic(path, text)


def tokenizer_metadata(encoder) -> dict:
    """The sidecar's `tokenizer` entry: what the TF-free WordPiece runtime needs to reproduce the ids."""
    config = encoder.config()
    return {key: config[key] for key in TOKENIZER_KEYS}


def _lines(values: Sequence[str]) -> str:
    return "\n".join(values) + "\n"
