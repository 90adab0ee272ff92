"""NLUParser: TensorFlow-free parsing of an exported joint model, identical to the Keras `parse`."""

import json
import os
import pathlib
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import voice_ft
from voice_ft.nlu.export import export_nlu_tflite
from voice_ft.nlu import model as nlu_model
from voice_ft.runtime.text_classifier import SidecarError

ROOT = pathlib.Path(__file__).resolve().parents[2]
TEXTS = [
    "play the album back in black by ac dc on spotify",
    "  Book a TABLE for 4 at   an italian   restaurant in  Paris\ttomorrow ",
    "will it rain in são paulo next week?",
    "rate this book five out of 6 stars",
    "",
    "x",
]


@pytest.fixture(scope="module", params=[False, True], ids=["bio", "crf"])
def exported(request, tiny_preset, snips_rows, tmp_path_factory):
    """An untrained tiny joint model (its random slot scores give many entities to check), exported."""
    intents = sorted({r["intent"] for r in snips_rows})
    tags = ["O"] + sorted({t for r in snips_rows for t in r["slots"] if t != "O"})
    model = nlu_model.build_joint_nlu_model(voice_ft.load_backbone(tiny_preset), intents, tags, crf=request.param,
                                            sequence_length=24)  # fmt: skip
    if request.param:  # random CRF scores so that decoding really depends on them
        crf = nlu_model.crf_layer(model)
        crf.raw_transitions.assign(np.random.default_rng(0).normal(size=crf.raw_transitions.shape) / 50)
    path = tmp_path_factory.mktemp("nlu") / "nlu.tflite"
    export_nlu_tflite(model, path, quantization="float32")
    return model, path


def test_parser_matches_keras_parse(exported):
    from voice_ft.runtime import NLUParser

    model, path = exported
    parser = NLUParser(path)
    assert parser.parse_batch(TEXTS) == [parser.parse(t) for t in TEXTS]
    found = 0
    for text in TEXTS:
        keras_result, lite_result = nlu_model.parse(model, text), parser.parse(text)
        assert lite_result["intent"] == keras_result["intent"]
        assert lite_result["confidence"] == pytest.approx(keras_result["confidence"], abs=1e-5)
        assert lite_result["slots"] == keras_result["slots"]
        for slot in lite_result["slots"]:
            assert text[slot["start"] : slot["end"]] == slot["value"]
        found += len(lite_result["slots"])
    assert found >= 3, "an untrained model should produce some entities to compare"
    assert parser.parse("")["slots"] == []


def test_parser_runs_without_tensorflow(exported):
    _, path = exported
    code = textwrap.dedent(f"""
        import json, sys
        from voice_ft.runtime import NLUParser
        parser = NLUParser({str(path)!r})
        results = parser.parse_batch({TEXTS!r})
        bad = [m for m in ("tensorflow", "keras", "keras_hub", "tensorflow_text") if m in sys.modules]
        assert not bad, bad
        print("RESULT " + json.dumps(results))
    """)
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    line = next(l for l in proc.stdout.splitlines() if l.startswith("RESULT "))
    from voice_ft.runtime import NLUParser

    assert json.loads(line[len("RESULT "):]) == NLUParser(path).parse_batch(TEXTS)


def test_sidecar_errors(exported, tmp_path):
    from voice_ft.runtime import NLUParser

    _, path = exported
    sidecar = json.loads(path.with_suffix(".json").read_text())
    copy = tmp_path / "nlu.tflite"
    copy.write_bytes(path.read_bytes())
    (tmp_path / "vocab.txt").write_text((path.parent / "vocab.txt").read_text())
    with pytest.raises(SidecarError, match="not found"):
        NLUParser(copy)
    copy.with_suffix(".json").write_text(json.dumps({**sidecar, "task": "text_classification"}))
    with pytest.raises(SidecarError, match="expected 'joint_nlu'"):
        NLUParser(copy)
    copy.with_suffix(".json").write_text(json.dumps({**sidecar, "outputs": {"intent_logits": "x", "slot_logits": "y"}}))
    with pytest.raises(SidecarError, match="names output 'x'"):
        NLUParser(copy)
    copy.with_suffix(".json").write_text(json.dumps({**sidecar, "slot_tags": sidecar["slot_tags"][1:]}))
    with pytest.raises(SidecarError, match="slot tags must include 'O'"):
        NLUParser(copy)


def test_intent_rejection_written_by_the_exporter_and_applied(exported, tmp_path):
    """`export_nlu_tflite(calibration=)` ships T and a threshold; the parser rejects below it, keeps slots."""
    from voice_ft.evaluation.calibration import Calibration
    from voice_ft.runtime import NLUParser

    model, path = exported
    plain = NLUParser(path)
    intent_logits, _, _ = plain.logits(TEXTS)
    z = intent_logits.astype(np.float64) / 2.0
    probs = np.exp(z - z.max(1, keepdims=True))
    probs /= probs.sum(1, keepdims=True)
    confidence = np.sort(probs.max(1))
    threshold = float((confidence[2] + confidence[3]) / 2)
    assert confidence[2] < threshold < confidence[3]
    block = {"method": "threshold", "threshold": threshold, "score": "max_softmax"}
    calibration = Calibration(2.0, 0.1, 0.05, threshold, {"rejection": block})
    export_nlu_tflite(model, tmp_path / "cal.tflite", quantization="float32", calibration=calibration)
    sidecar = json.loads((tmp_path / "cal.json").read_text())
    assert sidecar["rejection"] == block and sidecar["calibration"]["temperature"] == 2.0
    parser = NLUParser(tmp_path / "cal.tflite")
    for text, row in zip(TEXTS, probs):
        got, before = parser.parse(text), plain.parse(text)
        best = model.intent_labels[int(row.argmax())]
        assert got["best_intent"] == best and got["confidence"] == pytest.approx(float(row.max()), abs=1e-5)
        assert got["not_understood"] is bool(row.max() < threshold)
        assert got["intent"] == (None if got["not_understood"] else best)
        assert got["slots"] == before["slots"]
    assert sum(parser.parse(t)["not_understood"] for t in TEXTS) == 3


def out_of_scope_setting(logits: np.ndarray, before: list[dict]) -> tuple[int, float, int]:
    """An intent to play the out-of-scope one (the first text's runner-up first) and a logit raise that makes it
    win the `cut` texts closest to it, one of them with slots to drop, and lose the rest, each side by a margin
    far above float32 TFLite's 1e-7 logit differences. The model is untrained, so its logits are whatever its
    initialisation gives: the setting is searched for, not assumed (a fixed choice failed on a fresh clone)."""
    ranked = [int(i) for i in np.argsort(logits[0])[::-1]]
    for oos in ranked[1:] + ranked[:1]:
        needed = logits.max(1) - logits[:, oos]
        order = np.sort(needed)
        for cut in sorted(range(1, len(order)), key=lambda c: order[c - 1] - order[c]):  # the widest gap first
            won = needed <= order[cut - 1]
            if order[cut] - order[cut - 1] > 1e-5 and any(p["slots"] for w, p in zip(won, before) if w):
                return oos, float((order[cut - 1] + order[cut]) / 2), cut
    raise AssertionError("no intent can win a text with slots and lose another: the untrained model gave no entities")


def test_an_oos_intent_that_wins_answers_not_understood_with_no_slots(exported, tmp_path):
    """With the sidecar's `rejection.oos_label` (an intent trained on negatives), an utterance that intent
    wins gets intent None, not_understood and no slots; the others keep their intent and slots."""
    from voice_ft.evaluation.calibration import Calibration
    from voice_ft.runtime import NLUParser

    model, path = exported
    plain = NLUParser(path)
    before = plain.parse_batch(TEXTS)
    logits = plain.logits(TEXTS)[0].astype(np.float64)
    oos, raise_by, cut = out_of_scope_setting(logits, before)
    needed = logits.max(1) - logits[:, oos]  # how far its logit is from winning, per text
    boost = np.zeros(len(model.intent_labels), np.float32)
    boost[oos] = raise_by
    head = model.get_layer("intent_logits")
    original = head.bias.numpy()
    block = {"method": "threshold", "threshold": None, "score": "max_softmax", "oos_label": model.intent_labels[oos]}
    head.bias.assign(original + boost)
    try:
        export_nlu_tflite(model, tmp_path / "oos.tflite", quantization="float32",
                          calibration=Calibration(1.0, 0.1, 0.1, None, {"rejection": block}, oos_index=oos))  # fmt: skip
    finally:
        head.bias.assign(original)  # the module's fixture model is shared
    assert json.loads((tmp_path / "oos.json").read_text())["rejection"]["oos_label"] == model.intent_labels[oos]
    results = NLUParser(tmp_path / "oos.tflite").parse_batch(TEXTS)
    for won, plain_result, got in zip(needed < boost[oos], before, results):
        assert got["not_understood"] is bool(won) and got["intent"] == (None if won else plain_result["intent"])
        assert got["slots"] == ([] if won else plain_result["slots"])  # slot scores do not depend on the intent head
        assert got["best_intent"] != model.intent_labels[oos]
    assert sum(r["not_understood"] for r in results) == cut and 0 < cut < len(TEXTS)
    assert any(p["slots"] for won, p in zip(needed < boost[oos], before) if won), "some dropped slots to check"
