"""`voice_ft.calibrate` on a trained tiny intent model, and `export_tflite(..., calibration=...)`;
with `train=`, the Mahalanobis score of the sentence embedding, built into the exported graph and
applied by the TF-free `TextClassifier`.

Reuses the trained model of `test_text_classifier_export.py`. Out-of-scope examples are SNIPS-free
sentences labelled -1 (`OOS_LABEL_ID`), as `voice_ft.datasets.load(..., oos_label=...)` gives them.
"""

import json

import numpy as np
import pytest
import tensorflow as tf

import voice_ft
from test_text_classifier_export import trained  # noqa: F401  (module fixture)
from voice_ft.data.labels import OOS_LABEL_ID
from voice_ft.evaluation import reports
from voice_ft.evaluation.mahalanobis import ClassGaussians
from voice_ft.runtime import TextClassifier
from voice_ft.runtime.sidecar import SidecarError
from voice_ft.evaluation.distance_score import logits_and_embeddings, with_distance_score

OOS_TEXTS = ["what is the meaning of life", "tell me a joke about cats", "how tall is mount everest",
             "translate good morning into french", "who won the football game", "order a pizza with cheese",
             "what is two plus two", "open the garage door", "remind me to call mom", "how do i boil an egg"]  # fmt: skip


def with_oos(dataset: tf.data.Dataset) -> tf.data.Dataset:
    oos = tf.data.Dataset.from_tensor_slices((tf.constant(OOS_TEXTS), tf.constant([OOS_LABEL_ID] * len(OOS_TEXTS))))
    return dataset.concatenate(oos)


def export_and_check_oos_figures(model, path, validation, labels, calibration):
    """A float32 export verified on `validation`; its in-scope and OOS figures match Keras's and the calibration's."""
    result = voice_ft.export_tflite(model, path, quantization="float32", verify_on=validation, labels=labels,
                                    calibration=calibration)  # fmt: skip
    assert result.num_oos == len(OOS_TEXTS)
    assert result.tflite_in_scope_accuracy == pytest.approx(result.keras_in_scope_accuracy)
    assert result.tflite_oos_recall == pytest.approx(result.keras_oos_recall)
    assert result.keras_oos_recall == calibration.report["rejection"]["validation"]["oos_recall"]
    return result


def test_calibrate_fits_a_temperature_that_lowers_validation_nll(trained, tmp_path):
    model, _, test, labels = trained
    calibration = voice_ft.calibrate(model, test, labels)
    report = calibration.report
    assert calibration.temperature > 0 and np.isfinite(calibration.temperature)
    assert report["nll_after"] <= report["nll_before"]
    assert calibration.threshold is not None and report["rejection"]["criterion"] == "target_in_scope_rejection"
    # at most floor(0.02 * 100) = 2 of the 100 examples (exactly 2 unless confidences tie; see the numpy tests)
    assert 0 < calibration.threshold < 1 and report["rejection"]["validation"]["in_scope_rejection"] <= 0.02
    reports.plot_reliability_diagram(report, tmp_path / "reliability_diagram.png")
    assert (tmp_path / "reliability_diagram.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not [p for p in tmp_path.iterdir() if p.name != "reliability_diagram.png"]  # no partial file left
    with pytest.raises(ValueError, match="labels given"):
        voice_ft.calibrate(model, test, labels[:2])


def test_export_ships_calibration_and_verifies_oos_recall(trained, tmp_path):
    model, _, test, labels = trained
    validation = with_oos(test)
    auto = voice_ft.calibrate(model, validation, labels)  # the score with the better validation AUROC
    aurocs = auto.report["rejection"]["auroc"]
    assert auto.score == ("energy" if aurocs["energy"] > aurocs["max_softmax"] else "max_softmax")
    calibration = voice_ft.calibrate(model, validation, labels, score="max_softmax",
                                   target_oos_recall=None)  # the balanced threshold: checked by hand below
    assert calibration.report["rejection"]["criterion"] == "max in_scope_accuracy + oos_recall"
    path = tmp_path / "intent.tflite"
    result = export_and_check_oos_figures(model, path, validation, labels, calibration)
    assert result.keras_accuracy == voice_ft.evaluate(model, test, labels)["accuracy"]  # OOS rows left out

    sidecar = json.loads(path.with_suffix(".json").read_text())
    assert sidecar["calibration"] == {"temperature": calibration.temperature, "ece_before": calibration.ece_before,
                                      "ece_after": calibration.ece_after, "bins": 15}  # fmt: skip
    assert sidecar["rejection"]["method"] == "threshold" and sidecar["rejection"]["threshold"] == calibration.threshold
    assert sidecar["verification"]["tflite_oos_recall"] == result.tflite_oos_recall

    classifier = TextClassifier(path)
    texts = [t.decode() for t, _ in test.take(10).as_numpy_iterator()] + OOS_TEXTS
    logits = classifier.logits(texts).astype(np.float64) / calibration.temperature
    want = np.exp(logits - logits.max(1, keepdims=True))
    want /= want.sum(1, keepdims=True)
    rejected = 0
    for text, row in zip(texts, want):
        out = classifier(text)
        assert out["confidence"] == pytest.approx(row.max(), abs=1e-9)
        assert out["not_understood"] == (row.max() < calibration.threshold)
        rejected += out["not_understood"]
    assert rejected == int(np.sum(want.max(1) < calibration.threshold))


def test_the_graph_score_is_the_numpy_score_of_the_sentence_embedding(trained):
    model, train, test, _ = trained
    y, _, embeddings = logits_and_embeddings(model, train)
    gaussians = ClassGaussians.fit(embeddings, y)
    scored = with_distance_score(model, gaussians)
    batch = next(iter(voice_ft.data.text_pipeline.encode_dataset(test, model.text_encoder, batch_size=16, cache=False,
                                                                 report_truncation=False)))[0]  # fmt: skip
    out = scored(batch, training=False)
    np.testing.assert_allclose(np.asarray(out["logits"]), np.asarray(model(batch, training=False)), rtol=1e-6)
    _, _, test_embeddings = logits_and_embeddings(model, test.take(16))
    np.testing.assert_allclose(np.asarray(out["mahalanobis"]), gaussians.score(test_embeddings), rtol=1e-3, atol=1e-3)
    assert with_distance_score(model, gaussians) is scored  # one model object: its SavedModel is reused per export
    refit = ClassGaussians(gaussians.means + 1.0, gaussians.whitening)
    rescored = with_distance_score(model, refit)
    assert rescored is not scored
    np.testing.assert_allclose(np.asarray(rescored(batch, training=False)["mahalanobis"]),
                               refit.score(test_embeddings), rtol=1e-3, atol=1e-3)  # fmt: skip


def test_calibrate_fits_the_score_on_train_and_auto_compares_it(trained):
    model, train, test, labels = trained
    validation = with_oos(test)
    calibration = voice_ft.calibrate(model, validation, labels, score="mahalanobis", train=train)
    assert calibration.score == "mahalanobis" and isinstance(calibration.gaussians, ClassGaussians)
    assert calibration.gaussians.means.shape == (len(labels), model.get_layer("classifier_dropout").input.shape[-1])
    assert np.isfinite(calibration.threshold) and calibration.report["rejection"]["score"] == "mahalanobis"
    aurocs = calibration.report["rejection"]["auroc"]
    assert set(aurocs) == {"max_softmax", "energy", "mahalanobis"}
    auto = voice_ft.calibrate(model, validation, labels, train=train)
    assert auto.score == max(aurocs, key=aurocs.get)  # the best validation AUROC (first on ties)
    assert voice_ft.calibrate(model, test, labels, train=train).gaussians is None  # no OOS rows: nothing to choose
    with pytest.raises(ValueError, match="score='mahalanobis' needs train"):
        voice_ft.calibrate(model, validation, labels, score="mahalanobis")


def test_export_ships_the_score_and_the_runtime_applies_it(trained, tmp_path):
    model, train, test, labels = trained
    validation = with_oos(test)
    calibration = voice_ft.calibrate(model, validation, labels, score="mahalanobis", train=train)
    path = tmp_path / "intent.tflite"
    export_and_check_oos_figures(model, path, validation, labels, calibration)
    sidecar = json.loads(path.with_suffix(".json").read_text())
    assert sidecar["outputs"] == {"logits": "logits", "mahalanobis": "mahalanobis"}
    assert sidecar["rejection"]["score"] == "mahalanobis" and sidecar["rejection"]["threshold"] == calibration.threshold

    classifier = TextClassifier(path)
    texts = [t.decode() for t, _ in test.take(10).as_numpy_iterator()] + OOS_TEXTS
    rows = tf.data.Dataset.from_tensor_slices((tf.constant(texts), tf.zeros([len(texts)], tf.int32)))
    _, _, embeddings = logits_and_embeddings(model, rows)
    want = calibration.gaussians.score(embeddings)
    for text, score in zip(texts, want):
        out = classifier(text)
        assert out["mahalanobis"] == pytest.approx(score, rel=1e-3, abs=1e-3)
        if abs(score - calibration.threshold) > 1e-2:  # clear of the threshold: the same decision as in numpy
            assert out["not_understood"] == (score < calibration.threshold)

    # The sidecar must name the distance output its rule needs, and the exporter needs the Gaussians.
    del sidecar["outputs"]["mahalanobis"]
    path.with_suffix(".json").write_text(json.dumps(sidecar))
    with pytest.raises(SidecarError, match="mahalanobis"):
        TextClassifier(path)
    calibration.gaussians = None
    with pytest.raises(ValueError, match="holds no class Gaussians"):
        voice_ft.export_tflite(model, tmp_path / "again.tflite", quantization="float32", labels=labels,
                               calibration=calibration)  # fmt: skip
