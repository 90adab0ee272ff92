"""The grammar-values JSON the phone uses to map slot phrases back to canonical values.

`SpeechToIntent` (TF-free, no YAML) reads it; this side writes it from a read `Grammar`, so the
phone never parses the grammar file. For every slot *name* (what the NLU's BIO tags carry), every
phrase that may be said for it (each spoken form, and the value as written, as
`voice_ft.data.grammar.canonical_value` accepts) maps to the grammar's value. A slot name used
with several slot types gets the union of their phrases; a phrase meaning two different values
under one name is refused (the phone could not tell them apart).

It also holds each intent's expressions as a word automaton (`automata`, intent -> `{"states",
"finals", "edges"}`, `voice_ft.runtime.grammar_match`), so that the phone can tell how far a
transcript is from being a sentence of the grammar at all.
"""

from __future__ import annotations

import json
import os
import pathlib

from voice_ft.data.files import refuse_overwrite
from voice_ft.data.grammar import Choice, Grammar, MacroRef, Opt, Seq, Slot, Word, read_grammar
from voice_ft.runtime.grammar_match import GrammarAutomaton
from voice_ft.runtime.speech_to_intent import GRAMMAR_VALUES_TASK, normal_phrase
from voice_ft.runtime.words import normalize_words


def grammar_values(grammar: Grammar | str | os.PathLike) -> dict[str, dict[str, str]]:
    """slot name -> {normalised phrase: canonical value} (see the module docstring)."""
    if not isinstance(grammar, Grammar):
        grammar = read_grammar(grammar)
    table: dict[str, dict[str, str]] = {}
    for name, types in grammar.slot_names.items():
        phrases = table.setdefault(name, {})
        for slot_type in types:
            for value in grammar.slot_types[slot_type].values:
                for phrase in (value.value, *value.spoken):
                    key = normal_phrase(phrase)
                    if phrases.get(key, value.value) != value.value:
                        raise ValueError(f"{grammar.path}: slot {name!r} hears {phrase!r} as both {phrases[key]!r} and "
                                         f"{value.value!r} (slot types {list(types)}); give the types different slot names.")
                    phrases[key] = value.value
    return table


def grammar_automata(grammar: Grammar | str | os.PathLike) -> dict[str, GrammarAutomaton]:
    """intent -> one word automaton over all its expressions (`voice_ft.runtime.grammar_match`).

    Words are normalised as transcripts are; a slot is any phrase of its type (the value as written and
    its spoken forms, as `grammar_values` maps them) whose words carry the slot's BIO tags (`B-name
    I-name`, as `from_grammar` tags sentences), a macro any of its phrases. States are created in order,
    so every edge goes forward.
    """
    if not isinstance(grammar, Grammar):
        grammar = read_grammar(grammar)
    automata = {}
    for intent in grammar.intents:
        edges: list[tuple] = []
        count = [1]  # state 0: the start of every expression

        def new_state() -> int:
            count[0] += 1
            return count[0] - 1

        def words(text: str, state: int, slot: str | None = None) -> int:
            for i, word in enumerate(normalize_words(text)):
                nxt = new_state()
                edges.append((state, word, nxt) if slot is None else (state, word, nxt, f"{'I' if i else 'B'}-{slot}"))
                state = nxt
            return state

        def either(branches, state: int) -> int:
            ends = [branch(state) for branch in branches]
            end = new_state()
            edges.extend((e, None, end) for e in ends)
            return end

        def build(node, state: int) -> int:
            if isinstance(node, Word):
                return words(node.text, state)
            if isinstance(node, Seq):
                for item in node.items:
                    state = build(item, state)
                return state
            if isinstance(node, Choice):
                return either([lambda s, o=o: build(o, s) for o in node.options], state)
            if isinstance(node, Opt):
                return either([lambda s: build(node.body, s), lambda s: s], state)
            if isinstance(node, Slot):
                phrases = sorted({p for v in grammar.slot_types[node.type].values for p in (v.value, *v.spoken)})
                return either([lambda s, p=p: words(p, s, node.name) for p in phrases], state)
            if isinstance(node, MacroRef):
                return either([lambda s, p=p: build(p, s) for p in grammar.macros[node.name]], state)
            raise TypeError(f"unknown grammar node {type(node).__name__}")

        finals = [build(e.tree, 0) for e in grammar.expressions_of(intent)]
        automata[intent] = GrammarAutomaton(count[0], finals, edges, tagged=True)
    return automata


def write_grammar_values(grammar: Grammar | str | os.PathLike, path: str | os.PathLike, overwrite: bool = False) -> pathlib.Path:
    """Writes the grammar-values JSON (`SpeechToIntent`'s `grammar_values`) and returns its path."""
    if not isinstance(grammar, Grammar):
        grammar = read_grammar(grammar)
    path = pathlib.Path(path)
    refuse_overwrite([path], overwrite)
    content = {"task": GRAMMAR_VALUES_TASK, "version": 1, "grammar": pathlib.Path(grammar.path).name,
               "intents": list(grammar.intents), "slots": grammar_values(grammar),
               "automata": {intent: a.to_dict() for intent, a in grammar_automata(grammar).items()}}  # fmt: skip
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(content, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return path
