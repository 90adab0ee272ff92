"""Training sentences from a `Grammar`: balanced, seeded sampling and a split by expression or by sentence.

`from_grammar(path)` is what users call (also as `voice_ft.datasets.from_grammar`):

- **Balanced.** Every expression gives the same number of sentences (`per_expression`), unless it
  has fewer distinct sayings, in which case all of them (no duplicates are added). Inside an
  expression, each choice, optional part and slot walks through its options in shuffled rounds,
  so slot values (not their spoken variants) and alternatives occur about equally often.
- **Seeded.** The same grammar and seed give the same sentences in the same order; each
  expression draws from its own generator (seeded by `seed` and its position), so editing one
  intent does not change another intent's sentences.
- **Split by expression.** Each intent's expressions are shuffled and dealt to train /
  validation / test, so test sentences come from expressions never seen in training. An intent
  with >= 3 expressions has at least one in every split with a non-zero fraction; with 2, one
  goes to train and one to test; with 1, it is only in train (both logged as warnings). A
  validation or test sentence that another expression also produced in an earlier split is
  dropped, so no test sentence was seen in training. This is the default (`split_by="expression"`):
  it measures how a model copes with phrasings the grammar does not list.
- **Or split by sentence** (`split_by="sentence"`): every expression is trained on, and each
  expression's sentences are dealt to train / validation / test, so test sentences are new
  combinations of the grammar's words and values (a sentence another split already holds is dropped
  as above). This is what a deployed model meets: users say what the grammar lists.

Sentences are `GrammarExample`s: `SlotExample`s (words, BIO tags over slot names, intent, grammar
file and expression line) plus the expression text and each slot's canonical value.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import random
from collections.abc import Sequence

from voice_ft.data.grammar import Choice, Expression, Grammar, MacroRef, Opt, Seq, Slot, Word, read_grammar
from voice_ft.data.slot_examples import SlotExample, make_example
from voice_ft.runtime.slot_alignment import OUTSIDE

logger = logging.getLogger(__name__)
SPLITS = ("train", "validation", "test")
SPLIT_BY = ("expression", "sentence")


@dataclasses.dataclass(frozen=True)
class GrammarExample(SlotExample):
    """A sampled sentence: a `SlotExample` plus its expression and the slots' canonical values."""

    expression: str = ""
    slot_values: tuple[tuple[str, str], ...] = ()  # (slot name, canonical value), in sentence order

    @property
    def slots(self) -> dict[str, str]:
        return dict(self.slot_values)


def from_grammar(
    grammar: str | os.PathLike | Grammar,
    per_expression: int = 50,
    seed: int = 0,
    split: Sequence[float] = (0.8, 0.1, 0.1),
    split_by: str = "expression",
):
    """Samples train/validation/test sentences from a grammar file (or a read `Grammar`).

    Args:
        grammar: a Rhino-style context YAML (see `voice_ft.data.grammar`), a bundled grammar's name
            (`"smart_home"`, `"timers"`), or a read `Grammar`.
        per_expression: distinct sentences per expression (fewer when it has fewer sayings).
        seed: sampling, and which expressions go to which split.
        split: fractions of each intent's expressions (`split_by="expression"`) or of each
            expression's sentences (`split_by="sentence"`) for train, validation and test.
        split_by: "expression" (test sentences come from expressions never trained on) or
            "sentence" (every expression trained on; test sentences are new sayings of them).

    Returns:
        `(train, validation, test, intents, slot_tags)`: three shuffled lists of `GrammarExample`,
        the intents in file order, and `O` then `B-x`, `I-x` for every slot name (sorted), as
        `voice_ft.load_nlu` returns them, so the NLU trainer takes them as they are.
    """
    if not isinstance(grammar, Grammar):
        grammar = read_grammar(grammar)
    if per_expression < 1:
        raise ValueError(f"per_expression must be >= 1, got {per_expression}")
    if split_by not in SPLIT_BY:
        raise ValueError(f"split_by must be one of {SPLIT_BY}, got {split_by!r}")
    if split_by == "expression":
        assignment = split_expressions(grammar, split, seed)
        index = {id(e): i for i, e in enumerate(grammar.expressions)}
        sampled = {name: [e for expression in assignment[name] for e in
                          sample_expression(grammar, expression, per_expression, seed=f"{seed}:{index[id(expression)]}")]
                   for name in SPLITS}  # fmt: skip
    else:
        sampled = split_sentences(grammar, per_expression, split, seed)
    splits, seen = {}, set()
    for name in SPLITS:
        examples = sampled[name]
        fresh = [e for e in examples if _key(e) not in seen]
        if len(fresh) < len(examples):
            logger.info("%s: dropped %d %s sentences also produced for an earlier split", grammar.path,
                        len(examples) - len(fresh), name)
        seen |= {_key(e) for e in fresh}
        random.Random(f"{seed}:{name}").shuffle(fresh)
        splits[name] = fresh
    slot_tags = [OUTSIDE] + [f"{p}-{name}" for name in grammar.slot_names for p in ("B", "I")]
    return splits["train"], splits["validation"], splits["test"], list(grammar.intents), slot_tags


def _key(example: SlotExample) -> tuple[str, ...]:
    return tuple(t.casefold() for t in example.tokens)


# === Splitting ========================================================================


def split_expressions(grammar: Grammar, split: Sequence[float] = (0.8, 0.1, 0.1), seed: int = 0) -> dict[str, list[Expression]]:
    """Deals each intent's expressions to train/validation/test (see the module docstring)."""
    _check_split(split)
    _, val_fraction, test_fraction = split
    rng = random.Random(f"{seed}:split")
    assignment = {name: [] for name in SPLITS}
    for intent in grammar.intents:
        expressions = grammar.expressions_of(intent)
        rng.shuffle(expressions)
        n = len(expressions)
        if n >= 3:
            n_val, n_test = _held_out_counts(n, val_fraction, test_fraction)
        else:
            n_val, n_test = 0, (1 if n == 2 and test_fraction > 0 else 0)
            logger.warning("%s: intent %r has %d expression(s): %s (give it 3 or more for every split)", grammar.path,
                           intent, n, "one for train, one for test" if n_test else "train only")
        assignment["test"] += expressions[:n_test]
        assignment["validation"] += expressions[n_test : n_test + n_val]
        assignment["train"] += expressions[n_test + n_val :]
    return assignment


def split_sentences(grammar: Grammar, per_expression: int, split: Sequence[float] = (0.8, 0.1, 0.1),
                    seed: int = 0) -> dict[str, list[GrammarExample]]:
    """Each expression's `per_expression` sentences dealt to train/validation/test by `split`; an
    expression with 3 or more keeps at least one for training and gives every split with a non-zero
    fraction at least one, one with fewer is trained on only (`split_by="sentence"`)."""
    _check_split(split)
    _, val_fraction, test_fraction = split
    dealt = {name: [] for name in SPLITS}
    for i, expression in enumerate(grammar.expressions):
        examples = sample_expression(grammar, expression, per_expression, seed=f"{seed}:{i}")
        random.Random(f"{seed}:{i}:deal").shuffle(examples)  # all sayings of a small expression come in grammar order
        n_val, n_test = _held_out_counts(len(examples), val_fraction, test_fraction)
        dealt["test"] += examples[:n_test]
        dealt["validation"] += examples[n_test : n_test + n_val]
        dealt["train"] += examples[n_test + n_val :]
    return dealt


def _check_split(split: Sequence[float]) -> None:
    if len(split) != 3 or any(f < 0 for f in split) or abs(sum(split) - 1.0) > 1e-6:
        raise ValueError(f"split must be three non-negative fractions summing to 1, got {tuple(split)}")


def _held_out_counts(n: int, val_fraction: float, test_fraction: float) -> tuple[int, int]:
    """(validation, test) counts of `n` items: with n >= 3, each >= 1 where its fraction is non-zero and one
    left to train; with fewer, none held out."""
    if n < 3:
        return 0, 0
    n_val = max(1, round(n * val_fraction)) if val_fraction > 0 else 0
    n_test = max(1, round(n * test_fraction)) if test_fraction > 0 else 0
    while n - n_val - n_test < 1:  # keep one for training; the larger is >= 2 here, so both stay >= 1
        if n_val >= n_test:
            n_val -= 1
        else:
            n_test -= 1
    return n_val, n_test


# === Sampling one expression ==============================================================


def count_sayings(node, grammar: Grammar) -> int:
    """How many sayings a tree has, counting each spoken form of each slot value (an upper bound on distinct ones)."""
    if isinstance(node, Word):
        return 1
    if isinstance(node, Slot):
        return sum(len(v.spoken) for v in grammar.slot_types[node.type].values)
    if isinstance(node, Seq):
        total = 1
        for item in node.items:
            total *= count_sayings(item, grammar)
        return total
    if isinstance(node, Choice):
        return sum(count_sayings(o, grammar) for o in node.options)
    if isinstance(node, Opt):
        return 1 + count_sayings(node.body, grammar)
    if isinstance(node, MacroRef):
        return sum(count_sayings(p, grammar) for p in grammar.macros[node.name])
    raise TypeError(node)


# a saying: (words, tags, (slot name, value) pairs)
_Saying = tuple[tuple[str, ...], tuple[str, ...], tuple[tuple[str, str], ...]]


def _all_sayings(node, grammar: Grammar) -> list[_Saying]:
    """Every saying of a (small) tree, in grammar order."""
    if isinstance(node, Word):
        return [((node.text,), (OUTSIDE,), ())]
    if isinstance(node, Slot):
        return [_slot_saying(node.name, value.value, form)
                for value in grammar.slot_types[node.type].values for form in value.spoken]
    if isinstance(node, Seq):
        sayings = [((), (), ())]
        for item in node.items:
            sayings = [_join(a, b) for a in sayings for b in _all_sayings(item, grammar)]
        return sayings
    if isinstance(node, Choice):
        return [s for option in node.options for s in _all_sayings(option, grammar)]
    if isinstance(node, Opt):
        return [((), (), ())] + _all_sayings(node.body, grammar)
    return [s for phrase in grammar.macros[node.name] for s in _all_sayings(phrase, grammar)]


def _slot_saying(name: str, value: str, form: str) -> _Saying:
    words = tuple(form.split())
    return words, tuple(f"{'B' if i == 0 else 'I'}-{name}" for i in range(len(words))), ((name, value),)


def _join(a: _Saying, b: _Saying) -> _Saying:
    return a[0] + b[0], a[1] + b[1], a[2] + b[2]


class _Sampler:
    """Random sayings of one expression; every choice point walks its options in shuffled rounds."""

    def __init__(self, grammar: Grammar, seed: str):
        self.grammar = grammar
        self.rng = random.Random(seed)
        self.rounds: dict[int, list] = {}

    def next_of(self, node, options: Sequence):
        queue = self.rounds.setdefault(id(node), [])
        if not queue:
            queue.extend(options)
            self.rng.shuffle(queue)
        return queue.pop()

    def say(self, node) -> _Saying:
        if isinstance(node, Word):
            return (node.text,), (OUTSIDE,), ()
        if isinstance(node, Slot):
            value = self.next_of(node, self.grammar.slot_types[node.type].values)
            return _slot_saying(node.name, value.value, self.rng.choice(value.spoken))
        if isinstance(node, Seq):
            saying = ((), (), ())
            for item in node.items:
                saying = _join(saying, self.say(item))
            return saying
        if isinstance(node, Choice):
            return self.say(self.next_of(node, node.options))
        if isinstance(node, Opt):
            return self.say(node.body) if self.next_of(node, (True, False)) else ((), (), ())
        return self.say(self.next_of(node, self.grammar.macros[node.name]))


def sample_expression(grammar: Grammar, expression: Expression, count: int, seed: str | int = 0) -> list[GrammarExample]:
    """Up to `count` distinct sentences of one expression (all of them when it has no more)."""
    if count_sayings(expression.tree, grammar) <= count:
        sayings = list(dict.fromkeys(_all_sayings(expression.tree, grammar)))
    else:
        sampler, found = _Sampler(grammar, str(seed)), {}
        for _ in range(count * 20):  # sayings can coincide ("(the) (the)"); give up after enough tries
            saying = sampler.say(expression.tree)
            found.setdefault(saying, None)
            if len(found) == count:
                break
        sayings = list(found)
    return [_example(expression, grammar, saying) for saying in sayings]


def _example(expression: Expression, grammar: Grammar, saying: _Saying) -> GrammarExample:
    words, tags, values = saying
    base = make_example(list(words), list(tags), expression.intent, grammar.path, expression.line)
    return GrammarExample(base.tokens, base.tags, base.intent, base.path, base.line, expression.text, values)
