"""Grammar words no training sentence says -> short word lists for the recogniser's training."""

from __future__ import annotations

import collections

import pytest

from voice_ft.data.grammar import read_grammar
from voice_ft.data.grammar_sampling import from_grammar
from voice_ft.speech_to_intent.unheard_words import LABEL, unheard_words, word_lists

WORDS = ["dim", "heat", "Lights", "off", "on", "turn", "warm", "listen", "brighten"]
HEARD = [("Turn", "on", "the", "lights"), ("turn", "off", "the", "Lights.")]


def test_unheard_words_are_the_grammar_words_no_sentence_says_case_and_punctuation_ignored():
    assert unheard_words(WORDS, HEARD) == ["brighten", "dim", "heat", "listen", "warm"]
    assert unheard_words(["o'clock", "twenty-one"], [("seven", "o'clock"), ("twenty", "two")]) == ["twenty-one"]
    assert unheard_words(WORDS, [WORDS]) == []


def test_each_unheard_word_is_said_repeats_times_never_twice_in_a_list():
    unheard = unheard_words(WORDS, HEARD)
    lists = word_lists(unheard, repeats=3, words_per_list=2, seed=1)
    said = [u.text.split() for u in lists]
    assert collections.Counter(w for words in said for w in words) == {w: 3 for w in unheard}
    assert all(1 <= len(words) <= 2 and len(set(words)) == len(words) for words in said)
    assert len(lists) == 3 * 3  # 5 words a round in lists of 2: 2 + 2 + 1
    assert {u.label for u in lists} == {LABEL} and all(u.tags is None for u in lists)
    assert [u.text for u in word_lists(unheard, repeats=3, words_per_list=2, seed=1)] == [u.text for u in lists]
    assert [u.text for u in word_lists(unheard, repeats=3, words_per_list=2, seed=2)] != [u.text for u in lists]


def test_no_lists_when_every_word_is_heard_or_none_are_asked_for():
    assert word_lists(unheard_words(WORDS, [WORDS]), repeats=5) == []
    assert word_lists(unheard_words(WORDS, HEARD), repeats=0) == []


@pytest.mark.parametrize("options, message", [({"repeats": -1}, "repeats must be >= 0"),
                                              ({"words_per_list": 0}, "words_per_list must be >= 1")])  # fmt: skip
def test_bad_counts_are_refused(options, message):
    with pytest.raises(ValueError, match=message):
        word_lists(unheard_words(WORDS, HEARD), **options)


def test_a_bundled_grammar_split_by_expression_leaves_its_test_expressions_words_unheard():
    grammar = read_grammar("smart_home")
    train, _, test, *_ = from_grammar(grammar, per_expression=20, seed=0)
    unheard = set(unheard_words(grammar.spoken_words, [e.tokens for e in train]))
    test_only = {w for e in test for w in e.tokens} - {w for e in train for w in e.tokens}
    assert test_only and test_only <= unheard  # every word only a test expression says is among them
    assert not unheard & {"12%", "18"}  # canonical values that sentences say in words are not spoken words
    assert unheard < set(grammar.spoken_words)
