"""Smoke test of examples/train_nlu.py: a few steps on real SNIPS rows with the tiny preset backbone."""

import json

import pytest

from example_runner import run_example


@pytest.fixture(scope="module")
def nlu_run(tiny_preset, tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("runs") / "nlu"
    process = run_example("train_nlu.py", f"--backbone={tiny_preset}", f"--run_dir={run_dir}", "--epochs=1",
                          "--train_limit=64", "--batch_size=16", "--sequence_length=40", "--learning_rate=1e-3", "--crf",
                          "--slot_loss_weight=2", "--quantization=float32", "--tolerance=100")  # fmt: skip
    return run_dir, process


def test_train_nlu_writes_a_complete_run_directory(nlu_run):
    run_dir, process = nlu_run
    for name in ("model.keras", "nlu_model.json", "config.json", "labels.txt", "slot_labels.txt", "vocab.txt", "metrics.json",
                 "history.csv", "nlu.tflite", "nlu.json", "training_curves.png", "intent_confusion_matrix.png"):
        assert (run_dir / name).exists(), name
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["test"]["num_examples"] == 700
    assert metrics["tflite"]["float32"]["tflite"]["slot_f1"] == pytest.approx(metrics["test"]["slot_f1"])
    config = json.loads((run_dir / "config.json").read_text())
    assert config["crf"] and config["slot_loss_weight"] == 2 and len(config["slot_tags"]) == 72
    assert set(config["truncated"]) == {"train", "validation", "test"}  # counts (the tiny vocabulary splits a lot)
    sidecar = json.loads((run_dir / "nlu.json").read_text())
    assert sidecar["task"] == "joint_nlu" and sidecar["slot_decoder"]["decoding"] == "crf"
    assert "Keras test: intent accuracy" in process.stdout and "TFLite float32" in process.stdout


def test_rerun_refuses_to_overwrite(nlu_run, tiny_preset):
    run_dir, _ = nlu_run
    before = (run_dir / "metrics.json").read_text()
    process = run_example("train_nlu.py", f"--backbone={tiny_preset}", f"--run_dir={run_dir}", check=False)
    assert process.returncode != 0 and "Refusing to overwrite" in process.stderr
    assert (run_dir / "metrics.json").read_text() == before


def test_bad_data_fails_before_training_with_file_and_line(tiny_preset, tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    (data / "train.md").write_text("## intent:SetAlarm\n- wake me at [seven am(time)\n")
    (data / "validation.md").write_text("## intent:SetAlarm\n- wake me at [seven](time)\n")
    (data / "test.md").write_text("## intent:SetAlarm\n- wake me at [seven](time)\n")
    process = run_example("train_nlu.py", f"--data={data}", f"--backbone={tiny_preset}", f"--run_dir={tmp_path / 'r'}", check=False)
    assert process.returncode != 0
    assert f"{data / 'train.md'}:2: unbalanced '[' without ']' at column 12" in process.stderr
    assert not (tmp_path / "r" / "checkpoints").exists()
