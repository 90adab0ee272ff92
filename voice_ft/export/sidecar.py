"""The JSON sidecar written beside every exported `.tflite` (`<stem>.json`).

It is what a phone app (and `voice_ft.runtime`) needs besides the flatbuffer: the task, labels,
tokenizer or audio front-end settings, input/output names, how it was quantized, how it was
verified, and the versions that made it. Paths inside it are relative to the sidecar.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import pathlib

from voice_ft.data.files import write_text_atomic

SIDECAR_VERSION = 1


def sidecar_path(tflite_path: str | os.PathLike) -> pathlib.Path:
    return pathlib.Path(tflite_path).with_suffix(".json")


def package_versions(names=("voice_ft", "tensorflow", "keras", "keras-hub", "ai-edge-litert")) -> dict[str, str]:
    versions = {}
    for name in names:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return versions


def write_sidecar(tflite_path: str | os.PathLike, metadata: dict) -> pathlib.Path:
    """Writes `<stem>.json` with `metadata` plus format version, file name and package versions."""
    path = sidecar_path(tflite_path)
    content = {
        "sidecar_version": SIDECAR_VERSION,
        "model_file": pathlib.Path(tflite_path).name,
        **metadata,
        "versions": package_versions(),
    }
    write_text_atomic(path, json.dumps(content, indent=2) + "\n")
    return path
