"""Smoke test of examples/train_nlu.py: a few steps on real SNIPS rows with the tiny preset backbone."""

import json
import shutil

import numpy as np
import pytest

from example_runner import REPO, run_example
from voice_ft.runtime import NLUParser

SNIPS = REPO / "data" / "snips"
OFF_TOPIC = ["what is the meaning of life", "tell me a joke about cats", "how tall is mount everest",
             "who won the football match yesterday", "translate hello into french", "how do i boil an egg",
             "what is two plus two", "recommend a good novel", "why is the sky blue", "order me a pizza",
             "how old is the universe", "can you sing a song", "what time is it in tokyo",
             "book a dentist appointment", "call my mother", "set the thermostat to twenty degrees",
             "how many legs does a spider have", "send an email to my boss", "who painted the mona lisa",
             "turn off the kitchen lights"]  # fmt: skip
NEGATIVES = ["what is the capital of peru", "i love this so much", "can you help me with my homework",
             "how far away is the moon", "my car will not start", "what should i cook for dinner",
             "is it true that cats sleep all day", "i need a new pair of shoes", "who invented the telephone",
             "lol that was hilarious"]  # fmt: skip


@pytest.fixture(scope="module")
def nlu_run(tiny_preset, tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("runs") / "nlu"
    process = run_example("train_nlu.py", f"--backbone={tiny_preset}", f"--run_dir={run_dir}", "--epochs=1",
                          "--train_limit=64", "--batch_size=16", "--sequence_length=40", "--learning_rate=1e-3", "--crf",
                          "--slot_loss_weight=2", "--quantization=float32", "--tolerance=100",
                          "--reject_rate=0.5", "--score=max_softmax")  # fmt: skip
    return run_dir, process


def test_train_nlu_writes_a_complete_run_directory(nlu_run):
    run_dir, process = nlu_run
    for name in ("model.keras", "nlu_model.json", "config.json", "labels.txt", "slot_labels.txt", "vocab.txt", "metrics.json",
                 "history.csv", "nlu.tflite", "nlu.json", "training_curves.png", "intent_confusion_matrix.png",
                 "reliability_diagram.png"):
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


def test_train_nlu_ships_the_intent_calibration_and_the_parser_rejects_below_it(nlu_run):
    run_dir, process = nlu_run
    metrics = json.loads((run_dir / "metrics.json").read_text())
    report = metrics["calibration"]
    rule = report["rejection"]
    assert rule["score"] == "max_softmax" and rule["criterion"] == "target_in_scope_rejection"
    assert rule["validation"]["num_in_scope"] == 700 and rule["validation"]["num_oos"] == 0
    assert abs(rule["validation"]["in_scope_rejection"] - 0.5) <= 0.02  # --reject_rate=0.5 of the 700 (ties aside)
    sidecar = json.loads((run_dir / "nlu.json").read_text())
    assert sidecar["calibration"]["temperature"] == pytest.approx(report["temperature"])
    assert sidecar["rejection"]["threshold"] == pytest.approx(rule["threshold"]) and sidecar["rejection"]["score"] == "max_softmax"
    verified = metrics["tflite"]["float32"]["rejection"]
    assert abs(verified["tflite_in_scope_accuracy"] - verified["keras_in_scope_accuracy"]) <= 0.01
    assert verified["num_oos"] == 0 and verified["tflite_oos_recall"] is None

    # The TF-free parser applies the sidecar's rule: half the validation utterances fall below it.
    texts = [json.loads(line)["text"] for line in (SNIPS / "validation.jsonl").read_text().splitlines()[:100]]
    results = NLUParser(run_dir / "nlu.tflite").parse_batch(texts)
    threshold = sidecar["rejection"]["threshold"]
    for result in results:
        assert result["not_understood"] == (result["confidence"] < threshold)
        assert (result["intent"] is None) == result["not_understood"]
        assert result["best_intent"] in sidecar["intent_labels"]
    rejected = sum(r["not_understood"] for r in results)
    assert 10 <= rejected <= 90, rejected  # ~50 of 100 at a 50% rate
    assert "Calibration: T = " in process.stdout and "with rejection: in-scope accuracy" in process.stdout


def snips_folder_with_oos(folder, oos_rows: dict[str, int], limit: int = 60):
    """SNIPS train (64 rows) and the first `limit` validation/test rows, plus off-topic "oos" rows."""
    folder.mkdir()
    for name in ("labels.txt", "slot_labels.txt"):
        shutil.copy(SNIPS / name, folder / name)
    for split in ("train", "validation", "test"):
        lines = (SNIPS / f"{split}.jsonl").read_text().splitlines()[: 64 if split == "train" else limit]
        for text in OFF_TOPIC[: oos_rows.get(split, 0)]:
            lines.append(json.dumps({"tokens": text.split(), "slots": ["O"] * len(text.split()), "intent": "oos"}))
        (folder / f"{split}.jsonl").write_text("\n".join(lines) + "\n")
    return folder


def test_train_nlu_learns_an_oos_intent_from_negatives_and_chooses_the_threshold_with_oos_rows(tiny_preset, tmp_path):
    """--negatives=<file> trains an "oos" intent (8 of 10 sentences; 2 join the 20 validation OOS rows);
    the parser rejects, with no slots, what it wins."""
    data = snips_folder_with_oos(tmp_path / "data", {"validation": 20, "test": 20})
    (tmp_path / "negatives.txt").write_text("# off-topic\n" + "\n".join(NEGATIVES) + "\n")
    run_dir = tmp_path / "run"
    process = run_example("train_nlu.py", f"--data={data}", f"--backbone={tiny_preset}", f"--run_dir={run_dir}",
                          "--epochs=1", "--batch_size=16", "--sequence_length=40", "--learning_rate=1e-3",
                          "--quantization=float32", "--tolerance=100", "--oos_label=oos",
                          f"--negatives={tmp_path / 'negatives.txt'}")  # fmt: skip
    assert "Out-of-scope class 'oos': 8 training and 2 validation negatives" in process.stdout
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["test"]["num_examples"] == 60  # the 20 out-of-scope rows have no intent to score
    assert metrics["negatives"]["train"] == 8 and metrics["negatives"]["validation"] == 2
    rule = metrics["calibration"]["rejection"]
    assert rule["criterion"].startswith("max in_scope_accuracy + oos_recall") and rule["oos_label"] == "oos"
    assert rule["validation"]["num_oos"] == 22 and rule["validation"]["num_in_scope"] == 60
    verified = metrics["tflite"]["float32"]["rejection"]
    assert verified["num_oos"] == 20 and verified["tflite_oos_recall"] is not None
    # float32: at most one of the 20 out-of-scope rows flips across the threshold. Counted in rows, since
    # 0.95 - 1.0 is 0.050000000000000044 in floating point (this failed on a fresh clone).
    flips = abs(verified["tflite_oos_recall"] - verified["keras_oos_recall"]) * verified["num_oos"]
    assert round(flips) <= 1
    sidecar = json.loads((run_dir / "nlu.json").read_text())
    assert sidecar["intent_labels"][-1] == "oos" and sidecar["rejection"]["oos_label"] == "oos"
    assert json.loads((run_dir / "config.json").read_text())["intents"][-1] == "oos"
    assert "OOS recall" in process.stdout

    # The TF-free parser: the oos intent winning means intent None, not_understood and no slots.
    parser = NLUParser(run_dir / "nlu.tflite")
    oos_index = parser.intents.index("oos")
    intent_logits, _, _ = parser.logits(OFF_TOPIC)
    results = parser.parse_batch(OFF_TOPIC)
    for logits, result in zip(intent_logits, results):
        if int(np.argmax(logits)) == oos_index:
            assert result["intent"] is None and result["not_understood"] and result["slots"] == []
        assert result["best_intent"] != "oos" and (result["intent"] is None) == result["not_understood"]


def test_train_nlu_refuses_oos_rows_in_training(tiny_preset, tmp_path):
    data = snips_folder_with_oos(tmp_path / "data", {"train": 1})
    process = run_example("train_nlu.py", f"--data={data}", f"--backbone={tiny_preset}", f"--run_dir={tmp_path / 'r'}",
                          "--oos_label=oos", check=False)  # fmt: skip
    assert process.returncode != 0
    assert f"{data / 'train.jsonl'}:65: training utterance with intent oos_label 'oos'" in process.stderr
    assert not (tmp_path / "r" / "checkpoints").exists()


def test_train_nlu_refuses_a_bad_negatives_file_before_training(tiny_preset, tmp_path):
    (tmp_path / "bad.jsonl").write_text('{"text": "hello there"}\n{"sentence": "hi"}\n', encoding="utf-8")
    process = run_example("train_nlu.py", f"--backbone={tiny_preset}", f"--run_dir={tmp_path / 'r'}",
                          f"--negatives={tmp_path / 'bad.jsonl'}", check=False)  # fmt: skip
    assert process.returncode != 0
    assert f"{tmp_path / 'bad.jsonl'}:2: --negatives: each line needs a non-empty string field 'text'" in process.stderr
    assert not (tmp_path / "r" / "checkpoints").exists()


# One bad value shows the trainer parses the shared flags (each value is checked in test_calibration_flags.py).
@pytest.mark.parametrize("flag, named", [("--reject_rate=1.5", "--reject_rate")])
def test_bad_calibration_flag_fails_before_training(tiny_preset, tmp_path, flag, named):
    process = run_example("train_nlu.py", f"--backbone={tiny_preset}", f"--run_dir={tmp_path / 'r'}", flag, check=False)
    assert process.returncode != 0 and named in process.stderr
    assert not (tmp_path / "r").exists()  # refused while parsing the flags
