"""The spoken-intent trainer end to end, through its own main: synthesise a few commands, train, export.

Tiny on purpose (2 intents, a handful of sentences, 1 epoch, 2 s clips): it checks the plumbing
(espeak-ng rendering with voice-disjoint splits, cached-embedding head training, save, waveform-in
export, metrics), not accuracy.
"""

import csv
import json
import pathlib

import pytest

from example_runner import run_example
from voice_ft.data.speech_synthesis import espeak_binary

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
                       "--epochs=1", "--quantization=float32", check=False, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Spoken-intent accuracy on held-out voices" in done.stdout

    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["num_train"] == 2 * 3 * 2 and metrics["num_test"] == 2
    assert 0.0 <= metrics["test_accuracy_held_out_voices"] <= 1.0
    export = metrics["exports"]["float32"]
    assert "refused" in export or (run_dir / "spoken_intent_float32.tflite").is_file()
    assert (run_dir / "model.keras").is_file()

    # Voice-disjoint: no voice (base accent included) of the test split was heard in training.
    with (run_dir / "audio" / "manifest.csv").open() as f:
        rows = list(csv.DictReader(f))
    accents = {split: {r["speaker"].split("+")[0] for r in rows if r["split"] == split} for split in ("train", "test")}
    assert accents["train"] and accents["test"] and not accents["train"] & accents["test"]
