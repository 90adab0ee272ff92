"""The speech-commands trainer end to end on a few real FSDD clips (one epoch, a tiny DS-CNN)."""

import csv
import json
import pathlib
import shutil
import subprocess
import sys

REPO = pathlib.Path(__file__).resolve().parents[2]
FSDD = REPO / "data" / "fsdd"


def tiny_manifest(tmp_path: pathlib.Path) -> pathlib.Path:
    """3 digits x (4 train, 2 validation, 2 test) real clips, plus one corrupt training file."""
    rows, counts = [], {}
    with (FSDD / "manifest.csv").open() as f:
        for row in csv.DictReader(f):
            key = (row["label"], row["split"])
            if row["label"] in "012" and counts.get(key, 0) < (4 if row["split"] == "train" else 2):
                counts[key] = counts.get(key, 0) + 1
                shutil.copy(FSDD / row["path"], tmp_path / pathlib.Path(row["path"]).name)
                rows.append({"path": pathlib.Path(row["path"]).name, "label": row["label"], "split": row["split"]})
    (tmp_path / "corrupt.wav").write_bytes(b"RIFF....WAVE")
    rows.append({"path": "corrupt.wav", "label": "1", "split": "train"})
    manifest = tmp_path / "manifest.csv"
    with manifest.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=["path", "label", "split"])
        writer.writeheader()
        writer.writerows(rows)
    return manifest


def run(args, cwd):
    return subprocess.run([sys.executable, str(REPO / "examples" / "train_speech_commands.py"), *args],
                          capture_output=True, text=True, cwd=cwd, timeout=300)


def test_trainer_fails_on_bad_file_then_skips_it(tmp_path):
    manifest = tiny_manifest(tmp_path)
    common = [f"--manifest={manifest}", "--epochs=1", "--filters=8", "--num_blocks=1", "--batch_size=8",
              "--repeat_augmented=1", "--quantization=float32,int8"]
    failed = run([*common, f"--run_dir={tmp_path / 'run1'}"], REPO)
    assert failed.returncode != 0
    assert "corrupt.wav" in failed.stderr and "unreadable audio" in failed.stderr

    done = run([*common, f"--run_dir={tmp_path / 'run2'}", "--skip_bad_files"], REPO)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Skipped 1 bad files" in done.stdout and "corrupt.wav" in done.stdout
    metrics = json.loads((tmp_path / "run2" / "metrics.json").read_text())
    assert metrics["skipped_files"] == [str(tmp_path / "corrupt.wav")]
    assert metrics["test"]["num_examples"] == 6
    assert (tmp_path / "run2" / "model.keras").is_file()
    for quantization, export in metrics["exports"].items():  # written and verified, or refused with a reason
        assert "refused" in export or (tmp_path / "run2" / f"speech_commands_dscnn_{quantization}.tflite").is_file()
    assert "tflite_accuracy" in metrics["exports"]["float32"]
