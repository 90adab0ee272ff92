"""The spoken-intent trainer end to end, through its own main: synthesise a few commands, train, export.

Tiny on purpose (2 intents, a handful of sentences, 2 s clips): it checks the plumbing (espeak-ng
rendering with voice-disjoint splits, spoken negatives as an "oos" class, cached-embedding head training
for the steps chosen from the data, save, waveform-in export, calibration, metrics), not accuracy.
"""

import csv
import json
import pathlib

import pytest

from example_runner import run_example
from voice_ft.data.speech_synthesis import espeak_binary
from voice_ft.runtime import AudioClassifier

SENTENCES = {
    "GetWeather": ["what is the weather in paris", "will it rain tomorrow", "is it cold in boston today",
                   "forecast for the weekend", "how hot will it be on monday"],
    "PlayMusic": ["play some jazz", "play the new album by adele", "put on rock music",
                  "play my favourite song", "start playing the beatles"],
}


# 4 train the "oos" class, 1 is a validation out-of-scope clip; the first is read by espeak-ng as text, not an option.
NEGATIVES = ["- good point, well made", "who painted the mona lisa", "how far away is the moon",
             "i need a new pair of shoes", "tell me a joke about cats"]  # fmt: skip


def write_text_splits(folder: pathlib.Path) -> None:
    folder.mkdir()
    for split, rows in (("train", slice(0, 3)), ("validation", slice(3, 4)), ("test", slice(4, 5))):
        with (folder / f"{split}.jsonl").open("w") as f:
            for intent, texts in SENTENCES.items():
                for text in texts[rows]:
                    f.write(json.dumps({"text": text, "intent": intent}) + "\n")


@pytest.mark.skipif(espeak_binary() is None, reason="espeak-ng is not installed (apt-get install -y espeak-ng)")
def test_trainer_main_synthesises_trains_and_exports(tmp_path):
    pytest.importorskip("onnx", reason="the pretrained speech_embedding is read from ONNX (pip install onnx)")
    write_text_splits(tmp_path / "text")
    (tmp_path / "negatives.txt").write_text("\n".join(NEGATIVES) + "\n")
    run_dir = tmp_path / "run"
    done = run_example("train_spoken_intent.py", f"--data_dir={tmp_path / 'text'}", f"--run_dir={run_dir}",
                       "--train_per_intent=3", "--train_renditions=2", "--eval_per_intent=1", "--clip_seconds=2.0",
                       "--quantization=float32", "--tolerance=100", "--score=max_softmax",
                       f"--negatives={tmp_path / 'negatives.txt'}", check=False, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Spoken-intent accuracy on held-out voices" in done.stdout
    assert f"Out-of-scope class 'oos': 4 training and 1 validation negatives ({tmp_path / 'negatives.txt'})" in done.stdout
    # The head's recipe, chosen from the 20 clips of 3 classes (1 step a pass at batch 32: capped at 60 passes).
    assert "steps = 60 (60.0 epochs of 1 steps): each of the 3 classes seen ~36000 times at batch 32, at most 60 epochs" in done.stdout
    assert "learning_rate = 0.001 (this task's default)" in done.stdout
    assert "early_stopping_patience = None (this task's default)" in done.stdout

    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["num_train"] == 2 * 3 * 2 + 4 * 2 and metrics["num_test"] == 2  # negatives: 2 renditions too
    assert metrics["negatives"]["train"] == 4 and metrics["negatives"]["validation"] == 1
    assert 0.0 <= metrics["test_accuracy_held_out_voices"] <= 1.0
    export = metrics["exports"]["float32"]
    assert "refused" in export or (run_dir / "spoken_intent_float32.tflite").is_file()
    assert (run_dir / "model.keras").is_file()
    assert (run_dir / "labels.txt").read_text().split() == ["GetWeather", "PlayMusic", "oos"]

    # Calibrated on the 2 validation commands and the spoken validation negative, with the "oos" class.
    rule = metrics["calibration"]["rejection"]
    assert rule["score"] == "max_softmax" and rule["oos_label"] == "oos"
    assert rule["criterion"].startswith("max in_scope_accuracy + oos_recall")
    assert rule["validation"]["num_in_scope"] == 2 and rule["validation"]["num_oos"] == 1
    assert (run_dir / "reliability_diagram.png").is_file()
    sidecar = json.loads((run_dir / "spoken_intent_float32.json").read_text())
    assert sidecar["labels"][-1] == "oos" and sidecar["rejection"]["oos_label"] == "oos"
    assert sidecar["calibration"]["temperature"] == pytest.approx(metrics["calibration"]["temperature"])
    assert sidecar["rejection"]["threshold"] == pytest.approx(rule["threshold"])
    assert export["tflite_in_scope_accuracy"] is not None
    assert "Calibration: T = " in done.stdout

    # Voice-disjoint: no voice (base accent included) of the test split was heard in training, negatives included.
    rows = []
    for manifest in sorted((run_dir / "audio").glob("**/manifest.csv")):
        with manifest.open() as f:
            rows += [{**r, "path": str(manifest.parent / r["path"])} for r in csv.DictReader(f)]
    assert {r["text"] for r in rows if r["label"] == "oos"} == set(NEGATIVES)  # each one spoken
    accents = {split: {r["speaker"].split("+")[0] for r in rows if r["split"] == split} for split in ("train", "test")}
    assert accents["train"] and accents["test"] and not accents["train"] & accents["test"]

    # The TF-free classifier applies the sidecar's rule to the validation clips: "oos" winning rejects too.
    clips = [r["path"] for r in rows if r["split"] == "validation"]
    classifier = AudioClassifier(run_dir / "spoken_intent_float32.tflite")
    threshold = sidecar["rejection"]["threshold"]
    for logits, result in zip(classifier.logits(clips), classifier.predict_batch(clips)):
        oos_wins = int(logits.argmax()) == 2
        assert result["not_understood"] == (oos_wins or (threshold is not None and result["confidence"] < threshold))
        assert (result["label"] is None) == result["not_understood"] and result["best_label"] != "oos"


def test_trainer_refuses_a_bad_negatives_file_before_synthesising(tmp_path):
    write_text_splits(tmp_path / "text")
    (tmp_path / "negatives.jsonl").write_text('{"text": 3}\n', encoding="utf-8")
    failed = run_example("train_spoken_intent.py", f"--data_dir={tmp_path / 'text'}", f"--run_dir={tmp_path / 'run'}",
                         f"--negatives={tmp_path / 'negatives.jsonl'}", check=False)  # fmt: skip
    assert failed.returncode != 0
    assert f"{tmp_path / 'negatives.jsonl'}:1: --negatives: each line needs a non-empty string field 'text'" in failed.stderr
    assert not (tmp_path / "run" / "audio").exists()


# One bad calibration value shows the trainer parses the shared flags (each value is checked in
# test_calibration_flags.py); a bad recipe value is refused before synthesis too.
@pytest.mark.parametrize("flag, named", [("--reject_rate=1.5", "--reject_rate"), ("--learning_rate=-1", "--learning_rate=-1.0")])
def test_trainer_refuses_a_bad_calibration_flag_before_synthesising(tmp_path, flag, named):
    failed = run_example("train_spoken_intent.py", f"--run_dir={tmp_path / 'run'}", flag, check=False)
    assert failed.returncode != 0 and named in failed.stderr
    assert not (tmp_path / "run").exists()
