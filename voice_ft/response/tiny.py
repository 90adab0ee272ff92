"""Tiny random decoders with the real GPT-2 tokenizer, for tests and smoke runs.

They have GPT-2's 50257-token vocabulary (so prompts tokenize exactly as for GPT-2) but only
a few thousand transformer weights, so they build, train, generate and convert in seconds.
"""

from __future__ import annotations

import keras
import keras_hub

from voice_ft.backbones.gpt2_tokenizer import GPT2_VOCABULARY_SIZE, gpt2_tokenizer


def tiny_gpt2_causal_lm(sequence_length: int = 64, num_layers: int = 2, hidden_dim: int = 32, seed: int = 0):
    """A randomly initialised `GPT2CausalLM` (2 layers, hidden 32) with the GPT-2 tokenizer."""
    keras.utils.set_random_seed(seed)
    backbone = keras_hub.models.GPT2Backbone(
        vocabulary_size=GPT2_VOCABULARY_SIZE, num_layers=num_layers, num_heads=2, hidden_dim=hidden_dim,
        intermediate_dim=2 * hidden_dim, dropout=0.0, max_sequence_length=max(256, sequence_length),
    )
    preprocessor = keras_hub.models.GPT2CausalLMPreprocessor(gpt2_tokenizer(), sequence_length=sequence_length)
    return keras_hub.models.GPT2CausalLM(backbone=backbone, preprocessor=preprocessor)


def tiny_llama_causal_lm(
    sequence_length: int = 64, num_layers: int = 2, hidden_dim: int = 32, seed: int = 0, weight_scale: float = 8.0
):
    """A randomly initialised `Llama3CausalLM` (grouped-query attention, RoPE, tied embeddings).

    Uses the GPT-2 tokenizer and its `<|endoftext|>` as start and end token. keras-hub's default
    initialisation makes a tiny Llama emit one token forever, which would make parity tests
    trivially pass; the non-norm weights are scaled up (`weight_scale`) so greedy outputs vary.
    """
    keras.utils.set_random_seed(seed)
    backbone = keras_hub.models.Llama3Backbone(
        vocabulary_size=GPT2_VOCABULARY_SIZE, num_layers=num_layers, num_query_heads=4, num_key_value_heads=2,
        hidden_dim=hidden_dim, intermediate_dim=2 * hidden_dim, tie_word_embeddings=True,
        rope_max_wavelength=10000, layer_norm_epsilon=1e-5,
    )
    for variable in backbone.weights:
        if "norm" not in variable.path:
            variable.assign(variable * weight_scale)
    preprocessor = keras_hub.models.Llama3CausalLMPreprocessor(gpt2_tokenizer(), sequence_length=sequence_length)
    return keras_hub.models.Llama3CausalLM(backbone=backbone, preprocessor=preprocessor)
