"""Save and restore a trained model together with what it needs: tokenizer and labels.

A model directory holds `model.keras` (architecture + weights, no optimizer state: 90 MB instead
of 273 MB for MiniLM), `vocab.txt` + `tokenizer.json` (the `TextEncoder`), and `labels.txt`.
"""

from __future__ import annotations

import os
import pathlib

import keras

from voice_ft.data.files import atomic_output, refuse_overwrite
from voice_ft.data.labels import LabelVocabulary
from voice_ft.data.text_encoder import TextEncoder

# Custom objects that `model.keras` files may reference: import to register them.
from voice_ft.training import optimizer as _optimizer  # noqa: F401
from voice_ft.training import schedule as _schedule  # noqa: F401


def save_model(model: keras.Model, directory: str | os.PathLike, labels=None, overwrite: bool = False) -> pathlib.Path:
    """Writes `model.keras`, the text encoder files and `labels.txt` into `directory`."""
    directory = pathlib.Path(directory)
    refuse_overwrite([directory / "model.keras"], overwrite)
    directory.mkdir(parents=True, exist_ok=True)
    # Keras 3.15 always stores the optimizer in .keras files; detach it for the duration of the save.
    optimizer = getattr(model, "optimizer", None)
    model.optimizer = None
    try:
        with atomic_output(directory / "model.keras") as partial:
            model.save(partial)
    finally:
        model.optimizer = optimizer
    encoder = getattr(model, "text_encoder", None)
    if encoder is not None:
        encoder.save(directory)
    if labels is not None:
        LabelVocabulary(labels).save(directory / "labels.txt")
    return directory


def load_model(directory: str | os.PathLike, labels=None) -> tuple[keras.Model, list[str] | None]:
    """Restores a model saved by `save_model`; returns `(model, labels)`.

    Args:
        directory: the model (or run) directory.
        labels: if given, must equal the saved label list (same names, same order): a model
            trained on other labels would silently mislabel everything.
    """
    directory = pathlib.Path(directory)
    model_path = directory / "model.keras"
    if not model_path.exists():
        raise FileNotFoundError(f"{model_path} not found: not a directory written by voice_ft.save_model.")
    model = keras.saving.load_model(model_path)
    if (directory / "tokenizer.json").exists():
        model.text_encoder = TextEncoder.load(directory)
    saved_labels = list(LabelVocabulary.from_file(directory / "labels.txt")) if (directory / "labels.txt").exists() else None
    if labels is not None:
        if saved_labels is None:
            raise ValueError(f"{directory} has no labels.txt to check the given labels against.")
        LabelVocabulary(saved_labels).check_matches(list(labels), what=f"model restored from {directory}")
    return model, saved_labels
