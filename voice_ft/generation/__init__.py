"""Response generation: decoders (GPT-2, SmolLM2 from GGUF, tiny test models), prompt
templates, SFT data with a response-only loss, decoding, and evaluation.

Names are loaded on first use (PEP 562), so `voice_ft.generation.smollm2_folder()` does not
import TensorFlow.
"""

import importlib

_EXPORTS = {
    "build_response_generator": "voice_ft.generation.builder",
    "ResponseGenerator": "voice_ft.generation.builder",
    "PromptTemplate": "voice_ft.generation.template",
    "tokenize_pairs": "voice_ft.generation.sft",
    "make_sft_dataset": "voice_ft.generation.sft",
    "SFTStats": "voice_ft.generation.sft",
    "EmptyResponseError": "voice_ft.generation.sft",
    "generate": "voice_ft.generation.decoding",
    "train_response_generator": "voice_ft.generation.train",
    "TrainResult": "voice_ft.generation.train",
    "make_sampler": "voice_ft.generation.decoding",
    "response_perplexity": "voice_ft.generation.evaluate",
    "bleu": "voice_ft.generation.evaluate",
    "evaluate_responses": "voice_ft.generation.evaluate",
    "read_gguf": "voice_ft.generation.gguf_reader",
    "UnsupportedGGUFError": "voice_ft.generation.gguf_reader",
    "convert_gguf": "voice_ft.generation.hf_folder",
    "smollm2_folder": "voice_ft.generation.smollm2",
    "smollm2_gguf_path": "voice_ft.generation.smollm2",
    "gpt2_tokenizer": "voice_ft.generation.gpt2_tokenizer",
    "gpt2_tokenizer_files": "voice_ft.generation.gpt2_tokenizer",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'voice_ft.generation' has no attribute {name!r}")
    value = getattr(importlib.import_module(_EXPORTS[name]), name)
    globals()[name] = value
    return value


def __dir__():
    return __all__
