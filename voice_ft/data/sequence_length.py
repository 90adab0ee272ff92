"""A text model's sequence length chosen from the data: long enough for nearly every sentence, no longer.

Every token of padding costs training time and phone latency, and every token cut off costs accuracy.
`choose_sequence_length` takes a high percentile of the training sentences' word-piece counts (plus
[CLS] and [SEP]), rounded up to a multiple of 8, within the backbone's positions, and says why.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import tensorflow as tf


@dataclasses.dataclass(frozen=True)
class SequenceLengthChoice:
    """The chosen length and the figures it came from (for logs and run directories)."""

    sequence_length: int
    percentile: float
    percentile_tokens: int  # word pieces + 2 at `percentile`
    longest_tokens: int
    truncated_fraction: float  # of the training sentences, at the chosen length

    def reason(self) -> str:
        return (f"sequence_length={self.sequence_length}: {self.percentile:g}% of the training sentences fit in "
                f"{self.percentile_tokens} tokens with [CLS]/[SEP] (longest {self.longest_tokens}), rounded up to a "
                f"multiple of 8; {100 * self.truncated_fraction:.2f}% are cut")  # fmt: skip


def token_lengths(texts: tf.data.Dataset, tokenizer) -> np.ndarray:
    """Word pieces per sentence (without [CLS]/[SEP]) of an unbatched dataset of strings."""
    lengths = texts.batch(1024).map(lambda batch: tokenizer(batch).row_lengths())
    return np.concatenate([np.asarray(x) for x in lengths.as_numpy_iterator()])


def choose_sequence_length(texts: tf.data.Dataset, tokenizer, percentile: float = 99.5, multiple: int = 8,
                           max_length: int | None = None, min_length: int = 8) -> SequenceLengthChoice:
    """The sequence length for `texts` (an unbatched dataset of strings, e.g. the training split)."""
    if not 0 < percentile <= 100:
        raise ValueError(f"percentile must be in (0, 100], got {percentile}")
    lengths = token_lengths(texts, tokenizer) + 2
    if lengths.size == 0:
        raise ValueError("choose_sequence_length got no sentences.")
    at_percentile = int(math.ceil(np.percentile(lengths, percentile)))
    length = max(min_length, int(math.ceil(at_percentile / multiple) * multiple))
    if max_length is not None:
        length = min(length, int(max_length))
    return SequenceLengthChoice(length, percentile, at_percentile, int(lengths.max()), float(np.mean(lengths > length)))
