"""Speech outside every grammar through exported speech-to-intent pipelines: how much of it is reported as not understood.

    PYTHONPATH=. .venv/bin/python bench/speech_out_of_grammar.py --run_dirs=<fit_speech_to_intent run dir>[,...]

A speech-to-intent model must say "I didn't understand" to a command its grammar does not hold (issue 12, part 4)
rather than force it into an intent. This bench renders `--per_intent` SNIPS test commands of each of SNIPS's 7
intents (playlists, music, weather, restaurants, books, films: nothing the bundled smart_home and timers grammars
cover) with espeak-ng in the voices of the test split, and runs each run directory's exported pipeline
(`voice_ft.runtime.SpeechToIntent.from_dir`, TF-free) on them, once per `--max_grammar_edits` value (how many
word edits a transcript may be from a saying of the grammar; `none` switches that check off) with the default
`min_grammar_log_prob`, and once per `--min_grammar_log_prob` value (how likely a second decoding inside the
grammar must be for a clip not understood to be taken from it; `none`: no second decoding) with the default
edits; and on the run's own test clips (in-grammar commands said by held-out voices, from its
`audio/manifest.csv`; with `--own_split=validation` its validation clips, and the `test_*` keys are theirs),
which is what each setting gains or costs there. `bench/speech_to_intent.py` scores its own
runs with the defaults.

Last line (JSON): per run directory and `--max_grammar_edits` value, `out_of_grammar_rejected` (the fraction
reported as not understood), `out_of_grammar_clips`, `rejection_reasons` (how many of each `reason`), up to 10
`out_of_grammar_accepted` (what was heard and the intent it was forced into), `test_not_understood` (the
fraction of the run's test clips reported as not understood), `test_car` (their command acceptance rate: the
intent and every canonical slot value right), `test_text_car` (the same for the NLU + grammar half on the sentences
said: `understand_text`, no recogniser) and `test_text_read_by_grammar` (how many of those the grammar read); `out_of_grammar_rejected` is also the mean over the directories at
the defaults.
"""

from __future__ import annotations

import collections
import csv
import json
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


def test_clips(run_dir: pathlib.Path, split: str = "test") -> list[tuple[np.ndarray, str, dict, str]]:
    """The run's rendered clips of `split` (its `audio/manifest.csv`) as (16 kHz wave, intent, canonical slots, the
    sentence said); none when it has no such manifest."""
    from voice_ft.runtime.audio_io import read_audio

    manifest = run_dir / "audio" / "manifest.csv"
    if not manifest.is_file():
        return []
    with manifest.open(newline="") as f:
        return [(read_audio(manifest.parent / r["path"], 16000), r["label"], json.loads(r["slots"] or "{}"), r["text"])
                for r in csv.DictReader(f) if r["split"] == split]  # fmt: skip


def accepted_rate(answers: list[dict], own: list[tuple]) -> float:
    """The fraction of answers with the test row's intent and every canonical slot value."""
    return float(np.mean([a["intent"] == intent and a["slots"] == slots for a, (_, intent, slots, _) in zip(answers, own)]))


def parse_setting(value: str, cast) -> int | float | None:
    return None if value.lower() == "none" else cast(value)


def main(argv):
    del argv
    from voice_ft.runtime.speech_to_intent import DEFAULT_MAX_GRAMMAR_EDITS, DEFAULT_MIN_GRAMMAR_LOG_PROB, SpeechToIntent

    if not FLAGS.run_dirs:
        raise app.UsageError("--run_dirs: give one or more fit_speech_to_intent run directories")
    defaults = (DEFAULT_MAX_GRAMMAR_EDITS, DEFAULT_MIN_GRAMMAR_LOG_PROB)
    settings = [defaults]
    settings += [(parse_setting(v, int), defaults[1]) for v in FLAGS.max_grammar_edits]
    settings += [(defaults[0], parse_setting(v, float)) for v in FLAGS.min_grammar_log_prob]
    settings = list(dict.fromkeys(settings))  # the defaults once, first
    clips = out_of_grammar_clips(pathlib.Path(FLAGS.out_dir), FLAGS.per_intent, FLAGS.seed)
    runs = {}
    for run_dir in map(pathlib.Path, FLAGS.run_dirs):
        own = test_clips(run_dir, FLAGS.own_split)
        for edits, log_prob in settings:
            pipeline = SpeechToIntent.from_dir(run_dir, max_tokens=FLAGS.max_tokens, max_grammar_edits=edits,
                                               min_grammar_log_prob=log_prob)  # fmt: skip
            figures = rejection_figures(pipeline, clips)
            if own:
                answers = [pipeline(w, 16000) for w, *_ in own]
                figures["test_not_understood"] = float(np.mean([a["not_understood"] for a in answers]))
                figures["test_car"] = accepted_rate(answers, own)
                figures["test_clips"] = len(own)
                read = [pipeline.understand_text(text) for *_, text in own]  # the NLU + grammar half alone
                figures["test_text_car"] = accepted_rate(read, own)
                figures["test_text_read_by_grammar"] = sum(a["understood_by"] == "grammar" for a in read)
            runs[f"{run_dir}:max_grammar_edits={edits}:min_grammar_log_prob={log_prob}"] = figures
    first = [runs[f"{d}:max_grammar_edits={defaults[0]}:min_grammar_log_prob={defaults[1]}"]["out_of_grammar_rejected"]
             for d in FLAGS.run_dirs]  # fmt: skip
    print_result({"out_of_grammar_rejected": float(np.mean(first)), "runs": runs, "own_split": FLAGS.own_split,
                  "machine": machine()})  # fmt: skip


if __name__ == "__main__":
    flags.DEFINE_list("run_dirs", [], "fit_speech_to_intent / train_speech_to_intent.py run directories.")
    flags.DEFINE_string("out_dir", "/tmp/bench_speech_out_of_grammar", "Where the rendered clips go (reused).")
    flags.DEFINE_integer("per_intent", 8, "SNIPS test commands rendered per SNIPS intent.")
    flags.DEFINE_integer("max_tokens", 32, "Most tokens the recogniser decodes per clip.")
    flags.DEFINE_list("max_grammar_edits", ["1", "0", "none"], "Word edits a transcript may be from the grammar "
                      "(SpeechToIntent's max_grammar_edits), one pass each; none = no such check.")
    flags.DEFINE_list("min_grammar_log_prob", ["none", "-0.3", "-1.0"], "Least mean log-probability per token of the "
                      "second decoding inside the grammar (SpeechToIntent's min_grammar_log_prob), one pass each; "
                      "none = no second decoding.")
    flags.DEFINE_enum("own_split", "test", ["test", "validation"], "Which of each run's own clips the test_* figures "
                      "score: its test clips, or its validation clips (held-out voices; with the expression split, "
                      "expressions never trained on either).")
    flags.DEFINE_integer("seed", 0, "Seed of the sampling and the voices.")
    FLAGS = flags.FLAGS
    app.run(main)
