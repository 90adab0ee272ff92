"""TensorFlow-free inference on exported voice_ft `.tflite` files (ai-edge-litert + numpy).

This package is what an app (or a phone-side Python build) imports, so it must never import
tensorflow, keras or keras-hub, directly or indirectly. The text runtime is imported eagerly
(it is light); task runtimes added later are loaded lazily on first use (PEP 562), so a
missing optional dependency of one task never breaks the others.
"""

import importlib

from voice_ft.runtime.interpreter import TFLiteModel
from voice_ft.runtime.text_classifier import TextClassifier
from voice_ft.runtime.wordpiece import WordPieceTokenizer

# public name -> module that defines it, imported on first attribute access
_LAZY = {
    "AudioClassifier": "voice_ft.runtime.audio_classifier",
    "NLUParser": "voice_ft.runtime.nlu_parser",
    "Generator": "voice_ft.runtime.generator",
    "SpeechRecognizer": "voice_ft.runtime.speech_recognizer",
    "SpeechToIntent": "voice_ft.runtime.speech_to_intent",
    "GrammarAutomaton": "voice_ft.runtime.grammar_match",
    "GrammarPrefixes": "voice_ft.runtime.grammar_match",
    "TokenNgramModel": "voice_ft.runtime.token_language_model",
}

__all__ = ["TFLiteModel", "TextClassifier", "WordPieceTokenizer", *_LAZY]


def __getattr__(name):
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'voice_ft.runtime' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))
