"""Out-of-scope clips for a keyword model when the user has none: other words, spoken, and noise.

A keyword classifier trained on its keywords alone hears one of them in every sound. An explicit
out-of-scope class fixes that (the speech-commands trainer's `--negatives_dir`), and these clips
stand in for recordings the user does not have (`--negatives_dir=generated`):

- **Other words**, spoken by espeak-ng (`voice_ft.data.speech_synthesis.render`) with voices,
  speeds and pitches drawn per word. Candidates are the words of the bundled SNIPS sentences
  (read from the repo's `data/`; the 2,000 commonest). A word is dropped when it *sounds* like a keyword: its espeak-ng
  phoneme string (`espeak-ng -q -x`, stress marks removed) is within `max_phoneme_edits` edits
  of a keyword's, scaled by length. So for the digits "two" and "four", "too", "tool" and "for" are
  dropped, while "to" (spoken /t@/) and "five" stay as far as "four" goes.
- **Non-words from the user's own recordings** (`keyword_clips`): keyword clips played backwards,
  and the first half of one keyword's spoken part joined to the second half of another's. Synthetic
  voices alone teach the wrong lesson: on FSDD (bench/oos_keywords.py) an `oos` class trained on
  espeak-ng words and noise learnt "synthetic voice" and let every real "seven", "eight" and
  "nine" through (OOS recall 0.0). These keep the speakers, microphones and rooms of the keywords
  and take away only the words.
- **Noise**: white, pink and brown noise at random levels, and near-silence. A keyword model
  also hears rooms with nobody talking.

Everything is seeded: the same keywords and seed give the same words, voices and noise. Files
already rendered are kept, so a second run with the same arguments reuses them.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import functools
import os
import pathlib
import random
import re
import subprocess
from collections.abc import Sequence

import numpy as np

from voice_ft.data.bundled import data_root
from voice_ft.data.files import atomic_output
from voice_ft.data.readers import iter_jsonl
from voice_ft.data.speech_synthesis import espeak_binary, render, voices
from voice_ft.runtime import audio_io

NOISE_KINDS = ("white", "pink", "brown", "silence")
NOISE_SAMPLE_RATE = 16000
DEFAULT_WORDS = 300
DEFAULT_NOISE_CLIPS = 60
MAX_CANDIDATES = 2000  # the commonest words: enough to choose from, and phonemised in a few seconds
_WORD = re.compile(r"^[a-z]{2,12}$")


@dataclasses.dataclass(frozen=True)
class AudioNegatives:
    """What `generate_audio_negatives` wrote: the folder, the spoken words and the dropped look-alikes."""

    folder: pathlib.Path
    words: tuple[str, ...]
    dropped: tuple[str, ...]  # candidate words too close in sound to a keyword
    noise_clips: int
    derived_clips: int = 0  # reversed and spliced keyword recordings

    @property
    def num_clips(self) -> int:
        return len(self.words) + self.noise_clips + self.derived_clips


def phonemes(words: Sequence[str]) -> list[str]:
    """espeak-ng's phoneme string of each word (stress and syllable marks removed), in order."""
    binary = espeak_binary()
    if binary is None:
        raise RuntimeError("espeak-ng is not installed (apt-get install -y espeak-ng).")
    if not words:
        return []

    def speak(lines: Sequence[str]) -> list[str]:
        result = subprocess.run([binary, "-q", "-x", "-v", "en-us"], input="\n".join(lines) + "\n",
                                capture_output=True, text=True, timeout=120, check=True)  # fmt: skip
        return [line.strip() for line in result.stdout.splitlines() if line.strip()]

    lines = speak(words)  # one word a line: espeak-ng writes one phoneme line per input line
    if len(lines) != len(words):  # a line it merged or skipped: one call a word instead
        lines = [" ".join(speak([word])) for word in words]
    return [re.sub(r"[',%=_ ]", "", line) for line in lines]  # keep ':' (vowel length)


@functools.lru_cache(maxsize=4)
def _cached_phonemes(words: tuple[str, ...]) -> list[str]:
    """`phonemes` of the candidate list, once per process (a few seconds for 2,000 words)."""
    return phonemes(words)


def _edits(a: str, b: str) -> int:
    """Levenshtein distance between two strings."""
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]


def sounds_like(candidate: str, keyword: str, max_phoneme_edits: float = 0.34) -> bool:
    """Whether two phoneme strings are within `max_phoneme_edits` x the longer's length (at least 1 edit)."""
    limit = max(1, int(max_phoneme_edits * max(len(candidate), len(keyword))))
    return _edits(candidate, keyword) <= limit


def candidate_words(data_dir: str | os.PathLike | None = None) -> list[str]:
    """Lower-case alphabetic words of the bundled SNIPS training sentences, most frequent first."""
    counts: dict[str, int] = {}
    for _, row in iter_jsonl(pathlib.Path(data_dir or data_root()) / "snips" / "train.jsonl"):
        for word in row.get("text", "").lower().split():
            if _WORD.match(word):
                counts[word] = counts.get(word, 0) + 1
    return sorted(counts, key=lambda w: (-counts[w], w))


def noise_clip(kind: str, num_samples: int, rng: np.random.Generator) -> np.ndarray:
    """One float32 clip in [-1, 1] of white, pink or brown noise (random level), or near-silence."""
    if kind not in NOISE_KINDS:
        raise ValueError(f"noise kind {kind!r} is not one of {NOISE_KINDS}")
    white = rng.standard_normal(num_samples)
    if kind == "silence":
        return (white * 10 ** (rng.uniform(-70, -55) / 20)).astype(np.float32)
    spectrum = np.fft.rfft(white)
    frequencies = np.maximum(np.fft.rfftfreq(num_samples), 1.0 / num_samples)
    spectrum = spectrum / {"white": 1.0, "pink": np.sqrt(frequencies), "brown": frequencies}[kind]
    clip = np.fft.irfft(spectrum, n=num_samples)
    clip = clip / (np.max(np.abs(clip)) + 1e-12) * 10 ** (rng.uniform(-30, -6) / 20)
    return clip.astype(np.float32)


def spoken_part(samples: np.ndarray, frame: int = 160, threshold_db: float = -35.0) -> np.ndarray:
    """The span from the first to the last frame within `threshold_db` of the loudest (the whole clip if none)."""
    frames = len(samples) // frame
    if frames < 2:
        return samples
    energy = np.square(samples[: frames * frame].reshape(frames, frame)).mean(axis=1)
    loud = np.flatnonzero(energy >= energy.max() * 10 ** (threshold_db / 10))
    return samples[loud[0] * frame : (loud[-1] + 1) * frame]


def derived_kind(index: int, num_labels: int) -> str:
    """What `derived_clips` makes as its `index`-th clip: "reversed" (even ones, and all of them with
    one label) or "spliced"."""
    return "reversed" if index % 2 == 0 or num_labels < 2 else "spliced"


def derived_clips(keyword_clips: Sequence[tuple[str, str]], count: int, seed: int = 0,
                  sample_rate: int = NOISE_SAMPLE_RATE) -> list[tuple[str, np.ndarray]]:  # fmt: skip
    """`count` non-words made from (path, label) keyword recordings, as (kind, samples) pairs.

    Alternately a clip reversed, and the first half of one clip's spoken part joined to the second
    half of another label's (each joined at the middle of its spoken part). Needs two labels for splices.
    """
    rng = random.Random(seed)
    by_label: dict[str, list[str]] = {}
    for path, label in keyword_clips:
        by_label.setdefault(label, []).append(path)
    if not by_label:
        raise ValueError("derived negatives need keyword clips")
    labels = sorted(by_label)
    out = []
    for i in range(count):
        first_label = rng.choice(labels)
        first = audio_io.read_audio(rng.choice(by_label[first_label]), sample_rate)
        if derived_kind(i, len(labels)) == "reversed":
            out.append(("reversed", first[::-1].copy()))
            continue
        other = audio_io.read_audio(rng.choice(by_label[rng.choice([lb for lb in labels if lb != first_label])]), sample_rate)
        a, b = spoken_part(first), spoken_part(other)
        out.append(("spliced", np.concatenate([a[: len(a) // 2], b[len(b) // 2 :]])))
    return out


def write_wav(path: pathlib.Path, samples: np.ndarray, sample_rate: int) -> None:
    """`voice_ft.runtime.audio_io.write_wav` through `atomic_output` (never half-written)."""
    with atomic_output(path) as partial:
        audio_io.write_wav(partial, samples, sample_rate)


def generate_audio_negatives(keywords: Sequence[str], folder: str | os.PathLike, num_words: int = DEFAULT_WORDS,
                             num_noise_clips: int = DEFAULT_NOISE_CLIPS, clip_seconds: float = 1.0, seed: int = 0,
                             max_phoneme_edits: float = 0.34, data_dir: str | os.PathLike | None = None,
                             workers: int = 2, keyword_clips: Sequence[tuple[str, str]] = (),
                             num_derived_clips: int = 0) -> AudioNegatives:  # fmt: skip
    """Writes spoken non-keywords, noise clips and non-words derived from `keyword_clips` as WAV
    files under `folder` (`words/`, `noise/`, `derived/`).

    Args:
        keywords: the model's labels as spoken words (e.g. "zero" ... "nine"; "_" and "-" read as spaces).
        folder: where the clips go (created; files already there are reused).
        num_words: spoken words, each a different word with its own voice, speed and pitch.
        num_noise_clips: noise clips of `clip_seconds`, cycling through `NOISE_KINDS`.
        seed: the word sample, voices and noise.
        max_phoneme_edits: words within this fraction of edits of a keyword's phonemes are dropped.
        data_dir: the bundled data folder (default: the repo's `data/`).
        keyword_clips: (path, label) recordings of the keywords (the training split), for
            `num_derived_clips` reversed and spliced clips (`derived_clips`).

    Raises:
        ValueError: no keyword, or fewer candidate words left than `num_words`.
        RuntimeError: espeak-ng is not installed.
    """
    keywords = [k.replace("_", " ").replace("-", " ").strip().lower() for k in keywords]
    keywords = [k for k in keywords if k]
    if not keywords:
        raise ValueError("generate_audio_negatives needs the keywords it must not speak")
    if min(num_words, num_noise_clips, num_derived_clips) < 0 or num_words + num_noise_clips + num_derived_clips == 0:
        raise ValueError("num_words, num_noise_clips and num_derived_clips must be >= 0 and not all 0, got "
                         f"{num_words}, {num_noise_clips}, {num_derived_clips}")
    if num_derived_clips and not keyword_clips:
        raise ValueError("num_derived_clips needs keyword_clips to derive them from")
    keyword_words = {w for k in keywords for w in k.split()}
    candidates = [w for w in candidate_words(data_dir)[:MAX_CANDIDATES] if w not in keyword_words]
    keyword_sounds = phonemes(keywords)
    candidate_sounds = _cached_phonemes(tuple(candidates))
    kept, dropped = [], []
    for word, sound in zip(candidates, candidate_sounds):
        (dropped if any(sounds_like(sound, k, max_phoneme_edits) for k in keyword_sounds) else kept).append(word)
    if len(kept) < num_words:
        raise ValueError(f"only {len(kept)} candidate words sound unlike the keywords; asked for {num_words}")
    rng = random.Random(seed)
    words = sorted(rng.sample(kept, num_words))
    folder = pathlib.Path(folder)
    (folder / "words").mkdir(parents=True, exist_ok=True)
    all_voices = voices()
    jobs = []
    for i, word in enumerate(words):
        path = folder / "words" / f"{i:04d}_{word}.wav"
        voice, speed, pitch = rng.choice(all_voices), rng.randint(120, 200), rng.randint(25, 75)
        if not path.is_file():
            jobs.append((word, path, voice, speed, pitch))
    _render_all(jobs, workers)
    if num_noise_clips:
        (folder / "noise").mkdir(parents=True, exist_ok=True)
        noise_rng = np.random.default_rng(seed)
        num_samples = int(round(clip_seconds * NOISE_SAMPLE_RATE))
        for i in range(num_noise_clips):
            kind = NOISE_KINDS[i % len(NOISE_KINDS)]
            clip = noise_clip(kind, num_samples, noise_rng)  # drawn even when the file exists: same stream
            path = folder / "noise" / f"{i:04d}_{kind}.wav"
            if not path.is_file():
                write_wav(path, clip, NOISE_SAMPLE_RATE)
    if num_derived_clips:
        (folder / "derived").mkdir(parents=True, exist_ok=True)
        num_labels = len({label for _, label in keyword_clips})
        paths = [folder / "derived" / f"{i:04d}_{derived_kind(i, num_labels)}.wav" for i in range(num_derived_clips)]
        if not all(path.is_file() for path in paths):  # all there (a rerun): the recordings are not read again
            for path, (_, samples) in zip(paths, derived_clips(keyword_clips, num_derived_clips, seed)):
                if not path.is_file():
                    write_wav(path, samples, NOISE_SAMPLE_RATE)
    return AudioNegatives(folder, tuple(words), tuple(dropped), num_noise_clips, num_derived_clips)


def _render_all(jobs: list, workers: int) -> None:
    """espeak-ng renders, `workers` at a time; each to a temporary name, renamed when complete."""
    def one(job):
        text, path, voice, speed, pitch = job
        with atomic_output(path) as partial:
            render(text, partial, voice=voice, speed=speed, pitch=pitch)

    with concurrent.futures.ThreadPoolExecutor(max_workers=workers) as pool:
        list(pool.map(one, jobs))
