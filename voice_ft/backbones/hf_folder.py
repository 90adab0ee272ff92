"""Write a de-quantized GGUF checkpoint as a Hugging Face folder, cached on disk.

keras-hub loads Hugging Face Llama folders (`config.json`, `model.safetensors`,
`tokenizer.json`, `tokenizer_config.json`) through its transformers converter, so converting a
GGUF file once into that layout lets every later load go through plain
`keras_hub.models.Llama3CausalLM.from_preset(folder)`. The cache lives in `$VOICE_FT_CACHE`
(default `~/.cache/voice_ft/`) under a key made of the GGUF file's name, size and mtime.
"""

from __future__ import annotations

import json
import os
import pathlib

from voice_ft.backbones.gguf_reader import GGUFCheckpoint, read_gguf
from voice_ft.data.files import build_folder_once

FOLDER_FORMAT_VERSION = 1  # bump when the written layout changes, to invalidate old caches


def cache_dir() -> pathlib.Path:
    """The voice_ft cache folder: `$VOICE_FT_CACHE` or `~/.cache/voice_ft`."""
    return pathlib.Path(os.environ.get("VOICE_FT_CACHE", "~/.cache/voice_ft")).expanduser()


def _tokenizer_json(checkpoint: GGUFCheckpoint) -> dict:
    """A Hugging Face `tokenizers` byte-level BPE definition built from the GGUF vocabulary."""
    tok = checkpoint.tokenizer
    return {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": [
            {"id": i, "content": tok.tokens[i], "single_word": False, "lstrip": False, "rstrip": False,
             "normalized": False, "special": True}
            for i in tok.special_ids
        ],
        "normalizer": None,
        # SmolLM2's own tokenizer.json (llama.cpp pre-tokenizer "smollm"): digits split one by one.
        "pre_tokenizer": {
            "type": "Sequence",
            "pretokenizers": [
                {"type": "Digits", "individual_digits": True},
                {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True},
            ],
        },
        "post_processor": None,
        "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True},
        "model": {
            "type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": None,
            "end_of_word_suffix": None, "fuse_unk": False, "byte_fallback": False, "ignore_merges": False,
            "vocab": {token: i for i, token in enumerate(tok.tokens)},
            "merges": tok.merges,
        },
    }


def _tokenizer_config(checkpoint: GGUFCheckpoint) -> dict:
    tok = checkpoint.tokenizer

    def name(i):
        return None if i is None else tok.tokens[i]

    return {
        "bos_token": name(tok.bos_id),
        "eos_token": name(tok.eos_id),
        "pad_token": name(tok.pad_id),
        "add_bos_token": False,
        "chat_template": tok.chat_template,
        "model_max_length": checkpoint.config["max_position_embeddings"],
        "tokenizer_class": "GPT2Tokenizer",
    }


def write_hf_folder(checkpoint: GGUFCheckpoint, folder: str | pathlib.Path) -> pathlib.Path:
    """Writes `checkpoint` as a Hugging Face model folder (float32 safetensors)."""
    from safetensors.numpy import save_file

    folder = pathlib.Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    save_file(checkpoint.tensors, str(folder / "model.safetensors"), metadata={"format": "pt"})
    (folder / "config.json").write_text(json.dumps(checkpoint.config, indent=2), encoding="utf-8")
    (folder / "tokenizer.json").write_text(json.dumps(_tokenizer_json(checkpoint), ensure_ascii=False), encoding="utf-8")
    (folder / "tokenizer_config.json").write_text(
        json.dumps(_tokenizer_config(checkpoint), indent=2, ensure_ascii=False), encoding="utf-8"
    )
    (folder / "gguf_tensor_types.json").write_text(json.dumps(checkpoint.tensor_types, indent=1), encoding="utf-8")
    return folder


def convert_gguf(gguf_path: str | pathlib.Path, cache: str | pathlib.Path | None = None) -> pathlib.Path:
    """Converts a GGUF file into a cached Hugging Face folder and returns the folder.

    The conversion (about 10 s for a 135M model) runs once; later calls return the cached folder.
    It is written to a temporary folder and renamed, so an interrupted run leaves no half folder.
    """
    gguf_path = pathlib.Path(gguf_path)
    if not gguf_path.is_file():
        raise FileNotFoundError(f"GGUF file {gguf_path} does not exist.")
    stat = gguf_path.stat()
    key = f"{gguf_path.stem}-{stat.st_size}-{int(stat.st_mtime)}-v{FOLDER_FORMAT_VERSION}"
    root = pathlib.Path(cache) if cache is not None else cache_dir() / "gguf"
    return build_folder_once(root / key, lambda f: (f / "model.safetensors").exists() and (f / "config.json").exists(),
                             lambda tmp: write_hf_folder(read_gguf(gguf_path), tmp))
