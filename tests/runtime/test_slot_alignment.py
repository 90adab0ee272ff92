"""Word-level BIO tags <-> WordPiece tokens, decoding, and character offsets."""

import numpy as np
import pytest

from voice_ft.runtime.slot_alignment import (IGNORE, SlotDecoder, align_words, bio_chunks, bio_error, slot_spans,
                                          split_words, token_labels)  # fmt: skip
from voice_ft.nlu.data import encode_nlu, wordpiece_for
from voice_ft.data.slot_examples import make_example
from voice_ft.runtime.wordpiece import WordPieceTokenizer

VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "wake", "me", "up", "at", "seven", "am", "play", "be", "##yon", "##ce", ",", "now"]


@pytest.fixture(scope="module")
def tokenizer():
    return WordPieceTokenizer(VOCAB, lowercase=True, strip_accents=True)


def test_split_words_keeps_offsets_into_the_original_text():
    text = "  Play\tBeyoncé,  now\n"
    words = split_words(text)
    assert [w for w, _, _ in words] == ["Play", "Beyoncé,", "now"]
    assert all(text[s:e] == w for w, s, e in words)


def test_first_piece_carries_the_tag_and_the_rest_is_ignored(tokenizer):
    words = ["play", "Beyoncé,", "now"]
    aligned = align_words(tokenizer, words, sequence_length=10)
    # [CLS] play be ##yon ##ce , now [SEP] [PAD] [PAD]
    assert aligned.token_ids.tolist() == [2, 10, 11, 12, 13, 14, 15, 3, 0, 0]
    assert aligned.word_positions.tolist() == [1, 2, 6] and not aligned.truncated
    labels = token_labels(aligned.word_positions, [0, 1, 0], 10)
    assert labels.tolist() == [IGNORE, 0, 1, IGNORE, IGNORE, IGNORE, 0, IGNORE, IGNORE, IGNORE]
    ids, mask, _ = tokenizer.encode(" ".join(words), 10)  # same ids as tokenizing the whole text
    assert aligned.token_ids.tolist() == ids.tolist() and aligned.padding_mask.tolist() == mask.tolist()


def test_words_past_the_sequence_length_have_no_position(tokenizer):
    aligned = align_words(tokenizer, ["play", "beyonce", "now"], sequence_length=5)
    assert aligned.truncated and aligned.word_positions.tolist() == [1, 2, -1]
    assert token_labels(aligned.word_positions, [0, 1, 0], 5).tolist() == [IGNORE, 0, 1, IGNORE, IGNORE]


def test_alignment_matches_keras_hub_on_snips_rows(tiny_backbone, snips_rows):
    import tensorflow as tf

    rows = snips_rows[:200]
    examples = [make_example(r["tokens"], r["slots"], r["intent"], "train.jsonl", i + 1) for i, r in enumerate(rows)]
    tags = sorted({t for r in rows for t in r["slots"]})
    intents = sorted({r["intent"] for r in rows})
    encoded = encode_nlu(examples, tiny_backbone.tokenizer, 48, intents, tags)
    from voice_ft.data.text_encoder import TextEncoder

    keras_ids = TextEncoder(tiny_backbone.tokenizer, 48)(tf.constant([r["text"] for r in rows]))["token_ids"].numpy()
    np.testing.assert_array_equal(encoded.token_ids, keras_ids)
    wordpiece = wordpiece_for(tiny_backbone.tokenizer)
    for ex, positions, labels in zip(examples, encoded.word_positions, encoded.slot_labels):
        assert (labels >= 0).sum() == (positions >= 0).sum()
        for word, position in zip(ex.tokens, positions):  # each position holds the word's first piece
            if position >= 0:
                assert encoded.token_ids[examples.index(ex), position] == wordpiece.tokenize(word)[0]


def test_bio_validation_and_chunks():
    assert bio_error(["O", "B-time", "I-time"]) is None
    assert "word 2: 'I-time' follows 'O'" in bio_error(["O", "I-time"])
    assert "follows 'B-city'" in bio_error(["B-city", "I-time"])
    assert "is not 'O', 'B-<slot>'" in bio_error(["O", "time"])
    assert bio_chunks(["B-a", "I-a", "O", "B-b"]) == [("a", 0, 2), ("b", 3, 4)]


def test_bio_decoding_never_emits_an_orphan_i_tag():
    tags = ["O", "B-time", "I-time", "B-city", "I-city"]
    rng = np.random.default_rng(0)
    bio, argmax = SlotDecoder(tags, "bio"), SlotDecoder(tags, "argmax")
    invalid_argmax = 0
    for _ in range(200):
        logits = rng.normal(size=(8, len(tags))) * 3
        positions = np.array([1, 2, 4, 5, -1])
        decoded = bio.word_tags(logits, positions)
        assert bio_error(decoded) is None and decoded[-1] == "O"
        invalid_argmax += bio_error(argmax.word_tags(logits, positions)) is not None
    assert invalid_argmax > 50  # the constraint does something


def test_crf_decoding_uses_the_transitions():
    tags = ["O", "B-x", "I-x"]
    emissions = np.array([[0.0, 1.0, 0.0], [0.0, 0.0, 0.9], [1.0, -1.0, 0.0]])
    transitions = np.zeros((3, 3))
    transitions[1:, 0] = -5.0  # leaving an x chunk is strongly discouraged
    decoder = SlotDecoder(tags, "crf", transitions)
    assert decoder.word_tags(emissions, np.array([0, 1, 2])) == ["B-x", "I-x", "I-x"]
    round_trip = SlotDecoder.from_config(tags, decoder.to_config())
    assert round_trip.word_tags(emissions, np.array([0, 1, 2])) == ["B-x", "I-x", "I-x"]
    with pytest.raises(ValueError, match="needs the CRF transitions"):
        SlotDecoder(tags, "crf")


def test_slot_spans_are_character_offsets_into_the_original_text():
    text = "Wake me  up at\tSEVEN am!"
    words = split_words(text)
    spans = slot_spans(text, words, ["O", "O", "O", "O", "B-time", "I-time"])
    assert spans == [{"slot": "time", "value": "SEVEN am!", "start": 15, "end": 24}]
