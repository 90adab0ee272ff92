"""Property tests: word-level BIO tags survive the trip to token labels and back to word spans.

words + valid BIO tags -> `align_words` / `token_labels` (what training feeds the model) -> a
model that predicts exactly those labels -> `SlotDecoder` -> `slot_spans` gives back the spans
of the words that got a token position; `bio_chunks` of a valid tag sequence re-encode to the
same tags. Deterministic: `derandomize=True`, no example database.
"""

import string

import numpy as np
import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import example, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from voice_ft.runtime import slot_alignment  # noqa: E402
from voice_ft.runtime.wordpiece import WordPieceTokenizer  # noqa: E402

SETTINGS = dict(derandomize=True, deadline=None, database=None)
OUTSIDE = slot_alignment.OUTSIDE
SLOTS = ["time", "city", "artist", "x"]
TAGS = [OUTSIDE] + [f"{p}-{s}" for s in SLOTS for p in "BI"]

# Single characters (and their ## forms) so most words tokenize into several pieces, a few whole
# words, punctuation (split off as its own piece).
_CHARS = list(string.ascii_lowercase + string.digits)
VOCAB = (["[PAD]", "[UNK]", "[CLS]", "[SEP]"] + _CHARS + ["##" + c for c in _CHARS]
         + ["wake", "me", "up", "play", "##ing", "seven", "am", ",", ".", "!", "'", "-", "é"])  # fmt: skip

# Word characters: no ASCII whitespace (the word delimiter). Letters, digits, accents, punctuation,
# unknown scripts ([UNK]), and characters that give a word no piece at all when alone: controls,
# format characters, a lone combining accent (stripped).
WORD_CHARS = st.one_of(
    st.sampled_from(string.ascii_letters + string.digits + ",.!'-"),
    st.sampled_from("éÉüñ日本👍\u00a0\u3000"),
    st.sampled_from("\x01\x0b\x85\u200b\u200d\u0301"),
)
WORD = st.text(WORD_CHARS, min_size=1, max_size=6)
SEPARATOR = st.sampled_from([" ", "  ", "\t", "\n", " \r\n "])


@st.composite
def tagged_words(draw):
    """(words, valid BIO tags): segments of O or B-x I-x*, one word per tag."""
    tags = []
    for _ in range(draw(st.integers(0, 8))):
        if draw(st.booleans()):
            tags.extend([OUTSIDE] * draw(st.integers(1, 2)))
        else:
            slot = draw(st.sampled_from(SLOTS))
            tags.extend([f"B-{slot}"] + [f"I-{slot}"] * draw(st.integers(0, 3)))
    words = [draw(WORD) for _ in tags]
    return words, tags


@pytest.fixture(scope="module")
def tokenizer():
    return WordPieceTokenizer(VOCAB, lowercase=True, strip_accents=True)


def _reencode(chunks, length):
    """Tags from `(slot, first, last + 1)` chunks: B- at a chunk's first word, I- after, O elsewhere."""
    tags = [OUTSIDE] * length
    for slot, first, last in chunks:
        tags[first:last] = [f"B-{slot}"] + [f"I-{slot}"] * (last - first - 1)
    return tags


@settings(max_examples=300, **SETTINGS)
@given(tagged=tagged_words())
@example(tagged=(["a", "b", "c"], ["B-x", "B-x", "I-x"]))  # adjacent chunks of one slot
@example(tagged=([], []))
def test_bio_chunks_reencode_to_the_same_tags(tagged):
    """Property: a valid BIO sequence is exactly the encoding of its chunks, and chunks are disjoint,
    ordered, non-empty."""
    _, tags = tagged
    assert slot_alignment.bio_error(tags) is None
    chunks = slot_alignment.bio_chunks(tags)
    assert _reencode(chunks, len(tags)) == tags
    ends = [0] + [e for _, _, e in chunks]
    assert all(ends[i] <= s < e for i, (_, s, e) in enumerate(chunks))


@settings(max_examples=200, **SETTINGS)
@given(tagged=tagged_words(), separators=st.lists(SEPARATOR, min_size=40, max_size=40),
       sequence_length=st.integers(3, 40), decoding=st.sampled_from(["argmax", "bio"]))  # fmt: skip
@example(tagged=(["play", "\x01", "beyoncé"], ["O", "B-artist", "I-artist"]), separators=[" "] * 40,
         sequence_length=16, decoding="argmax")  # a pieceless word has no position and comes back O
@example(tagged=(["wake", "me", "up", "at", "seven"], ["O"] * 4 + ["B-time"]), separators=[" "] * 40,
         sequence_length=5, decoding="bio")  # truncated: words past the end come back O
def test_tags_round_trip_through_token_labels(tokenizer, tagged, separators, sequence_length, decoding):
    """Property: text -> split_words -> align_words -> token_labels -> (a model predicting exactly those
    labels) -> SlotDecoder -> slot_spans gives the spans of the original tags, restricted to words that
    have a token position (the rest are predicted O); labels sit only at first pieces."""
    words, tags = tagged
    text = "".join(w + s for w, s in zip(words, separators))
    split = slot_alignment.split_words(text)
    assert [w for w, _, _ in split] == words and all(text[s:e] == w for w, s, e in split)

    aligned = slot_alignment.align_words(tokenizer, words, sequence_length)
    ids, mask, truncated = tokenizer.encode(text, sequence_length)  # same ids as the whole text
    assert aligned.token_ids.tolist() == ids.tolist() and aligned.padding_mask.tolist() == mask.tolist()
    assert aligned.truncated == truncated
    positions = aligned.word_positions
    for word, position in zip(words, positions):
        if position >= 0:
            assert 1 <= position < sequence_length - 1 and ids[position] == tokenizer.tokenize(word)[0]
        else:  # no piece at all, or its first piece was cut
            assert not tokenizer.tokenize(word) or truncated
    kept_positions = positions[positions >= 0]
    assert np.all(np.diff(kept_positions) > 0)  # words keep their order

    tag_ids = [TAGS.index(t) for t in tags]
    labels = slot_alignment.token_labels(positions, tag_ids, sequence_length)
    assert (labels != slot_alignment.IGNORE).sum() == len(kept_positions)
    assert labels[kept_positions].tolist() == [t for t, p in zip(tag_ids, positions) if p >= 0]

    # A perfect model: one-hot logits of the label at each labelled position.
    logits = np.zeros((sequence_length, len(TAGS)))
    labelled = np.flatnonzero(labels != slot_alignment.IGNORE)
    logits[labelled, labels[labelled]] = 10.0
    decoded = slot_alignment.SlotDecoder(TAGS, decoding).word_tags(logits, positions)

    expected = [t if p >= 0 else OUTSIDE for t, p in zip(tags, positions)]
    kept_tags = [t for t, p in zip(tags, positions) if p >= 0]
    if decoding == "argmax" or slot_alignment.bio_error(kept_tags) is None:
        assert decoded == expected
        spans = slot_alignment.slot_spans(text, split, decoded)
        assert spans == slot_alignment.slot_spans(text, split, expected)
        if (positions >= 0).all():  # nothing lost: exactly the original spans
            assert spans == slot_alignment.slot_spans(text, split, tags)
        for span in spans:
            assert text[span["start"] : span["end"]] == span["value"]
    else:  # BIO decoding repairs an orphan I- left by a pieceless B- word
        assert slot_alignment.bio_error(decoded) is None
