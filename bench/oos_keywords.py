"""Out-of-scope rejection for keyword models: FSDD digits 0-6 are the keywords, real 7, 8 and 9 are not.

    .venv/bin/python bench/oos_keywords.py                       # the trainer's own recipe (data-driven steps)
    .venv/bin/python bench/oos_keywords.py --steps=300           # a shorter run

Runs examples/train_speech_commands.py twice on the FSDD clips of the digits 0-6 (train speakers for
training, the validation speaker for validation), with no out-of-scope recording of the user's:
- `generated` (the default method): `--negatives_dir=generated`, an `oos` class trained on words
  unlike the digits spoken by espeak-ng, non-words made from the training clips (reversed, spliced)
  and noise clips (`voice_ft.data.audio_negatives`); their
  held-out 20% choose the threshold.
- `threshold`: no negatives; the threshold rejects 2% of the in-scope validation clips.
The test set is the unseen test speaker's clips: digits 0-6 in scope, and the same speaker saying
7, 8 and 9 as out-of-scope inputs: real human speech of words the model never trained on, which
the generated negatives (synthetic voices, other words) never contain.

Per method, from the run's metrics.json (the exporter scores the `.tflite` with the sidecar's rule
on that test set): Keras and TFLite in-scope accuracy (accepted and right) and OOS recall (rejected
OOS / OOS), and the trainer's wall time. Last line: one JSON object; its top-level keys are the
generated method's.
"""

from __future__ import annotations

import csv
import json
import pathlib
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

from absl import app, flags  # noqa: E402

from common import print_result  # noqa: E402

REPO = pathlib.Path(__file__).resolve().parents[1]
FSDD = REPO / "data" / "fsdd"
FLAGS = flags.FLAGS
flags.DEFINE_list("keywords", ["0", "1", "2", "3", "4", "5", "6"], "FSDD digits the model is built for.")
flags.DEFINE_integer("steps", None, "Optimizer steps of each run (default: the trainer's data-driven choice).")
flags.DEFINE_string("model", "speech_embedding_dscnn", "The trainer's --model.")
flags.DEFINE_list("methods", ["generated", "threshold"], "Which runs: generated, threshold.")
flags.DEFINE_string("out_dir", None, "Where the runs go (default: a temporary folder).")
flags.DEFINE_integer("seed", 42, "The trainer's --seed.")


def write_manifest(path: pathlib.Path, keywords: list[str]) -> dict:
    """train/validation: the keywords' clips; test: every digit, the others labelled "oos". Returns counts."""
    rows, counts = [], {"train": 0, "validation": 0, "test_in_scope": 0, "test_oos": 0}
    with (FSDD / "manifest.csv").open(newline="") as f:
        for row in csv.DictReader(f):
            in_scope = row["label"] in keywords
            if row["split"] != "test" and not in_scope:
                continue  # no out-of-scope recording anywhere but the test set
            label = row["label"] if in_scope else "oos"
            rows.append({"path": str(FSDD / row["path"]), "label": label, "speaker": row["speaker"], "split": row["split"]})
            counts[row["split"] if row["split"] != "test" else ("test_in_scope" if in_scope else "test_oos")] += 1
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=["path", "label", "speaker", "split"])
        writer.writeheader()
        writer.writerows(rows)
    return counts


def run(method: str, manifest: pathlib.Path, run_dir: pathlib.Path) -> dict:
    args = [sys.executable, str(REPO / "examples" / "train_speech_commands.py"), f"--manifest={manifest}",
            f"--run_dir={run_dir}", f"--model={FLAGS.model}", "--oos_label=oos", "--quantization=float32",
            f"--seed={FLAGS.seed}"]  # fmt: skip
    if FLAGS.steps:
        args.append(f"--steps={FLAGS.steps}")
    if method == "generated":
        args.append("--negatives_dir=generated")
    began = time.perf_counter()
    process = subprocess.run(args, cwd=REPO, capture_output=True, text=True)
    if process.returncode != 0:
        raise SystemExit(f"{method}: the trainer failed:\n{process.stdout[-2000:]}\n{process.stderr[-4000:]}")
    seconds = time.perf_counter() - began
    metrics = json.loads((run_dir / "metrics.json").read_text())
    export = metrics["exports"]["float32"]
    result = {
        "in_scope_accuracy": export["keras_in_scope_accuracy"], "oos_recall": export["keras_oos_recall"],
        "tflite_in_scope_accuracy": export["tflite_in_scope_accuracy"], "tflite_oos_recall": export["tflite_oos_recall"],
        "tflite_oos_precision": export["tflite_oos_precision"],
        "accuracy_without_rejection": metrics["test"]["accuracy"], "num_oos": export["num_oos"],
        "score": metrics["calibration"]["rejection"]["score"], "train_seconds": round(seconds, 1),
    }  # fmt: skip
    if method == "generated":
        generated = metrics["negatives"]["generated"]
        result.update(negatives_train=metrics["negatives"]["train"], negatives_validation=metrics["negatives"]["validation"],
                      generated_words=len(generated["words"]), generated_noise_clips=generated["noise_clips"],
                      generated_derived_clips=generated.get("derived_clips", 0),
                      look_alikes_dropped=len(generated["dropped_look_alikes"]))  # fmt: skip
    print(f"{method}: {json.dumps(result)}", flush=True)
    return result


def main(argv):
    del argv
    out = pathlib.Path(FLAGS.out_dir or tempfile.mkdtemp(prefix="oos_keywords_"))
    out.mkdir(parents=True, exist_ok=True)
    manifest = out / "manifest.csv"
    counts = write_manifest(manifest, FLAGS.keywords)
    print(f"Clips: {counts}", flush=True)
    results = {method: run(method, manifest, out / method) for method in FLAGS.methods}
    default = results.get("generated") or next(iter(results.values()))
    print_result({**default, "keywords": FLAGS.keywords, "clips": counts, "steps": FLAGS.steps, "methods": results})


if __name__ == "__main__":
    app.run(main)
