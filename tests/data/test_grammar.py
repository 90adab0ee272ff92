"""Grammar files (Rhino-style context YAML) -> checked grammars -> sampled, tagged, split sentences."""

from __future__ import annotations

import collections
import pathlib
import textwrap

import pytest

from voice_ft.data import grammar as g
from voice_ft.data.grammar_sampling import GrammarExample, from_grammar, sample_expression, split_expressions
from voice_ft.data.slot_examples import SlotExample
from voice_ft.runtime.errors import DataError

GRAMMARS = pathlib.Path(__file__).resolve().parents[2] / "data" / "grammars"


def write(tmp_path, text: str, name: str = "context.yml") -> pathlib.Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


COFFEE = """
context:
  expressions:
    orderDrink:
      - "@want (a) ([small, large]) $drink:drink (please)"
      - "[give me, get me] $size:size $drink:drink"
      - "one $drink:drink"
  slots:
    drink:
      - coffee
      - dark roast
    size:
      - value: "12 oz"
        spoken: ["twelve ounce", "twelve ounces"]
      - large
  macros:
    want:
      - "i [want, would like]"
      - "can i have"
"""


def sayings(grammar, index):
    return {(e.tokens, e.tags) for e in sample_expression(grammar, grammar.expressions[index], 10_000)}


def test_alternatives_optionals_macros_and_multiword_slots_expand_with_bio_tags(tmp_path):
    grammar = g.read_grammar(write(tmp_path, COFFEE))
    assert grammar.intents == ("orderDrink",)
    assert [e.line for e in grammar.expressions] == [4, 5, 6]
    first = sayings(grammar, 0)
    # 3 macro phrases x 2 (a) x 3 ([small, large]) x 2 drinks x 2 (please)
    assert len(first) == 3 * 2 * 3 * 2 * 2
    assert (("can", "i", "have", "dark", "roast"), ("O", "O", "O", "B-drink", "I-drink")) in first
    assert (("i", "would", "like", "a", "large", "coffee", "please"), ("O",) * 5 + ("B-drink", "O")) in first
    assert (("i", "want", "coffee"), ("O", "O", "B-drink")) in first
    second = sayings(grammar, 1)
    assert (("get", "me", "twelve", "ounces", "coffee"), ("O", "O", "B-size", "I-size", "B-drink")) in second
    assert not any("12" in tokens for tokens, _ in second)  # a value with spoken forms is said only as those
    assert len(second) == 2 * 3 * 2


def test_words_are_every_word_a_saying_can_have_and_the_values_as_written(tmp_path):
    grammar = g.read_grammar(write(tmp_path, COFFEE))
    said = {word for i in range(len(grammar.expressions)) for tokens, _ in sayings(grammar, i) for word in tokens}
    assert said == set(grammar.words) - {"12", "oz"}  # "12 oz" is said only as its spoken forms
    assert grammar.words == sorted(grammar.words) and {"would", "roast", "twelve", "ounces", "please"} <= said
    assert grammar.spoken_words == sorted(said)  # the words sentences say: no "12 oz"


def test_nested_optional_choice_and_canonical_values(tmp_path):
    path = write(tmp_path, """
        context:
          expressions:
            go:
              - "go (to the ([red, blue]) $place:place (now))"
          slots:
            place: [door, front gate]
        """)
    grammar = g.read_grammar(path)
    texts = {" ".join(t) for t, _ in sayings(grammar, 0)}
    assert texts == {"go"} | {f"go to the {c}{p}{n}" for c in ("", "red ", "blue ") for p in ("door", "front gate")
                              for n in ("", " now")}
    example = next(e for e in sample_expression(grammar, grammar.expressions[0], 100) if "gate" in e.tokens)
    assert isinstance(example, GrammarExample) and isinstance(example, SlotExample)
    assert example.slots == {"place": "front gate"} and example.expression == "go (to the ([red, blue]) $place:place (now))"
    assert example.path == str(path) and example.line == 4


def test_canonical_value_maps_spoken_variants_back(tmp_path):
    grammar = g.read_grammar(write(tmp_path, COFFEE))
    assert g.canonical_value(grammar, "size", "Twelve  Ounces") == "12 oz"
    assert g.canonical_value(grammar, "size", "12 oz") == "12 oz"
    assert g.canonical_value(grammar, "drink", "dark roast") == "dark roast"
    assert g.canonical_value(grammar, "drink", "tea") is None
    with pytest.raises(KeyError, match="no slot type 'colour'"):
        g.canonical_value(grammar, "colour", "red")
    _, _, _, _, tags = from_grammar(grammar)
    examples = [e for split in from_grammar(grammar)[:3] for e in split]
    assert all(e.slots.get("size") in (None, "12 oz", "large") for e in examples)
    assert tags == ["O", "B-drink", "I-drink", "B-size", "I-size"]


def test_builtin_number_slots(tmp_path):
    grammar = g.read_grammar(write(tmp_path, """
        context:
          expressions:
            setTimer:
              - "set a timer for $pv.TwoDigitInteger:minutes minutes"
        """))
    assert grammar.slot_types["pv.TwoDigitInteger"].builtin
    assert g.canonical_value(grammar, "pv.TwoDigitInteger", "twenty five") == "25"
    assert g.canonical_value(grammar, "pv.TwoDigitInteger", "seven") == "7"
    found = sample_expression(grammar, grammar.expressions[0], 100)
    assert len(found) == 100
    example = next(e for e in found if e.slots["minutes"] == "42")
    assert example.tokens[4:6] == ("forty", "two") and example.tags[4:6] == ("B-minutes", "I-minutes")


BALANCED = """
context:
  expressions:
    paint:
      - "[paint, colour, make] the $room:room $color:color (please)"
      - "$color:color [walls, ceiling] in the $room:room"
      - "i want the $room:room $color:color"
    clean:
      - "clean the $room:room"
      - "[hoover, vacuum, mop] the $room:room (now)"
      - "tidy up (the) $room:room"
      - "the $room:room needs [cleaning, a clean]"
      - "clean up"
  slots:
    room: [kitchen, hall, bedroom, bathroom, office, living room]
    color: [red, green, blue, white, black]
"""


def test_sampling_is_balanced_over_expressions_and_slot_values(tmp_path):
    grammar = g.read_grammar(write(tmp_path, BALANCED))
    per_expression = 30
    counts = collections.Counter()
    for expression in grammar.expressions[:3]:
        examples = sample_expression(grammar, expression, per_expression, seed="1")
        assert len(examples) == per_expression and len({e.tokens for e in examples}) == per_expression
        counts.update(e.slots["color"] for e in examples)
    assert set(counts) == {"red", "green", "blue", "white", "black"}
    assert max(counts.values()) - min(counts.values()) <= 6, counts  # 18 each, shuffled rounds
    # an expression with fewer sayings gives all of them, once
    assert {e.text for e in sample_expression(grammar, grammar.expressions[7], per_expression)} == {"clean up"}


def test_same_seed_same_sentences_different_seed_different(tmp_path):
    path = write(tmp_path, BALANCED)
    a, b, c = from_grammar(path, per_expression=20, seed=3), from_grammar(path, per_expression=20, seed=3), from_grammar(
        path, per_expression=20, seed=4)
    assert a == b
    assert [e.tokens for e in a[0]] != [e.tokens for e in c[0]]


def test_split_by_expression_keeps_test_expressions_and_sentences_out_of_training(tmp_path):
    path = write(tmp_path, BALANCED)
    train, validation, test, intents, tags = from_grammar(path, per_expression=20)
    assert intents == ["paint", "clean"] and tags == ["O", "B-color", "I-color", "B-room", "I-room"]
    expressions = {name: {e.expression for e in split} for name, split in
                   (("train", train), ("validation", validation), ("test", test))}
    assert not expressions["train"] & expressions["test"] and not expressions["train"] & expressions["validation"]
    assert not expressions["validation"] & expressions["test"]
    train_sentences = {e.tokens for e in train}
    assert not train_sentences & {e.tokens for e in test + validation}
    for split in (train, validation, test):  # both intents have >= 3 expressions: one in every split
        assert {e.intent for e in split} == {"paint", "clean"}
    assignment = split_expressions(g.read_grammar(path), (0.6, 0.2, 0.2))
    assert sum(len(v) for v in assignment.values()) == 8
    with pytest.raises(ValueError, match="summing to 1"):
        split_expressions(g.read_grammar(path), (0.5, 0.1, 0.1))


def test_split_by_sentence_trains_on_every_expression_and_tests_on_new_sayings(tmp_path):
    path = write(tmp_path, BALANCED)
    train, validation, test, intents, tags = from_grammar(path, per_expression=20, split_by="sentence")
    grammar = g.read_grammar(path)
    assert {e.expression for e in train} == {e.text for e in grammar.expressions}  # "clean up" too: train only
    # every expression with >= 3 sayings gives validation and test sentences; "clean up" (one saying) does not
    assert {e.expression for e in test} == {e.text for e in grammar.expressions} - {"clean up"}
    assert {e.expression for e in validation} == {e.expression for e in test}
    assert not {e.tokens for e in train} & {e.tokens for e in validation + test}
    assert not {e.tokens for e in validation} & {e.tokens for e in test}
    by_expression = collections.Counter(e.expression for e in test)
    assert by_expression["[paint, colour, make] the $room:room $color:color (please)"] == 2  # 20 sayings x 0.1
    assert by_expression["clean the $room:room"] == 1  # 6 sayings: at least one each, four left to train
    assert sum(e.expression == "clean the $room:room" for e in train) == 4
    assert from_grammar(path, per_expression=20, split_by="sentence") == (train, validation, test, intents, tags)
    with pytest.raises(ValueError, match="split_by must be one of"):
        from_grammar(path, split_by="speaker")


def test_intents_with_one_or_two_expressions(tmp_path, caplog):
    path = write(tmp_path, """
        context:
          expressions:
            yes:
              - "yes"
            no:
              - "no"
              - "[nope, no way]"
        """)
    assignment = split_expressions(g.read_grammar(path))
    assert [e.intent for e in assignment["train"]] == ["yes", "no"]
    assert [e.intent for e in assignment["test"]] == ["no"] and assignment["validation"] == []
    assert "intent 'yes' has 1 expression(s): train only" in caplog.text


def test_words_keep_their_case_and_yaml_booleans_stay_words(tmp_path):
    grammar = g.read_grammar(write(tmp_path, """
        context:
          expressions:
            switch:
              - "Turn $state:state the TV"
          slots:
            state:
              - on
              - off
        """))
    assert [v.value for v in grammar.slot_types["state"].values] == ["on", "off"]  # not True/False
    assert {e.text for e in sample_expression(grammar, grammar.expressions[0], 10)} == {"Turn on the TV", "Turn off the TV"}


def body(expression: str, extra: str = "") -> str:
    return f"""
context:
  expressions:
    go:
      - "{expression}"
  slots:
    place: [home, work]
{extra}"""


BAD = [
    # (file text, line, message part)
    ("context:\n  expressions:\n    go:\n      - \"go home\n", 5, "quoted scalar that starts on line 4"),
    ("context:\n  expressions: [a\n", 3, "YAML syntax error"),
    ("", None, "empty file"),
    ("expressions:\n  go: [go]\n", 1, "no top-level 'context:'"),
    ("context:\n  slots:\n    x: [a]\n", 2, "'context' has no 'expressions:'"),
    ("context:\n  expresions:\n    go: [go]\n", 2, "unknown key 'expresions'"),
    ("context:\n  expressions:\n    go:\n", 3, "intent 'go' (it has no expressions) is empty"),
    ("context:\n  expressions:\n    go: []\n", 3, "intent 'go' (it has no expressions) is empty"),
    ("context:\n  expressions:\n    go: [go]\n    go: [went]\n", 4, "'go' appears twice (first on line 3)"),
    ("context:\n  expressions:\n    go:\n      - \"\"\n", 4, "must be non-empty text"),
    (body("go to $city:city"), 5, "unknown slot type 'city'"),
    (body("go to @somewhere"), 5, "unknown macro '@somewhere'"),
    (body("go [to, towards $place:place"), 5, "unbalanced '[' (never closed) at column 4"),
    (body("go (to $place:place"), 5, "unbalanced '(' (never closed)"),
    (body("go to] $place:place"), 5, "unbalanced ']'"),
    (body("go [to) $place:place"), 5, "')' closes a '['"),
    (body("go [] $place:place"), 5, "empty choice '[]'"),
    (body("go [to, ] $place:place"), 5, "empty alternative"),
    (body("go () $place:place"), 5, "empty optional '()'"),
    (body("go, $place:place"), 5, "',' outside '[...]'"),
    (body("go (to, at) $place:place"), 5, "',' inside '(...)'"),
    (body("go $place $place:place"), 5, "bad slot reference '$place'"),
    (body("from $place:place to $place:place"), 5, "slot name 'place' is used twice"),
    (body("(go) (home)"), 5, "can be said as nothing at all"),
    (body("go $place:place", "  macros:\n    loop: [\"@loop again\"]\n"), 9, "macro '@loop' refers to itself"),
    (body("go $place:place", "  macros:\n    m: []\n"), 9, "macro 'm' (it has no phrases) is empty"),
    ("context:\n  expressions:\n    go: [\"go $place:place\"]\n  slots:\n    place: []\n", 5,
     "slot type 'place' (it has no values) is empty"),
    ("context:\n  expressions:\n    go: [\"go $place:place\"]\n  slots:\n    place: [home, home]\n", 5,
     "value 'home' is listed twice"),
    ("context:\n  expressions:\n    go: [\"go $place:place\"]\n  slots:\n    place: [\"home [x]\"]\n", 5,
     "slot values are plain words"),
    ("context:\n  expressions:\n    go: [\"go $place:place\"]\n  slots:\n    place:\n      - value: a\n"
     "        spoken: [home]\n      - value: b\n        spoken: [Home]\n", 8, "'Home' is said for two values"),
    ("context:\n  expressions:\n    go: [\"go $place:place\"]\n  slots:\n    place:\n      - valu: a\n", 6,
     "a mapping value needs 'value'"),
]


@pytest.mark.parametrize("text, line, message", BAD, ids=[m for _, _, m in BAD])
def test_bad_grammars_are_rejected_with_file_and_line(tmp_path, text, line, message):
    path = tmp_path / "bad.yml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(DataError) as error:
        g.read_grammar(path)
    assert message in str(error.value)
    assert error.value.path == str(path) and error.value.line == line, str(error.value)
    assert str(error.value).startswith(f"{path}:{line}: " if line else f"{path}: ")


def test_missing_file_and_bundled_names(tmp_path):
    with pytest.raises(DataError, match="grammar file does not exist"):
        g.read_grammar(tmp_path / "nothing.yml")
    with pytest.raises(DataError, match="grammar file does not exist"):
        g.read_grammar("no_such_grammar")
    assert g.read_grammar("timers").path == str(GRAMMARS / "timers.yml")


@pytest.mark.parametrize("name", ["smart_home.yml", "timers.yml"])
def test_bundled_grammars_load_and_produce_data(name):
    from voice_ft.nlu.readers import check_known

    grammar = g.read_grammar(GRAMMARS / name)
    assert len(grammar.intents) >= 5
    assert all(len(grammar.expressions_of(intent)) >= 4 for intent in grammar.intents)
    train, validation, test, intents, tags = from_grammar(grammar, per_expression=20)
    for split in (train, validation, test):
        assert {e.intent for e in split} == set(intents)
        check_known(split, intents, tags)  # what the NLU trainer checks
    assert len(train) > 10 * len(intents) and len({e.tokens for e in train}) == len(train)
    assert any(e.slots for e in test)


def test_public_names():
    import voice_ft

    assert voice_ft.from_grammar is from_grammar and voice_ft.read_grammar is g.read_grammar
    assert voice_ft.datasets.from_grammar is from_grammar and voice_ft.datasets.read_grammar is g.read_grammar
