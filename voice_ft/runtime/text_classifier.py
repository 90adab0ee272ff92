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
     "quantization": "dynamic", "versions": {...},
     # optional (see voice_ft.runtime.probabilities):
     "calibration": {"temperature": 1.7, ...}, "rejection": {"method": "threshold", "threshold": 0.41, ...}}

With a "calibration" block, `confidence` and `scores` are the calibrated probabilities
softmax(logits / T). With a "rejection" block, a text whose confidence is below the threshold gets
`label=None` and `not_understood=True` (the would-be label stays in `best_label`); every result then
carries both keys. The rejection block may instead score with the logit energy
(`"score": "energy"`; the result then carries `energy`) or with the Mahalanobis distance of the
sentence embedding (`"score": "mahalanobis"`, computed by the `.tflite` as the output that
`outputs.mahalanobis` names; the result carries `mahalanobis`), and may name an explicit out-of-scope label
(`"oos_label": "oos"`, a class trained on negatives) that rejects whenever it wins; `best_label` is
then the best other label (see `voice_ft.runtime.rejection`). Without the blocks the results are
exactly as before (T = 1, nothing rejected).
"""

from __future__ import annotations

import os
import pathlib
from typing import Any, Sequence

import numpy as np

from voice_ft.runtime.errors import DataError, InputTypeError
from voice_ft.runtime.interpreter import TFLiteModel
from voice_ft.runtime.probabilities import (  # noqa: F401  (softmax: imported from here by other modules)
    calibrated_softmax,
    sidecar_temperature,
    softmax,
)
from voice_ft.runtime.rejection import DISTANCE_SCORE, SCORES, rejected_result, sidecar_rejection
from voice_ft.runtime.sidecar import (  # noqa: F401
    SidecarError,
    check_output_width,
    companion_file,
    load_sidecar,
    require_field,
    sidecar_path,
)
from voice_ft.runtime.wordpiece import WordPieceTokenizer


def wordpiece_from_sidecar(meta: dict, path: pathlib.Path) -> WordPieceTokenizer:
    """Builds the WordPiece tokenizer a sidecar describes (vocabulary relative to it)."""
    spec = require_field(meta, path, "tokenizer", dict)
    if spec.get("kind") != "wordpiece":
        raise SidecarError(f"Sidecar {path}: tokenizer kind {spec.get('kind')!r} is not 'wordpiece'.")
    vocab_path = companion_file(path, require_field(spec, path, "vocabulary", str), "tokenizer.vocabulary")
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


class TextClassifier:
    """Classifies text with an exported voice_ft text classifier.

    >>> clf = TextClassifier("intent.tflite")
    >>> clf("play some jazz")  # doctest: +SKIP
    {'label': 'PlayMusic', 'confidence': 0.97, 'scores': {...}}
    >>> clf("what is the meaning of life")  # doctest: +SKIP  (a sidecar with a rejection block)
    {'label': None, 'not_understood': True, 'best_label': 'GetWeather', 'confidence': 0.31, 'scores': {...}}

    `temperature` (1.0 without calibration), `rejection` (a `voice_ft.runtime.rejection.Rejection`,
    None without one) and its `threshold` are read from the sidecar.
    """

    def __init__(self, tflite_path: str | os.PathLike, num_threads: int = 1):
        self.path = pathlib.Path(tflite_path)
        self.sidecar = sidecar_path(self.path)
        meta = load_sidecar(self.path, task="text_classification")
        self.metadata = meta
        self.labels = [str(x) for x in require_field(meta, self.sidecar, "labels", list)]
        self.sequence_length = require_field(meta, self.sidecar, "sequence_length", int)
        inputs = require_field(meta, self.sidecar, "inputs", dict)
        outputs = require_field(meta, self.sidecar, "outputs", dict)
        self._ids_name = require_field(inputs, self.sidecar, "token_ids", str)
        self._mask_name = require_field(inputs, self.sidecar, "padding_mask", str)
        self._logits_name = require_field(outputs, self.sidecar, "logits", str)
        self.temperature = sidecar_temperature(meta, self.sidecar)
        self.rejection = sidecar_rejection(meta, self.sidecar, self.labels, SCORES)
        self.threshold = self.rejection.threshold if self.rejection is not None else None
        self.tokenizer = wordpiece_from_sidecar(meta, self.sidecar)
        self.model = TFLiteModel(self.path, num_threads=num_threads)
        for name in (self._ids_name, self._mask_name):
            if name not in self.model.input_details:
                raise SidecarError(f"Sidecar {self.sidecar} names input {name!r}; the model has {self.model.input_names}.")
        if self._logits_name not in self.model.output_details:
            raise SidecarError(
                f"Sidecar {self.sidecar} names output {self._logits_name!r}; the model has {self.model.output_names}."
            )
        check_output_width(self.sidecar, self.model.output_details, self._logits_name, self.labels, "labels")
        self._distance_name = None
        if self.rejection is not None and self.rejection.score == DISTANCE_SCORE:
            self._distance_name = require_field(outputs, self.sidecar, DISTANCE_SCORE, str)
            if self._distance_name not in self.model.output_details:
                raise SidecarError(f"Sidecar {self.sidecar} names output {self._distance_name!r}; the model has "
                                   f"{self.model.output_names}.")  # fmt: skip

    def logits(self, texts: Sequence[str]) -> np.ndarray:
        """Raw logits, float[batch, num_labels]."""
        return self._outputs(texts)[0]

    def _outputs(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray | None]:
        """(logits, the "mahalanobis" output or None when the rule does not use it)."""
        ids, mask, _ = self.tokenizer.encode_batch(list(texts), self.sequence_length)
        outputs = self.model(**{self._ids_name: ids, self._mask_name: mask})
        out = outputs[self._logits_name]
        if out.shape[-1] != len(self.labels):
            raise ValueError(f"{self.path} outputs {out.shape[-1]} logits but the sidecar lists {len(self.labels)} labels.")
        return out, (outputs[self._distance_name] if self._distance_name else None)

    def predict_batch(self, texts: Sequence[str]) -> list[dict[str, Any]]:
        """One `{"label", "confidence", "scores"}` dict per text (plus `not_understood` and
        `best_label` when the sidecar has a rejection threshold)."""
        texts = check_texts(texts)
        if not texts:
            return []
        logits, distance = self._outputs(texts)
        if self.rejection is None:
            probs = calibrated_softmax(logits, self.temperature)
            return [{"label": self.labels[int(row.argmax())], "confidence": float(row.max()),
                     "scores": {label: float(p) for label, p in zip(self.labels, row)}} for row in probs]  # fmt: skip
        probs, best, value, rejected = self.rejection.decide(logits, self.temperature, distance)
        results = []
        for row, b, v, r in zip(probs, best, value, rejected):
            result = rejected_result(self.labels, row, int(b), v, r, self.rejection)
            result["scores"] = {label: float(p) for label, p in zip(self.labels, row)}
            results.append(result)
        return results

    def __call__(self, text: str) -> dict[str, Any]:
        return self.predict_batch([check_text(text)])[0]
