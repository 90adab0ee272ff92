"""Speech-to-intent from a grammar, end to end, on held-out voices: clean and in noise, Keras and exported.

    PYTHONPATH=. .venv/bin/python bench/speech_to_intent.py --out_dir=/tmp/s2i [--grammars=smart_home,timers]
    PYTHONPATH=. .venv/bin/python bench/speech_to_intent.py --out_dir=/tmp/s2i --split_by=sentence --per_expression=40

For each grammar domain (`data/grammars/`), `voice_ft.speech_to_intent.fit_speech_to_intent` samples its
sentences (train/validation/test split by expression, so test sentences come from expressions never trained
on, or with `--split_by=sentence` new sayings of every expression), trains the joint NLU on their text, renders
them with espeak-ng (test voices never heard in training), fine-tunes the Whisper recogniser on the speech (plus
`--noisy_copies` of each training clip in white or brown noise; with `--general_speech_per_intent`, also SNIPS
training commands rendered by the training voices: speech that is not the grammar's; with `--unheard_word_repeats` (10), the
grammar's words that no training sentence says, spoken in short word lists), and exports the TF-free pipeline
(`voice_ft.runtime.SpeechToIntent`; `--recognizer_quantization` / `--nlu_quantization`, the recogniser
writing only the grammar's tokens unless `--recognizer_vocabulary=full`). Then, on the test clips:
- the command acceptance rate (CAR: the intent and every slot value exactly right) of the fine-tuned
  Keras recogniser's greedy transcripts (same window, same `--max_tokens`, the same output tokens as the
  exported recogniser), understood by the pipeline's
  NLU + grammar half (`SpeechToIntent.understand_text`: the NLU `.tflite`, verified against Keras on the
  text test split when exported): clean and with pink noise mixed at each `--snr_db` (noise power
  against the speech's active samples, one seeded noise clip per test clip);
- with the grammar's output vocabulary, also the Keras CAR with all of Whisper's tokens, clean
  (`car_clean_full_vocabulary`: what the restriction changes);
- the CAR of the whole exported pipeline (recogniser and NLU `.tflite`, `SpeechToIntent` as it ships: a
  clip not understood is decoded again inside the grammar), clean and at each `--snr_db`
  (`tflite_car_clean`, `tflite_car_snr<db>`; `tflite_grammar_decoded`: clean clips taken from the second
  decoding);
- the exported pipeline's intent accuracy, slot F1 (canonical values) and WER, clean;
- the NLU + grammar half on the test sentences' own text, no recogniser (`text_car`; `text_read_by_grammar`:
  how many of them the grammar read);
- out of grammar: `--out_of_grammar_per_intent` SNIPS test commands of each of its 7 intents (playlists,
  weather, restaurants, films...: nothing either grammar covers), rendered in the test voices, through the
  exported pipeline; `out_of_grammar_rejected` is the fraction it reports as not understood.

Last line (JSON): one block per domain, and over all domains' test clips together (the pooled rates):
`car_clean`, `car_snr24`, `car_snr18`, `car_snr12`, `car_snr6`, `tflite_car_clean`, `tflite_car_snr24` ...
`tflite_car_snr6`, `intent_accuracy`,
`slot_f1`, `wer` (the last three of the exported pipeline), `num_commands`, `out_of_grammar_rejected` (the mean over
the domains), `general_speech_rendered` (SNIPS clips rendered for `--general_speech_per_intent`); per domain also
`general_speech_clips` (those that fit the window and trained its recogniser), `unheard_words` (grammar words no
training clip says) and `unheard_word_clips` (the word-list clips that trained its recogniser), `sizes_bytes`
(recogniser, NLU), `pipeline_bytes`, `out_of_grammar_rejected` and the whole exported pipeline's median time per
test command of at most 3 s (`latency_ms_3s_1thread`, `latency_ms_3s_2threads`; `latency_commands` timed), and
over the domains `pipeline_bytes_max` and `latency_ms_3s_2threads_max`.
Targets (issue 12): CAR >= 97% clean and >= 90% at 6 dB SNR; the exported pipeline within 1 point of Keras; the
int8-weight pipeline <= 150 ms per 3 s command on 2 threads and <= 60 MB.
"""

from __future__ import annotations

import pathlib
import shutil
import sys
import time

import numpy as np
from absl import app, flags

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from common import machine, median_call_ms, print_result  # noqa: E402
from speech_out_of_grammar import REPO, out_of_grammar_clips, rejection_figures  # noqa: E402
from voice_ft.speech_to_intent.train import ASR_RECIPE, NLU_RECIPE  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_string("out_dir", "/tmp/bench_speech_to_intent", "Where each domain's run goes (replaced).")
flags.DEFINE_list("grammars", ["smart_home", "timers"], "Bundled grammar names or grammar YAML paths.")
flags.DEFINE_string("recognizer_backbone", "whisper-tiny-en", "whisper-tiny-en, a Whisper preset folder, or tiny-whisper.")
flags.DEFINE_string("nlu_backbone", "all-minilm-l6-v2", "Text encoder of the NLU (packaged name, preset dir, HF folder).")
flags.DEFINE_integer("per_expression", 20, "Sentences sampled per grammar expression.")
flags.DEFINE_enum("split_by", "expression", ["expression", "sentence"], "Test sentences from expressions never "
                  "trained on (expression), or new sayings of trained expressions (sentence): from_grammar's split_by.")
flags.DEFINE_integer("renditions", 2, "Voices speaking each training sentence.")
flags.DEFINE_integer("noisy_copies", 2, "Noisy copies (white/brown noise, 0-20 dB SNR) of each training clip for the recogniser.")
flags.DEFINE_integer("general_speech_per_intent", 0, "SNIPS training commands of each of its 7 intents, rendered by "
                     "training voices, that also train each domain's recogniser (general English beside the grammar's; 0: none).")
flags.DEFINE_integer("unheard_word_repeats", 10, "Times each grammar word that no training sentence says is spoken in "
                     "short word lists by training voices, for the recogniser (0: none).")
flags.DEFINE_list("noise_snr_db", ["0", "20"], "Lowest and highest SNR (dB) of the noisy training copies.")
flags.DEFINE_float("audio_seconds", 3.0, "Recogniser window in seconds.")
flags.DEFINE_enum("train_encoder", "frozen", ["frozen", "top", "lora", "full"], "What of the Whisper encoder trains.")
flags.DEFINE_integer("encoder_top_layers", 1, "With --train_encoder=top, how many of the last encoder layers train.")
flags.DEFINE_enum("train_decoder", "full", ["full", "layers", "lora"], "What of the Whisper decoder trains (layers: "
                  "all but its token and position embeddings).")
flags.DEFINE_integer("lora_rank", 8, "LoRA rank where LoRA is chosen.")
flags.DEFINE_integer("asr_epochs", ASR_RECIPE["epochs"], "Recogniser training epochs.")
flags.DEFINE_float("asr_learning_rate", ASR_RECIPE["learning_rate"], "Recogniser peak learning rate.")
flags.DEFINE_integer("nlu_epochs", NLU_RECIPE["epochs"], "NLU training epochs.")
flags.DEFINE_float("nlu_learning_rate", NLU_RECIPE["learning_rate"], "NLU peak learning rate.")
flags.DEFINE_integer("batch_size", ASR_RECIPE["batch_size"], "Batch size of both halves.")
flags.DEFINE_enum("recognizer_quantization", "float32", ["float32", "dynamic"], "Exported recogniser variant.")
flags.DEFINE_enum("nlu_quantization", "float32", ["float32", "float16", "dynamic", "int8"], "Exported NLU variant.")
flags.DEFINE_enum("recognizer_vocabulary", "grammar", ["grammar", "full"], "Tokens the exported recogniser writes.")
flags.DEFINE_integer("max_tokens", 32, "Most tokens decoded per clip.")
flags.DEFINE_integer("max_eval", 0, "Score at most this many test clips per domain (0 = all).")
flags.DEFINE_list("snr_db", ["24", "18", "12", "6"], "Signal-to-noise ratios (dB) of the noisy test copies.")
flags.DEFINE_integer("out_of_grammar_per_intent", 8, "SNIPS test commands per SNIPS intent spoken as out-of-grammar "
                     "input (0 = none).")
flags.DEFINE_integer("seed", 0, "Seed of sampling, rendering, training and noise.")


def with_noise(wave: np.ndarray, snr_db: float, seed: int) -> np.ndarray:
    """`wave` plus pink noise at `snr_db` against the power of its active (non-silent) samples."""
    from voice_ft.data.augment import generated_noise

    noise = generated_noise(len(wave), "pink", seed=seed, num_clips=1)[0]
    active = np.abs(wave) > 1e-4
    speech_power = float((wave[active] ** 2).mean()) if active.any() else 0.0
    scale = np.sqrt(speech_power / (float(np.mean(noise**2)) * 10 ** (snr_db / 10)))
    return np.clip(wave + scale * noise, -1.0, 1.0).astype(np.float32)


def keras_predictions(backbone, pipeline, waves, audio_frames: int, output_token_ids) -> list[dict]:
    """The fine-tuned Keras recogniser's greedy transcripts (over the exported recogniser's output tokens),
    understood by the pipeline's NLU + grammar half."""
    from voice_ft.asr.decoding import greedy_transcribe

    transcripts = greedy_transcribe(backbone, waves, max_tokens=FLAGS.max_tokens, audio_frames=audio_frames, batch_size=16,
                                    allowed_token_ids=output_token_ids)  # fmt: skip
    return [pipeline.understand_text(text) for text in transcripts]


def general_speech(out_dir: pathlib.Path, per_intent: int, seed: int) -> list:
    """`per_intent` SNIPS training commands of each intent, rendered by the training voices (reused when present):
    speech that is not the grammar's, for `fit_speech_to_intent(general_speech=...)`."""
    from voice_ft.asr.data import synthesize_transcripts

    if not per_intent:
        return []
    return synthesize_transcripts({"train": REPO / "data" / "snips" / "train.jsonl"}, out_dir,
                                  per_label={"train": per_intent}, seed=seed)  # fmt: skip


def run_domain(grammar: str, out_dir: pathlib.Path, outside: list[np.ndarray], general: list) -> dict:
    """Trains, exports and scores one domain; its figures and the (references, predictions) to pool."""
    import voice_ft
    from voice_ft.runtime.audio_io import read_audio
    from voice_ft.runtime.speech_to_intent import SpeechToIntent
    from voice_ft.speech_to_intent import fit_speech_to_intent, speech_to_intent_report
    from voice_ft.training import Recipe

    if FLAGS.recognizer_backbone == "tiny-whisper":  # a smoke run: random weights, tiny.en's tokenizer
        from voice_ft.asr.tiny import tiny_whisper_backbone

        recognizer = tiny_whisper_backbone(seed=FLAGS.seed)
    else:
        recognizer = voice_ft.load_backbone(FLAGS.recognizer_backbone)
    start = time.time()
    result = fit_speech_to_intent(
        grammar, recognizer, voice_ft.load_backbone(FLAGS.nlu_backbone), out_dir, per_expression=FLAGS.per_expression,
        seed=FLAGS.seed, split_by=FLAGS.split_by, renditions=FLAGS.renditions, noisy_copies=FLAGS.noisy_copies,
        noise_snr_db=tuple(float(v) for v in FLAGS.noise_snr_db), general_speech=general or None, audio_frames=round(FLAGS.audio_seconds * 100),
        unheard_word_repeats=FLAGS.unheard_word_repeats, train_encoder=FLAGS.train_encoder,
        encoder_top_layers=FLAGS.encoder_top_layers, train_decoder=FLAGS.train_decoder, lora_rank=FLAGS.lora_rank,
        asr_recipe=Recipe(epochs=FLAGS.asr_epochs, batch_size=FLAGS.batch_size, learning_rate=FLAGS.asr_learning_rate,
                          seed=FLAGS.seed),
        nlu_recipe=Recipe(epochs=FLAGS.nlu_epochs, batch_size=FLAGS.batch_size, learning_rate=FLAGS.nlu_learning_rate,
                          seed=FLAGS.seed),
        recognizer_quantization=FLAGS.recognizer_quantization, nlu_quantization=FLAGS.nlu_quantization,
        recognizer_vocabulary=FLAGS.recognizer_vocabulary, max_tokens=FLAGS.max_tokens, max_eval=FLAGS.max_eval or None,
        verbose=2)  # fmt: skip
    train_seconds = time.time() - start
    references = result.references
    waves = [read_audio(path, 16000) for path in result.test_clips]
    pipeline = SpeechToIntent.from_dir(out_dir, max_tokens=FLAGS.max_tokens)
    frames = result.metrics["asr_export"]["audio_frames"]
    output_tokens = pipeline.recognizer.output_token_ids
    keras_by_condition = {"clean": keras_predictions(recognizer, pipeline, waves, frames, output_tokens)}
    if output_tokens is not None:  # what the same recogniser hears with all of Whisper's tokens
        keras_by_condition["clean_full_vocabulary"] = keras_predictions(recognizer, pipeline, waves, frames, None)
    tflite_by_condition = {}
    for snr in FLAGS.snr_db:
        noisy = [with_noise(w, float(snr), seed=FLAGS.seed + i) for i, w in enumerate(waves)]
        keras_by_condition[f"snr{snr}"] = keras_predictions(recognizer, pipeline, noisy, frames, output_tokens)
        tflite_by_condition[f"snr{snr}"] = [pipeline(w) for w in noisy]
    figures = {f"car_{name}": speech_to_intent_report(references, p)["command_acceptance_rate"]
               for name, p in keras_by_condition.items()}  # fmt: skip
    figures.update({f"tflite_car_{name}": speech_to_intent_report(references, p)["command_acceptance_rate"]
                    for name, p in tflite_by_condition.items()})  # fmt: skip
    figures["tflite_grammar_decoded"] = sum(p.get("decoding") == "grammar" for p in result.predictions)
    exported = result.metrics["test"]
    sizes = {"recognizer": result.metrics["asr_export"]["encoder_bytes"] + result.metrics["asr_export"]["decoder_bytes"],
             "nlu": (out_dir / "nlu.tflite").stat().st_size}
    figures.update(tflite_car_clean=exported["command_acceptance_rate"], intent_accuracy=exported["intent_accuracy"],
                   slot_f1=exported["slot_f1"], wer=exported["wer"], num_commands=len(references),
                   train_seconds=train_seconds, keras_wer_clean=speech_to_intent_report(references, keras_by_condition["clean"])["wer"],
                   sizes_bytes=sizes, pipeline_bytes=sum(sizes.values()), general_speech_clips=result.metrics["general_speech_clips"],
                   unheard_words=result.metrics["unheard_words"], unheard_word_clips=result.metrics["unheard_word_clips"],
                   output_tokens=result.metrics["asr_export"]["output_tokens"])  # fmt: skip
    read = [pipeline.understand_text(r.transcript) for r in references]  # the NLU + grammar half alone
    figures.update(text_car=speech_to_intent_report(references, read)["command_acceptance_rate"],
                   text_read_by_grammar=sum(a["understood_by"] == "grammar" for a in read))
    figures.update(pipeline_latency_figures(out_dir, waves))
    if outside:
        figures.update(rejection_figures(pipeline, outside))
    write_failures(out_dir / "bench_failures.json", references, keras_by_condition, {"clean": result.predictions, **tflite_by_condition})
    return {"figures": figures, "references": references, "keras": keras_by_condition,
            "tflite_noisy": tflite_by_condition, "tflite": result.predictions}


def pipeline_latency_figures(out_dir: pathlib.Path, waves: list[np.ndarray]) -> dict:
    """Median wall time of the whole exported pipeline (waveform in, intent and slots out) per test command of at
    most 3 s, on 1 and 2 interpreter threads."""
    from voice_ft.runtime.speech_to_intent import SpeechToIntent

    short = [w for w in waves if len(w) <= 3 * 16000]
    figures = {"latency_commands": len(short)}
    for threads in (1, 2):
        pipeline = SpeechToIntent.from_dir(out_dir, num_threads=threads, max_tokens=FLAGS.max_tokens)
        figures[f"latency_ms_3s_{threads}thread{'s' if threads > 1 else ''}"] = median_call_ms(pipeline, short) if short else None
    return figures


def write_failures(path: pathlib.Path, references, keras_by_condition: dict, tflite_by_condition: dict) -> None:
    """Every test command a condition got wrong: what was said, what the recogniser heard, what came out."""
    import json

    from voice_ft.speech_to_intent.metrics import accepted

    def failures(predictions):
        return [{"said": r.transcript, "intent": r.intent, "slots": dict(r.slots), "heard": p["transcript"],
                 "got_intent": p["intent"], "got_slots": p["slots"], "reason": p.get("reason"),
                 "free_transcript": p.get("free_transcript"), "grammar_log_prob": p.get("grammar_log_prob")}
                for r, p in zip(references, predictions) if not accepted(r, p)]  # fmt: skip

    by_condition = {f"keras_{name}": failures(p) for name, p in keras_by_condition.items()}
    by_condition.update({f"tflite_{name}": failures(p) for name, p in tflite_by_condition.items()})
    path.write_text(json.dumps(by_condition, indent=1), encoding="utf-8")


def main(argv):
    del argv
    from voice_ft.speech_to_intent import speech_to_intent_report

    out_dir = pathlib.Path(FLAGS.out_dir)
    if out_dir.exists():
        shutil.rmtree(out_dir)
    outside = out_of_grammar_clips(out_dir / "out_of_grammar", FLAGS.out_of_grammar_per_intent, FLAGS.seed)
    general = general_speech(out_dir / "general_speech", FLAGS.general_speech_per_intent, FLAGS.seed)
    domains = {pathlib.Path(g).stem: run_domain(g, out_dir / pathlib.Path(g).stem, outside, general) for g in FLAGS.grammars}
    references = [r for d in domains.values() for r in d["references"]]
    pooled = {f"car_{name}": speech_to_intent_report(references, [p for d in domains.values() for p in d["keras"][name]])
              ["command_acceptance_rate"] for name in next(iter(domains.values()))["keras"]}  # fmt: skip
    pooled.update({f"tflite_car_{name}": speech_to_intent_report(references, [p for d in domains.values() for p in d["tflite_noisy"][name]])
                   ["command_acceptance_rate"] for name in next(iter(domains.values()))["tflite_noisy"]})  # fmt: skip
    exported = speech_to_intent_report(references, [p for d in domains.values() for p in d["tflite"]])
    pooled.update(tflite_car_clean=exported["command_acceptance_rate"], intent_accuracy=exported["intent_accuracy"],
                  slot_f1=exported["slot_f1"], wer=exported["wer"], num_commands=len(references),
                  pipeline_bytes_max=max(d["figures"]["pipeline_bytes"] for d in domains.values()),
                  latency_ms_3s_2threads_max=max(d["figures"]["latency_ms_3s_2threads"] or 0.0 for d in domains.values()))  # fmt: skip
    if outside:  # each domain's pipeline heard the same clips
        pooled["out_of_grammar_rejected"] = float(np.mean([d["figures"]["out_of_grammar_rejected"] for d in domains.values()]))
    print_result({**pooled, "domains": {name: d["figures"] for name, d in domains.items()},
                  "split_by": FLAGS.split_by, "general_speech_rendered": len(general), "unheard_word_repeats": FLAGS.unheard_word_repeats, "train_encoder": FLAGS.train_encoder, "encoder_top_layers": FLAGS.encoder_top_layers, "train_decoder": FLAGS.train_decoder, "recognizer_quantization": FLAGS.recognizer_quantization,
                  "nlu_quantization": FLAGS.nlu_quantization, "recognizer_vocabulary": FLAGS.recognizer_vocabulary, "recognizer_backbone": FLAGS.recognizer_backbone, "nlu_backbone": FLAGS.nlu_backbone,
                  "machine": machine()})  # fmt: skip


if __name__ == "__main__":
    app.run(main)
