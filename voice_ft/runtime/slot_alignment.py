"""Word-level BIO slot tags <-> WordPiece tokens, and token predictions -> word spans (numpy only).

This module is shared by training (`voice_ft.nlu.data`), the Keras `parse`, export verification and
the TensorFlow-free runtime (`voice_ft.runtime.nlu_parser`), so it imports neither TensorFlow nor
Keras: the same code aligns labels at training time and decodes predictions on the phone.

Conventions:

- A *word* is a maximal run of characters that are not ASCII whitespace (`[ \\t\\n\\r\\f]`), the
  delimiters at which the WordPiece pre-tokenizer splits (`voice_ft.runtime.wordpiece`), so
  tokenizing word by word gives exactly the token ids of the whole text. Each word keeps its
  `[start, end)` character offsets in the original text.
- The *first* word piece of a word carries the word's tag; the other pieces and `[CLS]`,
  `[SEP]`, `[PAD]` get `IGNORE` (-1), which the loss and the metrics mask out.
- A word that does not fit in `sequence_length` (or has no word piece at all, e.g. a lone
  control character) has no token position (-1); it is predicted `O`.
- Decoding picks one tag per word from the first piece's slot logits: plain argmax, BIO-constrained
  Viterbi (an `I-x` only after `B-x`/`I-x`), or Viterbi with learned CRF transitions (plus the
  same constraints). Chunks follow the conlleval rules (`bio_chunks`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np

IGNORE = -1  # label id of positions that are not the first piece of a word
OUTSIDE = "O"
_ASCII_WHITESPACE = " \t\n\r\f"
DECODINGS = ("argmax", "bio", "crf")


# === Words ==========================================================================


def split_words(text: str) -> list[tuple[str, int, int]]:
    """Splits `text` at ASCII whitespace into `(word, start, end)` with character offsets."""
    words = []
    start = None
    for i, char in enumerate(text):
        if char in _ASCII_WHITESPACE:
            if start is not None:
                words.append((text[start:i], start, i))
                start = None
        elif start is None:
            start = i
    if start is not None:
        words.append((text[start:], start, len(text)))
    return words


@dataclasses.dataclass
class AlignedWords:
    """One utterance packed for the model, with the position of each word's first piece.

    Attributes:
        token_ids: int32[sequence_length], `[CLS] pieces [SEP] [PAD]...`.
        padding_mask: int32[sequence_length].
        word_positions: int32[num_words]: token index of each word's first piece, -1 if the
            word has no piece inside the sequence (truncated, or no piece at all).
        truncated: True if some pieces did not fit.
    """

    token_ids: np.ndarray
    padding_mask: np.ndarray
    word_positions: np.ndarray
    truncated: bool


def align_words(tokenizer, words: Sequence[str], sequence_length: int) -> AlignedWords:
    """Tokenizes pre-split words with a `voice_ft.runtime.WordPieceTokenizer` and packs them.

    Token ids equal those of `tokenizer.encode(" ".join(words), sequence_length)` as long as the
    words contain no ASCII whitespace (the pre-tokenizer splits there anyway).
    """
    if sequence_length < 3:
        raise ValueError(f"sequence_length must be >= 3, got {sequence_length}")
    budget = sequence_length - 2
    pieces: list[int] = []
    positions = np.full((len(words),), -1, np.int32)
    for i, word in enumerate(words):
        ids = tokenizer.tokenize(word)
        if ids and len(pieces) < budget:
            positions[i] = len(pieces) + 1  # +1 for [CLS]
        pieces.extend(ids)
    token_ids, padding_mask, truncated = tokenizer.pack(pieces, sequence_length)
    return AlignedWords(token_ids, padding_mask, positions, truncated)


def token_labels(word_positions: np.ndarray, word_tag_ids: Sequence[int], sequence_length: int) -> np.ndarray:
    """int32[sequence_length] token labels: each word's tag at its first piece, `IGNORE` elsewhere."""
    labels = np.full((sequence_length,), IGNORE, np.int32)
    positions = np.asarray(word_positions)
    tags = np.asarray(word_tag_ids, np.int32)
    kept = positions >= 0
    labels[positions[kept]] = tags[kept]
    return labels


# === BIO tags =======================================================================


def tag_parts(tag: str) -> tuple[str, str]:
    """`"B-time"` -> `("B", "time")`, `"O"` -> `("O", "")`; raises ValueError on other shapes."""
    if tag == OUTSIDE:
        return OUTSIDE, ""
    if len(tag) > 2 and tag[:2] in ("B-", "I-"):
        return tag[0], tag[2:]
    raise ValueError(f"tag {tag!r} is not 'O', 'B-<slot>' or 'I-<slot>'")


def bio_error(tags: Sequence[str]) -> str | None:
    """Why `tags` is not a valid BIO sequence (an `I-x` must follow `B-x` or `I-x`), or None."""
    previous = OUTSIDE
    for i, tag in enumerate(tags):
        try:
            prefix, slot = tag_parts(tag)
        except ValueError as e:
            return f"word {i + 1}: {e}"
        if prefix == "I" and previous not in (f"B-{slot}", f"I-{slot}"):
            return f"word {i + 1}: {tag!r} follows {previous!r} (an I- tag must continue a B- or I- tag of the same slot)"
        previous = tag
    return None


def bio_chunks(tags: Sequence[str]) -> list[tuple[str, int, int]]:
    """Entities `(slot, first word, last word + 1)` by the conlleval rules.

    As in conlleval (and seqeval's default mode), an `I-x` that does not continue an `x` chunk
    starts a new one, and a `B-x` always starts one.
    """
    chunks = []
    current = None  # (slot, start)
    for i, tag in enumerate(list(tags) + [OUTSIDE]):
        prefix, slot = tag_parts(tag) if tag != OUTSIDE else (OUTSIDE, "")
        ends = current is not None and (prefix in (OUTSIDE, "B") or slot != current[0])
        if ends:
            chunks.append((current[0], current[1], i))
            current = None
        if prefix in ("B", "I") and current is None:
            current = (slot, i)
    return chunks


def bio_transition_mask(tags: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Allowed transitions for BIO decoding: (bool[from, to], bool[start -> tag])."""
    parts = [tag_parts(t) for t in tags]
    n = len(tags)
    allowed = np.ones((n, n), bool)
    start = np.ones((n,), bool)
    for j, (prefix, slot) in enumerate(parts):
        if prefix != "I":
            continue
        start[j] = False
        for i, (p, s) in enumerate(parts):
            allowed[i, j] = p in ("B", "I") and s == slot
    return allowed, start


# === Decoding =======================================================================


def log_softmax(logits: np.ndarray) -> np.ndarray:
    z = np.asarray(logits, np.float64)
    z = z - z.max(axis=-1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))


def viterbi(scores: np.ndarray, transitions: np.ndarray, start: np.ndarray, end: np.ndarray) -> list[int]:
    """Best tag path for emission `scores[T, K]` under `transitions[K, K]` and start/end scores."""
    if len(scores) == 0:
        return []
    score = start + scores[0]
    back = []
    for t in range(1, len(scores)):
        candidates = score[:, None] + transitions  # [from, to]
        back.append(candidates.argmax(axis=0))
        score = candidates.max(axis=0) + scores[t]
    best = [int((score + end).argmax())]
    for pointers in reversed(back):
        best.append(int(pointers[best[-1]]))
    return best[::-1]


class SlotDecoder:
    """Turns the slot logits of one utterance into one tag per word.

    Args:
        tags: the model's slot tags, in output order.
        decoding: "argmax" (independent per word), "bio" (Viterbi on log-softmax scores with
            invalid BIO transitions forbidden) or "crf" (Viterbi on raw emissions with the
            learned `transitions`, `start`, `end`, and the same BIO constraints).
        transitions, start, end: the CRF potentials (float[K, K], float[K], float[K]) for "crf".
    """

    def __init__(self, tags: Sequence[str], decoding: str = "bio", transitions=None, start=None, end=None):
        if decoding not in DECODINGS:
            raise ValueError(f"decoding must be one of {DECODINGS}, got {decoding!r}")
        self.tags = [str(t) for t in tags]
        if OUTSIDE not in self.tags:
            raise ValueError(f"slot tags must include {OUTSIDE!r}")
        self.outside_id = self.tags.index(OUTSIDE)
        self.decoding = decoding
        n = len(self.tags)
        allowed, allowed_start = bio_transition_mask(self.tags)
        forbid = np.where(allowed, 0.0, -1e9)
        forbid_start = np.where(allowed_start, 0.0, -1e9)
        if decoding == "crf":
            if transitions is None:
                raise ValueError("decoding='crf' needs the CRF transitions.")
            self.transitions = np.asarray(transitions, np.float64).reshape(n, n) + forbid
            self.start = (np.zeros(n) if start is None else np.asarray(start, np.float64)) + forbid_start
            self.end = np.zeros(n) if end is None else np.asarray(end, np.float64)
        else:
            self.transitions, self.start, self.end = forbid, forbid_start, np.zeros(n)

    def word_tag_ids(self, slot_logits: np.ndarray, word_positions: np.ndarray) -> list[int]:
        """Tag ids per word from `slot_logits[sequence_length, K]`; words without a position get O."""
        positions = np.asarray(word_positions)
        kept = np.flatnonzero(positions >= 0)
        out = [self.outside_id] * len(positions)
        if len(kept) == 0:
            return out
        emissions = np.asarray(slot_logits, np.float64)[positions[kept]]
        if self.decoding == "argmax":
            best = emissions.argmax(-1).tolist()
        elif self.decoding == "bio":
            best = viterbi(log_softmax(emissions), self.transitions, self.start, self.end)
        else:
            best = viterbi(emissions, self.transitions, self.start, self.end)
        for i, tag_id in zip(kept, best):
            out[i] = int(tag_id)
        return out

    def word_tags(self, slot_logits: np.ndarray, word_positions: np.ndarray) -> list[str]:
        return [self.tags[i] for i in self.word_tag_ids(slot_logits, word_positions)]

    def to_config(self) -> dict:
        """JSON-able form for a sidecar."""
        config = {"decoding": self.decoding}
        if self.decoding == "crf":
            n = len(self.tags)
            allowed, allowed_start = bio_transition_mask(self.tags)
            config["crf"] = {
                "transitions": np.where(allowed, self.transitions, 0.0).reshape(n, n).tolist(),
                "start": np.where(allowed_start, self.start, 0.0).tolist(),
                "end": self.end.tolist(),
            }
        return config

    @classmethod
    def from_config(cls, tags: Sequence[str], config: dict) -> "SlotDecoder":
        crf = config.get("crf") or {}
        return cls(tags, config.get("decoding", "bio"), crf.get("transitions"), crf.get("start"), crf.get("end"))


# === Parse results ==================================================================


def slot_spans(text: str, words: Sequence[tuple[str, int, int]], tags: Sequence[str]) -> list[dict]:
    """Entities as `{"slot", "value", "start", "end"}` with character offsets into `text`."""
    spans = []
    for slot, first, last in bio_chunks(tags):
        start, end = words[first][1], words[last - 1][2]
        spans.append({"slot": slot, "value": text[start:end], "start": start, "end": end})
    return spans


def parse_result(text: str, words, intent_probs: np.ndarray, intents: Sequence[str], tags: Sequence[str]) -> dict:
    """The `parse` output: `{"intent", "confidence", "slots": [...]}`."""
    best = int(np.argmax(intent_probs))
    return {"intent": intents[best], "confidence": float(intent_probs[best]), "slots": slot_spans(text, words, tags)}
