"""voice_ft: fine-tune pretrained language and speech models into on-device voice assistants.

The public API is re-exported here lazily (PEP 562): `import voice_ft` costs nothing, and
`voice_ft.runtime` (what a phone app uses) never pulls in TensorFlow. Each name is loaded from
its module the first time it is used.

Example:
    >>> import voice_ft
    >>> backbone = voice_ft.load_backbone("all-minilm-l6-v2")
    >>> train, val, test, labels = voice_ft.datasets.load("snips", task="intent")
    >>> model = voice_ft.build_intent_classifier(backbone, num_labels=len(labels))
    >>> voice_ft.fit(model, train, val, recipe=voice_ft.Recipe(epochs=2))
    >>> voice_ft.export_tflite(model, "out/intent.tflite", quantization="int8",
    ...                        verify_on=test, labels=labels, representative_data=train)
"""

import importlib

__version__ = "0.1.0"

# public name -> module that defines it
_EXPORTS = {
    # backbones
    "Backbone": "voice_ft.backbones.loader",
    "load_backbone": "voice_ft.backbones.loader",
    "PACKAGED_CHECKPOINTS": "voice_ft.backbones.loader",
    # data
    "TextEncoder": "voice_ft.data.text_encoder",
    # models
    "build_intent_classifier": "voice_ft.models.text_classifier",
    "build_sentiment_classifier": "voice_ft.models.text_classifier",
    "build_text_classifier": "voice_ft.models.text_classifier",
    "load_model": "voice_ft.models.saving",
    "save_model": "voice_ft.models.saving",
    # training
    "Recipe": "voice_ft.training",
    "fit": "voice_ft.training",
    "evaluate": "voice_ft.training",
    "use_mixed_precision": "voice_ft.training",
    "Distiller": "voice_ft.training",
    # export
    "export_tflite": "voice_ft.export.text_classifier",
    "ExportResult": "voice_ft.export.text_classifier",
    # joint intent + slot filling
    "build_joint_nlu_model": "voice_ft.models.joint_nlu",
    "fit_nlu": "voice_ft.models.joint_nlu",
    "evaluate_nlu": "voice_ft.models.joint_nlu",
    "parse": "voice_ft.models.joint_nlu",
    "save_nlu_model": "voice_ft.models.joint_nlu",
    "load_nlu_model": "voice_ft.models.joint_nlu",
    "load_nlu": "voice_ft.data.slots",
    "export_nlu_tflite": "voice_ft.export.joint_nlu",
    "NLUExportResult": "voice_ft.export.joint_nlu",
    "parse_markup": "voice_ft.data.slot_readers",
    # audio
    "build_speech_command_classifier": "voice_ft.models.speech_commands",
    "reuse_audio_encoder": "voice_ft.models.speech_commands",
    "build_spoken_intent_classifier": "voice_ft.models.spoken_intent",
    "load_speech_embedding": "voice_ft.models.speech_embedding",
    "build_speech_embedding_classifier": "voice_ft.models.speech_embedding",
    "build_speech_embedding_dscnn": "voice_ft.models.speech_embedding",
    "train_speech_embedding_classifier": "voice_ft.models.speech_embedding",
    "export_audio_classifier": "voice_ft.export.audio",
    "AudioExportResult": "voice_ft.export.audio",
    "AudioSource": "voice_ft.data.audio",
    "read_audio_manifest": "voice_ft.data.audio_readers",
    "read_audio_folder": "voice_ft.data.audio_readers",
    "read_audio": "voice_ft.data.audio_io",
    "WaveformAugmentation": "voice_ft.data.augment",
    "synthesize_text_splits": "voice_ft.data.speech_synthesis",
    # response generation
    "build_response_generator": "voice_ft.generation.builder",
    "ResponseGenerator": "voice_ft.generation.builder",
    "PromptTemplate": "voice_ft.generation.template",
    "tokenize_pairs": "voice_ft.generation.sft",
    "make_sft_dataset": "voice_ft.generation.sft",
    "train_response_generator": "voice_ft.generation.train",
    "evaluate_responses": "voice_ft.generation.evaluate",
    "response_perplexity": "voice_ft.generation.evaluate",
    "export_decoder": "voice_ft.export.decoder",
    "read_response_jsonl": "voice_ft.data.dialogues",
    "sgd_response_pairs": "voice_ft.data.dialogues",
}

_SUBMODULES = ("datasets", "runtime", "data", "models", "export", "layers", "training", "backbones", "generation")

__all__ = sorted(_EXPORTS) + list(_SUBMODULES)


def __getattr__(name):
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
    elif name == "datasets":
        value = importlib.import_module("voice_ft.data.datasets")
    elif name in _SUBMODULES:
        value = importlib.import_module(f"voice_ft.{name}")
    else:
        raise AttributeError(f"module 'voice_ft' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__():
    return __all__
