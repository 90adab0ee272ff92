"""GrammarAutomaton: word edits from a transcript to the nearest saying of a grammar's automaton."""

import pytest

from voice_ft.runtime.grammar_match import GrammarAutomaton, GrammarPrefixes


def lights() -> GrammarAutomaton:
    """ "turn [on, off] (the) lights": 0 -turn-> 1 -on/off-> 2,3 -> 4 -the-> 5 -> 6 -lights-> 7."""
    return GrammarAutomaton(8, [7], [
        [0, "turn", 1], [1, "on", 2], [1, "off", 3], [2, None, 4], [3, None, 4],
        [4, "the", 5], [4, None, 6], [5, None, 6], [6, "lights", 7],
    ])  # fmt: skip


@pytest.mark.parametrize("text, edits", [
    ("turn on the lights", 0), ("turn off lights", 0),  # sayings (the optional word said or not)
    ("turn on the lights please", 1), ("turn on a lights", 1), ("on the lights", 1),  # insertion, substitution, deletion
    ("turn the lights", 1), ("please turn it on", 3), ("", 3),  # please and it dropped, lights added
])  # fmt: skip
def test_distance_counts_word_edits_to_the_nearest_saying(text, edits):
    assert lights().distance(text.split()) == edits


def test_round_trips_and_bad_automata_are_refused():
    automaton = lights()
    assert GrammarAutomaton.from_dict(automaton.to_dict()).distance("turn off the lights".split()) == 0
    with pytest.raises(ValueError, match="must go forward"):
        GrammarAutomaton(3, [2], [[0, "a", 1], [2, "b", 1]])
    with pytest.raises(ValueError, match="out of range"):
        GrammarAutomaton(2, [5], [[0, "a", 1]])
    with pytest.raises(ValueError, match="must go forward"):
        GrammarAutomaton(2, [1], [[0, 7, 1]])


def test_prefixes_allow_the_beginnings_of_sayings_and_accept_whole_ones():
    bedroom = GrammarAutomaton(3, [2], [[0, "bedroom", 1], [1, "lights", 2]])
    prefixes = GrammarPrefixes([lights(), bedroom])
    for text in ("", " Turn", " turn o", " turn off", " turn off,", " Turn on the", " turn on lig", " bed", " bedroom"):
        assert prefixes.allows(text), text
    for text in (" turn the", " turn on a", " turn onn", " lights", " bedroom lights on", " turn on the lights please"):
        assert not prefixes.allows(text), text
    assert prefixes.is_saying(" Turn on the lights.") and prefixes.is_saying("bedroom lights")
    assert not prefixes.is_saying(" turn on the") and not prefixes.is_saying(" turn on the lig")
    assert prefixes.allows(" turn on the lights.")  # a whole saying is also a beginning: the end token may follow
    with pytest.raises(ValueError, match="at least one automaton"):
        GrammarPrefixes([])


def room_light() -> GrammarAutomaton:
    """ "set (the) $room:room light": 0 -set-> 1 -the-> 2 / skipped -> 3 -> 4, room "hall" | "living room" -> 8 -light-> 9."""
    return GrammarAutomaton(10, [9], [
        [0, "set", 1], [1, "the", 2], [1, None, 3], [2, None, 3], [3, None, 4],
        [4, "hall", 5, "B-room"], [4, "living", 6, "B-room"], [6, "room", 7, "I-room"], [5, None, 8], [7, None, 8],
        [8, "light", 9],
    ], tagged=True)  # fmt: skip


def test_parse_reads_a_saying_with_its_slot_tags_and_nothing_else():
    room = room_light()
    assert room.parse("set the living room light".split()) == ["O", "O", "B-room", "I-room", "O"]
    assert room.parse("set hall light".split()) == ["O", "B-room", "O"]
    for text in ("set the light", "set the hall", "set the the hall light", "", "set the kitchen light"):
        assert room.parse(text.split()) is None, text
    again = GrammarAutomaton.from_dict(room.to_dict())
    assert again.tagged and again.parse("set hall light".split()) == ["O", "B-room", "O"]
    assert not lights().tagged and lights().parse("turn on lights".split()) == ["O", "O", "O"]
    with pytest.raises(ValueError, match="must be"):
        GrammarAutomaton(2, [1], [[0, "a"]])


def test_reads_checks_a_taggers_reading_of_a_saying_against_the_grammar():
    room, words = room_light(), "set the living room light".split()
    assert room.reads(words, ["O", "O", "B-room", "I-room", "O"])
    for tags in (["O"] * 5, ["O", "O", "B-room", "B-room", "O"], ["O", "O", "B-room", "O", "O"],
                 ["O", "B-room", "I-room", "I-room", "O"]):  # a value missed, opened twice, cut short, too long
        assert not room.reads(words, tags), tags
    assert not room.reads("set the light".split(), ["O", "O", "O"])  # not a saying: no reading at all
    with pytest.raises(ValueError, match="5 words but 4 tags"):
        room.reads(words, ["O"] * 4)
    with pytest.raises(ValueError, match="needs slot tags"):
        lights().reads("turn on lights".split(), ["O"] * 3)
