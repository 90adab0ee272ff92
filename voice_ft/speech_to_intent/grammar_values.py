"""The grammar-values JSON the phone uses to map slot phrases back to canonical values.

`SpeechToIntent` (TF-free, no YAML) reads it; this side writes it from a read `Grammar`, so the
phone never parses the grammar file. For every slot *name* (what the NLU's BIO tags carry), every
phrase that may be said for it (each spoken form, and the value as written, as
`voice_ft.data.grammar.canonical_value` accepts) maps to the grammar's value. A slot name used
with several slot types gets the union of their phrases; a phrase meaning two different values
under one name is refused (the phone could not tell them apart).
"""

from __future__ import annotations

import json
import os
import pathlib

from voice_ft.data.files import refuse_overwrite
from voice_ft.data.grammar import Grammar, read_grammar
from voice_ft.runtime.speech_to_intent import GRAMMAR_VALUES_TASK, normal_phrase


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


def write_grammar_values(grammar: Grammar | str | os.PathLike, path: str | os.PathLike, overwrite: bool = False) -> pathlib.Path:
    """Writes the grammar-values JSON (`SpeechToIntent`'s `grammar_values`) and returns its path."""
    if not isinstance(grammar, Grammar):
        grammar = read_grammar(grammar)
    path = pathlib.Path(path)
    refuse_overwrite([path], overwrite)
    content = {"task": GRAMMAR_VALUES_TASK, "version": 1, "grammar": pathlib.Path(grammar.path).name,
               "intents": list(grammar.intents), "slots": grammar_values(grammar)}  # fmt: skip
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(content, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return path
