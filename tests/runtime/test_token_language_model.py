"""The token n-gram language model (interpolated Kneser-Ney) used for shallow fusion."""

import json

import numpy as np
import pytest

from voice_ft.runtime.token_language_model import TokenNgramModel

END = 9
# three "sentences" over tokens 0..9; 9 is the end token
SENTENCES = [[1, 2, 3, END], [1, 2, 4, END], [1, 2, 3, END], [5, 2, 3, END]]


def test_every_distribution_sums_to_one_and_keeps_unseen_tokens_possible():
    model = TokenNgramModel.fit(SENTENCES, vocab_size=12, order=3)
    for context in ([], [1], [1, 2], [5, 2], [7, 7], [1, 2, 3]):
        probs = np.exp(model.log_probs(context))
        assert probs.sum() == pytest.approx(1.0, abs=1e-9)
        assert probs.min() > 0  # tokens 0, 6, 7, 8, 10 and 11 never occur and still have mass


def test_it_predicts_what_the_text_says_follows():
    model = TokenNgramModel.fit(SENTENCES, vocab_size=12, order=3)
    after_1_2 = model.log_probs([1, 2])
    assert int(np.argmax(after_1_2)) == 3  # "1 2 3" twice, "1 2 4" once
    assert after_1_2[3] > after_1_2[4] > after_1_2[7]
    assert int(np.argmax(model.log_probs([1, 2, 3]))) == END
    assert int(np.argmax(model.log_probs([]))) in (1, 5)  # a sentence starts with 1 or 5
    assert model.log_probs([])[1] > model.log_probs([])[5]


def test_continuation_counts_rank_lower_orders():
    # "2" follows two different tokens, "4" one: in an unseen context "2" is likelier than "4"
    # although "4" was counted as often as "2" in the raw unigrams of this text.
    text = [[1, 2, END], [3, 2, END], [4, END], [4, END]]
    model = TokenNgramModel.fit(text, vocab_size=10, order=2)
    unseen = model.log_probs([7])
    assert unseen[2] > unseen[4]


def test_a_sentence_of_the_text_scores_higher_than_a_scrambled_one():
    model = TokenNgramModel.fit(SENTENCES, vocab_size=12, order=4)
    assert model.sentence_log_prob([1, 2, 3, END]) > model.sentence_log_prob([3, 2, 1, END]) + 5


def test_save_and_load_give_the_same_model(tmp_path):
    model = TokenNgramModel.fit(SENTENCES, vocab_size=12, order=3)
    loaded = TokenNgramModel.load(model.save(tmp_path / "lm.json"))
    assert loaded.order == 3 and loaded.vocab_size == 12 and loaded.discounts == model.discounts
    for context in ([], [1, 2], [5], [8, 8]):
        np.testing.assert_allclose(loaded.log_probs(context), model.log_probs(context))


def test_bad_inputs_are_named(tmp_path):
    with pytest.raises(ValueError, match="no sequences"):
        TokenNgramModel.fit([], vocab_size=5)
    with pytest.raises(ValueError, match=r"\[0, 5\)"):
        TokenNgramModel.fit([[1, 7]], vocab_size=5)
    with pytest.raises(ValueError, match="discount"):
        TokenNgramModel.fit(SENTENCES, vocab_size=12, discount=1.5)
    other = tmp_path / "other.json"
    other.write_text(json.dumps({"format": "something else"}))
    with pytest.raises(ValueError, match="other.json"):
        TokenNgramModel.load(other)
    broken = tmp_path / "broken.json"
    broken.write_text("{")
    with pytest.raises(ValueError, match="broken.json"):
        TokenNgramModel.load(broken)


def test_the_distribution_cache_is_bounded_and_shared_arrays_are_read_only():
    from voice_ft.runtime import token_language_model

    model = TokenNgramModel.fit(SENTENCES, vocab_size=12, order=4)  # contexts of 3 tokens: 1,728 of them below
    first = model.log_probs([1, 2])
    with pytest.raises(ValueError):
        first[3] = 0.0  # a caller cannot change what the next caller is given
    for a in range(12):
        for b in range(12):
            for c in range(12):
                model.log_probs([c, a, b])
    assert len(model._cache) <= token_language_model.CACHE_CONTEXTS
    np.testing.assert_allclose(model.log_probs([1, 2]), first)  # evicted and computed again, the same
