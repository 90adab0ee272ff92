"""Speech outside every grammar through exported speech-to-intent pipelines: how much of it is reported as not understood.

    PYTHONPATH=. .venv/bin/python bench/speech_out_of_grammar.py --run_dirs=<fit_speech_to_intent run dir>[,...]

A speech-to-intent model must say "I didn't understand" to a command its grammar does not hold (issue 12, part 4)
rather than force it into an intent. This bench renders `--per_intent` SNIPS test commands of each of SNIPS's 7
intents (playlists, music, weather, restaurants, books, films: nothing the bundled smart_home and timers grammars
cover) with espeak-ng in the voices of the test split, and runs each run directory's exported pipeline
(`voice_ft.runtime.SpeechToIntent.from_dir`, TF-free) on them, once per `--max_grammar_edits` value (how many
word edits a transcript may be from a saying of the grammar; `none` switches that check off), and on the run's
own test clips (in-grammar commands said by held-out voices, from its `audio/manifest.csv`), which is what the
check may cost. `bench/speech_to_intent.py` scores its own runs the same way with the default (1).

Last line (JSON): per run directory and `--max_grammar_edits` value, `out_of_grammar_rejected` (the fraction
reported as not understood), `out_of_grammar_clips`, `rejection_reasons` (how many of each `reason`), up to 10
`out_of_grammar_accepted` (what was heard and the intent it was forced into) and `test_not_understood` (the
fraction of the run's test clips reported as not understood); `out_of_grammar_rejected` is also the mean over the
directories at the first value.
"""

from __future__ import annotations

import collections
import csv
import pathlib
import sys

import numpy as np
from absl import app, flags

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from common import machine, print_result  # noqa: E402

REPO = pathlib.Path(__file__).resolve().parents[1]


def out_of_grammar_clips(out_dir: pathlib.Path, per_intent: int, seed: int = 0) -> list[np.ndarray]:
    """`per_intent` SNIPS test commands of each intent, rendered by the test voices (reused when present), 16 kHz."""
    from voice_ft.data.speech_synthesis import synthesize_text_splits
    from voice_ft.runtime.audio_io import read_audio

    if not per_intent:
        return []
    manifest = synthesize_text_splits({"test": REPO / "data" / "snips" / "test.jsonl"}, out_dir, label_field="intent",
                                      per_label={"test": per_intent}, seed=seed)  # fmt: skip
    with manifest.open(newline="") as f:
        return [read_audio(manifest.parent / row["path"], 16000) for row in csv.DictReader(f)]


def rejection_figures(pipeline, clips: list[np.ndarray]) -> dict:
    """How the pipeline answers speech its grammar does not hold: the rejected fraction, the reasons, what got through."""
    answers = [pipeline(w, 16000) for w in clips]
    return {
        "out_of_grammar_rejected": float(np.mean([a["not_understood"] for a in answers])),
        "out_of_grammar_clips": len(answers),
        "rejection_reasons": dict(collections.Counter(a["reason"] for a in answers if a["not_understood"])),
        "out_of_grammar_accepted": [{"heard": a["transcript"], "intent": a["intent"], "slots": a["slots"]}
                                    for a in answers if not a["not_understood"]][:10],
    }  # fmt: skip


def test_clips(run_dir: pathlib.Path) -> list[np.ndarray]:
    """The run's rendered test clips (its `audio/manifest.csv`), 16 kHz; none when it has no such manifest."""
    from voice_ft.runtime.audio_io import read_audio

    manifest = run_dir / "audio" / "manifest.csv"
    if not manifest.is_file():
        return []
    with manifest.open(newline="") as f:
        return [read_audio(manifest.parent / r["path"], 16000) for r in csv.DictReader(f) if r["split"] == "test"]


def main(argv):
    del argv
    from voice_ft.runtime.speech_to_intent import SpeechToIntent

    if not FLAGS.run_dirs:
        raise app.UsageError("--run_dirs: give one or more fit_speech_to_intent run directories")
    settings = [None if v.lower() == "none" else int(v) for v in FLAGS.max_grammar_edits]
    clips = out_of_grammar_clips(pathlib.Path(FLAGS.out_dir), FLAGS.per_intent, FLAGS.seed)
    runs = {}
    for run_dir in map(pathlib.Path, FLAGS.run_dirs):
        own = test_clips(run_dir)
        for edits in settings:
            pipeline = SpeechToIntent.from_dir(run_dir, max_tokens=FLAGS.max_tokens, max_grammar_edits=edits)
            figures = rejection_figures(pipeline, clips)
            if own:
                figures["test_not_understood"] = float(np.mean([pipeline(w, 16000)["not_understood"] for w in own]))
                figures["test_clips"] = len(own)
            runs[f"{run_dir}:max_grammar_edits={edits}"] = figures
    first = [runs[f"{d}:max_grammar_edits={settings[0]}"]["out_of_grammar_rejected"] for d in FLAGS.run_dirs]
    print_result({"out_of_grammar_rejected": float(np.mean(first)), "runs": runs, "machine": machine()})


if __name__ == "__main__":
    flags.DEFINE_list("run_dirs", [], "fit_speech_to_intent / train_speech_to_intent.py run directories.")
    flags.DEFINE_string("out_dir", "/tmp/bench_speech_out_of_grammar", "Where the rendered clips go (reused).")
    flags.DEFINE_integer("per_intent", 8, "SNIPS test commands rendered per SNIPS intent.")
    flags.DEFINE_integer("max_tokens", 32, "Most tokens the recogniser decodes per clip.")
    flags.DEFINE_list("max_grammar_edits", ["1", "0", "none"], "Word edits a transcript may be from the grammar "
                      "(SpeechToIntent's max_grammar_edits), one pass each; none = no such check.")
    flags.DEFINE_integer("seed", 0, "Seed of the sampling and the voices.")
    FLAGS = flags.FLAGS
    app.run(main)
