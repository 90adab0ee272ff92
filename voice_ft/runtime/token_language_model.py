"""A token n-gram language model of a domain's text, for shallow fusion in speech decoding.

A fine-tuned recogniser has heard a few hundred of a domain's sentences; the user usually has
thousands more as text (the whole training split of an intent data set, a grammar's sayings,
the names of their playlists and restaurants). An n-gram model of that text, over the
recogniser's own tokens, scores each next token, and beam search adds ``weight * log p_lm`` to
the recogniser's log-probability ("shallow fusion", Gulcehre et al. 2015; Kannan et al. 2018):
"add a tune to cláci coz del hip hop" becomes "clásicos del hip hop" because the text holds it.

The model is interpolated Kneser-Ney (Chen & Goodman 1998, with one discount per order): the
highest order uses counts, the lower ones continuation counts (in how many contexts a token
follows), and the unigrams are interpolated with a uniform distribution over the whole
vocabulary, so a token the text never had keeps a small probability and can still be decoded.
Sequences start with a begin marker and end with the recogniser's end token, so the model also
knows where a domain's sentences end.

Numpy only (no TensorFlow), so the phone-side decoder can use the same file; saved as JSON.
"""

from __future__ import annotations

import json
import os
import pathlib
from collections import OrderedDict, defaultdict
from collections.abc import Iterable, Sequence

import numpy as np

BEGIN = -1  # the sentence-start marker in contexts (never predicted)
FORMAT = "voice_ft.token_ngram/1"
DEFAULT_FUSION_WEIGHT = 0.3  # lm_weight in shallow fusion, chosen on spoken SNIPS's validation accent (bench/README.md)
CACHE_CONTEXTS = 256  # distributions kept (each vocab_size float64s, 0.4 MB for Whisper): one clip's beams share most


class TokenNgramModel:
    """Interpolated Kneser-Ney n-gram over token ids; `log_probs(context)` scores every next token."""

    def __init__(self, order: int, vocab_size: int, tables: list[dict], discounts: Sequence[float]):
        """Use `fit` or `load`. `tables[k]` maps a context tuple of k tokens to ({token: count}, total, types)."""
        if order < 1:
            raise ValueError(f"order must be >= 1, got {order}.")
        if len(tables) != order or len(discounts) != order:
            raise ValueError(f"expected {order} tables and discounts, got {len(tables)} and {len(discounts)}.")
        self.order = int(order)
        self.vocab_size = int(vocab_size)
        self.discounts = [float(d) for d in discounts]
        self._tables = []
        for table in tables:
            prepared = {}
            for context, counts in table.items():
                tokens = np.fromiter(counts.keys(), dtype=np.int64, count=len(counts))
                values = np.fromiter(counts.values(), dtype=np.float64, count=len(counts))
                prepared[tuple(context)] = (tokens, values, float(values.sum()))
            self._tables.append(prepared)
        self._cache: OrderedDict[tuple, np.ndarray] = OrderedDict()  # least recently used first

    @classmethod
    def fit(cls, sequences: Iterable[Sequence[int]], vocab_size: int, order: int = 4,
            discount: float | None = None) -> TokenNgramModel:  # fmt: skip
        """Counts the n-grams of token sequences (each a sentence, ending with its end token).

        Args:
            sequences: token ids per sentence, without the begin marker; the last one should be
                the end token, so the model learns where sentences stop.
            vocab_size: the recogniser's vocabulary size (the length of `log_probs`).
            order: n (4 = three tokens of context).
            discount: the absolute discount of every order; None estimates each order's from its
                counts of counts, D = n1 / (n1 + 2 n2) (Ney et al. 1994), clipped to [0.1, 0.9].
        """
        highest: dict[tuple, dict[int, int]] = defaultdict(lambda: defaultdict(int))
        count = 0
        for sequence in sequences:
            tokens = [int(t) for t in sequence]
            if any(not 0 <= t < vocab_size for t in tokens):
                raise ValueError(f"token ids must be in [0, {vocab_size}); got a sequence with {tokens}.")
            padded = [BEGIN] * (order - 1) + tokens
            for i in range(order - 1, len(padded)):
                highest[tuple(padded[i - order + 1 : i])][padded[i]] += 1
            count += 1
        if count == 0:
            raise ValueError("TokenNgramModel.fit: no sequences.")
        # Lower orders: continuation counts, the number of distinct tokens seen before the n-gram.
        tables: list[dict] = [None] * order
        tables[order - 1] = highest
        for k in range(order - 2, -1, -1):
            lower: dict[tuple, dict[int, int]] = defaultdict(lambda: defaultdict(int))
            for context, counts in tables[k + 1].items():
                for token in counts:
                    lower[context[1:]][token] += 1
            tables[k] = lower
        if discount is None:
            discounts = [_estimated_discount(table) for table in tables]
        else:
            if not 0.0 < discount < 1.0:
                raise ValueError(f"discount must be in (0, 1), got {discount}.")
            discounts = [discount] * order
        return cls(order, vocab_size, [{c: dict(v) for c, v in t.items()} for t in tables], discounts)

    def log_probs(self, context: Sequence[int]) -> np.ndarray:
        """(vocab_size,) natural-log probabilities of the next token after `context` (tokens so far); read-only."""
        key = tuple(int(t) for t in context[len(context) - (self.order - 1) :]) if self.order > 1 else ()
        key = (BEGIN,) * (self.order - 1 - len(key)) + key
        cached = self._cache.get(key)
        if cached is not None:
            self._cache.move_to_end(key)
            return cached
        probs = np.full(self.vocab_size, 1.0 / self.vocab_size)
        for k in range(self.order):
            entry = self._tables[k].get(key[len(key) - k :] if k else ())
            if entry is None:
                break  # an unseen context: its higher orders are unseen too, the lower estimate stands
            tokens, values, total = entry
            discount = self.discounts[k]
            probs *= discount * len(tokens) / total
            probs[tokens] += np.maximum(values - discount, 0.0) / total
        result = np.log(probs)
        result.flags.writeable = False  # shared through the cache
        self._cache[key] = result
        if len(self._cache) > CACHE_CONTEXTS:
            self._cache.popitem(last=False)
        return result

    def sentence_log_prob(self, tokens: Sequence[int]) -> float:
        """Total log-probability of a token sequence from the sentence start (test and inspection aid)."""
        tokens = [int(t) for t in tokens]
        return float(sum(self.log_probs(tokens[:i])[t] for i, t in enumerate(tokens)))

    def save(self, path: str | os.PathLike) -> pathlib.Path:
        """Writes the model as JSON (contexts as lists, BEGIN as -1)."""
        path = pathlib.Path(path)
        tables = [
            [[list(context), tokens.tolist(), values.astype(int).tolist()] for context, (tokens, values, _) in t.items()]
            for t in self._tables
        ]
        payload = {"format": FORMAT, "order": self.order, "vocab_size": self.vocab_size, "discounts": self.discounts,
                   "tables": tables}  # fmt: skip
        path.write_text(json.dumps(payload, separators=(",", ":")), encoding="utf-8")
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> TokenNgramModel:
        """Reads a model written by `save`; a file of another kind is rejected with its path named."""
        path = pathlib.Path(path)
        try:
            payload = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as error:
            raise ValueError(f"{path}: not a readable token n-gram model ({error}).") from error
        if not isinstance(payload, dict) or payload.get("format") != FORMAT:
            raise ValueError(f"{path}: not a token n-gram model (expected format {FORMAT!r}).")
        tables = [
            {tuple(context): dict(zip(tokens, values)) for context, tokens, values in table}
            for table in payload["tables"]
        ]
        return cls(payload["order"], payload["vocab_size"], tables, payload["discounts"])


def _estimated_discount(table: dict) -> float:
    counts_of_counts = defaultdict(int)
    for counts in table.values():
        for value in counts.values():
            if value <= 2:
                counts_of_counts[value] += 1
    n1, n2 = counts_of_counts[1], counts_of_counts[2]
    if n1 == 0:
        return 0.5
    return float(np.clip(n1 / (n1 + 2 * n2), 0.1, 0.9))
