"""The sequence length chosen from the data: a percentile of word-piece counts, rounded up to 8."""

import numpy as np
import pytest
import tensorflow as tf

from voice_ft.data.sequence_length import choose_sequence_length, token_lengths


def test_length_covers_the_percentile_and_reports_what_is_cut(tiny_backbone, snips_rows):
    texts = tf.data.Dataset.from_tensor_slices([r["text"] for r in snips_rows])
    lengths = token_lengths(texts, tiny_backbone.tokenizer) + 2
    assert lengths.tolist() == [len(tiny_backbone.tokenizer.tokenize(r["text"])) + 2 for r in snips_rows]
    choice = choose_sequence_length(texts, tiny_backbone.tokenizer, percentile=99.5)
    assert choice.sequence_length % 8 == 0 and choice.sequence_length - 8 < choice.percentile_tokens <= choice.sequence_length
    assert np.mean(lengths <= choice.sequence_length) >= 0.995
    assert choice.truncated_fraction == pytest.approx(np.mean(lengths > choice.sequence_length))
    assert choose_sequence_length(texts, tiny_backbone.tokenizer, percentile=50).sequence_length < choice.sequence_length
    assert choose_sequence_length(texts, tiny_backbone.tokenizer, max_length=16).sequence_length == 16
    assert "sequence_length=" in choice.reason() and "% are cut" in choice.reason()


def test_bad_percentile_is_refused(tiny_backbone):
    with pytest.raises(ValueError, match="percentile"):
        choose_sequence_length(tf.data.Dataset.from_tensor_slices(["a"]), tiny_backbone.tokenizer, percentile=0)
