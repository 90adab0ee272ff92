"""grammar_values / write_grammar_values: the phrase -> canonical value table the phone reads."""

import json

import pytest

from voice_ft.data.files import OutputExistsError
from voice_ft.data.grammar import canonical_value, read_grammar
from voice_ft.runtime.speech_to_intent import normal_phrase, read_grammar_values
from voice_ft.speech_to_intent.grammar_values import grammar_values, write_grammar_values


def test_smart_home_synonyms_map_to_their_values():
    grammar = read_grammar("smart_home")
    table = grammar_values(grammar)
    assert set(table) == set(grammar.slot_names)
    assert table["temperature"]["eighteen degrees"] == table["temperature"]["eighteen"] == "18"
    assert table["temperature"]["colder"] == "cooler"
    assert table["genre"]["rhythm and blues"] == table["genre"]["r and b"] == "r&b"
    assert table["location"]["living room"] == "living room"
    assert table["brightness"] and all(v for v in table["brightness"].values())  # pv.Percent: built-in values
    for name, types in grammar.slot_names.items():  # every form the grammar says, as the grammar's own lookup
        for t in types:
            for value in grammar.slot_types[t].values:
                for form in value.spoken:
                    assert table[name][normal_phrase(form)] == canonical_value(grammar, t, form) == value.value


def test_written_file_round_trips_and_is_not_overwritten(tmp_path):
    path = write_grammar_values("timers", tmp_path / "grammar_values.json")
    content = json.loads(path.read_text())
    assert content["task"] == "grammar_values" and content["grammar"] == "timers.yml"
    assert read_grammar_values(path) == grammar_values("timers")
    with pytest.raises(OutputExistsError):
        write_grammar_values("timers", path)


def test_one_phrase_for_two_values_under_one_slot_name_is_refused(tmp_path):
    grammar = tmp_path / "clash.yml"
    grammar.write_text('context:\n  expressions:\n    a:\n      - "make it $hot:level"\n      - "set it $cold:level"\n'
                       '  slots:\n    hot: [{value: "high", spoken: ["max"]}]\n    cold: [{value: "low", spoken: ["max"]}]\n')
    with pytest.raises(ValueError, match="slot 'level' hears 'max' as both 'low' and 'high'"):
        grammar_values(grammar)


@pytest.mark.parametrize("name", ["smart_home", "timers"])
def test_every_sampled_sentence_is_a_saying_of_its_intents_automaton_and_others_are_not(name):
    """Each sentence `from_grammar` samples is read exactly by its intent's automaton, with the sampler's tags."""
    from voice_ft.data.grammar_sampling import from_grammar
    from voice_ft.speech_to_intent.grammar_values import grammar_automata

    automata = grammar_automata(name)
    train, validation, test, intents, _ = from_grammar(name, per_expression=20, seed=1, split_by="sentence")
    assert set(automata) == set(intents)
    for example in train + validation + test:
        words = normal_phrase(" ".join(example.tokens)).split()
        assert automata[example.intent].distance(words) == 0, (example.intent, words)
        assert automata[example.intent].parse(words) == list(example.tags), words  # the grammar reads its own tags
        if len(words) > 1:  # one word dropped is one edit away
            assert automata[example.intent].distance(words[1:]) <= 1
    for text in ("play the thermostat in the garden shed please now", "what is the weather like tomorrow in paris"):
        assert all(a.distance(text.split()) >= 2 for a in automata.values()), text
    assert all(a.distance([]) >= 1 for a in automata.values())  # no expression is empty
