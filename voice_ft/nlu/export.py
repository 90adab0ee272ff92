"""`export_nlu_tflite` for joint intent + slot models: convert, verify against Keras, write sidecar.

The `.tflite` takes int32 `token_ids` and `padding_mask` and returns both outputs
(`intent_logits` [N, intents], `slot_logits` [N, T, tags]), builtin ops only. Word splitting,
alignment and slot decoding (BIO-constrained or CRF Viterbi) run outside the graph, in numpy, from
what the sidecar carries (task `"joint_nlu"`, intent and slot tag lists, tokenizer, decoder and CRF
scores). Verification decodes Keras and TFLite outputs the same way on held-out examples and refuses
the file (nothing is written) if intent accuracy, slot F1 or sentence accuracy drops by more than
`tolerance` points. With a `Calibration` of the intent head its rejection rule is applied to both
models' intent logits, and in-scope intent accuracy (accepted and right) and OOS recall
(out-of-scope rows, intent id -1, rejected) must stay within the tolerance too
(`voice_ft.export.rejection_check`); the other metrics are over the in-scope rows.

Like every exporter, this one takes any Keras model with the attributes the joint NLU builder
sets (`text_encoder`, `intent_labels`, `slot_tags`, `slot_decoding`) and does not import `models/`.
"""

from __future__ import annotations

import dataclasses
import os
import pathlib

import keras
import numpy as np
from absl import logging

from voice_ft.export.companions import check_export_target, text_model_companions, tokenizer_metadata, write_companions
from voice_ft.export.convert import convert_to_tflite
from voice_ft.export.quantization import check_quantization, milder_quantization
from voice_ft.export.errors import ExportVerificationError
from voice_ft.export.rejection_check import rejection_failures, rejection_figures
from voice_ft.export.sidecar import sidecar_path, write_sidecar
from voice_ft.export.staging import write_verified
from voice_ft.nlu.data import EncodedNLU, decode_and_score, decoder_for_model, encode_nlu, predict_nlu
from voice_ft.runtime.interpreter import TFLiteModel
from voice_ft.runtime.slot_alignment import SlotDecoder

METRICS = ("intent_accuracy", "slot_f1", "sentence_accuracy")


@dataclasses.dataclass
class NLUExportResult:
    """What was written and how it compared with Keras (metrics are fractions in [0, 1])."""

    path: pathlib.Path
    sidecar: pathlib.Path
    quantization: str
    size_bytes: int
    keras: dict | None = None  # intent_accuracy, slot_f1, sentence_accuracy, ...
    tflite: dict | None = None
    intent_agreement: float | None = None  # same predicted intent
    slot_agreement: float | None = None  # same predicted word tags for the whole utterance
    max_abs_diff: dict | None = None  # per output, largest |logit difference|
    rejection: dict | None = None  # with a calibration that rejects: `rejection_check.rejection_figures`

    def to_dict(self) -> dict:
        return {k: (str(v) if isinstance(v, pathlib.Path) else v) for k, v in dataclasses.asdict(self).items()}


def _encoded(model, data) -> EncodedNLU:
    if isinstance(data, EncodedNLU):
        return data
    encoder = model.text_encoder
    return encode_nlu(data, encoder.tokenizer, encoder.sequence_length, model.intent_labels, model.slot_tags,
                      report_truncation=False)  # fmt: skip


def tflite_nlu_outputs(tflite: TFLiteModel, encoded: EncodedNLU, outputs: dict, batch_size: int = 64):
    """Runs a converted joint model over encoded examples: (intent logits, slot logits)."""
    intent_logits, slot_logits = [], []
    for start in range(0, len(encoded), batch_size):
        out = tflite(**{k: v[start : start + batch_size] for k, v in encoded.inputs.items()})
        intent_logits.append(out[outputs["intent_logits"]])
        slot_logits.append(out[outputs["slot_logits"]])
    return np.concatenate(intent_logits), np.concatenate(slot_logits)


def output_names(tflite: TFLiteModel, num_intents: int, num_tags: int) -> dict:
    """Maps `intent_logits`/`slot_logits` to the file's signature output names (by name, else by rank)."""
    names = tflite.output_names
    if {"intent_logits", "slot_logits"} <= set(names):
        return {"intent_logits": "intent_logits", "slot_logits": "slot_logits"}
    by_rank = {len(d["shape_signature"]): n for n, d in tflite.output_details.items()}
    if 2 in by_rank and 3 in by_rank:
        return {"intent_logits": by_rank[2], "slot_logits": by_rank[3]}
    raise ValueError(f"Cannot tell the intent and slot outputs apart among {names}.")


def export_nlu_tflite(
    model: keras.Model,
    path: str | os.PathLike,
    quantization: str = "dynamic",
    verify_on=None,
    representative_data=None,
    tolerance: float = 0.5,
    overwrite: bool = False,
    num_representative: int = 200,
    keep_refused: bool = False,
    calibration=None,
) -> NLUExportResult:
    """Exports a joint intent + slot model to `.tflite` with a sidecar, verified against Keras.

    Args:
        model: from `build_joint_nlu_model` (or `load_nlu_model`).
        path: the `.tflite` to write; `<stem>.json`, `vocab.txt`, `labels.txt` (intents) and
            `slot_labels.txt` go beside it.
        quantization: "float32", "float16", "dynamic" (int8 weights) or "int8" (full integer).
        verify_on: labelled `SlotExample`s (or `EncodedNLU`, which may hold out-of-scope rows with
            intent id -1) to compare Keras and TFLite on.
        representative_data: calibration examples for "int8" (from the training set).
        tolerance: largest accepted drop of each metric, in percentage points.
        overwrite: replace existing files.
        num_representative: examples used for int8 calibration.
        keep_refused: on refusal, keep the bytes as `<path>.refused` for inspection.
        calibration: a `voice_ft.Calibration` of the intent head (`calibrate_logits` on its
            validation intent logits): its temperature and rejection rule go into the sidecar, and
            `NLUParser` then answers `intent=None, not_understood=True` below the threshold.
            Verification then also compares in-scope intent accuracy and OOS recall under it.

    Raises:
        ExportVerificationError: a metric dropped by more than `tolerance` points (`.result`
            holds the figures).
        voice_ft.export.convert.FlexOpsError: the model needs non-builtin ops.
    """
    check_quantization(quantization)
    for attribute in ("text_encoder", "intent_labels", "slot_tags"):
        if getattr(model, attribute, None) is None:
            raise ValueError(f"export_nlu_tflite needs a joint NLU model (build_joint_nlu_model); it has no {attribute}.")
    intents, tags, encoder = list(model.intent_labels), list(model.slot_tags), model.text_encoder
    companions = text_model_companions(encoder, pathlib.Path(path).parent, {"labels.txt": intents, "slot_labels.txt": tags})
    path = check_export_target(path, overwrite, companions)
    if quantization == "int8" and representative_data is None:
        raise ValueError("quantization='int8' needs representative_data (pass the training examples).")
    decoder = decoder_for_model(model)
    verify = _encoded(model, verify_on) if verify_on is not None else None  # unknown labels fail before converting

    representative = None
    if quantization == "int8":
        examples = _encoded(model, list(representative_data)[:num_representative]
                            if not isinstance(representative_data, EncodedNLU) else representative_data)  # fmt: skip

        def representative():
            for i in range(min(len(examples), num_representative)):
                yield {k: v[i : i + 1] for k, v in examples.inputs.items()}

    tflite_bytes = convert_to_tflite(model, quantization, representative)
    result = NLUExportResult(path=path, sidecar=sidecar_path(path), quantization=quantization, size_bytes=len(tflite_bytes))
    outputs = None

    def verify_file(staged: pathlib.Path) -> None:
        nonlocal outputs
        tflite = TFLiteModel(staged)
        outputs = output_names(tflite, len(intents), len(tags))
        if verify is not None:
            _verify(model, tflite, outputs, verify, decoder, result, tolerance, calibration)

    write_verified(path, tflite_bytes, verify_file, keep_refused)

    write_companions(companions)
    write_sidecar(path, {
        "task": "joint_nlu",
        "intent_labels": intents,
        "slot_tags": tags,
        "tokenizer": tokenizer_metadata(encoder),
        "sequence_length": encoder.sequence_length,
        "words": "ascii_whitespace",  # a word is a run of non-[ \t\n\r\f]; its first piece carries its tag
        "slot_decoder": decoder.to_config(),
        "inputs": {"token_ids": "token_ids", "padding_mask": "padding_mask"},
        "outputs": outputs,
        "quantization": quantization,
        "verification": {k: v for k, v in result.to_dict().items() if k not in ("path", "sidecar")},
        **(calibration.sidecar_fields() if calibration is not None else {}),
    })  # fmt: skip
    logging.info("Exported %s (%s, %.1f MB): %s", path, quantization, result.size_bytes / 1e6, result.to_dict())
    return result


def _verify(model, tflite, outputs, everything: EncodedNLU, decoder: SlotDecoder, result: NLUExportResult, tolerance: float,
            calibration=None):  # fmt: skip
    all_keras_intents, keras_slots = predict_nlu(model, everything)
    all_lite_intents, lite_slots = tflite_nlu_outputs(tflite, everything, outputs)
    keep = everything.intent_ids >= 0
    if not keep.any():
        raise ValueError("verify_on holds no in-scope utterances (every intent id is -1, out of scope).")
    encoded = everything.select(keep)
    keras_intents, lite_intents, keras_slots, lite_slots = (all_keras_intents[keep], all_lite_intents[keep],
                                                            keras_slots[keep], lite_slots[keep])  # fmt: skip
    result.keras, keras_intent_names, keras_tags = decode_and_score(encoded, keras_intents, keras_slots, model.intent_labels, decoder)
    result.tflite, lite_intent_names, lite_tags = decode_and_score(encoded, lite_intents, lite_slots, model.intent_labels, decoder)
    result.rejection = rejection_figures(calibration, all_keras_intents, all_lite_intents, everything.intent_ids) or None
    result.intent_agreement = float(np.mean([a == b for a, b in zip(keras_intent_names, lite_intent_names)]))
    result.slot_agreement = float(np.mean([a == b for a, b in zip(keras_tags, lite_tags)]))
    result.max_abs_diff = {
        "intent_logits": float(np.max(np.abs(keras_intents - lite_intents))),
        "slot_logits": float(np.max(np.abs(keras_slots - lite_slots))),
    }
    drops = {m: 100.0 * (result.keras[m] - result.tflite[m]) for m in METRICS}
    failed = {m: d for m, d in drops.items() if d > tolerance}
    details = [f"{m} {result.tflite[m]:.4f} vs Keras {result.keras[m]:.4f} ({d:.2f} points below)" for m, d in failed.items()]
    details += rejection_failures(result.rejection or {}, tolerance)
    if details:
        detail = ", ".join(details)
        raise ExportVerificationError(
            f"{result.quantization} TFLite falls below Keras beyond the tolerance of {tolerance} points: {detail}. "
            f"Try a milder quantization ({milder_quantization(result.quantization)!r}).", result,
        )  # fmt: skip
