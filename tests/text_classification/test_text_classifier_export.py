"""export_tflite for text classifiers: builtin ops, parity with Keras, sidecar, refusals."""

import json

import keras
import numpy as np
import pytest
import tensorflow as tf

import voice_ft
from voice_ft.data.labels import LabelVocabulary
from voice_ft.data.readers import TextExample
from voice_ft.data.text_pipeline import examples_to_dataset
from voice_ft.export.convert import FlexOpsError, convert_to_tflite
from voice_ft.export.errors import ExportVerificationError
from voice_ft.runtime.interpreter import TFLiteModel


@pytest.fixture(scope="module")
def trained(tiny_preset, snips_rows):
    """A tiny intent model trained briefly on real SNIPS rows, plus its data."""
    backbone = voice_ft.load_backbone(tiny_preset)
    labels = LabelVocabulary.from_records(r["intent"] for r in snips_rows)
    examples = [TextExample(r["text"], r["intent"], "train.jsonl", i + 1) for i, r in enumerate(snips_rows)]
    train = examples_to_dataset(examples[:300], labels)
    test = examples_to_dataset(examples[300:], labels)
    model = voice_ft.build_intent_classifier(backbone, len(labels), sequence_length=24)
    voice_ft.fit(model, train, recipe=voice_ft.Recipe(epochs=3, learning_rate=3e-3, batch_size=16), verbose=0)
    return model, train, test, list(labels)


@pytest.mark.parametrize("quantization, max_diff", [("float32", 1e-4), ("float16", 5e-2), ("dynamic", 0.5), ("int8", 1.0)])
def test_round_trip_parity(trained, tmp_path, quantization, max_diff):
    model, train, test, labels = trained
    path = tmp_path / f"intent_{quantization}.tflite"
    result = voice_ft.export_tflite(
        model, path, quantization=quantization, verify_on=test, labels=labels, representative_data=train,
        tolerance=100 if quantization == "int8" else 0.5,  # a barely trained model: int8 is checked by the bench
    )
    assert path.exists() and result.size_bytes == path.stat().st_size
    assert result.max_abs_diff < max_diff
    if quantization in ("float32", "float16"):
        assert result.tflite_accuracy == pytest.approx(result.keras_accuracy)
    sidecar = json.loads((tmp_path / f"intent_{quantization}.json").read_text())
    assert sidecar["labels"] == labels and sidecar["quantization"] == quantization
    assert sidecar["sequence_length"] == 24 and sidecar["tokenizer"]["vocabulary"] == "vocab.txt"
    assert sidecar["verification"]["tflite_accuracy"] == result.tflite_accuracy
    # Without a calibration: no calibration or rejection block, no rejection figures, one output.
    assert "calibration" not in sidecar and "rejection" not in sidecar and list(sidecar["outputs"]) == ["logits"]
    assert result.tflite_in_scope_accuracy is None and result.num_oos is None
    assert (tmp_path / "labels.txt").read_text().split() == labels
    assert (tmp_path / "vocab.txt").read_text().split("\n")[:5] == ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    tflite = TFLiteModel(path)
    assert sorted(tflite.input_names) == ["padding_mask", "token_ids"]
    if quantization == "int8":
        ops = {d["op_name"] for d in tflite._interpreter._get_ops_details()}
        assert "FULLY_CONNECTED" in ops
        int8_tensors = [d for d in tflite._interpreter.get_tensor_details() if d["dtype"] == np.int8]
        assert len(int8_tensors) > 20, "full int8 should quantize activations, not only weights"


def test_runtime_matches_keras_on_exported_file(trained, tmp_path):
    from voice_ft.runtime import TextClassifier

    model, train, test, labels = trained
    path = tmp_path / "intent.tflite"
    voice_ft.export_tflite(model, path, quantization="float32", verify_on=test, labels=labels)
    classifier = TextClassifier(path)
    texts = [t.decode() for t, _ in test.take(20).as_numpy_iterator()]
    keras_probs = tf.nn.softmax(model(model.text_encoder(tf.constant(texts)))).numpy()
    for text, row in zip(texts, keras_probs):
        out = classifier(text)
        assert out["label"] == labels[int(row.argmax())]
        np.testing.assert_allclose([out["scores"][l] for l in labels], row, atol=1e-5)


def test_accuracy_drop_beyond_tolerance_is_refused(trained, tmp_path):
    model, train, test, labels = trained
    path = tmp_path / "refused.tflite"
    with pytest.raises(ExportVerificationError, match="points below Keras") as error:
        # a negative tolerance demands TFLite beat Keras by a point: impossible for an exact copy
        voice_ft.export_tflite(model, path, quantization="float32", verify_on=test, labels=labels, tolerance=-1)
    assert error.value.result.tflite_accuracy == pytest.approx(error.value.result.keras_accuracy)
    assert not list(tmp_path.iterdir()), "a refused export leaves nothing behind"
    with pytest.raises(ExportVerificationError):
        voice_ft.export_tflite(model, path, quantization="float32", verify_on=test, labels=labels, tolerance=-1,
                               keep_refused=True)
    assert [p.name for p in tmp_path.iterdir()] == ["refused.tflite.refused"]
    assert TFLiteModel(tmp_path / "refused.tflite.refused").output_names


def test_existing_outputs_are_not_overwritten(trained, tmp_path):
    model, _, test, labels = trained
    path = tmp_path / "intent.tflite"
    path.write_bytes(b"user's file")
    with pytest.raises(FileExistsError):
        voice_ft.export_tflite(model, path, quantization="float32", labels=labels)
    assert path.read_bytes() == b"user's file"
    (tmp_path / "other.tflite").unlink(missing_ok=True)
    (tmp_path / "labels.txt").write_text("mine\n")
    with pytest.raises(FileExistsError, match="labels.txt"):
        voice_ft.export_tflite(model, tmp_path / "other.tflite", quantization="float32", labels=labels)
    assert not (tmp_path / "other.tflite").exists()


def test_argument_errors(trained, tmp_path):
    model, train, test, labels = trained
    with pytest.raises(ValueError, match="needs representative_data"):
        voice_ft.export_tflite(model, tmp_path / "a.tflite", quantization="int8", labels=labels)
    with pytest.raises(ValueError, match="quantization must be one of"):
        voice_ft.export_tflite(model, tmp_path / "a.tflite", quantization="int4", labels=labels)
    with pytest.raises(ValueError, match="labels given but the model has"):
        voice_ft.export_tflite(model, tmp_path / "a.tflite", labels=labels[:3])


def test_flex_ops_are_reported_by_name():
    inputs = keras.Input(shape=(3, 3))
    outputs = keras.layers.Lambda(lambda x: tf.linalg.det(x))(inputs)  # MatrixDeterminant: no builtin
    with pytest.raises(FlexOpsError, match="MatrixDeterminant") as error:
        convert_to_tflite(keras.Model(inputs, outputs), "float32")
    assert "tf.MatrixDeterminant" in error.value.ops
