"""Out-of-scope negatives: sentences a model should answer "I didn't understand" to.

Why: a classifier trained on its intents alone gives every input one of them ("what is the capital
of peru" -> GetWeather at 0.99); a threshold on its confidence cannot catch what it is sure about.
Out-of-scope (OOS) sentences fix that two ways: on validation they choose the rejection threshold
(`voice_ft.calibrate`), and in training they teach an explicit out-of-scope class (the trainers'
`--negatives` with `--oos_label`).

Where they come from:
- `read_negatives(path)`: the user's own, a `.txt` (one sentence a line; blank lines and lines
  starting with `#` skipped) or a `.jsonl` (`{"text": ...}` per line).
- `generate_negatives(in_scope_texts)`: when the user has none, sentences from other bundled data
  sets, read from the repo's `data/`: the user turns of the SGD dialogues (task-oriented requests
  in many service domains) and GoEmotions comments (chit-chat and opinions). Candidates whose
  nearest training sentence is too similar (TF-IDF cosine above `max_similarity`, see
  `voice_ft.data.text_similarity`), and candidates holding a word distinctive of the training
  sentences (typical of them against GoEmotions as general English: "playlist", "weather",
  "restaurant" for SNIPS), are dropped, so paraphrases of the user's own intents ("find me a
  restaurant" from SGD, when booking restaurants is an intent) are not taught as out of scope.
  They are drawn from the `train` splits of those sets only, so their `validation`/`test` splits
  stay free for held-out OOS evaluation (`bench/oos.py`).

Both give a `Negatives` with disjoint `train` and `validation` lists (no sentence in both, compared
lower-cased with collapsed whitespace), chosen with a seeded shuffle: the same inputs and seed give
the same lists.
"""

from __future__ import annotations

import dataclasses
import os
import pathlib
from collections.abc import Sequence

import numpy as np

from voice_ft.data.bundled import data_root
from voice_ft.data.readers import iter_jsonl, read_text
from voice_ft.data.text_similarity import distinctive_words, nearest_similarity, sentence_words
from voice_ft.runtime.errors import DataError

SOURCES = ("sgd_dialogues", "goemotions")
BACKGROUND = "goemotions"  # general English, to tell which words are the user's intents' own
DEFAULT_MAX_SIMILARITY = 0.3
DEFAULT_SIZE = 0.5  # negatives per in-scope training sentence
DEFAULT_VALIDATION_FRACTION = 0.2
MIN_WORDS = 2


@dataclasses.dataclass(frozen=True)
class Negatives:
    """Out-of-scope sentences for training and for validation (disjoint), and how they were made."""

    train: list[str]
    validation: list[str]
    report: dict = dataclasses.field(default_factory=dict)


def normalise(text: str) -> str:
    """The key two sentences are "the same" under: lower-cased, whitespace collapsed."""
    return " ".join(text.lower().split())


def _unique(texts) -> list[str]:
    seen, kept = set(), []
    for text in texts:
        key = normalise(text)
        if key and key not in seen:
            seen.add(key)
            kept.append(text.strip())
    return kept


def source_sentences(source: str, split: str = "train", data_dir: str | os.PathLike | None = None) -> list[str]:
    """The candidate sentences of one bundled source (`SOURCES`), de-duplicated, in file order.

    `sgd_dialogues`: every user turn; `goemotions`: every comment. Sentences of fewer than
    `MIN_WORDS` words ("yes", "ok") are skipped.
    """
    if source not in SOURCES:
        raise ValueError(f"negative source {source!r} is not one of {SOURCES}")
    path = pathlib.Path(data_dir or data_root()) / source / f"{split}.jsonl"
    texts = []
    for _, row in iter_jsonl(path):
        if source == "sgd_dialogues":
            texts.extend(t.get("text", "") for t in row.get("turns", []) if t.get("speaker") == "user")
        else:
            texts.append(row.get("text", ""))
    return [t for t in _unique(texts) if len(t.split()) >= MIN_WORDS]


def holdout_split(items: Sequence, validation_fraction: float = DEFAULT_VALIDATION_FRACTION,
                  seed: int = 0) -> tuple[list, list]:
    """`(train, validation)`: `items` after a seeded shuffle, the first round(fraction * n) held out.

    The split every kind of negative gets (sentences here, audio clips in the speech-commands
    trainer's `--negatives_dir`): the same items and seed give the same lists.
    """
    if not 0.0 <= validation_fraction < 1.0:
        raise ValueError(f"validation_fraction must be in [0, 1), got {validation_fraction}")
    order = np.random.default_rng(seed).permutation(len(items))
    shuffled = [items[i] for i in order]
    cut = int(round(validation_fraction * len(shuffled)))
    return shuffled[cut:], shuffled[:cut]


def split_negatives(texts: Sequence[str], validation_fraction: float = DEFAULT_VALIDATION_FRACTION,
                    seed: int = 0, report: dict | None = None) -> Negatives:
    """De-duplicates `texts` and splits them, after a seeded shuffle, into disjoint train/validation lists."""
    train, validation = holdout_split(_unique(texts), validation_fraction, seed)
    return Negatives(train=train, validation=validation, report=dict(report or {}))


def read_negatives(path: str | os.PathLike) -> list[str]:
    """The user's negative sentences from a `.txt` (one a line) or `.jsonl` (`{"text": ...}`) file.

    A malformed JSON line, a missing or non-string `text`, another file type or a file with no
    sentence is a `DataError` naming the file (and line).
    """
    path = pathlib.Path(path)
    if path.suffix not in (".txt", ".jsonl"):
        raise DataError("negatives must be a .txt (one sentence a line) or .jsonl ({\"text\": ...}) file", path)
    if path.suffix == ".txt":
        lines = read_text(path).splitlines()
        texts = [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]
    else:
        texts = []
        for number, row in iter_jsonl(path):
            text = row.get("text")
            if not isinstance(text, str) or not text.strip():
                raise DataError("each line needs a non-empty string field 'text'", path, number)
            texts.append(text.strip())
    if not texts:
        raise DataError("no negative sentences in the file", path)
    return texts


def generate_negatives(in_scope_texts: Sequence[str], size: float = DEFAULT_SIZE,
                       validation_fraction: float = DEFAULT_VALIDATION_FRACTION,
                       max_similarity: float = DEFAULT_MAX_SIMILARITY, sources: Sequence[str] = SOURCES,
                       split: str = "train", seed: int = 0, drop_distinctive: bool = True, data_dir: str | os.PathLike | None = None) -> Negatives:
    """Out-of-scope sentences from other bundled data sets, filtered away from the user's intents.

    Args:
        in_scope_texts: the user's training sentences (what the negatives must not resemble).
        size: negatives (train + validation) per in-scope sentence, drawn evenly from `sources`
            (fewer if the sources run out after filtering).
        validation_fraction: the share of them held out for validation.
        max_similarity: a candidate whose nearest in-scope sentence has a TF-IDF cosine above
            this is dropped (1.0 keeps everything).
        drop_distinctive: also drop candidates holding a word distinctive of the in-scope
            sentences (`text_similarity.distinctive_words` against the `BACKGROUND` source).
        sources: bundled data sets to draw from (`SOURCES`).
        split: which of their splits to read ("train"; leave the others for evaluation).
        seed: the shuffle seed.
    """
    in_scope_texts = [str(t) for t in in_scope_texts]
    if not in_scope_texts:
        raise ValueError("generate_negatives needs the in-scope training sentences")
    if size <= 0:
        raise ValueError(f"size must be positive (negatives per in-scope sentence), got {size}")
    if not sources:
        raise ValueError(f"no negative sources given; choose from {SOURCES}")
    wanted = max(1, int(round(size * len(in_scope_texts))))
    rng = np.random.default_rng(seed)
    known = {normalise(t) for t in in_scope_texts}
    chosen, report = [], {"sources": {}, "max_similarity": max_similarity, "size": size, "seed": seed}
    sentences = {name: source_sentences(name, split, data_dir)
                 for name in dict.fromkeys([*sources, *([BACKGROUND] if drop_distinctive else [])])}  # each read once
    distinctive = set()
    if drop_distinctive:
        distinctive = distinctive_words(in_scope_texts, sentences[BACKGROUND])
        report["distinctive_words"] = sorted(distinctive)
    for i, source in enumerate(sources):
        share = (wanted - len(chosen)) // (len(sources) - i)
        pool = [t for t in sentences[source] if normalise(t) not in known]
        before = len(pool)
        pool = [t for t in pool if not distinctive & sentence_words(t)]
        dropped_words = before - len(pool)
        # Score a shuffled sample a few times the share (scoring every GoEmotions comment is slow).
        pool = [pool[j] for j in rng.permutation(len(pool))[: 3 * share + 100]]
        similarity = nearest_similarity(pool, in_scope_texts)
        kept = [t for t, s in zip(pool, similarity) if s <= max_similarity][:share]
        report["sources"][source] = {"dropped_distinctive": dropped_words, "scored": len(pool),
                                     "dropped_similar": int((similarity > max_similarity).sum()),
                                     "kept": len(kept)}  # fmt: skip
        chosen.extend(kept)
    report["num_negatives"] = len(chosen)
    return split_negatives(chosen, validation_fraction, seed, report)
