"""Readers for labelled text: JSON Lines and CSV files -> validated `TextExample` records.

Everything is checked while reading, so a bad row is reported with its file and line before any
training time is spent: malformed JSON, a missing field, an empty utterance, a non-string label.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import os
import pathlib
from collections.abc import Iterator

from voice_ft.runtime.errors import DataError


@dataclasses.dataclass(frozen=True)
class TextExample:
    """One labelled utterance and where it came from."""

    text: str
    label: str
    path: str
    line: int


def existing_file(path: str | os.PathLike) -> pathlib.Path:
    """`path` as a `Path`; a `DataError` naming it if it is missing or a directory."""
    path = pathlib.Path(path)
    if not path.exists():
        raise DataError("file does not exist", path)
    if path.is_dir():
        raise DataError("expected a file, got a directory", path)
    return path


def iter_jsonl(path: str | os.PathLike) -> Iterator[tuple[int, dict]]:
    """Yields (line number, object) for each non-blank line; raises DataError on bad JSON."""
    path = existing_file(path)
    with path.open(encoding="utf-8") as f:
        for line_no, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as e:
                raise DataError(f"malformed JSON ({e.msg} at column {e.colno})", path, line_no) from None
            if not isinstance(record, dict):
                raise DataError(f"expected a JSON object, got {type(record).__name__}", path, line_no)
            yield line_no, record


def _make_example(text, label, path, line_no, text_field, label_field) -> TextExample:
    if text is None:
        raise DataError(f"missing field {text_field!r}", path, line_no)
    if label is None:
        raise DataError(f"missing field {label_field!r}", path, line_no)
    if not isinstance(text, str):
        raise DataError(f"field {text_field!r} must be a string, got {type(text).__name__}", path, line_no)
    if not isinstance(label, (str, int)) or isinstance(label, bool):
        raise DataError(f"field {label_field!r} must be a string, got {type(label).__name__}", path, line_no)
    if not text.strip():
        raise DataError(f"empty utterance in field {text_field!r}", path, line_no)
    return TextExample(text=text, label=str(label), path=str(path), line=line_no)


def read_jsonl(
    path: str | os.PathLike,
    text_field: str = "text",
    label_field: str = "label",
    skip_null_labels: bool = False,
) -> list[TextExample]:
    """Reads a JSON Lines file of labelled utterances.

    Args:
        path: the .jsonl file.
        text_field: key of the utterance.
        label_field: key of the label.
        skip_null_labels: drop records whose label is JSON null (e.g. GoEmotions rows with mixed
            sentiment) instead of failing on them.
    """
    examples = []
    for line_no, record in iter_jsonl(path):
        if skip_null_labels and label_field in record and record[label_field] is None:
            continue
        examples.append(_make_example(record.get(text_field), record.get(label_field), path, line_no, text_field, label_field))
    if not examples:
        raise DataError("no examples found", path)
    return examples


def read_csv(
    path: str | os.PathLike,
    text_field: str = "text",
    label_field: str = "label",
    delimiter: str = ",",
) -> list[TextExample]:
    """Reads a CSV file with a header row naming `text_field` and `label_field`."""
    path = existing_file(path)
    with path.open(encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f, delimiter=delimiter)
        header = reader.fieldnames or []
        for field in (text_field, label_field):
            if field not in header:
                raise DataError(f"header has no column {field!r} (columns: {header})", path, 1)
        examples = []
        for row in reader:
            line_no = reader.line_num
            if None in row:
                raise DataError(f"row has {len(header) + len(row[None])} columns, header has {len(header)}", path, line_no)
            label = row.get(label_field)
            examples.append(_make_example(row.get(text_field), label if label != "" else None, path, line_no, text_field, label_field))
    if not examples:
        raise DataError("no examples found", path)
    return examples


def read_text_file(path: str | os.PathLike, text_field: str = "text", label_field: str = "label", **kwargs) -> list[TextExample]:
    """Reads .jsonl or .csv/.tsv by extension."""
    suffix = pathlib.Path(path).suffix.lower()
    if suffix in (".jsonl", ".json"):
        return read_jsonl(path, text_field, label_field, **kwargs)
    if suffix in (".csv", ".tsv"):
        return read_csv(path, text_field, label_field, delimiter="\t" if suffix == ".tsv" else ",")
    raise DataError(f"unsupported file type {suffix!r}; use .jsonl, .csv or .tsv", path)
