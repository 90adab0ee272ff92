"""Readers for labelled text: JSON Lines and CSV files -> validated `TextExample` records.

Everything is checked while reading, so a bad row is reported with its file and line before any
training time is spent: bytes that are not UTF-8, malformed JSON, a missing field, an empty utterance,
a non-string label. A UTF-8 byte-order mark (Excel's "CSV UTF-8") and CRLF line ends are accepted;
labels lose surrounding whitespace ("PlayMusic " is "PlayMusic"). Duplicate rows are kept (a repeated
example counts twice, as in the file) and logged once per file, with the text seen under two labels.
"""

from __future__ import annotations

import codecs
import csv
import dataclasses
import io
import json
import logging
import os
import pathlib
from collections.abc import Iterator

from voice_ft.runtime.errors import DataError

logger = logging.getLogger(__name__)

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


def read_text(path: str | os.PathLike) -> str:
    """The whole file decoded as UTF-8, without a leading byte-order mark.

    Bytes that are not UTF-8 (a Latin-1 or Windows-1252 export, a UTF-16 file) raise a DataError
    naming the line and byte column of the first bad byte, instead of a bare UnicodeDecodeError.
    """
    path = existing_file(path)
    data = path.read_bytes()
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise DataError("file is UTF-16 encoded; save it as UTF-8", path, 1)
    if data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8) :]
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        line_start = data.rfind(b"\n", 0, e.start) + 1
        raise DataError(
            f"not UTF-8: byte 0x{data[e.start]:02x} at column {e.start - line_start + 1} (save the file as UTF-8)",
            path, data.count(b"\n", 0, e.start) + 1,
        ) from None  # fmt: skip


def open_text(path: str | os.PathLike, newline: str | None = None) -> io.StringIO:
    """`read_text` as a file object (`newline=""` for the csv module)."""
    return io.StringIO(read_text(path), newline=newline)


def iter_jsonl(path: str | os.PathLike) -> Iterator[tuple[int, dict]]:
    """Yields (line number, object) for each non-blank line; raises DataError on bad JSON."""
    path = existing_file(path)
    with open_text(path) as f:
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
    label = str(label).strip()
    if not label:
        raise DataError(f"empty label in field {label_field!r}", path, line_no)
    return TextExample(text=text, label=label, path=str(path), line=line_no)


def log_duplicates(examples: list[TextExample]) -> None:
    """Logs (once per file) rows repeating an earlier text, and texts given two different labels."""
    first: dict[str, TextExample] = {}
    repeated, conflicting = [], []
    for ex in examples:
        key = " ".join(ex.text.split())
        seen = first.setdefault(key, ex)
        if seen is not ex:
            (repeated if seen.label == ex.label else conflicting).append((ex, seen))
    if repeated:
        ex, seen = repeated[0]
        logger.warning("%s: %d duplicate rows kept (first: line %d repeats line %d)", ex.path, len(repeated), ex.line,
                       seen.line)  # fmt: skip
    if conflicting:
        ex, seen = conflicting[0]
        logger.warning("%s: %d rows repeat an earlier text with another label (first: line %d says %r, line %d says %r)",
                       ex.path, len(conflicting), ex.line, ex.label, seen.line, seen.label)  # fmt: skip


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
    log_duplicates(examples)
    return examples


def read_csv(
    path: str | os.PathLike,
    text_field: str = "text",
    label_field: str = "label",
    delimiter: str = ",",
) -> list[TextExample]:
    """Reads a CSV file with a header row naming `text_field` and `label_field`."""
    path = existing_file(path)
    with open_text(path, newline="") as f:
        reader = csv.DictReader(f, delimiter=delimiter)
        header = reader.fieldnames or []
        if not header:
            raise DataError(f"empty file (expected a header row naming {text_field!r} and {label_field!r})", path)
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
    log_duplicates(examples)
    return examples


def read_text_file(path: str | os.PathLike, text_field: str = "text", label_field: str = "label", **kwargs) -> list[TextExample]:
    """Reads .jsonl or .csv/.tsv by extension."""
    suffix = pathlib.Path(path).suffix.lower()
    if suffix in (".jsonl", ".json"):
        return read_jsonl(path, text_field, label_field, **kwargs)
    if suffix in (".csv", ".tsv"):
        return read_csv(path, text_field, label_field, delimiter="\t" if suffix == ".tsv" else ",")
    raise DataError(f"unsupported file type {suffix!r}; use .jsonl, .csv or .tsv", path)
