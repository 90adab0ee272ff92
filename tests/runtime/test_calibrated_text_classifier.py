"""`TextClassifier` with a calibration temperature and a rejection threshold in its sidecar.

Reuses the exported tiny model of `test_runtime_text_classifier.py`; the expected probabilities are
computed here from the raw logits, independently of `voice_ft.runtime.probabilities`.
"""

import json
import pathlib

import numpy as np
import pytest

from test_runtime_text_classifier import LABELS, TEXTS, exported  # noqa: F401  (module fixture)
from voice_ft.runtime import TextClassifier
from voice_ft.runtime.text_classifier import SidecarError


def bundle(exported_path, directory: pathlib.Path, **extra) -> pathlib.Path:
    """A copy of the exported model whose sidecar has `extra` fields (None deletes one)."""
    source = pathlib.Path(exported_path)
    directory.mkdir(exist_ok=True)
    for name in (source.name, "vocab.txt"):
        (directory / name).write_bytes((source.parent / name).read_bytes())
    meta = json.loads(source.with_suffix(".json").read_text(encoding="utf-8"))
    meta.update(extra)
    meta = {k: v for k, v in meta.items() if v is not None}
    (directory / source.with_suffix(".json").name).write_text(json.dumps(meta), encoding="utf-8")
    return directory / source.name


def by_hand(logits: np.ndarray, temperature: float) -> np.ndarray:
    z = np.asarray(logits, np.float64) / temperature
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def test_confidence_is_softmax_of_logits_over_t_and_low_confidence_is_not_understood(exported, tmp_path):
    tflite_path, _ = exported
    temperature = 2.5
    plain = TextClassifier(tflite_path)
    logits = plain.logits(TEXTS)
    want = by_hand(logits, temperature)
    # a threshold between the calibrated confidences, so some texts pass and some do not
    confidence = np.sort(want.max(1))
    assert confidence[0] < confidence[-1] - 1e-3
    threshold = float((confidence[len(confidence) // 2 - 1] + confidence[len(confidence) // 2]) / 2)
    path = bundle(tflite_path, tmp_path / "calibrated",
                  calibration={"temperature": temperature, "ece_before": 0.1, "ece_after": 0.05, "bins": 15},
                  rejection={"method": "threshold", "threshold": threshold, "target_in_scope_rejection": 0.02})
    classifier = TextClassifier(path)
    assert classifier.temperature == temperature and classifier.threshold == threshold
    results = classifier.predict_batch(TEXTS)
    assert classifier(TEXTS[0]) == results[0]
    rejected = 0
    for result, row in zip(results, want):
        best = LABELS[int(row.argmax())]
        np.testing.assert_allclose([result["scores"][label] for label in LABELS], row, atol=1e-9)
        assert result["confidence"] == pytest.approx(float(row.max()), abs=1e-9)
        assert result["best_label"] == best
        if row.max() < threshold:
            rejected += 1
            assert result["label"] is None and result["not_understood"] is True
        else:
            assert result["label"] == best and result["not_understood"] is False
    assert rejected == len(TEXTS) // 2


def test_old_sidecar_behaves_as_before(exported, tmp_path):
    tflite_path, keras_probs = exported
    classifier = TextClassifier(bundle(tflite_path, tmp_path / "old", calibration=None, rejection=None))
    assert classifier.temperature == 1.0 and classifier.threshold is None
    for result, row in zip(classifier.predict_batch(TEXTS), keras_probs):
        assert set(result) == {"label", "confidence", "scores"}
        assert result["label"] == LABELS[int(row.argmax())]
        np.testing.assert_allclose([result["scores"][label] for label in LABELS], row, atol=1e-5)


def test_calibration_alone_changes_confidence_not_labels(exported, tmp_path):
    tflite_path, keras_probs = exported
    classifier = TextClassifier(bundle(tflite_path, tmp_path / "t_only", calibration={"temperature": 0.5}))
    for result, row in zip(classifier.predict_batch(TEXTS), keras_probs):
        assert set(result) == {"label", "confidence", "scores"}
        assert result["label"] == LABELS[int(row.argmax())]
        assert result["confidence"] >= float(row.max()) - 1e-6  # T < 1 sharpens


@pytest.mark.parametrize("calibration, pattern", [
    ({"temperature": 0}, "positive finite"),
    ({"temperature": -1.0}, "positive finite"),
    ({"temperature": float("nan")}, "positive finite"),
    ({"temperature": float("inf")}, "positive finite"),
    ({"temperature": "2"}, "positive finite"),
    ({"temperature": True}, "positive finite"),
    ({"ece_after": 0.1}, "positive finite"),
    ([2.0], "'calibration' must be an object"),
])  # fmt: skip
def test_bad_temperature_is_a_sidecar_error(exported, tmp_path, calibration, pattern):
    with pytest.raises(SidecarError, match=pattern):
        TextClassifier(bundle(exported[0], tmp_path / "bad", calibration=calibration))


@pytest.mark.parametrize("rejection, pattern", [
    ({"method": "threshold", "threshold": 1.5}, r"in \[0, 1\]"),
    ({"method": "threshold", "threshold": None}, r"in \[0, 1\]"),
    ({"method": "threshold", "threshold": float("nan")}, r"in \[0, 1\]"),
    ({"method": "energy", "threshold": 0.5}, "not supported"),
    ("0.5", "'rejection' must be an object"),
])  # fmt: skip
def test_bad_rejection_is_a_sidecar_error(exported, tmp_path, rejection, pattern):
    with pytest.raises(SidecarError, match=pattern):
        TextClassifier(bundle(exported[0], tmp_path / "bad", rejection=rejection))


def test_explicit_oos_label_and_energy_score(exported, tmp_path):
    """A sidecar naming one label out of scope: it rejects when it wins; energy thresholds the rest."""
    tflite_path, _ = exported
    logits = TextClassifier(tflite_path).logits(TEXTS).astype(np.float64)
    for oos in range(len(LABELS)):
        others = [i for i in range(len(LABELS)) if i != oos]
        energies = np.log(np.exp(logits[:, others]).sum(1))
        wins = logits.argmax(1) == oos
        # an energy threshold between the median two non-rejected energies (or none if all are rejected)
        kept = np.sort(energies[~wins])
        threshold = float((kept[len(kept) // 2 - 1] + kept[len(kept) // 2]) / 2) if len(kept) > 1 else None
        path = bundle(tflite_path, tmp_path / f"oos{oos}", rejection={"method": "threshold", "score": "energy",
                                                                       "threshold": threshold, "oos_label": LABELS[oos]})  # fmt: skip
        results = TextClassifier(path).predict_batch(TEXTS)
        for result, row, e, won in zip(results, logits, energies, wins):
            best = LABELS[others[int(row[others].argmax())]]
            assert result["best_label"] == best and result["energy"] == pytest.approx(e, abs=1e-9)
            assert result["not_understood"] is bool(won or (threshold is not None and e < threshold))
            assert result["label"] == (None if result["not_understood"] else best)
        assert sum(r["not_understood"] for r in results) == wins.sum() + len(kept) // 2 * (threshold is not None)
