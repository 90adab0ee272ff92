"""The spoken-intent trainer end to end, through its own main: synthesise a few commands, train, export.

Tiny on purpose (2 intents, a handful of sentences, 2 s clips): it checks the plumbing (espeak-ng
rendering with voice-disjoint splits, cached-embedding head training for the steps chosen from the
data, save, waveform-in export, metrics), not accuracy.
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
    run_dir = tmp_path / "run"
    done = run_example("train_spoken_intent.py", f"--data_dir={tmp_path / 'text'}", f"--run_dir={run_dir}",
                       "--train_per_intent=3", "--train_renditions=2", "--eval_per_intent=1", "--clip_seconds=2.0",
                       "--quantization=float32", "--tolerance=100", "--reject_rate=0.5",
                       "--score=max_softmax", check=False, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Spoken-intent accuracy on held-out voices" in done.stdout
    # The head's recipe, chosen from the 12 clips of 2 intents (1 step a pass at batch 32: capped at 60 passes).
    assert ("steps = 60 (60.0 epochs of 1 steps): each of the 2 classes seen ~36000 times at batch 32, at most 60 "
            "epochs (12 clips, 6 a class)") in done.stdout  # fmt: skip
    assert "learning_rate = 0.001 (this task's default)" in done.stdout
    assert "early_stopping_patience = None (this task's default)" in done.stdout

    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["num_train"] == 2 * 3 * 2 and metrics["num_test"] == 2
    assert 0.0 <= metrics["test_accuracy_held_out_voices"] <= 1.0
    export = metrics["exports"]["float32"]
    assert "refused" in export or (run_dir / "spoken_intent_float32.tflite").is_file()
    assert (run_dir / "model.keras").is_file()

    # Calibrated on the 2 validation clips: --reject_rate=0.5 puts the threshold between their confidences.
    rule = metrics["calibration"]["rejection"]
    assert rule["score"] == "max_softmax" and rule["validation"]["in_scope_rejection"] == pytest.approx(0.5)
    assert (run_dir / "reliability_diagram.png").is_file()
    sidecar = json.loads((run_dir / "spoken_intent_float32.json").read_text())
    assert sidecar["calibration"]["temperature"] == pytest.approx(metrics["calibration"]["temperature"])
    assert sidecar["rejection"]["threshold"] == pytest.approx(rule["threshold"])
    assert export["tflite_in_scope_accuracy"] is not None
    assert "Calibration: T = " in done.stdout

    # Voice-disjoint: no voice (base accent included) of the test split was heard in training.
    with (run_dir / "audio" / "manifest.csv").open() as f:
        rows = list(csv.DictReader(f))
    accents = {split: {r["speaker"].split("+")[0] for r in rows if r["split"] == split} for split in ("train", "test")}
    assert accents["train"] and accents["test"] and not accents["train"] & accents["test"]

    # The TF-free classifier rejects the less confident of the two validation clips, as Keras did.
    clips = [run_dir / "audio" / r["path"] for r in rows if r["split"] == "validation"]
    results = AudioClassifier(run_dir / "spoken_intent_float32.tflite").predict_batch([str(c) for c in clips])
    assert [r["not_understood"] for r in results].count(True) == 1
    for result in results:
        assert result["not_understood"] == (result["confidence"] < sidecar["rejection"]["threshold"])
        assert (result["label"] is None) == result["not_understood"]


# One bad calibration value shows the trainer parses the shared flags (each value is checked in
# test_calibration_flags.py); a bad recipe value is refused before synthesis too.
@pytest.mark.parametrize("flag, named", [("--reject_rate=1.5", "--reject_rate"), ("--learning_rate=-1", "--learning_rate=-1.0")])
def test_trainer_refuses_a_bad_calibration_flag_before_synthesising(tmp_path, flag, named):
    failed = run_example("train_spoken_intent.py", f"--run_dir={tmp_path / 'run'}", flag, check=False)
    assert failed.returncode != 0 and named in failed.stderr
    assert not (tmp_path / "run").exists()
