"""Smoke tests of the absl trainers: a few steps on real data with the tiny preset backbone."""

import json
import re

import pytest

from example_runner import run_example


@pytest.fixture(scope="module")
def intent_run(tiny_preset, tmp_path_factory):
    """A run whose training split streams from TFRecord shards (--train_shards), as for a set larger than memory."""
    import voice_ft
    from voice_ft.data.tfrecords import write_text_shards

    runs = tmp_path_factory.mktemp("runs")
    train, _, _, labels = voice_ft.datasets.load("snips")
    write_text_shards(train.take(96), runs / "shards", num_shards=3, labels=labels)
    run_dir = runs / "intent"
    process = run_example(
        "train_intent.py", f"--backbone={tiny_preset}", f"--run_dir={run_dir}", "--epochs=1",
        f"--train_shards={runs / 'shards' / 'train-*.tfrecord'}",
        "--batch_size=16", "--sequence_length=24", "--learning_rate=1e-3", "--quantization=float32,dynamic",
        "--tolerance=100", "--ema_momentum=0.9",
    )
    return run_dir, process


def test_train_intent_writes_a_complete_run_directory(intent_run):
    run_dir, process = intent_run
    for name in ("model.keras", "config.json", "labels.txt", "vocab.txt", "metrics.json", "history.csv",
                 "intent_float32.tflite", "intent_float32.json", "intent_dynamic.tflite", "intent_dynamic.json",
                 "confusion_matrix.png", "training_curves.png", "reliability_diagram.png"):
        assert (run_dir / name).exists(), name
    assert any((run_dir / "logs").rglob("events.out.tfevents.*"))
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["test"]["num_examples"] == 700
    assert 0 < metrics["train_seconds"] < 600  # the fit alone, also logged ("Training took N s.")
    assert metrics["tflite"]["float32"]["tflite_accuracy"] == pytest.approx(metrics["test"]["accuracy"])
    config = json.loads((run_dir / "config.json").read_text())
    assert config["recipe"]["epochs"] == 1 and len(config["labels"]) == 7
    assert config["recipe"]["ema_momentum"] == 0.9  # Keras and TFLite figures above: the averaged weights
    assert "Keras test accuracy" in process.stdout and "TFLite float32" in process.stdout
    assert "Training split: 3 shards" in process.stdout and config["train_shards"].endswith("train-*.tfrecord")
    assert "Recipe for 96 sentences in 7 classes" in process.stderr  # the shards, not --data's 13,084
    assert "Calibration: T = " in process.stdout and "with rejection: in-scope accuracy" in process.stdout
    assert "Slot supervision: off (not combined with --train_shards)" in process.stdout
    assert config["slot_supervision"] is False


def test_train_intent_calibrates_on_validation_and_ships_it(intent_run):
    run_dir, _ = intent_run
    assert (run_dir / "reliability_diagram.png").read_bytes()[:4] == b"\x89PNG"
    calibration = json.loads((run_dir / "metrics.json").read_text())["calibration"]
    assert calibration["nll_after"] <= calibration["nll_before"] and calibration["bins"] == 15
    rejection = calibration["rejection"]
    assert rejection["criterion"] == "target_in_scope_rejection" and rejection["target_in_scope_rejection"] == 0.02
    assert rejection["validation"]["num_in_scope"] == 700 and rejection["validation"]["in_scope_rejection"] <= 0.02
    for name in ("intent_float32.json", "intent_dynamic.json"):
        sidecar = json.loads((run_dir / name).read_text())
        assert sidecar["calibration"]["temperature"] == calibration["temperature"] > 0
        assert sidecar["calibration"]["bins"] == 15 and sidecar["calibration"]["ece_after"] == calibration["ece_after"]
        assert sidecar["rejection"] == rejection
        assert sidecar["verification"]["tflite_in_scope_accuracy"] is not None


def test_rerun_refuses_to_overwrite(intent_run, tiny_preset):
    run_dir, _ = intent_run
    before = (run_dir / "metrics.json").read_text()
    process = run_example("train_intent.py", f"--backbone={tiny_preset}", f"--run_dir={run_dir}", "--epochs=1", check=False)
    assert process.returncode != 0 and "Refusing to overwrite" in process.stderr
    assert (run_dir / "metrics.json").read_text() == before


def test_export_example_on_a_trained_run(intent_run):
    run_dir, _ = intent_run
    # The run trained 6 steps: near-tied logits, so float16 may flip a few of them (2 points once on a fresh clone);
    # the tolerance is the trainer's own in this module. Verification itself is tested in tests/export.
    process = run_example("export_tflite.py", f"--model_dir={run_dir}", "--data=snips", "--quantization=float16",
                          "--tolerance=100")
    assert (run_dir / "intent_classifier_float16.tflite").exists()
    match = re.search(r"TFLite accuracy (\S+) \(Keras (\S+), max \|diff\| (\S+)\)", process.stdout)
    assert match, process.stdout[-2000:]
    tflite_accuracy, keras_accuracy, max_abs_diff = map(float, match.groups())
    assert abs(tflite_accuracy - keras_accuracy) <= 0.05 and max_abs_diff < 0.05  # float16 weights, not a broken file


def test_bad_arguments_fail_before_training(tiny_preset, tmp_path):
    process = run_example("train_intent.py", f"--backbone={tiny_preset}", f"--run_dir={tmp_path / 'r'}",
                          "--quantization=int4", check=False)
    assert process.returncode != 0 and "quantization must be one of" in process.stderr
    # The shared out-of-scope flags (each value is checked in test_calibration_flags.py).
    process = run_example("train_intent.py", f"--run_dir={tmp_path / 'r'}", "--reject_rate=1.5", check=False)
    assert process.returncode != 0 and "--reject_rate must be in [0, 1)" in process.stderr
    assert not (tmp_path / "r").exists()
    process = run_example("train_intent.py", "--backbone=no-such-backbone", f"--run_dir={tmp_path / 'r2'}", check=False)
    assert process.returncode != 0 and "Unknown backbone 'no-such-backbone'" in process.stderr


def test_train_sentiment_on_poems_with_the_chosen_recipe_and_tuning(tiny_preset, tmp_path):
    """No recipe flag: the recipe is chosen from the data (and printed with its reasons); --tune=2 tries two."""
    run_dir = tmp_path / "poem"
    process = run_example("train_sentiment.py", "--data=poem_sentiment", f"--backbone={tiny_preset}",
                          f"--run_dir={run_dir}", "--train_limit=64", "--tune=2", "--learning_rate=1e-3",
                          "--sequence_length=32", "--quantization=", "--calibrate=false")  # fmt: skip  (export: intent_run)
    assert (run_dir / "labels.txt").read_text().split() == ["negative", "no_impact", "positive", "mixed"]
    assert not list(run_dir.glob("*.tflite"))
    config = json.loads((run_dir / "config.json").read_text())
    assert config["recipe"]["steps"] == 10 * 2  # 4 classes x 1,200 sightings > 10 epochs of 2 batches: capped
    assert config["recipe"]["head_learning_rate_multiplier"] == 10 and config["tune"] == 2
    assert "Recipe:" in process.stdout and "steps = 20 (10.0 epochs" in process.stdout
    assert "learning_rate = 0.001 (set by you)" in process.stdout
    tuning = json.loads((run_dir / "tuning.json").read_text())
    assert [t["rung"] for t in tuning["trials"]] == [0, 0, 1]
    assert tuning["chosen"]["steps"] == tuning["trials"][-1]["steps"]


def test_generated_negatives_train_an_out_of_scope_class(tiny_preset, tmp_path):
    run_dir = tmp_path / "oos"
    process = run_example(
        "train_intent.py", f"--backbone={tiny_preset}", f"--run_dir={run_dir}", "--epochs=1", "--train_limit=96",
        "--batch_size=16", "--sequence_length=24", "--quantization=float32", "--tolerance=100",
        "--negatives=generated", "--score=energy",
    )
    assert "Out-of-scope class 'oos': 38 training and 10 validation negatives (generated)" in process.stdout
    # SNIPS tags slots: the classifier trained with the slot head, the negatives tagged "O" (none of the domain's slots).
    assert "Slot supervision: on (the training data tags slots: 72 slot tags" in process.stdout
    config = json.loads((run_dir / "config.json").read_text())
    assert config["labels"][-1] == "oos" and len(config["labels"]) == 8 and config["negatives"] == "generated"
    assert config["slot_supervision"] is True
    history = json.loads((run_dir / "metrics.json").read_text())["history"]
    assert {"logits_accuracy", "slot_logits_loss", "val_slot_logits_loss"} <= set(history)
    sidecar = json.loads((run_dir / "intent.json").read_text())
    assert sidecar["labels"][-1] == "oos"
    rejection = sidecar["rejection"]
    assert rejection["oos_label"] == "oos" and rejection["score"] == "energy"
    assert rejection["criterion"].startswith("max in_scope_accuracy + oos_recall") and rejection["validation"]["num_oos"] == 10
    assert sidecar["verification"]["tflite_in_scope_accuracy"] is not None
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["negatives"]["train"] == 38 and metrics["test"]["num_examples"] == 700

    from voice_ft.runtime import TextClassifier

    result = TextClassifier(run_dir / "intent.tflite")("what is the capital of peru")
    assert set(result) >= {"label", "not_understood", "best_label", "energy", "scores"} and result["best_label"] != "oos"


@pytest.mark.parametrize("value, pattern", [
    ("maybe", r"--negatives must be 'none', 'generated' or a .txt/.jsonl file"),
    ("{tmp}/bad.jsonl", r"bad.jsonl:1: --negatives: each line needs a non-empty string field 'text'"),
])  # fmt: skip
def test_bad_negatives_fail_before_training(tiny_preset, tmp_path, value, pattern):
    (tmp_path / "bad.jsonl").write_text('{"sentence": "hi"}\n', encoding="utf-8")
    process = run_example("train_intent.py", f"--backbone={tiny_preset}", f"--run_dir={tmp_path / 'r'}",
                          f"--negatives={value.format(tmp=tmp_path)}", check=False)
    assert process.returncode != 0 and re.search(pattern, process.stderr), process.stderr[-2000:]
    assert not (tmp_path / "r" / "model.keras").exists()


def test_slot_supervision_flag_is_refused_where_it_cannot_apply(tiny_preset, tmp_path):
    process = run_example("train_intent.py", f"--backbone={tiny_preset}", f"--run_dir={tmp_path / 'r'}",
                          "--slot_supervision", "--tune=2", check=False)  # fmt: skip
    assert process.returncode != 0 and "--slot_supervision trains from --data's slot-tagged sentences" in process.stderr
    folder = tmp_path / "untagged"
    folder.mkdir()
    for split in ("train", "validation", "test"):
        rows = [{"text": "turn on the lights", "label": "on"}, {"text": "lights off", "label": "off"}]
        (folder / f"{split}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    process = run_example("train_intent.py", f"--backbone={tiny_preset}", f"--run_dir={tmp_path / 'r2'}",
                          f"--data={folder}", "--slot_supervision", check=False)  # fmt: skip
    assert process.returncode != 0 and "--slot_supervision needs slot-tagged data" in process.stderr
    assert re.search(r"train\.jsonl:1: missing field 'intent'", process.stderr)
    assert not (tmp_path / "r2" / "model.keras").exists()

