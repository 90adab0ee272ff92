"""Spoken data where there is none: render text datasets into speech with espeak-ng.

A voice assistant needs recordings of its commands, which rarely exist. espeak-ng (Debian package
`espeak-ng`) renders ~100x faster than real time on one core, over 8 native English voices with
many variants (+m1..+m7, +f1..+f4, ...), speeds and pitches. `synthesize_dataset` renders
labelled text splits into WAV files plus a `manifest.csv` (path,label,speaker,split,text,...) that
`voice_ft.data.audio_readers.read_audio_manifest` reads, with each split spoken by its own voices,
so the test split measures generalisation to unseen voices (voice-disjoint), as real speakers would.

`synthesize_text_splits` takes labelled text files or in-memory `SlotExample` lists (e.g. grammar
sentences from `voice_ft.datasets.from_grammar`); for the latter the manifest also carries each
clip's BIO tags (`tags`, one per word of `text`) and canonical slot values (`slots`, JSON).

Noise is not baked into the files: mix it at training time with
`voice_ft.data.augment.WaveformAugmentation(noise=...)`, which draws a fresh clip and SNR every
epoch (and keeps this module free of TensorFlow).
"""

from __future__ import annotations

import concurrent.futures
import csv
import dataclasses
import functools
import json
import os
import pathlib
import random
import shutil
import subprocess
from collections.abc import Mapping, Sequence

from voice_ft.data.slot_examples import SlotExample
from voice_ft.runtime.errors import DataError

# The English voices that work without MBROLA, and the variants that sound like distinct speakers.
BASE_VOICES = ("en-us", "en-gb", "en-gb-scotland", "en-gb-x-gbclan", "en-gb-x-rp", "en-gb-x-gbcwmd", "en-029", "en-us-nyc")
VARIANTS = ("m1", "m2", "m3", "m4", "m5", "m6", "m7", "f1", "f2", "f3", "f4")


@dataclasses.dataclass(frozen=True)
class Utterance:
    """What to say and its label; `tags` (one BIO tag per word) and `slots` when it comes from slot data."""

    text: str
    label: str
    tags: tuple[str, ...] | None = None
    slots: tuple[tuple[str, str], ...] = ()

    @classmethod
    def from_slot_example(cls, example: SlotExample) -> Utterance:
        """A `SlotExample` (or `GrammarExample`, whose canonical slot values are kept): text = its words, label = intent."""
        return cls(example.text, example.intent, tuple(example.tags), tuple(getattr(example, "slot_values", ())))


def espeak_binary() -> str | None:
    """Path of espeak-ng (or espeak), or None when it is not installed."""
    return shutil.which("espeak-ng") or shutil.which("espeak")


@functools.lru_cache(maxsize=None)
def installed_voices() -> frozenset[str]:
    """Language codes, voice names and variant names espeak-ng knows (unknown voices fall back silently)."""
    binary = espeak_binary()
    names = set()
    for option in ("--voices", "--voices=variant"):
        listing = subprocess.run([binary, option], capture_output=True, text=True, timeout=30).stdout.splitlines()[1:]
        for line in listing:
            fields = line.split()
            if len(fields) >= 5:
                names.update({fields[1], fields[3], fields[4].rsplit("/", 1)[-1]})
    return frozenset(names)


def check_voice(voice: str) -> None:
    """Raises ValueError for a voice or variant espeak-ng does not have (it would not fail by itself)."""
    missing = [part for part in voice.split("+") if part not in installed_voices()]
    if missing:
        raise ValueError(f"espeak-ng has no voice/variant {missing} (see `espeak-ng --voices` and `--voices=variant`)")


def voices(base_voices: Sequence[str] = BASE_VOICES, variants: Sequence[str] = VARIANTS) -> list[str]:
    """All `base+variant` voice names, e.g. "en-us+f2"."""
    return [f"{b}+{v}" for b in base_voices for v in variants]


def voice_disjoint_split(
    all_voices: Sequence[str], held_out_base: Sequence[str] = ("en-gb-scotland", "en-029"), validation_base: Sequence[str] = ("en-gb-x-rp",)
) -> dict[str, list[str]]:
    """Splits voices by accent (base voice): whole accents are held out for validation and test."""
    base = lambda v: v.split("+")[0]  # noqa: E731
    split = {
        "test": [v for v in all_voices if base(v) in held_out_base],
        "validation": [v for v in all_voices if base(v) in validation_base],
    }
    split["train"] = [v for v in all_voices if base(v) not in (*held_out_base, *validation_base)]
    for name, chosen in split.items():
        if not chosen:
            raise ValueError(f"no voices left for split {name!r}")
    return split


def render(text: str, path: str | os.PathLike, voice: str = "en-us", speed: int = 160, pitch: int = 50) -> None:
    """Speaks `text` into a 16-bit WAV at espeak-ng's rate (22050 Hz). Raises on failure.

    The text follows `--`, so a sentence starting with "-" (a comment like "- good point") is
    spoken rather than read as an option (espeak-ng then writes nothing and still exits 0).
    """
    binary = espeak_binary()
    if binary is None:
        raise RuntimeError("espeak-ng is not installed (apt-get install -y espeak-ng).")
    check_voice(voice)
    result = subprocess.run(
        [binary, "-v", voice, "-s", str(speed), "-p", str(pitch), "-w", str(path), "--", text],
        capture_output=True, text=True, timeout=60,
    )
    if result.returncode != 0 or not pathlib.Path(path).is_file() or pathlib.Path(path).stat().st_size <= 44:
        raise RuntimeError(f"espeak-ng failed for voice {voice!r} on {text!r}: {result.stderr.strip()}")


def synthesize_dataset(
    splits: Mapping[str, Sequence[Utterance]],
    out_dir: str | os.PathLike,
    split_voices: Mapping[str, Sequence[str]],
    speeds: tuple[int, int] = (130, 190),
    pitches: tuple[int, int] = (30, 70),
    renditions: Mapping[str, int] | None = None,
    seed: int = 0,
    workers: int = 2,
) -> pathlib.Path:
    """Renders each split's utterances with that split's voices; returns the manifest path.

    Args:
        splits: split name -> utterances, e.g. {"train": [...], "validation": [...], "test": [...]}.
        out_dir: WAVs go to `out_dir/<split>/<n>.wav`, the manifest to `out_dir/manifest.csv`.
        split_voices: split name -> voices to draw from (see `voice_disjoint_split`).
        speeds: (min, max) words per minute, drawn uniformly per rendition.
        pitches: (min, max) espeak pitch 0-99.
        renditions: split name -> how many different voices speak each utterance (default 1).
        seed: voice/speed/pitch draws, made per split (`split_rng`): a split's voices do not depend on the others'
            utterances or renditions, so a test split stays the same clips when the training split changes.
        workers: parallel espeak-ng processes.

    The manifest's `speaker` column is the voice name, so speaker-disjointness can be checked;
    `text` is the transcript; `tags` and `slots` are added when any utterance has slot tags.
    Files already rendered are reused where the folder's earlier manifest says they hold the same text, voice,
    speed and pitch (the manifest is then rewritten), so a re-run is cheap and a run with other sentences
    renders its own.
    """
    if espeak_binary() is None:
        raise RuntimeError("espeak-ng is not installed (apt-get install -y espeak-ng).")
    missing = set(splits) - set(split_voices)
    if missing:
        raise DataError(f"no voices given for splits {sorted(missing)}")
    for voice in {v for vs in split_voices.values() for v in vs}:
        check_voice(voice)
    out_dir = pathlib.Path(out_dir)
    with_tags = any(u.tags is not None for us in splits.values() for u in us)
    jobs, rows = [], []
    for split, utterances in splits.items():
        (out_dir / split).mkdir(parents=True, exist_ok=True)
        count = (renditions or {}).get(split, 1)
        rng = split_rng(seed, split)
        for i, utterance in enumerate(utterances):
            for voice in rng.sample(list(split_voices[split]), k=min(count, len(split_voices[split]))):
                speed, pitch = rng.randint(*speeds), rng.randint(*pitches)
                relative = f"{split}/{len(rows):06d}.wav"
                jobs.append((utterance.text, out_dir / relative, voice, speed, pitch))
                row = {"path": relative, "label": utterance.label, "speaker": voice, "split": split,
                       "text": utterance.text, "speed": speed, "pitch": pitch}
                if with_tags:
                    row["tags"] = " ".join(utterance.tags or ())
                    row["slots"] = json.dumps(dict(utterance.slots), ensure_ascii=False)
                rows.append(row)
    manifest = out_dir / "manifest.csv"
    rendered = _rendered_before(manifest)

    def done_before(job) -> bool:
        text, path, voice, speed, pitch = job
        return path.is_file() and rendered.get(path.relative_to(out_dir).as_posix()) == (text, voice, speed, pitch)

    todo = [job for job in jobs if not done_before(job)]
    with concurrent.futures.ThreadPoolExecutor(max_workers=workers) as pool:
        list(pool.map(lambda job: render(*job), todo))
    with manifest.open("w", encoding="utf-8", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return manifest


def split_rng(seed: int, split: str) -> random.Random:
    """The random draws of one split, from the seed and the split's name alone. One generator shared by all splits
    made the test split's sentences and voices change with the training split's size or renditions, so two
    training settings were scored on different test clips."""
    return random.Random(f"{seed}/{split}")


def _rendered_before(manifest: pathlib.Path) -> dict[str, tuple]:
    """path -> (text, voice, speed, pitch) of the clips an earlier run's manifest lists: a file is reused only
    where it holds the same saying (the same folder rendered for other sentences would otherwise keep stale audio)."""
    if not manifest.is_file():
        return {}
    with manifest.open(encoding="utf-8", newline="") as f:
        try:
            return {row["path"]: (row["text"], row["speaker"], int(row["speed"]), int(row["pitch"])) for row in csv.DictReader(f)}
        except (KeyError, TypeError, ValueError):  # not a manifest this function wrote: render everything again
            return {}


def synthesize_text_splits(
    split_files: Mapping[str, str | os.PathLike | Sequence],
    out_dir: str | os.PathLike,
    label_field: str = "label",
    per_label: Mapping[str, int | None] | None = None,
    split_voices: Mapping[str, Sequence[str]] | None = None,
    seed: int = 0,
    **options,
) -> pathlib.Path:
    """Renders labelled text into a voice-disjoint spoken dataset.

    Args:
        split_files: split name -> a labelled text file (.jsonl/.csv, e.g. data/snips/*.jsonl), or a
            list of `SlotExample`s (text = their words, label = intent; e.g. `from_grammar`'s splits),
            or of `Utterance`s.
        out_dir: where WAVs and manifest.csv go.
        label_field: the label column of text files (SNIPS: "intent").
        per_label: split name -> utterances kept per label (seeded sample; None keeps all).
        split_voices: split name -> voices; default `voice_disjoint_split(voices())` (accents held out).
        **options: passed to `synthesize_dataset` (speeds, pitches, renditions, workers).

    Example (grammar sentences, each training sentence spoken by 3 voices):
        >>> train, val, test, intents, tags = voice_ft.datasets.from_grammar("data/grammars/timers.yml")
        >>> synthesize_text_splits({"train": train, "validation": val, "test": test}, "out/timers_audio",
        ...                        renditions={"train": 3})
    """
    splits = {}
    for split, source in split_files.items():
        utterances = _utterances(source, label_field)
        limit = (per_label or {}).get(split)
        if limit:
            rng = split_rng(seed, split)
            by_label = {}
            for u in utterances:
                by_label.setdefault(u.label, []).append(u)
            utterances = [u for group in by_label.values() for u in rng.sample(group, min(limit, len(group)))]
        splits[split] = utterances
    split_voices = split_voices or voice_disjoint_split(voices())
    return synthesize_dataset(splits, out_dir, split_voices, seed=seed, **options)


def _utterances(source, label_field: str) -> list[Utterance]:
    """A text file's labelled lines, or in-memory `SlotExample`s / `Utterance`s, as `Utterance`s."""
    if isinstance(source, (str, os.PathLike)):
        from voice_ft.data.readers import read_text_file

        return [Utterance(e.text, e.label) for e in read_text_file(source, label_field=label_field)]
    utterances = []
    for i, item in enumerate(source):
        if isinstance(item, Utterance):
            utterances.append(item)
        elif isinstance(item, SlotExample):
            utterances.append(Utterance.from_slot_example(item))
        else:
            raise DataError(f"item {i} is a {type(item).__name__}; expected a SlotExample or an Utterance")
    return utterances
