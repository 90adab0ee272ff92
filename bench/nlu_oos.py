"""Out-of-scope rejection of the joint NLU trainer: examples/train_nlu.py with and without --negatives=generated.

    nice -n 19 .venv/bin/python bench/nlu_oos.py                                   # a reduced run (defaults)
    .venv/bin/python bench/nlu_oos.py --train_limit=64 --steps=4 --oos_test=60     # a smoke run

Runs the trainer twice on SNIPS with the same flags: once with --negatives=generated (an "oos" intent
trained on 80% of the generated negatives, the other 20% choosing the threshold) and once without
(the threshold then rejects --reject_rate, 2%, of the in-scope validation utterances). Each run's
exported nlu.tflite is scored with the TF-free `NLUParser`, so with the rule its sidecar ships, on
the SNIPS test split (in scope) and on held-out out-of-scope sentences assembled as bench/oos.py does
(`oos_test_set.held_out_oos`: SGD test dialogues outside SNIPS's services, GoEmotions test comments,
BANKING77 test queries; SNIPS sentences and the training negatives excluded). The negatives are
generated here too, with the trainer's inputs and seed, so the same ones are excluded.

Per run: intent_accuracy (argmax, no rejection: an in-scope utterance the oos intent wins is wrong),
in_scope_accuracy (accepted and right), in_scope_rejection, best_in_scope_intent_accuracy (the best
in-scope intent right, rejected or not), oos_recall (rejected OOS / OOS) overall
and by source, oos_with_slots (OOS utterances answered with at least one slot), the Keras test
slot F1 and the trainer's wall time. Last line: one JSON object.
"""

from __future__ import annotations

import json
import pathlib
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
from absl import app, flags  # noqa: E402

import voice_ft  # noqa: E402
from common import machine, print_result  # noqa: E402
from oos_test_set import held_out_oos  # noqa: E402
from voice_ft.data.negatives import normalise  # noqa: E402
from voice_ft.nlu.data import load_nlu  # noqa: E402
from voice_ft.runtime import NLUParser  # noqa: E402

REPO = pathlib.Path(__file__).resolve().parents[1]
FLAGS = flags.FLAGS
flags.DEFINE_string("backbone", "all-minilm-l6-v2", "Backbone spec.")
flags.DEFINE_integer("train_limit", 1000, "The first N SNIPS training utterances.")
flags.DEFINE_integer("steps", 80, "Optimizer steps of each run.")
flags.DEFINE_integer("steps_per_validation", 40, "Steps between the runs' validations.")
flags.DEFINE_float("learning_rate", 3e-4, "Peak learning rate (above the trainer's 1e-4: a reduced run has few steps).")
flags.DEFINE_float("negatives_size", 0.5, "Generated negatives per training utterance.")
flags.DEFINE_integer("oos_test", 900, "Held-out out-of-scope test sentences (a third from each source).")
flags.DEFINE_integer("seed", 0, "Seed of the OOS test sample.")
flags.DEFINE_string("out_dir", None, "Keep the two run directories here (default: a temporary folder).")


def train(run_dir: pathlib.Path, negatives: str) -> float:
    """Runs examples/train_nlu.py; returns its wall time in seconds."""
    command = [sys.executable, str(REPO / "examples" / "train_nlu.py"), f"--run_dir={run_dir}", f"--backbone={FLAGS.backbone}",
               f"--train_limit={FLAGS.train_limit}", f"--steps={FLAGS.steps}", f"--learning_rate={FLAGS.learning_rate}",
               f"--steps_per_validation={FLAGS.steps_per_validation}", "--quantization=dynamic",
               "--tolerance=100",  # measured, not refused: an undertrained reduced run may drift past 0.5 points
               f"--negatives={negatives}", f"--negatives_size={FLAGS.negatives_size}"]  # fmt: skip
    start = time.perf_counter()
    subprocess.run(command, check=True, cwd=REPO)
    return time.perf_counter() - start


def parse_all(parser: NLUParser, texts: list[str], batch: int = 64) -> list[dict]:
    return [r for start in range(0, len(texts), batch) for r in parser.parse_batch(texts[start : start + batch])]


def score(run_dir: pathlib.Path, test, oos_sets: dict[str, list[str]]) -> dict:
    """The phone's answers (the run's nlu.tflite and sidecar) on the in-scope test and the OOS sentences."""
    parser = NLUParser(run_dir / "nlu.tflite")
    inside = parse_all(parser, [ex.text for ex in test])
    gold = [ex.intent for ex in test]
    best = [r.get("best_intent", r["intent"]) for r in inside]  # the best in-scope intent
    oos_texts = [t for texts in oos_sets.values() for t in texts]
    outside = parse_all(parser, oos_texts)
    by_source, offset = {}, 0
    for name, texts in oos_sets.items():
        by_source[name] = float(np.mean([r["not_understood"] for r in outside[offset : offset + len(texts)]]))
        offset += len(texts)
    metrics = json.loads((run_dir / "metrics.json").read_text())
    rule = parser.rejection
    return {
        "intent_accuracy": metrics["test"]["intent_accuracy"],
        "in_scope_accuracy": float(np.mean([r["intent"] == g for r, g in zip(inside, gold)])),
        "in_scope_rejection": float(np.mean([r.get("not_understood", False) for r in inside])),
        "best_in_scope_intent_accuracy": float(np.mean([b == g for b, g in zip(best, gold)])),
        "oos_recall": float(np.mean([r.get("not_understood", False) for r in outside])),
        "oos_recall_by_source": by_source,
        "oos_with_slots": float(np.mean([bool(r["slots"]) for r in outside])),
        "slot_f1": metrics["test"]["slot_f1"],
        "tflite_intent_accuracy": metrics["tflite"]["dynamic"]["tflite"]["intent_accuracy"],
        "score": rule.score if rule else None,
        "threshold": rule.threshold if rule else None,
        "oos_intent": parser.intents[rule.oos_index] if rule and rule.oos_index is not None else None,
        "negatives": metrics.get("negatives", {}).get("train"),
        "validation_negatives": metrics.get("negatives", {}).get("validation"),
    }


def main(argv):
    del argv
    splits = load_nlu("snips")[:3]
    train_texts, test = [ex.text for ex in splits[0][: FLAGS.train_limit]], splits[2]
    negatives = voice_ft.generate_negatives(train_texts, size=FLAGS.negatives_size)  # the trainer's, same inputs and seed
    snips_all = {normalise(ex.text) for split in splits for ex in split}
    oos_sets = held_out_oos(snips_all | {normalise(t) for t in negatives.train + negatives.validation}, FLAGS.oos_test,
                            FLAGS.seed)  # fmt: skip
    out_dir = pathlib.Path(FLAGS.out_dir or tempfile.mkdtemp(prefix="voice_ft_nlu_oos_"))
    runs = {}
    for name, negatives_flag in (("without_negatives", "none"), ("generated_negatives", "generated")):
        seconds = train(out_dir / name, negatives_flag)
        runs[name] = {**score(out_dir / name, test, oos_sets), "train_wall_seconds": seconds}
        print(name, json.dumps(runs[name]), flush=True)
    print_result({**{f"{run}_{k}": v for run, figures in runs.items() for k, v in figures.items()},
                  "num_in_scope_test": len(test), "num_oos_test": sum(map(len, oos_sets.values())),
                  "train_limit": FLAGS.train_limit, "steps": FLAGS.steps, "learning_rate": FLAGS.learning_rate,
                  "backbone": FLAGS.backbone,
                  "machine": machine()})  # fmt: skip


if __name__ == "__main__":
    app.run(main)
