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
    "DataError": "voice_ft.runtime.errors",
    "read_grammar": "voice_ft.data.grammar",
    "canonical_value": "voice_ft.data.grammar",
    "from_grammar": "voice_ft.data.grammar_sampling",
    "GrammarExample": "voice_ft.data.grammar_sampling",
    "generate_negatives": "voice_ft.data.negatives",
    "read_negatives": "voice_ft.data.negatives",
    "Negatives": "voice_ft.data.negatives",
    "write_text_shards": "voice_ft.data.tfrecords",
    "read_text_shards": "voice_ft.data.tfrecords",
    "write_nlu_shards": "voice_ft.data.nlu_shards",
    "read_nlu_shards": "voice_ft.data.nlu_shards",
    "write_audio_shards": "voice_ft.data.audio_shards",
    "read_audio_shards": "voice_ft.data.audio_shards",
    # models
    "build_intent_classifier": "voice_ft.text_classification.model",
    "build_sentiment_classifier": "voice_ft.text_classification.model",
    "build_text_classifier": "voice_ft.text_classification.model",
    "fit_with_slot_supervision": "voice_ft.text_classification.slot_supervision",
    "load_model": "voice_ft.training.saving",
    "save_model": "voice_ft.training.saving",
    # training
    "Recipe": "voice_ft.training",
    "choose_recipe": "voice_ft.training",
    "tune": "voice_ft.training",
    "DataProfile": "voice_ft.training",
    "fit": "voice_ft.training",
    "distribution_scope": "voice_ft.training",
    "evaluate": "voice_ft.training",
    "use_mixed_precision": "voice_ft.training",
    "calibrate": "voice_ft.evaluation.classifier",
    "Calibration": "voice_ft.evaluation.calibration",
    "Distiller": "voice_ft.training",
    "TrainingInterrupted": "voice_ft.training",
    # export
    "export_tflite": "voice_ft.text_classification.export",
    "ExportResult": "voice_ft.text_classification.export",
    # joint intent + slot filling
    "build_joint_nlu_model": "voice_ft.nlu.model",
    "fit_nlu": "voice_ft.nlu.train",
    "evaluate_nlu": "voice_ft.nlu.train",
    "parse": "voice_ft.nlu.model",
    "save_nlu_model": "voice_ft.nlu.model",
    "load_nlu_model": "voice_ft.nlu.model",
    "load_nlu": "voice_ft.nlu.data",
    "export_nlu_tflite": "voice_ft.nlu.export",
    "NLUExportResult": "voice_ft.nlu.export",
    "parse_markup": "voice_ft.nlu.readers",
    # audio
    "build_speech_command_classifier": "voice_ft.speech_commands.model",
    "reuse_audio_encoder": "voice_ft.speech_commands.model",
    "build_spoken_intent_classifier": "voice_ft.speech_commands.spoken_intent",
    "load_speech_embedding": "voice_ft.backbones.speech_embedding",
    "build_speech_embedding_classifier": "voice_ft.speech_commands.pretrained",
    "build_speech_embedding_dscnn": "voice_ft.speech_commands.pretrained",
    "train_speech_embedding_classifier": "voice_ft.speech_commands.pretrained",
    "choose_audio_recipe": "voice_ft.speech_commands.audio_recipe",
    "export_audio_classifier": "voice_ft.speech_commands.export",
    "AudioExportResult": "voice_ft.speech_commands.export",
    "AudioSource": "voice_ft.data.audio",
    "read_audio_manifest": "voice_ft.data.audio_readers",
    "read_audio_folder": "voice_ft.data.audio_readers",
    "read_audio": "voice_ft.runtime.audio_io",
    "WaveformAugmentation": "voice_ft.data.augment",
    "synthesize_text_splits": "voice_ft.data.speech_synthesis",
    # speech recognition
    "greedy_transcribe": "voice_ft.asr.decoding",
    "transcribe": "voice_ft.asr.decoding",
    "beam_transcribe": "voice_ft.asr.decoding",
    "build_speech_recognizer": "voice_ft.asr.model",
    "fit_speech_recognizer": "voice_ft.asr.train",
    "choose_asr_recipe": "voice_ft.asr.auto_recipe",
    "load_speech": "voice_ft.asr.data",
    "read_transcript_manifest": "voice_ft.asr.data",
    "word_error_rate": "voice_ft.asr.metrics",
    "fit_token_language_model": "voice_ft.asr.language_model",
    "read_domain_sentences": "voice_ft.asr.language_model",
    "TokenNgramModel": "voice_ft.runtime.token_language_model",
    # response generation
    "build_response_generator": "voice_ft.response.model",
    "ResponseGenerator": "voice_ft.response.model",
    "PromptTemplate": "voice_ft.runtime.prompt_template",
    "tokenize_pairs": "voice_ft.response.sft",
    "make_sft_dataset": "voice_ft.response.sft",
    "train_response_generator": "voice_ft.response.train",
    "evaluate_responses": "voice_ft.response.metrics",
    "response_perplexity": "voice_ft.response.metrics",
    "export_decoder": "voice_ft.response.export",
    "read_response_jsonl": "voice_ft.response.data",
    "sgd_response_pairs": "voice_ft.response.data",
}

# Core packages, then one package per task (see docs/DESIGN.md).
_SUBMODULES = (
    "datasets", "backbones", "data", "layers", "training", "export", "evaluation", "runtime",
    "text_classification", "nlu", "speech_commands", "response", "asr",
)

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
