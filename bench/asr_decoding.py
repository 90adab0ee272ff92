"""WER of a fine-tuned recogniser per decoding setting: beam width x domain language-model weight.

    PYTHONPATH=. .venv/bin/python bench/asr_decoding.py --run_dir=/tmp/asr_commands/run --split=validation \
        --beams=1,4,8 --lm_weights=0,0.3,0.5

With `--recognizer=<sidecar .json>` (an `export_speech_recognizer` export of the run's model, e.g.
`asr_commands.py`'s `recognizer_dynamic.json`), the phone side decodes instead: the TF-free
`SpeechRecognizer` on `--threads` threads, one clip at a time, with the median time per clip
of at most 3 s (`latency_ms_3s`).

`--run_dir` is an `examples/train_asr.py` run with its saved model (`model/`), rendered audio
(`audio/manifest.csv`) and `metrics.json` (for the window and the most tokens). The domain language
model is the run's own `language_model.json` (what the trainer fitted), or, with `--domain_text`
or for a run without one, fitted from that text (default: SNIPS's train.jsonl) at `--lm_order`. Choose the setting on the validation split (voices
of an accent held out from training, not the test one) and check it on the test split once.

Last line (JSON): `wers` (a list of {beams, lm_weight, wer, seconds[, latency_ms_3s]}), `best` (the lowest-WER
setting), `split`, `clips`.
"""

from __future__ import annotations

import json
import pathlib
import statistics
import sys
import time

from absl import app, flags

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from common import machine, print_result  # noqa: E402

REPO = pathlib.Path(__file__).resolve().parents[1]
FLAGS = flags.FLAGS
flags.DEFINE_string("run_dir", None, "An examples/train_asr.py run directory with model/ and audio/.")
flags.DEFINE_enum("split", "validation", ["train", "validation", "test"], "Split of the run's audio to decode.")
flags.DEFINE_list("beams", ["1", "4", "8"], "Beam widths.")
flags.DEFINE_list("lm_weights", ["0", "0.3", "0.5"], "Language-model weights (0 = no model).")
flags.DEFINE_string("domain_text", None, "The domain's text (.jsonl or .txt) to fit the model on, instead of the "
                    "run's language_model.json (default for a run without one: data/snips/train.jsonl).")
flags.DEFINE_integer("lm_order", 4, "Order of the language model.")
flags.DEFINE_string("recognizer", None, "An exported recogniser sidecar: decode with the TF-free runtime instead of Keras.")
flags.DEFINE_integer("threads", 2, "Interpreter threads of --recognizer.")
flags.mark_flag_as_required("run_dir")


def main(argv):
    del argv
    import voice_ft
    from voice_ft.asr.data import load_speech, read_transcript_manifest, select_split
    from voice_ft.asr.decoding import transcribe_features
    from voice_ft.asr.language_model import fit_token_language_model, read_domain_sentences
    from voice_ft.asr.metrics import wer_report
    from voice_ft.runtime.token_language_model import TokenNgramModel

    run_dir = pathlib.Path(FLAGS.run_dir)
    trained = json.loads((run_dir / "metrics.json").read_text())
    backbone = voice_ft.load_backbone(run_dir / "model")
    clips = select_split(read_transcript_manifest(run_dir / "audio" / "manifest.csv", transcript_column="text"), FLAGS.split)
    references = [c.transcript for c in clips]
    saved = run_dir / "language_model.json"
    if FLAGS.domain_text is None and saved.exists():
        language_model = TokenNgramModel.load(saved)
    else:
        text = FLAGS.domain_text or REPO / "data" / "snips" / "train.jsonl"
        language_model = fit_token_language_model(backbone, read_domain_sentences(text), order=FLAGS.lm_order)
    runtime = waves = features = None
    if not FLAGS.recognizer:  # Keras decodes the log-mel features; the runtime computes its own
        features = load_speech(backbone, clips, int(trained["audio_frames"])).features
    else:
        from voice_ft.runtime.audio_io import read_audio
        from voice_ft.runtime.speech_recognizer import SpeechRecognizer

        runtime = SpeechRecognizer(FLAGS.recognizer, num_threads=FLAGS.threads, max_tokens=int(trained["max_tokens"]),
                                   language_model=None)  # fmt: skip
        waves = [read_audio(c.path, 16000) for c in clips]
    wers = []
    for beams in (int(b) for b in FLAGS.beams):
        for weight in (float(w) for w in FLAGS.lm_weights):
            start = time.perf_counter()
            row = {"beams": beams, "lm_weight": weight}
            if runtime is None:
                hypotheses = transcribe_features(backbone, features, beams=beams, max_tokens=int(trained["max_tokens"]),
                                                 language_model=language_model if weight else None, lm_weight=weight)  # fmt: skip
            else:
                runtime.set_decoding(beams, language_model if weight else None, weight)
                answers = [runtime(w) for w in waves]
                hypotheses = [a["text"] for a in answers]
                short = [a["seconds"] * 1000 for a, w in zip(answers, waves) if len(w) <= 3 * 16000]
                row["latency_ms_3s"] = float(statistics.median(short)) if short else None
            row.update(wer=wer_report(references, hypotheses)["wer"], seconds=time.perf_counter() - start)
            print(json.dumps(row), flush=True)
            wers.append(row)
    best = min(wers, key=lambda r: r["wer"])
    print_result({"split": FLAGS.split, "clips": len(clips), "wers": wers, "best": best, "machine": machine()})


if __name__ == "__main__":
    app.run(main)
