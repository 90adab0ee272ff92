"""How fast and how big the exported recogniser is on the phone side, per spoken command, at a chosen window.

    PYTHONPATH=. .venv/bin/python bench/recognizer_latency.py [--audio_seconds=3 --backbone=whisper-tiny-en]

Renders the test sentences of a bundled grammar (`--grammar`, split by sentence: new sayings, voices of the
test split) with espeak-ng, keeps the clips of at most `--audio_seconds`, exports the recogniser as an
encoder + decoder-step `.tflite` pair per `--quantizations` entry (`voice_ft.asr.export.export_speech_recognizer`;
`dynamic` = int8 weights) at that window, with each `--vocabularies` entry (`full`: all 51,864 tokens;
`grammar`: only the tokens of the grammar's words, `voice_ft.asr.output_vocabulary`, what
`fit_speech_to_intent` exports by default), and times the TF-free `voice_ft.runtime.SpeechRecognizer` (waveform in,
text out, greedy, KV cache) on each clip, on 1 and 2 threads: the median over the clips, after one warm-up.
What a command costs depends on the window (the encoder reads all of it) and on the tokens decoded, not on
the weights' values, so the pretrained backbone stands for a fine-tuned one of the same size.

Last line (JSON): `latency_ms_3s_2threads` and `size_bytes` of the int8-weight pair of the first
`--vocabularies` entry (`grammar` by default: the speech-to-intent recogniser; named for issue 12's target at a
3 s window whatever `--audio_seconds` is; `audio_seconds` says which), and per variant (`<quantization>` for the
full vocabulary, `<quantization>_grammar`) `latency_ms_1thread`, `latency_ms_2threads`, `size_bytes`,
`output_tokens`, plus `num_clips` and the clips' median seconds.
Targets (issue 12): the int8-weight pipeline <= 150 ms per 3 s command on 2 threads, <= 60 MB.
"""

from __future__ import annotations

import csv
import pathlib
import shutil
import statistics
import sys

from absl import app, flags

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from common import machine, median_call_ms, print_result  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_string("out_dir", "/tmp/bench_recognizer_latency", "Where the clips and exports go (replaced).")
flags.DEFINE_string("backbone", "whisper-tiny-en", "whisper-tiny-en, a Whisper preset folder, or tiny-whisper (smoke runs).")
flags.DEFINE_string("grammar", "smart_home", "Bundled grammar name or YAML path whose test sentences are spoken.")
flags.DEFINE_integer("per_expression", 40, "Sentences sampled per grammar expression (10% of them are test sentences).")
flags.DEFINE_float("audio_seconds", 3.0, "Recogniser window in seconds; longer clips are left out.")
flags.DEFINE_integer("max_tokens", 32, "Most tokens decoded per clip.")
flags.DEFINE_list("quantizations", ["float32", "dynamic"], "Export variants to time.")
flags.DEFINE_list("vocabularies", ["grammar", "full"], "Output vocabularies to export: grammar (its words' tokens) or full.")
flags.DEFINE_integer("seed", 0, "Seed of sampling and rendering.")


def command_clips(out_dir: pathlib.Path):
    """16 kHz waveforms of the grammar's test sentences of at most --audio_seconds."""
    from voice_ft.data.grammar_sampling import from_grammar
    from voice_ft.data.speech_synthesis import synthesize_text_splits
    from voice_ft.runtime.audio_io import read_audio

    _, _, test, _, _ = from_grammar(FLAGS.grammar, per_expression=FLAGS.per_expression, seed=FLAGS.seed, split_by="sentence")
    manifest = synthesize_text_splits({"test": test}, out_dir / "audio", seed=FLAGS.seed)
    with manifest.open(newline="") as f:
        waves = [read_audio(manifest.parent / row["path"], 16000) for row in csv.DictReader(f)]
    return [w for w in waves if len(w) <= FLAGS.audio_seconds * 16000]


def main(argv):
    del argv
    import voice_ft
    from voice_ft.asr.export import export_speech_recognizer
    from voice_ft.asr.output_vocabulary import domain_token_ids
    from voice_ft.data.grammar import read_grammar
    from voice_ft.runtime.speech_recognizer import SpeechRecognizer

    out_dir = pathlib.Path(FLAGS.out_dir)
    if out_dir.exists():
        shutil.rmtree(out_dir)
    waves = command_clips(out_dir)
    if not waves:
        raise app.UsageError(f"no test clip of {FLAGS.grammar} lasts at most --audio_seconds={FLAGS.audio_seconds}")
    if FLAGS.backbone == "tiny-whisper":
        from voice_ft.asr.tiny import tiny_whisper_backbone

        backbone = tiny_whisper_backbone(seed=FLAGS.seed)
    else:
        backbone = voice_ft.load_backbone(FLAGS.backbone)
    frames = round(FLAGS.audio_seconds * 100)
    bad = set(FLAGS.vocabularies) - {"grammar", "full"}
    if bad or not FLAGS.vocabularies:
        raise app.UsageError(f"--vocabularies takes grammar and/or full, got {FLAGS.vocabularies}")
    kept = {"full": None, "grammar": domain_token_ids(backbone.tokenizer, read_grammar(FLAGS.grammar).words)}
    variants = {}
    for vocabulary in FLAGS.vocabularies:
        for quantization in FLAGS.quantizations:
            name = quantization if vocabulary == "full" else f"{quantization}_{vocabulary}"
            exported = export_speech_recognizer(backbone, out_dir / f"recognizer_{name}", quantization, frames,
                                                FLAGS.max_tokens, verify_on=None, output_token_ids=kept[vocabulary])  # fmt: skip
            variants[name] = {"size_bytes": exported.size_bytes, "encoder_bytes": exported.encoder_bytes,
                              "output_tokens": len(kept[vocabulary]) if kept[vocabulary] else backbone.model.vocabulary_size, **{
                f"latency_ms_{label}": median_call_ms(SpeechRecognizer(exported.sidecar_path, num_threads=threads,
                                                                  max_tokens=FLAGS.max_tokens), waves)
                for label, threads in (("1thread", 1), ("2threads", 2))}}  # fmt: skip
    first = FLAGS.vocabularies[0]
    int8 = variants.get("dynamic" if first == "full" else f"dynamic_{first}", {})
    print_result({"latency_ms_3s_2threads": int8.get("latency_ms_2threads"), "size_bytes": int8.get("size_bytes"),
                  "audio_seconds": FLAGS.audio_seconds, "variants": variants, "num_clips": len(waves),
                  "median_clip_seconds": statistics.median(len(w) / 16000 for w in waves),
                  "backbone": FLAGS.backbone, "grammar": FLAGS.grammar, "machine": machine()})  # fmt: skip


if __name__ == "__main__":
    app.run(main)
