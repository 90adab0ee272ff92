"""Word error rate: normalisation, edit kinds, corpus-level totals."""

from __future__ import annotations

import pytest

from voice_ft.asr.metrics import EditCounts, edit_counts, normalize_words, wer_report, word_error_rate


def test_normalisation_ignores_case_and_punctuation():
    assert normalize_words("Turn on the lights.") == ["turn", "on", "the", "lights"]
    assert normalize_words("  What's the weather,   Bob?!") == ["what's", "the", "weather", "bob"]
    assert normalize_words("'quoted' twenty-one") == ["quoted", "twenty", "one"]
    assert word_error_rate(["Turn on the lights."], ["turn on  the lights"]) == 0.0


def test_edit_kinds():
    assert edit_counts("turn on the lights", "turn off the lights") == EditCounts(1, 0, 0, 4)
    assert edit_counts("turn on the lights", "turn the lights") == EditCounts(0, 1, 0, 4)
    assert edit_counts("turn on the lights", "please turn on the lights") == EditCounts(0, 0, 1, 4)
    assert edit_counts("a b c", "") == EditCounts(0, 3, 0, 3)
    assert edit_counts("", "a b") == EditCounts(0, 0, 2, 0)
    assert edit_counts(["a", "b"], ["a", "c", "b"]).errors == 1


def test_corpus_wer_counts_all_reference_words():
    references = ["play some jazz", "set a timer for ten minutes"]
    hypotheses = ["play some jams", "set timer for ten minutes please"]
    report = wer_report(references, hypotheses)
    assert (report["substitutions"], report["deletions"], report["insertions"]) == (1, 1, 1)
    assert report["reference_words"] == 9
    assert report["wer"] == pytest.approx(3 / 9)
    assert [c.errors for c in report["per_utterance"]] == [1, 2]


def test_empty_references_and_mismatched_lengths():
    assert word_error_rate([""], [""]) == 0.0
    assert word_error_rate([""], ["noise"]) == float("inf")
    with pytest.raises(ValueError, match="2 references but 1"):
        word_error_rate(["a", "b"], ["a"])
