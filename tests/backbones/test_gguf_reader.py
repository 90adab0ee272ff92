"""GGUF reading: the llama.cpp Q/K permutation is undone, unsupported files are clear errors,
and the real SmolLM2 file converts into a Hugging Face folder (large test, opt-in)."""

import json
import os

import numpy as np
import pytest

gguf = pytest.importorskip("gguf")

from voice_ft.backbones.gguf_reader import UnsupportedGGUFError, read_gguf, unpermute_qk  # noqa: E402
from voice_ft.backbones.hf_folder import convert_gguf  # noqa: E402

large = pytest.mark.skipif(os.environ.get("VOICE_FT_LARGE_TESTS") != "1", reason="set VOICE_FT_LARGE_TESTS=1")


def llama_cpp_permute(w, n_head):
    """llama.cpp convert_hf_to_gguf.py `LlamaModel.permute`."""
    return w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def test_unpermute_inverts_llama_cpp_permute():
    w = np.random.default_rng(0).normal(size=(3 * 8, 5)).astype(np.float32)
    np.testing.assert_array_equal(unpermute_qk(llama_cpp_permute(w, 3), 3), w)
    assert not np.array_equal(llama_cpp_permute(w, 3), w)


def write_tiny_llama_gguf(path, hf, arch="llama", dtype=np.float32):
    """Writes HF-layout weights as a GGUF file the way llama.cpp's converter does."""
    writer = gguf.GGUFWriter(str(path), arch)
    writer.add_block_count(1)
    writer.add_context_length(64)
    writer.add_embedding_length(8)
    writer.add_feed_forward_length(16)
    writer.add_head_count(2)
    writer.add_head_count_kv(1)
    writer.add_layer_norm_rms_eps(1e-5)
    writer.add_rope_freq_base(10000.0)
    writer.add_tokenizer_model("gpt2")
    tokens = ["<s>", "</s>"] + [chr(ord("a") + i) for i in range(14)] + ["ab"]
    writer.add_token_list(tokens)
    writer.add_token_types([3, 3] + [1] * 15)
    writer.add_token_merges(["a b"])
    writer.add_bos_token_id(0)
    writer.add_eos_token_id(1)
    names = {
        "model.embed_tokens.weight": "token_embd.weight",
        "model.norm.weight": "output_norm.weight",
        "model.layers.0.input_layernorm.weight": "blk.0.attn_norm.weight",
        "model.layers.0.post_attention_layernorm.weight": "blk.0.ffn_norm.weight",
        "model.layers.0.self_attn.q_proj.weight": "blk.0.attn_q.weight",
        "model.layers.0.self_attn.k_proj.weight": "blk.0.attn_k.weight",
        "model.layers.0.self_attn.v_proj.weight": "blk.0.attn_v.weight",
        "model.layers.0.self_attn.o_proj.weight": "blk.0.attn_output.weight",
        "model.layers.0.mlp.gate_proj.weight": "blk.0.ffn_gate.weight",
        "model.layers.0.mlp.up_proj.weight": "blk.0.ffn_up.weight",
        "model.layers.0.mlp.down_proj.weight": "blk.0.ffn_down.weight",
    }
    for hf_name, gguf_name in names.items():
        w = hf[hf_name]
        if gguf_name.endswith("attn_q.weight"):
            w = llama_cpp_permute(w, 2)
        elif gguf_name.endswith("attn_k.weight"):
            w = llama_cpp_permute(w, 1)
        writer.add_tensor(gguf_name, w.astype(dtype))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


@pytest.fixture
def hf_weights():
    rng = np.random.default_rng(1)
    shapes = {
        "model.embed_tokens.weight": (17, 8), "model.norm.weight": (8,),
        "model.layers.0.input_layernorm.weight": (8,), "model.layers.0.post_attention_layernorm.weight": (8,),
        "model.layers.0.self_attn.q_proj.weight": (8, 8), "model.layers.0.self_attn.k_proj.weight": (4, 8),
        "model.layers.0.self_attn.v_proj.weight": (4, 8), "model.layers.0.self_attn.o_proj.weight": (8, 8),
        "model.layers.0.mlp.gate_proj.weight": (16, 8), "model.layers.0.mlp.up_proj.weight": (16, 8),
        "model.layers.0.mlp.down_proj.weight": (8, 16),
    }
    return {k: rng.normal(size=s).astype(np.float32) for k, s in shapes.items()}


def test_read_gguf_restores_hugging_face_weights(tmp_path, hf_weights):
    path = tmp_path / "tiny.gguf"
    write_tiny_llama_gguf(path, hf_weights)
    checkpoint = read_gguf(path)
    assert set(checkpoint.tensors) == set(hf_weights)
    for name, w in hf_weights.items():
        np.testing.assert_array_equal(checkpoint.tensors[name], w, err_msg=name)
    assert checkpoint.config["num_key_value_heads"] == 1 and checkpoint.config["tie_word_embeddings"]
    assert checkpoint.tokenizer.special_ids == [0, 1] and checkpoint.tokenizer.merges == ["a b"]


def test_convert_gguf_writes_a_cached_folder_that_keras_hub_loads(tmp_path, hf_weights):
    import keras_hub

    path = tmp_path / "tiny.gguf"
    write_tiny_llama_gguf(path, hf_weights)
    folder = convert_gguf(path, cache=tmp_path / "cache")
    assert convert_gguf(path, cache=tmp_path / "cache") == folder  # cached
    config = json.loads((folder / "config.json").read_text())
    backbone = keras_hub.models.Llama3Backbone.from_preset(str(folder), layer_norm_epsilon=config["rms_norm_eps"])
    q = backbone.get_layer("transformer_layer_0")._self_attention_layer._query_dense.kernel.numpy()
    np.testing.assert_allclose(q.reshape(8, 8).T, hf_weights["model.layers.0.self_attn.q_proj.weight"])
    tokenizer = keras_hub.models.Llama3Tokenizer.from_preset(str(folder))
    assert tokenizer.token_to_id("ab") == 16


def test_unsupported_architecture_is_a_clear_error(tmp_path, hf_weights):
    path = tmp_path / "other.gguf"
    write_tiny_llama_gguf(path, hf_weights, arch="falcon")
    with pytest.raises(UnsupportedGGUFError, match="architecture 'falcon' is not supported"):
        read_gguf(path)


def test_unsupported_quantization_is_a_clear_error(tmp_path, hf_weights, monkeypatch):
    path = tmp_path / "tiny.gguf"
    write_tiny_llama_gguf(path, hf_weights, dtype=np.float16)
    monkeypatch.setattr("voice_ft.backbones.gguf_reader.SUPPORTED_TENSOR_TYPES", ("F32",))
    with pytest.raises(UnsupportedGGUFError, match="quantization type.*F16"):
        read_gguf(path)


def test_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError):
        read_gguf(tmp_path / "nope.gguf")


@large
def test_real_smollm2_gguf_converts(tmp_path):
    from voice_ft.backbones.smollm2 import smollm2_gguf_path

    checkpoint = read_gguf(smollm2_gguf_path())
    assert checkpoint.config["num_hidden_layers"] == 30 and checkpoint.config["hidden_size"] == 576
    assert checkpoint.config["num_key_value_heads"] == 3 and checkpoint.config["tie_word_embeddings"]
    assert checkpoint.tensors["model.layers.0.self_attn.q_proj.weight"].shape == (576, 576)
    assert checkpoint.tokenizer.tokens[2] == "<|im_end|>" and checkpoint.tokenizer.eos_id == 2
    assert set(checkpoint.tensor_types.values()) == {"Q4_1", "Q8_0", "F32"}
