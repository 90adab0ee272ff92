"""`TextClassifier`: text in, label out, from an exported `.tflite` and its JSON sidecar.

Why a sidecar: the `.tflite` holds only the network. Everything else the phone needs to
reproduce training-time preprocessing and to name the outputs (labels, tokenizer settings
and vocabulary, sequence length, signature input/output names) lives in `<stem>.json`
beside it, written by `voice_ft.export`. Schema (task "text_classification"):

    {"task": "text_classification", "labels": [...],
     "tokenizer": {"kind": "wordpiece", "vocabulary": "vocab.txt",   # relative to the sidecar
                   "lowercase": true, "strip_accents": true},
     "sequence_length": 64,
     "inputs": {"token_ids": "<signature input>", "padding_mask": "<signature input>"},
     "outputs": {"logits": "<signature output>"},
     "quantization": "dynamic", "versions": {...}}
"""

from __future__ import annotations

import json
import os
import pathlib
from typing import Any, Sequence

import numpy as np

from voice_ft.runtime.errors import DataError, InputTypeError
from voice_ft.runtime.interpreter import TFLiteModel
from voice_ft.runtime.wordpiece import WordPieceTokenizer


class SidecarError(ValueError):
    """The JSON sidecar beside a `.tflite` file is missing or does not fit the schema."""


def sidecar_path(tflite_path: str | os.PathLike) -> pathlib.Path:
    """`model.tflite` -> `model.json` (same folder, same stem)."""
    return pathlib.Path(tflite_path).with_suffix(".json")


def load_sidecar(tflite_path: str | os.PathLike, task: str | None = None) -> dict[str, Any]:
    """Reads the sidecar of `tflite_path`, checking its `task` when given."""
    path = sidecar_path(tflite_path)
    if not path.is_file():
        raise SidecarError(f"Sidecar {path} not found; it is written next to the .tflite by voice_ft.export.")
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise SidecarError(f"Sidecar {path} is not valid JSON: {e}") from e
    if not isinstance(meta, dict):
        raise SidecarError(f"Sidecar {path} must hold a JSON object, got {type(meta).__name__}.")
    if task is not None and meta.get("task") != task:
        raise SidecarError(f"Sidecar {path} has task {meta.get('task')!r}, expected {task!r}.")
    return meta


def _require(meta: dict, path: pathlib.Path, key: str, kind: type | tuple[type, ...]) -> Any:
    value = meta.get(key)
    if not isinstance(value, kind) or isinstance(value, bool) and kind is int:
        raise SidecarError(f"Sidecar {path}: field {key!r} is missing or not a {getattr(kind, '__name__', kind)}.")
    return value


def wordpiece_from_sidecar(meta: dict, path: pathlib.Path) -> WordPieceTokenizer:
    """Builds the WordPiece tokenizer a sidecar describes (vocabulary relative to it)."""
    spec = _require(meta, path, "tokenizer", dict)
    if spec.get("kind") != "wordpiece":
        raise SidecarError(f"Sidecar {path}: tokenizer kind {spec.get('kind')!r} is not 'wordpiece'.")
    vocab = _require(spec, path, "vocabulary", str)
    vocab_path = (path.parent / vocab).resolve()
    if not vocab_path.is_file():
        raise SidecarError(f"Sidecar {path}: vocabulary file {vocab_path} not found.")
    options = {k: spec[k] for k in ("lowercase", "strip_accents", "split_on_cjk", "suffix_indicator", "oov_token")
               if k in spec}  # fmt: skip
    try:
        return WordPieceTokenizer(vocab_path, **options)
    except ValueError as e:
        raise SidecarError(f"Sidecar {path}: {e}") from e


def check_text(text: Any, argument: str = "text") -> str:
    """`text` if it is a `str` of valid Unicode; otherwise an error naming `argument`.

    None, bytes and numbers raise `InputTypeError` (a `DataError` and a `TypeError`); a string with an
    unpaired surrogate (e.g. from a bad UTF-16 bridge) raises `DataError`. Empty and very long
    texts are valid: long ones are truncated to the model's sequence length, keeping the start.
    """
    if isinstance(text, (bytes, bytearray)):
        raise InputTypeError(f"{argument} must be a str, got {type(text).__name__} (decode it first, e.g. .decode('utf-8'))")
    if not isinstance(text, str):
        raise InputTypeError(f"{argument} must be a str, got {type(text).__name__}")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as e:
        raise DataError(f"{argument} is not valid Unicode: unpaired surrogate {text[e.start]!r} at character {e.start}") from None
    return text


def check_texts(texts: Any, argument: str = "texts") -> list[str]:
    """A list of checked texts (`check_text` on each, named `texts[i]`)."""
    if isinstance(texts, (str, bytes, bytearray)):
        raise InputTypeError(f"{argument} must be a list of texts, got one {type(texts).__name__}; "
                             "call the model on a single string instead")  # fmt: skip
    try:
        texts = list(texts)
    except TypeError:
        raise InputTypeError(f"{argument} must be a list of texts, got {type(texts).__name__}") from None
    return [check_text(text, f"{argument}[{i}]") for i, text in enumerate(texts)]


def softmax(logits: np.ndarray) -> np.ndarray:
    """Numerically stable softmax over the last axis, in float64."""
    z = np.asarray(logits, dtype=np.float64)
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


class TextClassifier:
    """Classifies text with an exported voice_ft text classifier.

    >>> clf = TextClassifier("intent.tflite")
    >>> clf("play some jazz")  # doctest: +SKIP
    {'label': 'PlayMusic', 'confidence': 0.97, 'scores': {...}}
    """

    def __init__(self, tflite_path: str | os.PathLike, num_threads: int = 1):
        self.path = pathlib.Path(tflite_path)
        self.sidecar = sidecar_path(self.path)
        meta = load_sidecar(self.path, task="text_classification")
        self.metadata = meta
        self.labels = [str(x) for x in _require(meta, self.sidecar, "labels", list)]
        self.sequence_length = _require(meta, self.sidecar, "sequence_length", int)
        inputs = _require(meta, self.sidecar, "inputs", dict)
        outputs = _require(meta, self.sidecar, "outputs", dict)
        self._ids_name = _require(inputs, self.sidecar, "token_ids", str)
        self._mask_name = _require(inputs, self.sidecar, "padding_mask", str)
        self._logits_name = _require(outputs, self.sidecar, "logits", str)
        self.tokenizer = wordpiece_from_sidecar(meta, self.sidecar)
        self.model = TFLiteModel(self.path, num_threads=num_threads)
        for name in (self._ids_name, self._mask_name):
            if name not in self.model.input_details:
                raise SidecarError(f"Sidecar {self.sidecar} names input {name!r}; the model has {self.model.input_names}.")
        if self._logits_name not in self.model.output_details:
            raise SidecarError(
                f"Sidecar {self.sidecar} names output {self._logits_name!r}; the model has {self.model.output_names}."
            )

    def logits(self, texts: Sequence[str]) -> np.ndarray:
        """Raw logits, float[batch, num_labels]."""
        ids, mask, _ = self.tokenizer.encode_batch(list(texts), self.sequence_length)
        out = self.model(**{self._ids_name: ids, self._mask_name: mask})[self._logits_name]
        if out.shape[-1] != len(self.labels):
            raise ValueError(f"{self.path} outputs {out.shape[-1]} logits but the sidecar lists {len(self.labels)} labels.")
        return out

    def predict_batch(self, texts: Sequence[str]) -> list[dict[str, Any]]:
        """One `{"label", "confidence", "scores"}` dict per text."""
        texts = check_texts(texts)
        if not texts:
            return []
        probs = softmax(self.logits(texts))
        results = []
        for row in probs:
            best = int(row.argmax())
            results.append({
                "label": self.labels[best],
                "confidence": float(row[best]),
                "scores": {label: float(p) for label, p in zip(self.labels, row)},
            })  # fmt: skip
        return results

    def __call__(self, text: str) -> dict[str, Any]:
        return self.predict_batch([check_text(text)])[0]
