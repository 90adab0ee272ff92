"""A fixed, ordered label vocabulary: label name <-> integer id."""

from __future__ import annotations

import os
import pathlib
from collections.abc import Iterable, Sequence

from voice_ft.data.files import write_text_atomic
from voice_ft.data.readers import read_text
from voice_ft.runtime.errors import DataError

# The label id of an out-of-scope example ("what is the meaning of life" to a smart-home model):
# not one of the model's labels, so no output of the model; such examples only choose a rejection
# threshold (`voice_ft.calibrate`) and measure it (`export_tflite` verification).
OOS_LABEL_ID = -1


class LabelVocabulary:
    """An ordered list of label names, with checked lookups.

    The order is the model's output order, so it is fixed when a model is built and stored beside
    every model and exported file (labels.txt).

    Example:
        >>> labels = LabelVocabulary(["GetWeather", "PlayMusic"])
        >>> labels.index("PlayMusic")
        1
    """

    def __init__(self, names: Iterable[str]):
        self.names = [str(n) for n in names]
        if not self.names:
            raise ValueError("A label vocabulary needs at least one label.")
        duplicates = sorted({n for n in self.names if self.names.count(n) > 1})
        if duplicates:
            raise ValueError(f"Duplicate labels: {duplicates}")
        self._ids = {name: i for i, name in enumerate(self.names)}

    @classmethod
    def from_file(cls, path: str | os.PathLike) -> "LabelVocabulary":
        """Reads one label per line (blank lines and a UTF-8 byte-order mark ignored)."""
        path = pathlib.Path(path)
        if not path.exists():
            raise DataError("label file does not exist", path)
        names = [line.strip() for line in read_text(path).splitlines() if line.strip()]
        if not names:
            raise DataError("label file is empty", path)
        return cls(names)

    @classmethod
    def from_records(cls, labels: Iterable[str]) -> "LabelVocabulary":
        """Builds a vocabulary from the labels seen in training data, sorted for stability."""
        return cls(sorted(set(labels)))

    def index(self, name: str, path: str | None = None, line: int | None = None) -> int:
        """Returns the id of `name`, or raises a DataError naming where the unknown label came from."""
        try:
            return self._ids[name]
        except KeyError:
            shown = ", ".join(self.names[:20]) + (" ..." if len(self.names) > 20 else "")
            raise DataError(f"unknown label {name!r}; the model's labels are: {shown}", path, line) from None

    def check_matches(self, other: Sequence[str], what: str = "restored model") -> None:
        """Raises if `other` is not exactly this label set in this order."""
        if list(other) != self.names:
            missing = sorted(set(self.names) - set(other))
            extra = sorted(set(other) - set(self.names))
            raise ValueError(
                f"Label set does not match the {what}: expected {len(self.names)} labels {self.names}, "
                f"got {len(other)} {list(other)} (missing {missing}, unexpected {extra}; order matters)."
            )

    def save(self, path: str | os.PathLike) -> None:
        write_text_atomic(path, "\n".join(self.names) + "\n")

    def __len__(self) -> int:
        return len(self.names)

    def __iter__(self):
        return iter(self.names)

    def __getitem__(self, i: int) -> str:
        return self.names[i]

    def __eq__(self, other) -> bool:
        return list(other) == self.names if isinstance(other, (LabelVocabulary, list, tuple)) else NotImplemented

    def __repr__(self) -> str:
        return f"LabelVocabulary({self.names!r})"
