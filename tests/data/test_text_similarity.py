"""TF-IDF nearest-neighbour similarity and distinctive words, on hand-checkable sentences."""

import math

import pytest

from voice_ft.data.text_similarity import distinctive_words, nearest_similarity, sentence_terms


def test_terms_are_unigrams_and_bigrams_lowercased():
    assert sentence_terms("Play some JAZZ, play") == ["play", "some", "jazz", "play some", "some jazz", "jazz play"]


def test_identical_word_sequences_score_one_and_disjoint_ones_zero():
    got = nearest_similarity(["play some jazz", "Play some JAZZ!", "hello there friend"], ["play some jazz", "book a table"])
    assert got[0] == pytest.approx(1.0) and got[1] == pytest.approx(1.0) and got[2] == 0.0


def test_similarity_is_the_cosine_with_the_nearest_reference():
    # "a b" vs refs ["a c", "a b c"]: terms {a, b, a b} vs {a, c, a c} and {a, b, c, a b, b c}.
    got = float(nearest_similarity(["a b"], ["a c", "a b c"])[0])
    df = {"a": 3, "b": 2, "a b": 2, "c": 2, "a c": 1, "b c": 1}
    idf = {t: math.log(4 / (1 + d)) + 1 for t, d in df.items()}
    q = {t: idf[t] for t in ("a", "b", "a b")}
    r = {t: idf[t] for t in ("a", "b", "c", "a b", "b c")}
    cos = sum(q[t] * r[t] for t in q if t in r) / math.sqrt(sum(v * v for v in q.values()) * sum(v * v for v in r.values()))
    assert got == pytest.approx(cos, abs=1e-12)


def test_distinctive_words_are_frequent_here_and_rare_in_the_background():
    texts = ["add this to my playlist", "add jazz to the playlist", "play the playlist"]
    background = ["the cat sat", "i love the rain", "this is my house", "to be or not"] * 10
    assert distinctive_words(texts, background) == {"add", "playlist", "jazz", "play"}


def test_no_references_is_an_error():
    with pytest.raises(ValueError, match="reference"):
        nearest_similarity(["x"], [])
