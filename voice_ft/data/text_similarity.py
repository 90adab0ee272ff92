"""Nearest-neighbour TF-IDF similarity between short sentences, in numpy (no scikit-learn).

Why: generated out-of-scope negatives must not be paraphrases of the user's own commands ("what's
the weather like in Paris" from a dialogue corpus is in scope for a weather intent), so each
candidate is compared with its most similar training sentence and dropped above a cut-off.

Features: lower-cased word unigrams and bigrams (words = runs of letters, digits and apostrophes),
binary term frequency, smooth IDF `log((1 + N) / (1 + df)) + 1` over references and candidates
together, L2-normalised rows. `nearest_similarity` returns, per candidate, the largest cosine with
any reference: 1.0 for the same word sequence, 0.0 when no term is shared. Exact and deterministic
(an inverted index over the references; no hashing, no sampling).
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence

import numpy as np

_WORD = re.compile(r"[a-z0-9']+")


def sentence_terms(text: str) -> list[str]:
    """The distinct unigrams and bigrams of a sentence, in first-seen order."""
    words = _WORD.findall(text.lower())
    terms = words + [f"{a} {b}" for a, b in zip(words, words[1:])]
    return list(dict.fromkeys(terms))


def nearest_similarity(candidates: Sequence[str], references: Sequence[str]) -> np.ndarray:
    """float64[len(candidates)]: each candidate's largest TF-IDF cosine with any reference."""
    if not references:
        raise ValueError("nearest_similarity needs at least one reference sentence")
    cand_terms = [sentence_terms(t) for t in candidates]
    ref_terms = [sentence_terms(t) for t in references]
    df = Counter(term for terms in (*cand_terms, *ref_terms) for term in terms)
    total = len(cand_terms) + len(ref_terms)

    def idf(term: str) -> float:
        return math.log((1 + total) / (1 + df[term])) + 1.0

    postings: dict[str, tuple[list[int], list[float]]] = {}
    for row, terms in enumerate(ref_terms):
        weights = [idf(t) for t in terms]
        norm = math.sqrt(sum(w * w for w in weights)) or 1.0
        for term, w in zip(terms, weights):
            docs, values = postings.setdefault(term, ([], []))
            docs.append(row)
            values.append(w / norm)
    index = {term: (np.asarray(d, np.int64), np.asarray(v, np.float64)) for term, (d, v) in postings.items()}
    best = np.zeros(len(cand_terms))
    for i, terms in enumerate(cand_terms):
        weights = [idf(t) for t in terms]
        norm = math.sqrt(sum(w * w for w in weights)) or 1.0
        shared = [(index[t], w / norm) for t, w in zip(terms, weights) if t in index]
        if not shared:
            continue
        docs = np.concatenate([d for (d, _), _ in shared])
        values = np.concatenate([v * w for (_, v), w in shared])
        best[i] = float(np.bincount(docs, weights=values).max())
    return np.minimum(best, 1.0)


def sentence_words(text: str) -> set[str]:
    """The distinct lower-cased words of a sentence."""
    return set(_WORD.findall(text.lower()))


def distinctive_words(texts: Sequence[str], background: Sequence[str], min_share: float = 0.002,
                      min_ratio: float = 10.0) -> set[str]:
    """Words typical of `texts` against general `background` text: the vocabulary of the user's intents.

    A word is distinctive when it is in at least `min_share` of `texts` and that share is at least
    `min_ratio` times its (add-one smoothed) share of `background` sentences ("playlist", "weather",
    "restaurant" for SNIPS against GoEmotions comments; not "the", "please", "want").
    """
    if not texts or not background:
        raise ValueError("distinctive_words needs texts and background sentences")
    ours = Counter(w for t in texts for w in sentence_words(t))
    theirs = Counter(w for t in background for w in sentence_words(t))
    n, m = len(texts), len(background)
    return {w for w, c in ours.items() if c >= min_share * n and c / n >= min_ratio * (theirs[w] + 1) / m}
