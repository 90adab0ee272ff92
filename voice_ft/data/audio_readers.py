"""Audio example lists from a CSV manifest or a folder-per-label tree, and the pre-training file check.

Readers return plain `AudioExample` records (no audio is read); `check_audio_files` then opens
every file once, so a bad file is reported by name before training starts, or skipped and listed.
"""

from __future__ import annotations

import csv
import dataclasses
import logging
import os
import pathlib
from collections.abc import Iterator, Sequence

from voice_ft.data.readers import open_text
from voice_ft.runtime.audio_io import AudioFileError, AudioInfo, audio_info, read_audio
from voice_ft.runtime.errors import DataError

AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".mp3")


@dataclasses.dataclass(frozen=True)
class AudioExample:
    """One labelled recording. `speaker` and `split` are optional (used for speaker-disjoint splits)."""

    path: str
    label: str
    speaker: str | None = None
    split: str | None = None
    source: str | None = None  # "manifest.csv:3" for examples read from a manifest (named in errors)


@dataclasses.dataclass(frozen=True)
class SkippedFile:
    path: str
    reason: str


def read_manifest_rows(path: str | os.PathLike, required: Sequence[str]) -> Iterator[tuple[int, dict[str, str]]]:
    """Yields `(line, row)` for each row of a CSV manifest whose `required` columns are all non-empty.

    Shared by every audio manifest (labels here, transcripts in `voice_ft.asr.data`): a missing
    file, an empty file, a missing column or an empty cell is a `DataError` naming the file and line;
    a manifest with no rows too.
    """
    path = pathlib.Path(path)
    if not path.is_file():
        raise DataError("manifest does not exist", path)
    rows = 0
    with open_text(path, newline="") as f:
        reader = csv.DictReader(f)
        header = reader.fieldnames or []
        if not header:
            raise DataError(f"empty manifest (expected a header line {','.join(required)!r})", path)
        for column in required:
            if column not in header:
                raise DataError(f"header has no column {column!r} (columns: {header})", path, 1)
        for row in reader:
            for column in required:
                if not (row.get(column) or "").strip():
                    raise DataError(f"empty {column!r}", path, reader.line_num)
            rows += 1
            yield reader.line_num, row
    if not rows:
        raise DataError("no examples found", path)


def read_audio_manifest(path: str | os.PathLike, root: str | os.PathLike | None = None) -> list[AudioExample]:
    """Reads a CSV with a header and columns `path,label[,speaker,split]` (extra columns are ignored).

    Relative paths are resolved against `root`, by default the manifest's folder. Files are not
    opened here: `check_audio_files` reports a missing or bad one with its manifest line.
    """
    path = pathlib.Path(path)
    root = pathlib.Path(root) if root is not None else path.parent
    return [
        AudioExample(path=str(root / row["path"]), label=row["label"], speaker=row.get("speaker") or None,
                     split=row.get("split") or None, source=f"{path}:{line}")
        for line, row in read_manifest_rows(path, ("path", "label"))
    ]  # fmt: skip


def read_audio_folder(
    root: str | os.PathLike, extensions: Sequence[str] = AUDIO_EXTENSIONS, speaker_separator: str | None = None
) -> list[AudioExample]:
    """Reads `root/<label>/<file>`: each sub-folder is a label, each audio file in it an example.

    With `speaker_separator` (e.g. "_"), the speaker is the second field of the file stem
    (FSDD's `3_theo_12.wav`; Speech Commands uses `<speaker>_nohash_<n>`: pass "_nohash_" and the first
    field is taken when the separator has more than one character).
    """
    root = pathlib.Path(root)
    if not root.is_dir():
        raise DataError("audio folder does not exist", root)
    examples = []
    for label_dir in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith((".", "_"))):
        for file in sorted(label_dir.iterdir()):
            if file.suffix.lower() not in extensions:
                continue
            speaker = None
            if speaker_separator:
                parts = file.stem.split(speaker_separator)
                speaker = parts[0] if len(speaker_separator) > 1 else (parts[1] if len(parts) > 1 else None)
            examples.append(AudioExample(str(file), label_dir.name, speaker))
    if not examples:
        raise DataError(f"no audio files ({', '.join(extensions)}) in label sub-folders", root)
    return examples


def read_audio_clips(root: str | os.PathLike, label: str, extensions: Sequence[str] = AUDIO_EXTENSIONS) -> list[AudioExample]:
    """Every audio file under `root`, sub-folders included (sorted; hidden files skipped), all labelled `label`.

    For clips that share a label whatever their names or layout, e.g. out-of-scope negatives
    (other words, noise, speech: the speech-commands trainer's --negatives_dir). A missing folder or
    one without audio files is a `DataError` naming it; `check_audio_files` then names a bad file.
    """
    root = pathlib.Path(root)
    if not root.is_dir():
        raise DataError("audio folder does not exist", root)
    files = sorted(p for p in root.rglob("*") if p.suffix.lower() in extensions and p.is_file()
                   and not any(part.startswith(".") for part in p.relative_to(root).parts))  # fmt: skip
    if not files:
        raise DataError(f"no audio files ({', '.join(extensions)}) in the folder or its sub-folders", root)
    return [AudioExample(str(file), label) for file in files]


def select_split(examples: Sequence[AudioExample], split: str) -> list[AudioExample]:
    """The examples whose `split` column equals `split`; raises if there are none."""
    chosen = [e for e in examples if e.split == split]
    if not chosen:
        found = sorted({str(e.split) for e in examples})
        raise DataError(f"no examples in split {split!r} (splits present: {found})")
    return chosen


def check_audio_files(
    examples: Sequence[AudioExample], sample_rate: int = 16000, skip_bad_files: bool = False
) -> tuple[list[AudioExample], dict[str, AudioInfo], list[SkippedFile]]:
    """Decodes every file once (header, samples, NaN check) before training.

    Returns (good examples, their header info by path, skipped files). Without `skip_bad_files` the
    first bad file raises AudioFileError naming it; with it, bad files are dropped and a warning
    lists how many and which.
    """
    good, infos, skipped = [], {}, []
    for example in examples:
        try:
            info = audio_info(example.path)
            read_audio(example.path, sample_rate=info.sample_rate)  # full decode, no resampling needed here
        except AudioFileError as e:
            if example.source:
                e = AudioFileError(f"{e.reason} (listed at {example.source})", e.path)
            if not skip_bad_files:
                raise e from None
            skipped.append(SkippedFile(example.path, str(e)))
            continue
        good.append(example)
        infos[example.path] = info
    if skipped:
        shown = "\n  ".join(f"{s.reason}" for s in skipped[:20])
        logging.warning("Skipped %d of %d audio files:\n  %s", len(skipped), len(examples), shown)
    if not good:
        raise DataError(f"all {len(examples)} audio files are bad")
    return good, infos, skipped
