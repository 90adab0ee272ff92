"""End to end: tiny keras-hub BERT -> SavedModel -> .tflite + sidecar -> `TextClassifier`.

The runtime side runs in a fresh interpreter, proving it needs no TensorFlow, and its
probabilities must equal Keras's softmax (on keras-hub-preprocessed inputs) within 1e-5.
"""

import json
import pathlib

import numpy as np
import pytest

from test_no_tensorflow import run_without_tensorflow
from voice_ft.runtime import TextClassifier, TFLiteModel
from voice_ft.runtime.text_classifier import SidecarError

tf = pytest.importorskip("tensorflow")
keras = pytest.importorskip("keras")
keras_hub = pytest.importorskip("keras_hub")

VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "play", "some", "jazz", "music", "what",
         "is", "the", "weather", "in", "paris", "set", "an", "alarm", "for", "##s", "!", "?", ".",
         "cafe", "please"]  # fmt: skip
LABELS = ["PlayMusic", "GetWeather", "SetAlarm"]
SEQUENCE_LENGTH = 12
TEXTS = ["Play some jazz music!", "What is the weather in Paris?", "set an alarm for ...",
         "please play", "Café weather unknownword", "play " * 20, ""]  # fmt: skip


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """Writes `intent.tflite`, `intent.json`, `vocab.txt`; returns (tflite path, keras probs)."""
    keras.utils.set_random_seed(0)
    backbone = keras_hub.models.BertBackbone(
        vocabulary_size=len(VOCAB), num_layers=2, num_heads=2, hidden_dim=16, intermediate_dim=32,
        max_sequence_length=SEQUENCE_LENGTH, dropout=0.0,
    )  # fmt: skip
    token_ids = keras.Input((SEQUENCE_LENGTH,), dtype="int32", name="token_ids")
    padding_mask = keras.Input((SEQUENCE_LENGTH,), dtype="int32", name="padding_mask")
    outputs = backbone({"token_ids": token_ids, "padding_mask": padding_mask,
                        "segment_ids": keras.ops.zeros_like(token_ids)})  # fmt: skip
    # A large initial scale spreads the logits, so a wrong token id would show in the scores.
    head = keras.layers.Dense(len(LABELS), kernel_initializer=keras.initializers.RandomNormal(stddev=20.0), name="logits")
    logits = head(outputs["pooled_output"])
    model = keras.Model({"token_ids": token_ids, "padding_mask": padding_mask}, logits)

    out = tmp_path_factory.mktemp("text_classifier")
    model.export(str(out / "saved_model"), format="tf_saved_model", verbose=False)
    converter = tf.lite.TFLiteConverter.from_saved_model(str(out / "saved_model"))
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    tflite_path = out / "intent.tflite"
    tflite_path.write_bytes(converter.convert())
    (out / "vocab.txt").write_text("\n".join(VOCAB) + "\n", encoding="utf-8")

    names = TFLiteModel(tflite_path)
    assert sorted(names.input_names) == ["padding_mask", "token_ids"]
    (out / "intent.json").write_text(json.dumps({
        "task": "text_classification",
        "labels": LABELS,
        "tokenizer": {"kind": "wordpiece", "vocabulary": "vocab.txt", "lowercase": True, "strip_accents": True},
        "sequence_length": SEQUENCE_LENGTH,
        "inputs": {"token_ids": "token_ids", "padding_mask": "padding_mask"},
        "outputs": {"logits": names.output_names[0]},
        "quantization": "float32",
        "versions": {"tensorflow": tf.__version__, "keras_hub": keras_hub.__version__},
    }), encoding="utf-8")  # fmt: skip

    # Reference: keras-hub preprocessing (training path) + the Keras model.
    tokenizer = keras_hub.tokenizers.BertTokenizer(vocabulary=VOCAB, lowercase=True, strip_accents=True)
    pre = keras_hub.models.BertTextClassifierPreprocessor(tokenizer, sequence_length=SEQUENCE_LENGTH)
    x = next(iter(tf.data.Dataset.from_tensor_slices(TEXTS).batch(len(TEXTS)).map(pre)))
    keras_logits = model.predict(
        {"token_ids": x["token_ids"].numpy(), "padding_mask": x["padding_mask"].numpy().astype("int32")}, verbose=0
    )  # fmt: skip
    probs = keras.ops.convert_to_numpy(keras.ops.softmax(keras_logits.astype("float64"), axis=-1))
    return tflite_path, probs


def test_runtime_matches_keras_without_tensorflow(exported):
    tflite_path, keras_probs = exported
    # The texts must give visibly different scores, or matching them would prove little.
    assert np.ptp(keras_probs, axis=0).max() > 1e-3
    out = run_without_tensorflow(f"""
        import json
        from voice_ft.runtime import TextClassifier
        clf = TextClassifier({str(tflite_path)!r})
        results = clf.predict_batch({TEXTS!r})
        single = clf({TEXTS[0]!r})
        assert single == results[0], (single, results[0])
        print("RESULTS=" + json.dumps(results))
    """)
    results = json.loads(out.split("RESULTS=", 1)[1].splitlines()[0])
    assert len(results) == len(TEXTS)
    for result, want in zip(results, keras_probs):
        got = np.array([result["scores"][label] for label in LABELS])
        np.testing.assert_allclose(got, want, atol=1e-5)
        assert result["label"] == LABELS[int(np.argmax(want))]
        assert result["confidence"] == pytest.approx(float(np.max(want)), abs=1e-5)
        assert sum(result["scores"].values()) == pytest.approx(1.0, abs=1e-6)


def test_interpreter_resizes_batch_and_casts(exported):
    model = TFLiteModel(exported[0])
    for batch in (1, 3):
        ids = np.full((batch, SEQUENCE_LENGTH), 5, dtype=np.int64)  # int64 is cast to int32
        out = model(token_ids=ids, padding_mask=np.ones_like(ids))
        assert next(iter(out.values())).shape == (batch, len(LABELS))
    with pytest.raises(ValueError, match="missing"):
        model(token_ids=ids)
    with pytest.raises(ValueError, match="expects"):
        model(token_ids=ids[:, :4], padding_mask=ids[:, :4])


def test_clear_errors(exported, tmp_path):
    tflite_path, _ = exported
    with pytest.raises(FileNotFoundError, match="nope.tflite"):
        TFLiteModel(tmp_path / "nope.tflite")
    junk = tmp_path / "junk.tflite"
    junk.write_bytes(b"this is not a flatbuffer")
    with pytest.raises(ValueError, match="not a TFLite flatbuffer"):
        TFLiteModel(junk)

    copy = tmp_path / "model.tflite"
    copy.write_bytes(pathlib.Path(tflite_path).read_bytes())
    sidecar = tmp_path / "model.json"
    with pytest.raises(SidecarError, match="model.json"):  # missing
        TextClassifier(copy)
    sidecar.write_text("{not json", encoding="utf-8")
    with pytest.raises(SidecarError, match="model.json.*not valid JSON"):
        TextClassifier(copy)
    good = json.loads(pathlib.Path(tflite_path).with_suffix(".json").read_text(encoding="utf-8"))
    (tmp_path / "vocab.txt").write_text("\n".join(VOCAB) + "\n", encoding="utf-8")
    for broken, pattern in [
        ({**good, "labels": None}, "'labels'"),
        ({**good, "task": "speech"}, "task"),
        ({**good, "inputs": {"token_ids": "token_ids"}}, "'padding_mask'"),
        ({**good, "outputs": {"logits": "nope"}}, "output 'nope'"),
        ({**good, "tokenizer": {**good["tokenizer"], "vocabulary": "missing.txt"}}, "missing.txt"),
    ]:
        sidecar.write_text(json.dumps(broken), encoding="utf-8")
        with pytest.raises(SidecarError, match=pattern):
            TextClassifier(copy)
    sidecar.write_text(json.dumps(good), encoding="utf-8")
    assert TextClassifier(copy)("play jazz")["label"] in LABELS


def test_sidecar_cannot_point_outside_its_folder_or_mislabel_outputs(exported, tmp_path):
    """A crafted sidecar is refused at load: files outside its folder, labels that do not fit."""
    tflite_path, _ = exported
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    copy = bundle / "model.tflite"
    copy.write_bytes(pathlib.Path(tflite_path).read_bytes())
    (bundle / "vocab.txt").write_text("\n".join(VOCAB) + "\n", encoding="utf-8")
    secret = tmp_path / "secret.txt"  # a file of the phone's, outside the bundle
    secret.write_text("\n".join(VOCAB) + "\n", encoding="utf-8")
    (bundle / "link.txt").symlink_to(secret)
    good = json.loads(pathlib.Path(tflite_path).with_suffix(".json").read_text(encoding="utf-8"))
    sidecar = bundle / "model.json"
    for vocabulary, pattern in [
        ("../secret.txt", r"must be a file name inside"),
        (str(secret), r"must be a file name inside"),
        ("link.txt", r"resolves to .*secret.txt, outside"),
        ("", r"must be a file name"),
    ]:
        sidecar.write_text(json.dumps({**good, "tokenizer": {**good["tokenizer"], "vocabulary": vocabulary}}), encoding="utf-8")
        with pytest.raises(SidecarError, match=pattern):
            TextClassifier(copy)
    sidecar.write_text(json.dumps({**good, "labels": LABELS[:-1]}), encoding="utf-8")
    with pytest.raises(SidecarError, match=f"lists {len(LABELS) - 1} labels but the model's output .* has {len(LABELS)}"):
        TextClassifier(copy)
    sidecar.write_text(json.dumps(good), encoding="utf-8")
    assert TextClassifier(copy)("play jazz")["label"] in LABELS
