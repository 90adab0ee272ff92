"""Word error rate (plain Python), shared by training reports, export checks and benchmarks.

Normalisation (`normalize_words`, `voice_ft/runtime/words.py`: the rule the speech-to-intent runtime
also parses transcripts with), applied to reference and hypothesis alike before counting: NFKC,
lowercase, punctuation and symbols to spaces (an apostrophe inside a word kept), split on whitespace.

So "Turn on the lights." and "turn on  the lights" are the same four words. Nothing else is
mapped: "10" and "ten" differ, as do "colour" and "color" (Whisper's English normaliser does
those; a fine-tuned model learns the transcripts' own spelling instead).

WER is corpus-level: the edits of all utterances over all reference words, not the mean of
per-utterance rates (short commands would otherwise weigh as much as long ones).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from voice_ft.runtime.words import normalize_words

@dataclasses.dataclass(frozen=True)
class EditCounts:
    """Word-level Levenshtein alignment of one hypothesis against one reference."""

    substitutions: int
    deletions: int
    insertions: int
    reference_words: int

    @property
    def errors(self) -> int:
        return self.substitutions + self.deletions + self.insertions

    def __add__(self, other: EditCounts) -> EditCounts:
        return EditCounts(*(a + b for a, b in zip(dataclasses.astuple(self), dataclasses.astuple(other))))


def edit_counts(reference: str | Sequence[str], hypothesis: str | Sequence[str]) -> EditCounts:
    """Minimum word edits turning `hypothesis` into `reference`, split by kind.

    Strings are normalised with `normalize_words`; word lists are compared as given. Among
    alignments with the fewest edits, ties are broken towards substitutions, then deletions.
    """
    ref = normalize_words(reference) if isinstance(reference, str) else list(reference)
    hyp = normalize_words(hypothesis) if isinstance(hypothesis, str) else list(hypothesis)
    # cost[i][j]: (edits, substitutions, deletions, insertions) aligning ref[:i] with hyp[:j].
    previous = [(j, 0, 0, j) for j in range(len(hyp) + 1)]
    for i in range(1, len(ref) + 1):
        current = [(i, 0, i, 0)]
        for j in range(1, len(hyp) + 1):
            e, s, d, n = previous[j - 1]
            same = ref[i - 1] == hyp[j - 1]
            options = [(e + (not same), s + (not same), d, n)]
            e, s, d, n = previous[j]
            options.append((e + 1, s, d + 1, n))
            e, s, d, n = current[j - 1]
            options.append((e + 1, s, d, n + 1))
            current.append(min(options, key=lambda o: o[0]))
        previous = current
    _, s, d, n = previous[-1]
    return EditCounts(s, d, n, len(ref))


def word_error_rate(references: Sequence[str], hypotheses: Sequence[str]) -> float:
    """Corpus WER: total word edits / total reference words (0.0 for no words on either side)."""
    return wer_report(references, hypotheses)["wer"]


def wer_report(references: Sequence[str], hypotheses: Sequence[str]) -> dict:
    """WER with its substitution/deletion/insertion totals and the per-utterance edit counts."""
    if len(references) != len(hypotheses):
        raise ValueError(f"{len(references)} references but {len(hypotheses)} hypotheses.")
    per_utterance = [edit_counts(r, h) for r, h in zip(references, hypotheses)]
    total = sum(per_utterance, EditCounts(0, 0, 0, 0))
    if total.reference_words:
        wer = total.errors / total.reference_words
    else:
        wer = 0.0 if total.errors == 0 else float("inf")
    return {
        "wer": wer,
        "substitutions": total.substitutions,
        "deletions": total.deletions,
        "insertions": total.insertions,
        "reference_words": total.reference_words,
        "utterances": len(per_utterance),
        "per_utterance": per_utterance,
    }
