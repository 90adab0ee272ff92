"""export_nlu_tflite: builtin ops, both outputs, parity with Keras, sidecar, refusals."""

import json

import numpy as np
import pytest

import voice_ft
from voice_ft.runtime.errors import DataError
from voice_ft.data.slot_examples import make_example
from voice_ft.nlu.export import export_nlu_tflite
from voice_ft.text_classification.export import ExportVerificationError
from voice_ft.nlu import model as nlu_model
from voice_ft.nlu import train as nlu_train
from voice_ft.runtime.interpreter import TFLiteModel


@pytest.fixture(scope="module")
def nlu(tiny_preset, snips_rows):
    """A tiny CRF joint model trained briefly on real SNIPS rows, with random-ish CRF scores."""
    examples = [make_example(r["tokens"], r["slots"], r["intent"], "train.jsonl", i + 1) for i, r in enumerate(snips_rows)]
    intents = sorted({e.intent for e in examples})
    tags = ["O"] + sorted({t for e in examples for t in e.tags if t != "O"})
    model = nlu_model.build_joint_nlu_model(voice_ft.load_backbone(tiny_preset), intents, tags, crf=True, sequence_length=32)
    nlu_train.fit_nlu(model, examples[:128], None, voice_ft.Recipe(epochs=1, learning_rate=3e-3, batch_size=16), verbose=0)
    return model, examples[:128], examples[300:]


def test_float32_export_has_both_outputs_and_matches_keras(nlu, tmp_path):
    model, train, test = nlu
    path = tmp_path / "nlu.tflite"
    result = export_nlu_tflite(model, path, quantization="float32", verify_on=test)
    assert path.stat().st_size == result.size_bytes
    assert result.max_abs_diff["intent_logits"] < 1e-4 and result.max_abs_diff["slot_logits"] < 1e-4
    for metric in ("intent_accuracy", "slot_f1", "sentence_accuracy"):
        assert result.tflite[metric] == pytest.approx(result.keras[metric])
    assert result.intent_agreement == 1.0 and result.slot_agreement == 1.0
    tflite = TFLiteModel(path)
    assert sorted(tflite.input_names) == ["padding_mask", "token_ids"]
    assert sorted(tflite.output_names) == ["intent_logits", "slot_logits"]
    ops = {d["op_name"] for d in tflite._interpreter._get_ops_details()}
    assert not any(op.startswith("FLEX") or op == "CUSTOM" for op in ops)

    sidecar = json.loads((tmp_path / "nlu.json").read_text())
    assert sidecar["task"] == "joint_nlu" and sidecar["intent_labels"] == model.intent_labels
    assert sidecar["slot_tags"] == model.slot_tags and sidecar["sequence_length"] == 32
    assert sidecar["tokenizer"]["vocabulary"] == "vocab.txt" and sidecar["slot_decoder"]["decoding"] == "crf"
    transitions = np.array(sidecar["slot_decoder"]["crf"]["transitions"])
    assert transitions.shape == (len(model.slot_tags),) * 2 and np.abs(transitions).max() > 0
    assert sidecar["verification"]["tflite"]["slot_f1"] == result.tflite["slot_f1"]
    assert (tmp_path / "slot_labels.txt").read_text().split() == model.slot_tags
    assert (tmp_path / "labels.txt").read_text().split() == model.intent_labels


def test_dynamic_and_int8_exports(nlu, tmp_path):
    model, train, test = nlu
    dynamic = export_nlu_tflite(model, tmp_path / "d.tflite", quantization="dynamic", verify_on=test[:40], tolerance=100)
    int8 = export_nlu_tflite(model, tmp_path / "i.tflite", quantization="int8", verify_on=test[:40],
                             representative_data=train, num_representative=32, tolerance=100)
    assert dynamic.size_bytes < (tmp_path / "i.tflite").stat().st_size * 2 and int8.tflite["num_examples"] == 40
    int8_tensors = [d for d in TFLiteModel(tmp_path / "i.tflite")._interpreter.get_tensor_details() if d["dtype"] == np.int8]
    assert len(int8_tensors) > 20


def test_drop_beyond_tolerance_is_refused(nlu, tmp_path):
    model, _, test = nlu
    with pytest.raises(ExportVerificationError, match="intent_accuracy .* points below") as error:
        # a negative tolerance demands TFLite beat Keras: impossible for an exact copy
        export_nlu_tflite(model, tmp_path / "r.tflite", quantization="float32", verify_on=test[:30], tolerance=-1,
                          keep_refused=True)  # fmt: skip
    assert error.value.result.tflite["slot_f1"] == pytest.approx(error.value.result.keras["slot_f1"])
    # nothing but the refused bytes, kept on request under a name no loader picks up
    assert [p.name for p in tmp_path.iterdir()] == ["r.tflite.refused"]


def test_existing_outputs_and_bad_arguments_fail_before_converting(nlu, tmp_path, tiny_backbone):
    model, _, test = nlu
    (tmp_path / "nlu.tflite").write_bytes(b"user's file")
    with pytest.raises(FileExistsError):
        export_nlu_tflite(model, tmp_path / "nlu.tflite", quantization="float32")
    assert (tmp_path / "nlu.tflite").read_bytes() == b"user's file"
    (tmp_path / "slot_labels.txt").write_text("mine\n")
    with pytest.raises(FileExistsError, match="slot_labels.txt"):
        export_nlu_tflite(model, tmp_path / "other.tflite", quantization="float32")
    fresh = tmp_path / "fresh"
    with pytest.raises(ValueError, match="needs representative_data"):
        export_nlu_tflite(model, fresh / "a.tflite", quantization="int8")
    with pytest.raises(ValueError, match="needs a joint NLU model"):
        export_nlu_tflite(voice_ft.build_intent_classifier(tiny_backbone, 3), fresh / "a.tflite")
    bad = [make_example(["play", "x"], ["O", "B-nosuchslot"], model.intent_labels[0], "test.jsonl", 7)]
    with pytest.raises(DataError, match="test.jsonl:7: unknown slot tag 'B-nosuchslot'"):
        export_nlu_tflite(model, fresh / "b.tflite", quantization="float32", verify_on=bad)
    assert not fresh.exists()
