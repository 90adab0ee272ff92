"""Domain vocabularies for decoding: a token-prefix trie over tokenized phrases.

A voice assistant knows the words its commands use (device names, rooms, contacts). Decoding
can use them in two ways, both driven by the same trie:

- biased ("shallow fusion"-style contextual biasing): every step, tokens that start a
  vocabulary phrase or continue a partly emitted one get a fixed logit bonus. Anything can
  still be decoded; a token off the trie drops the partial match.
- constrained: only tokens that start or continue a vocabulary phrase may be emitted, and
  <|endoftext|> only after a complete phrase, so the transcript is a sequence of vocabulary
  phrases (optionally with punctuation marks between them).

A state is the set of trie nodes that the tokens so far can end in (several when one phrase
is a prefix of another, e.g. "turn" and "turn on"); a complete phrase also lets the next
phrase start. Whisper's byte-level BPE splits text into words with their leading space, so
" turn on" tokenizes as " turn" + " on": phrases are tokenized with a leading space, in the
case variants given, lowercased and capitalised (the pretrained model writes "Turn on ...").
A word the model would spell with other tokens (" light" + "s" instead of " lights") is not
matched; that is the usual limit of token tries.

Numpy only, so an on-device decoder can use the same class.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

PUNCTUATION = (".", ",", "?", "!")

State = frozenset


class PhraseTrie:
    """A prefix tree over token-id sequences (one per phrase variant)."""

    ROOT, AFTER_PHRASE = 0, 1  # phrases hang off the root, punctuation marks off AFTER_PHRASE

    def __init__(self, sequences: Iterable[Sequence[int]], punctuation: Iterable[Sequence[int]] = ()):
        """Args:
            sequences: token ids of each phrase (variant).
            punctuation: token ids of marks that may follow a complete phrase (not start one).
        """
        self._children: list[dict[int, int]] = [{}, {}]
        self._terminal: list[bool] = [False, False]
        for sequence in sequences:
            self._insert([int(t) for t in sequence], self.ROOT)
        for sequence in punctuation:
            self._insert([int(t) for t in sequence], self.AFTER_PHRASE)
        if not self._children[self.ROOT]:
            raise ValueError("PhraseTrie: no (non-empty) phrases.")
        self._allowed_cache: dict[State, np.ndarray] = {}

    def _insert(self, sequence: list[int], node: int) -> None:
        if not sequence:
            return
        for token in sequence:
            child = self._children[node].get(token)
            if child is None:
                child = len(self._children)
                self._children.append({})
                self._terminal.append(False)
                self._children[node][token] = child
            node = child
        self._terminal[node] = True

    @classmethod
    def from_phrases(
        cls, tokenizer, phrases: Iterable[str], case_variants: bool = True, punctuation: Sequence[str] = ()
    ) -> PhraseTrie:
        """Tokenizes `" " + phrase` for each phrase (and its lowercased and capitalised forms).

        Args:
            tokenizer: the Whisper tokenizer (any callable text -> ids).
            phrases: words or multi-word phrases, e.g. ["kitchen", "turn on", "Spotify"].
            case_variants: also add the lowercased and the first-letter-capitalised forms.
            punctuation: marks (tokenized without a space) allowed after any complete phrase
                (never first), e.g. `PUNCTUATION` for constrained decoding.
        """
        texts: list[str] = []
        for phrase in phrases:
            phrase = " ".join(str(phrase).split())
            if not phrase:
                continue
            forms = [phrase, phrase.lower(), phrase[:1].upper() + phrase[1:]] if case_variants else [phrase]
            texts += [" " + form for form in forms]

        def ids(text: str) -> tuple[int, ...]:
            return tuple(int(t) for t in np.asarray(tokenizer(text)).reshape(-1))

        return cls(sorted({ids(t) for t in texts}), sorted({ids(mark) for mark in punctuation}))

    @property
    def start(self) -> State:
        """The state before any token: only the root."""
        return State({self.ROOT})

    def _closure(self, state: State) -> State:
        """After a complete phrase (or mark) the next phrase or a mark may start."""
        return state | {self.ROOT, self.AFTER_PHRASE} if self.is_complete(state) else state

    def is_complete(self, state: State) -> bool:
        """True when the tokens so far end a phrase (so the transcript may end here)."""
        return any(self._terminal[n] for n in state)

    def allowed(self, state: State) -> np.ndarray:
        """Sorted token ids that start or continue a phrase from `state` (the end token excluded)."""
        cached = self._allowed_cache.get(state)
        if cached is None:
            ids = {t for n in self._closure(state) for t in self._children[n]}
            cached = np.asarray(sorted(ids), dtype=np.int64)
            self._allowed_cache[state] = cached
        return cached

    def advance(self, state: State, token: int) -> State:
        """The state after `token`; empty when `token` leaves the trie."""
        return State(self._children[n][token] for n in self._closure(state) if token in self._children[n])
