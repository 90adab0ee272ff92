"""A recogniser's two windows chosen from the training data: audio seconds and decoded tokens.

- The encoder's window (short-audio mode): every second of it is encoder work on the phone, and
  every second cut off a clip is words lost. `choose_audio_seconds` takes a high percentile of the
  training clips' durations, adds a little trailing silence (Whisper learns to stop on it) and
  rounds up to half seconds, at most Whisper's 30 s. (espeak-ng's spoken SNIPS commands: median
  3.0 s, 99.5% within 6.5 s: a 7.5 s window, where the 5 s once fixed by hand cut 6% of them.)
- The decoder's most tokens per clip: a runaway decoder costs a step and an inserted word per token,
  a cut transcript loses its last words. `choose_max_tokens` takes the longest training transcript
  (its tokens and the end token), adds headroom for held-out sentences longer than any seen and
  rounds up to a multiple of 8, within the decoder's positions after the prompt.

`over_window` words the warning for the clips or transcripts a window (chosen or given) cuts.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

import numpy as np

from voice_ft.runtime.audio_io import AudioFileError, audio_info

AUDIO_PERCENTILE = 99.5
TRAILING_SILENCE_SECONDS = 0.5
WINDOW_STEP_SECONDS = 0.5  # 50 mel frames, 25 encoder positions
FULL_WINDOW_SECONDS = 30.0  # Whisper's standard input (3000 mel frames)
TOKEN_HEADROOM = 1.25
TOKEN_MULTIPLE = 8


@dataclasses.dataclass(frozen=True)
class WindowChoice:
    """A chosen window (seconds, or tokens) and why."""

    value: float
    reason: str


def clip_seconds(examples) -> np.ndarray:
    """Durations in seconds of `TranscribedAudio` records, from the file headers (no decoding).

    Raises:
        AudioFileError: a missing, unreadable, empty or truncated file, naming it and its manifest line.
    """
    durations = []
    for example in examples:
        try:
            info = audio_info(example.path)
        except AudioFileError as e:
            if example.source:
                raise AudioFileError(f"{e.reason} (listed at {example.source})", e.path) from None
            raise
        durations.append(info.frames / info.sample_rate)
    return np.asarray(durations, np.float64)


def choose_audio_seconds(durations: Sequence[float], percentile: float = AUDIO_PERCENTILE,
                         silence: float = TRAILING_SILENCE_SECONDS) -> WindowChoice:
    """The encoder window, in half seconds, for clips of these durations (the training split's)."""
    durations = np.asarray(durations, np.float64)
    if durations.size == 0:
        raise ValueError("choose_audio_seconds got no clips.")
    if not 0 < percentile <= 100:
        raise ValueError(f"percentile must be in (0, 100], got {percentile}")
    at_percentile = float(np.percentile(durations, percentile))
    steps = max(1, math.ceil((at_percentile + silence) / WINDOW_STEP_SECONDS))
    seconds = float(min(FULL_WINDOW_SECONDS, steps * WINDOW_STEP_SECONDS))
    capped = at_percentile + silence > FULL_WINDOW_SECONDS
    return WindowChoice(seconds, (
        f"audio_seconds={seconds:g}: {percentile:g}% of the {durations.size} training clips last at most "
        f"{at_percentile:.2f} s (median {np.median(durations):.2f} s, longest {durations.max():.2f} s); "
        + (f"capped at Whisper's {FULL_WINDOW_SECONDS:g} s" if capped
           else f"+ {silence:g} s of trailing silence, rounded up to a multiple of {WINDOW_STEP_SECONDS:g} s")
    ))  # fmt: skip


def choose_max_tokens(lengths: Sequence[int], limit: int, headroom: float = TOKEN_HEADROOM,
                      multiple: int = TOKEN_MULTIPLE) -> WindowChoice:
    """The most tokens decoded per clip for training transcripts of `lengths` tokens (end token included).

    `limit`: the decoder's positions after the prompt (`max_decoder_sequence_length - len(prompt)`).
    """
    lengths = np.asarray(lengths, np.int64)
    if lengths.size == 0:
        raise ValueError("choose_max_tokens got no transcripts.")
    longest = int(lengths.max())
    wanted = int(math.ceil(longest * headroom / multiple) * multiple)
    tokens = min(wanted, int(limit))
    return WindowChoice(tokens, (
        f"max_tokens={tokens}: the longest of the {lengths.size} training transcripts is {longest} tokens with the "
        f"end token (99.5%: {int(math.ceil(np.percentile(lengths, 99.5)))}, median {np.median(lengths):g}); "
        f"+ {round(100 * (headroom - 1))}% for held-out sentences longer than any seen, rounded up to a multiple "
        f"of {multiple}" + (f"; capped at the decoder's {limit} positions after the prompt" if wanted > tokens else "")
    ))  # fmt: skip


def over_window(lengths: Sequence[float], sources: Sequence[str], window: float, what: str, unit: str,
                consequence: str) -> str | None:
    """A warning naming the items of `lengths` longer than `window` (None when all fit).

    E.g. `over_window(seconds, sources, 5, "training clips", "s", "their ends are cut from the encoder's input")`.
    """
    lengths = np.asarray(lengths, np.float64)
    over = np.flatnonzero(lengths > window)
    if over.size == 0:
        return None
    longest = int(over[np.argmax(lengths[over])])
    return (f"{over.size} of {lengths.size} {what} are longer than {window:g} {unit}: {consequence} "
            f"(longest {lengths[longest]:.4g} {unit}: {sources[longest]})")  # fmt: skip
