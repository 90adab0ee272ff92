"""Response generation: decoders (GPT-2, SmolLM2 from GGUF, tiny test models), prompt
templates, SFT data with a response-only loss, decoding, and evaluation.

Names are loaded on first use (PEP 562), so `voice_ft.response.smollm2_folder()` does not
import TensorFlow.
"""

import importlib

_EXPORTS = {
    "build_response_generator": "voice_ft.response.model",
    "ResponseGenerator": "voice_ft.response.model",
    "PromptTemplate": "voice_ft.runtime.prompt_template",
    "tokenize_pairs": "voice_ft.response.sft",
    "make_sft_dataset": "voice_ft.response.sft",
    "SFTStats": "voice_ft.response.sft",
    "EmptyResponseError": "voice_ft.response.sft",
    "generate": "voice_ft.response.decoding",
    "train_response_generator": "voice_ft.response.train",
    "TrainResult": "voice_ft.response.train",
    "make_sampler": "voice_ft.response.decoding",
    "response_perplexity": "voice_ft.response.metrics",
    "bleu": "voice_ft.response.metrics",
    "evaluate_responses": "voice_ft.response.metrics",
    "read_gguf": "voice_ft.backbones.gguf_reader",
    "UnsupportedGGUFError": "voice_ft.backbones.gguf_reader",
    "convert_gguf": "voice_ft.backbones.hf_folder",
    "smollm2_folder": "voice_ft.backbones.smollm2",
    "smollm2_gguf_path": "voice_ft.backbones.smollm2",
    "gpt2_tokenizer": "voice_ft.backbones.gpt2_tokenizer",
    "gpt2_tokenizer_files": "voice_ft.backbones.gpt2_tokenizer",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'voice_ft.response' has no attribute {name!r}")
    value = getattr(importlib.import_module(_EXPORTS[name]), name)
    globals()[name] = value
    return value


def __dir__():
    return __all__
