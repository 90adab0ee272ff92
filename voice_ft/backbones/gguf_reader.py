"""Read a llama.cpp GGUF checkpoint into Hugging Face-layout numpy tensors.

GGUF stores Llama weights quantized (Q4_1, Q8_0, ...) and, for the attention query and key
projections, with rows permuted: llama.cpp's converter (`convert_hf_to_gguf.py`, `permute`)
interleaves the two rotary halves of every head so its RoPE kernel can rotate adjacent pairs.
keras-hub's Llama rotates halves (the Hugging Face convention), so the permutation is undone
here. Anything this module cannot convert faithfully (another architecture, a quantization the
`gguf` package cannot de-quantize) raises `UnsupportedGGUFError` instead of producing a
silently wrong model.
"""

from __future__ import annotations

import dataclasses
import pathlib

import numpy as np

SUPPORTED_ARCHITECTURES = ("llama",)

# Types whose de-quantization the `gguf` package (>= 0.10) implements in numpy.
SUPPORTED_TENSOR_TYPES = (
    "F32", "F16", "BF16", "Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K",
)

# llama.cpp token types (llama-vocab: LLAMA_TOKEN_TYPE_*): 3 = control, 4 = user defined.
_SPECIAL_TOKEN_TYPES = (3, 4)


class UnsupportedGGUFError(ValueError):
    """Raised for a GGUF file this converter cannot turn into a faithful Keras model."""


@dataclasses.dataclass
class GGUFTokenizer:
    """The byte-level BPE tokenizer stored in a GGUF file (`tokenizer.ggml.*`)."""

    tokens: list[str]
    merges: list[str]
    special_ids: list[int]
    bos_id: int | None
    eos_id: int | None
    pad_id: int | None
    chat_template: str | None = None


@dataclasses.dataclass
class GGUFCheckpoint:
    """A de-quantized GGUF checkpoint in Hugging Face naming and layout.

    Attributes:
        architecture: `general.architecture` (only "llama" is supported).
        config: a Hugging Face `config.json` dict (LlamaForCausalLM).
        tensors: Hugging Face weight name -> float32 array, `(out, in)` for projections.
        tokenizer: the vocabulary, merges and special tokens.
        tensor_types: GGUF tensor name -> quantization type name, for reporting.
    """

    architecture: str
    config: dict
    tensors: dict[str, np.ndarray]
    tokenizer: GGUFTokenizer
    tensor_types: dict[str, str]


def _field(reader, key: str, default=None):
    field = reader.fields.get(key)
    return default if field is None else field.contents()


def unpermute_qk(weight: np.ndarray, num_heads: int) -> np.ndarray:
    """Inverts llama.cpp's `permute` of a query/key projection of shape `(heads*head_dim, in)`.

    llama.cpp: `w.reshape(h, 2, d // 2, in).swapaxes(1, 2)`; the inverse reshapes to
    `(h, d // 2, 2, in)` and swaps back.
    """
    out_dim = weight.shape[0]
    head_dim = out_dim // num_heads
    return weight.reshape(num_heads, head_dim // 2, 2, *weight.shape[1:]).swapaxes(1, 2).reshape(weight.shape)


def _hf_name(gguf_name: str) -> str | None:
    """Maps a GGUF Llama tensor name to its Hugging Face name (None if unknown)."""
    top = {
        "token_embd.weight": "model.embed_tokens.weight",
        "output_norm.weight": "model.norm.weight",
        "output.weight": "lm_head.weight",
    }
    if gguf_name in top:
        return top[gguf_name]
    parts = gguf_name.split(".")
    if len(parts) != 4 or parts[0] != "blk":
        return None
    block = {
        "attn_norm": "input_layernorm",
        "ffn_norm": "post_attention_layernorm",
        "attn_q": "self_attn.q_proj",
        "attn_k": "self_attn.k_proj",
        "attn_v": "self_attn.v_proj",
        "attn_output": "self_attn.o_proj",
        "ffn_gate": "mlp.gate_proj",
        "ffn_up": "mlp.up_proj",
        "ffn_down": "mlp.down_proj",
    }.get(parts[2])
    return None if block is None else f"model.layers.{parts[1]}.{block}.{parts[3]}"


def read_gguf(path: str | pathlib.Path) -> GGUFCheckpoint:
    """Reads and de-quantizes a Llama-architecture GGUF file.

    Args:
        path: the `.gguf` file.

    Returns:
        A `GGUFCheckpoint` with float32 tensors in Hugging Face layout.

    Raises:
        FileNotFoundError: the file does not exist.
        UnsupportedGGUFError: another architecture, an unsupported quantization type, an
            unknown tensor, or a tokenizer that is not byte-level BPE.
    """
    import gguf  # optional dependency (extra "generation")

    path = pathlib.Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"GGUF file {path} does not exist.")
    reader = gguf.GGUFReader(str(path))
    arch = _field(reader, "general.architecture")
    if arch not in SUPPORTED_ARCHITECTURES:
        raise UnsupportedGGUFError(
            f"{path.name}: GGUF architecture {arch!r} is not supported (supported: {', '.join(SUPPORTED_ARCHITECTURES)})."
        )
    unsupported = sorted({t.tensor_type.name for t in reader.tensors} - set(SUPPORTED_TENSOR_TYPES))
    if unsupported:
        raise UnsupportedGGUFError(
            f"{path.name}: quantization type(s) {', '.join(unsupported)} are not supported "
            f"(supported: {', '.join(SUPPORTED_TENSOR_TYPES)})."
        )
    if _field(reader, "tokenizer.ggml.model") != "gpt2":
        raise UnsupportedGGUFError(
            f"{path.name}: tokenizer {_field(reader, 'tokenizer.ggml.model')!r} is not byte-level BPE ('gpt2')."
        )
    if _field(reader, f"{arch}.rope.scaling.type") not in (None, "none"):
        raise UnsupportedGGUFError(f"{path.name}: RoPE scaling is not supported.")

    num_heads = int(_field(reader, f"{arch}.attention.head_count"))
    num_kv_heads = int(_field(reader, f"{arch}.attention.head_count_kv", num_heads))
    tokens = list(_field(reader, "tokenizer.ggml.tokens"))
    tensors, types = {}, {}
    for tensor in reader.tensors:
        name = _hf_name(tensor.name)
        if name is None:
            raise UnsupportedGGUFError(f"{path.name}: unknown tensor {tensor.name!r} for architecture {arch!r}.")
        weight = np.asarray(gguf.quants.dequantize(tensor.data, tensor.tensor_type), dtype=np.float32)
        weight = weight.reshape(tuple(int(d) for d in reversed(tensor.shape)))  # GGUF shapes are (ne0=in, ne1=out)
        if tensor.name.endswith("attn_q.weight"):
            weight = unpermute_qk(weight, num_heads)
        elif tensor.name.endswith("attn_k.weight"):
            weight = unpermute_qk(weight, num_kv_heads)
        tensors[name] = weight
        types[tensor.name] = tensor.tensor_type.name

    token_types = list(_field(reader, "tokenizer.ggml.token_type", [1] * len(tokens)))
    tokenizer = GGUFTokenizer(
        tokens=tokens,
        merges=list(_field(reader, "tokenizer.ggml.merges", [])),
        special_ids=[i for i, t in enumerate(token_types) if int(t) in _SPECIAL_TOKEN_TYPES],
        bos_id=_field(reader, "tokenizer.ggml.bos_token_id"),
        eos_id=_field(reader, "tokenizer.ggml.eos_token_id"),
        pad_id=_field(reader, "tokenizer.ggml.padding_token_id"),
        chat_template=_field(reader, "tokenizer.chat_template"),
    )
    hidden = int(_field(reader, f"{arch}.embedding_length"))
    config = {
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "vocab_size": len(tokens),
        "hidden_size": hidden,
        "intermediate_size": int(_field(reader, f"{arch}.feed_forward_length")),
        "num_hidden_layers": int(_field(reader, f"{arch}.block_count")),
        "num_attention_heads": num_heads,
        "num_key_value_heads": num_kv_heads,
        "head_dim": hidden // num_heads,
        "max_position_embeddings": int(_field(reader, f"{arch}.context_length", 2048)),
        "rms_norm_eps": float(_field(reader, f"{arch}.attention.layer_norm_rms_epsilon", 1e-5)),
        "rope_theta": float(_field(reader, f"{arch}.rope.freq_base", 10000.0)),
        "rope_scaling": None,
        "hidden_act": "silu",
        "tie_word_embeddings": "lm_head.weight" not in tensors,
        "bos_token_id": tokenizer.bos_id,
        "eos_token_id": tokenizer.eos_id,
        "pad_token_id": tokenizer.pad_id,
        "torch_dtype": "float32",
    }
    return GGUFCheckpoint(architecture=arch, config=config, tensors=tensors, tokenizer=tokenizer, tensor_types=types)
