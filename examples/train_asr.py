"""Fine-tune Whisper for a voice assistant's commands and report WER before and after.

    # SNIPS commands rendered by espeak-ng, test voices unheard in training (short audio, 5 s):
    python examples/train_asr.py --text_data=data/snips --run_dir=runs/asr
    # your own recordings: a CSV manifest path,transcript,speaker,split (train/validation[/test]):
    python examples/train_asr.py --manifest=my_audio/manifest.csv --run_dir=runs/asr_mine

The encoder is frozen by default (its outputs are computed once, the decoder trains on them);
--train_encoder=top trains its last --encoder_top_layers layers (the outputs of the layers below are
computed once), lora or full trains all of it. metrics.json holds WER before and after on the test
split (the validation split when there is none); model/ is the fine-tuned backbone as a keras-hub
preset (`voice_ft.load_backbone("runs/asr/model")`). --strategy trains on several devices
(--batch_size clips per replica); only the chief (worker 0) evaluates and writes --run_dir (other
workers render their audio into a temporary directory unless --audio_dir is given).

Defaults chosen from the training data, each printed with its reason, each overridden by its flag:
the optimizer steps from the number of training clips (~2,400 clips presented, at least one epoch,
at most 20; `voice_ft.asr.auto_recipe`; --epochs switches the step rule off), validated four times a
run with early stopping keeping the best weights; the encoder window (--audio_seconds) from the
clips' durations and the most tokens decoded (--max_tokens) from the transcripts' token counts
(`voice_ft.asr.windows`). Clips or transcripts a window cuts are named in a warning.
"""

from __future__ import annotations

import json
import pathlib
import shutil

from absl import app, flags, logging

from voice_ft.runtime.token_language_model import DEFAULT_FUSION_WEIGHT
from voice_ft.training.interrupt import exit_on_interrupt
from voice_ft.training.recipe_flags import define_strategy_flag, recipe_overrides

FLAGS = flags.FLAGS
flags.DEFINE_string("manifest", None, "CSV manifest path,transcript[,speaker],split.")
flags.DEFINE_string("text_data", None, "Folder of train/validation/test .jsonl text files to render with espeak-ng.")
flags.DEFINE_string("label_field", "intent", "Label field of the text files (to sample per label).")
flags.DEFINE_integer("train_per_label", 100, "Training sentences rendered per label (--text_data).")
flags.DEFINE_integer("eval_per_label", 15, "Validation/test sentences rendered per label (--text_data).")
flags.DEFINE_string("audio_dir", None, "Where rendered audio goes (reused if present); default <run_dir>/audio.")
flags.DEFINE_string("backbone", "whisper-tiny-en", "whisper-tiny-en, a Whisper preset folder, or tiny-whisper (tests).")
flags.DEFINE_float("audio_seconds", None, "Encoder window in seconds (short-audio mode; 30 = Whisper's standard input); "
                   "default: chosen from the training clips' durations (99.5% of them + 0.5 s of silence, in 0.5 s steps).")
flags.DEFINE_enum("train_encoder", "frozen", ["frozen", "top", "lora", "full"], "What of the encoder trains.")
flags.DEFINE_integer("encoder_top_layers", 1, "With --train_encoder=top, how many of the last encoder layers train.")
flags.DEFINE_enum("train_decoder", "full", ["full", "layers", "lora"], "What of the decoder trains (layers: all but "
                  "the token and position embeddings).")
flags.DEFINE_integer("lora_rank", 8, "LoRA rank where LoRA is chosen.")
flags.DEFINE_integer("epochs", None, "Training epochs (instead of --steps); default: steps chosen from the data.")
flags.DEFINE_integer("steps", None, "Optimizer steps; default: ~2,400 training clips presented (150 steps at batch 16), "
                     "at least one epoch, at most 20.")
flags.DEFINE_float("learning_rate", 5e-5, "Peak learning rate (AdamW, warm-up + linear decay).")
flags.DEFINE_integer("batch_size", 16, "Batch size (per replica under --strategy).")
flags.DEFINE_integer("patience", None, "Stop after this many validations without a lower validation loss, keeping the "
                     "best weights (0 = off); default: chosen (3).")
flags.DEFINE_integer("beams", 4, "Beam width for the WER after fine-tuning (1 = greedy; the WER before and "
                     "wer_after_greedy are greedy).")
flags.DEFINE_string("domain_text", "auto", "Text of the domain for a token n-gram language model fused into decoding "
                    "(shallow fusion): auto (with --text_data its train.jsonl, every sentence of it; with --manifest the "
                    "training transcripts), none, or a .jsonl (its 'text' field) or .txt file (a sentence a line).")
flags.DEFINE_integer("lm_order", 4, "Order of the domain language model (4 = three tokens of context).")
flags.DEFINE_float("lm_weight", DEFAULT_FUSION_WEIGHT, "Weight of the domain language model's log-probability in decoding (0 = off).")
flags.DEFINE_integer("max_tokens", None, "Most tokens decoded per clip in evaluation; default: the longest training "
                     "transcript + 25%, a multiple of 8, within the decoder's positions.")
flags.DEFINE_integer("max_eval", 0, "Evaluate on at most this many clips (0 = all).")
flags.DEFINE_string("run_dir", None, "Output directory.")
flags.DEFINE_bool("save_model", True, "Save the fine-tuned backbone to <run_dir>/model.")
flags.DEFINE_integer("seed", 42, "Seed.")
flags.DEFINE_bool("overwrite", False, "Replace a finished run.")
define_strategy_flag()
flags.mark_flag_as_required("run_dir")
flags.register_validator("audio_seconds", lambda v: v is None or v > 0, message="--audio_seconds must be > 0")
flags.register_validator("max_tokens", lambda v: v is None or v >= 1, message="--max_tokens must be >= 1")
flags.register_validator("encoder_top_layers", lambda v: v >= 1, message="--encoder_top_layers must be >= 1")
flags.register_validator("lm_order", lambda v: v >= 1, message="--lm_order must be >= 1")
flags.register_validator("beams", lambda v: v >= 1, message="--beams must be >= 1")
flags.register_validator("lm_weight", lambda v: v >= 0, message="--lm_weight must be >= 0")
RECIPE_FLAGS = {"epochs": "epochs", "steps": "steps", "batch_size": "batch_size", "learning_rate": "learning_rate",
                "patience": "early_stopping_patience", "strategy": "strategy"}  # flag -> Recipe field


def read_examples(run_dir: pathlib.Path):
    """The transcribed examples of the manifest, or of the text data rendered with espeak-ng."""
    from voice_ft.asr.data import read_transcript_manifest, synthesize_transcripts

    if bool(FLAGS.manifest) == bool(FLAGS.text_data):
        raise app.UsageError("Give exactly one of --manifest and --text_data.")
    if FLAGS.manifest:
        return read_transcript_manifest(FLAGS.manifest)
    data = pathlib.Path(FLAGS.text_data)
    splits = {s: data / f"{s}.jsonl" for s in ("train", "validation", "test") if (data / f"{s}.jsonl").exists()}
    per_label = {s: FLAGS.train_per_label if s == "train" else FLAGS.eval_per_label for s in splits}
    return synthesize_transcripts(splits, FLAGS.audio_dir or run_dir / "audio", FLAGS.label_field, per_label,
                                  seed=FLAGS.seed)  # fmt: skip


def load_backbone():
    import voice_ft

    if FLAGS.backbone == "tiny-whisper":
        from voice_ft.asr.tiny import tiny_whisper_backbone

        return tiny_whisper_backbone(seed=FLAGS.seed)
    return voice_ft.load_backbone(FLAGS.backbone)


def build_recognizer(backbone, frames):
    from voice_ft.asr.model import build_speech_recognizer

    return build_speech_recognizer(backbone, frames, FLAGS.train_encoder, FLAGS.train_decoder, FLAGS.lora_rank,
                                   encoder_top_layers=FLAGS.encoder_top_layers)


def alone(backbone, frames):
    """`backbone` as the chief evaluates and saves it by itself: under multi_worker a copy loaded
    outside the strategy (made trainable, LoRA adapters included, as the recognizer made it) with
    its weights; otherwise `backbone` itself."""
    from voice_ft.training.distribution import alone_on_chief

    if FLAGS.strategy != "multi_worker":
        return backbone
    local = load_backbone()

    def build():
        build_recognizer(local, frames)
        return local.model

    alone_on_chief(backbone.model, build, FLAGS.strategy)  # copies the weights into local.model
    return local


def given_domain_text() -> tuple[list[str], str] | None:
    """(sentences, file) of a --domain_text file, read (and checked) once before any rendering; None for auto/none."""
    from voice_ft.asr.language_model import read_domain_sentences

    if FLAGS.domain_text in ("auto", "none") or FLAGS.lm_weight == 0:
        return None
    return read_domain_sentences(FLAGS.domain_text), FLAGS.domain_text


def domain_sentences(train, given: tuple[list[str], str] | None) -> tuple[list[str], str]:
    """(sentences, where they came from) for --domain_text; ([], "none") when it is off."""
    from voice_ft.asr.language_model import read_domain_sentences

    if given is not None:
        return given
    if FLAGS.domain_text == "none" or FLAGS.lm_weight == 0:
        return [], "none"
    if FLAGS.text_data:
        path = pathlib.Path(FLAGS.text_data) / "train.jsonl"
        return read_domain_sentences(path), str(path)
    return list(train.transcripts), "the training transcripts"


def evaluate(backbone, data, max_tokens: int, language_model=None, beams: int | None = None) -> dict:
    """WER of greedy/beam transcripts of `data` (features already computed), at most `max_tokens` each,
    with `language_model` fused at --lm_weight when one is given."""
    from voice_ft.asr.decoding import transcribe_features
    from voice_ft.asr.metrics import wer_report

    hypotheses = transcribe_features(backbone, data.features, beams=FLAGS.beams if beams is None else beams,
                                     max_tokens=max_tokens, language_model=language_model,
                                     lm_weight=FLAGS.lm_weight)  # fmt: skip
    report = wer_report(data.transcripts, hypotheses)
    report.pop("per_utterance")
    return {**report, "hypotheses": hypotheses}


def main(argv):
    del argv
    from voice_ft.data.files import prepare_run_dir
    from voice_ft.training.distribution import start_strategy, writer_dir

    overrides = recipe_overrides(RECIPE_FLAGS)  # a bad value fails now, before any audio is rendered
    given_text = given_domain_text()  # a missing or bad text file fails now too
    strategy, chief = start_strategy(FLAGS.strategy)  # before TensorFlow runs anything
    # Only the chief checks, prepares and writes the run directory (the workers share it).
    run_dir = (prepare_run_dir(FLAGS.run_dir, overwrite=FLAGS.overwrite, results=("metrics.json",)) if chief
               else pathlib.Path(FLAGS.run_dir))  # fmt: skip
    with writer_dir(run_dir, strategy) as audio_root:  # a worker's own temporary directory off the chief
        train_and_report(run_dir, audio_root, chief, overrides, strategy.num_replicas_in_sync, given_text)


def asr_recipe(num_clips: int, overrides: dict, replicas: int):
    """The recipe: steps from the number of training clips (choose_asr_recipe); the flags win. Printed
    with reasons; returns (recipe, reasons)."""
    from voice_ft.asr.auto_recipe import choose_asr_recipe

    defaults = {"batch_size": FLAGS.batch_size, "learning_rate": FLAGS.learning_rate, "seed": FLAGS.seed}
    choice = choose_asr_recipe(num_clips, overrides, defaults, replicas=replicas)
    print(f"Recipe:\n{choice.describe()}", flush=True)
    return choice.recipe, choice.reasons


def audio_window(train_examples, held_out) -> tuple[float, str]:
    """--audio_seconds, or chosen from the training clips' durations; warns about the clips it cuts."""
    from voice_ft.asr.windows import choose_audio_seconds, clip_seconds, over_window

    splits = {"training clips": train_examples, "held-out clips": held_out}
    seconds = {what: clip_seconds(examples) for what, examples in splits.items()}
    if FLAGS.audio_seconds is not None:
        window, reason = FLAGS.audio_seconds, f"{FLAGS.audio_seconds:g} (set by you)"
    else:
        choice = choose_audio_seconds(seconds["training clips"])
        window, reason = choice.value, choice.reason
        print(f"Chose {reason} (--audio_seconds overrides)", flush=True)
    for what, examples in splits.items():
        warning = over_window(seconds[what], [e.source or e.path for e in examples], min(window, 30.0), what, "s",
                              "their ends are cut from the encoder's input")  # fmt: skip
        if warning:
            logging.warning("%s (--audio_seconds sets the window)", warning)
    return window, reason


def decoding_window(backbone, train, evaluation) -> tuple[int, str]:
    """--max_tokens, or chosen from the training transcripts' token counts; warns about the ones it cuts."""
    from voice_ft.asr.windows import choose_max_tokens, over_window

    limit = int(backbone.model.max_decoder_sequence_length) - train.prompt_length
    if FLAGS.max_tokens is not None:
        max_tokens, reason = min(FLAGS.max_tokens, limit), f"{FLAGS.max_tokens} (set by you)"
    else:
        choice = choose_max_tokens([len(ids) - train.prompt_length for ids in train.token_ids], limit)
        max_tokens, reason = int(choice.value), choice.reason
        print(f"Chose {reason} (--max_tokens overrides)", flush=True)
    for what, data in (("training transcripts", train), ("held-out transcripts", evaluation)):
        warning = over_window([len(ids) - data.prompt_length for ids in data.token_ids],
                              [e.source or e.path for e in data.examples], max_tokens, what, "tokens",
                              "decoding stops before their end (WER counts the words lost)")  # fmt: skip
        if warning:
            logging.warning("%s (--max_tokens sets the limit)", warning)
    return max_tokens, reason


def train_and_report(run_dir: pathlib.Path, audio_root: pathlib.Path, chief: bool, overrides: dict,
                     replicas: int = 1, given_text: tuple[list[str], str] | None = None) -> None:
    """Evaluates, fine-tunes and evaluates again; the chief alone evaluates and writes into `run_dir`."""
    from voice_ft.asr.data import load_speech, select_split
    from voice_ft.asr.decoding import GENERATION_CONFIG
    from voice_ft.asr.language_model import fit_token_language_model
    from voice_ft.asr.train import fit_speech_recognizer
    from voice_ft.training.distribution import distribution_scope

    examples = read_examples(audio_root)
    splits = {s: select_split(examples, s) for s in ("train", "validation")}
    eval_split = "test" if any(e.split == "test" for e in examples) else "validation"
    held_out = select_split(examples, eval_split)[: FLAGS.max_eval or None]
    recipe, reasons = asr_recipe(len(splits["train"]), overrides, replicas)
    audio_seconds, reasons["audio_seconds"] = audio_window(splits["train"], held_out)

    frames = None if audio_seconds >= 30 else round(audio_seconds * 100)
    with distribution_scope(FLAGS.strategy):
        backbone = load_backbone()
        recognizer = build_recognizer(backbone, frames)
    train, validation = (load_speech(backbone, splits[s], frames) for s in ("train", "validation"))
    evaluation = load_speech(backbone, held_out, frames)
    max_tokens, reasons["max_tokens"] = decoding_window(backbone, train, evaluation)
    sentences, text_source = domain_sentences(train, given_text)
    language_model = fit_token_language_model(backbone, sentences, order=FLAGS.lm_order) if sentences else None
    if language_model is not None:
        print(f"Domain language model: order {FLAGS.lm_order} over {len(sentences)} sentences of {text_source}, "
              f"fused at weight {FLAGS.lm_weight:g} (--domain_text=none turns it off)", flush=True)

    if chief:
        before = evaluate(alone(backbone, frames), evaluation, max_tokens, beams=1)
        print(f"WER before fine-tuning on {len(evaluation)} {eval_split} clips: {before['wer']:.4f}")
    trained = fit_speech_recognizer(recognizer, train, validation, recipe=recipe, run_dir=run_dir / "training", verbose=2)
    if not chief:
        return  # the chief evaluates and writes
    backbone = alone(backbone, frames)
    after = evaluate(backbone, evaluation, max_tokens, language_model)
    plain = after if language_model is None and FLAGS.beams == 1 else evaluate(backbone, evaluation, max_tokens, beams=1)
    print(f"WER after fine-tuning: {after['wer']:.4f} ({decoding_name(language_model)}; greedy alone: {plain['wer']:.4f}) "
          f"({trained.seconds:.0f} s of training)")

    if FLAGS.save_model:
        model_dir = run_dir / "model"
        if model_dir.exists():
            shutil.rmtree(model_dir)
        backbone.model.save_to_preset(str(model_dir))
        backbone.tokenizer.save_to_preset(str(model_dir))
        backbone.audio_converter.save_to_preset(str(model_dir))
        if backbone.path is not None and (backbone.path / GENERATION_CONFIG).exists():
            shutil.copy(backbone.path / GENERATION_CONFIG, model_dir / GENERATION_CONFIG)
    if language_model is not None:
        language_model.save(run_dir / "language_model.json")
    greedy_hypotheses = plain["hypotheses"]
    samples = [{"reference": r, "before": b, "after": a, "after_greedy": g}
               for r, b, a, g in zip(evaluation.transcripts, before.pop("hypotheses"), after.pop("hypotheses"),
                                     greedy_hypotheses)][:20]  # fmt: skip
    plain.pop("hypotheses", None)
    metrics = {
        "eval_split": eval_split, "wer_before": before["wer"], "wer_after": after["wer"],
        "wer_after_greedy": plain["wer"], "decoding": decoding_name(language_model),
        "domain_text": text_source, "lm_order": FLAGS.lm_order if language_model else None,
        "lm_weight": FLAGS.lm_weight if language_model else None,
        "before": before, "after": after, "train_seconds": trained.seconds, "cached_encoder": trained.cached_encoder,
        "trainable_parameters": trained.trainable_parameters, "audio_frames": recognizer.audio_frames,
        "audio_seconds": audio_seconds, "max_tokens": max_tokens, "reasons": reasons,
        "train_encoder": FLAGS.train_encoder, "encoder_top_layers": FLAGS.encoder_top_layers if FLAGS.train_encoder == "top" else None,
        "train_decoder": FLAGS.train_decoder, "beams": FLAGS.beams,
        "num_train": len(train), "num_validation": len(validation), "num_eval": len(evaluation),
        "recipe": recipe.to_dict(), "history": trained.history, "samples": samples,
    }
    (run_dir / "metrics.json").write_text(json.dumps(metrics, indent=2, default=float), encoding="utf-8")
    print(json.dumps({k: metrics[k] for k in ("wer_before", "wer_after", "wer_after_greedy", "train_seconds",
                                              "num_train", "num_eval")}))  # fmt: skip


def decoding_name(language_model) -> str:
    """How the WER after fine-tuning was decoded, e.g. "beam 4 + domain LM (weight 0.3)"."""
    search = "greedy" if FLAGS.beams == 1 else f"beam {FLAGS.beams}"
    return search if language_model is None else f"{search} + domain LM (weight {FLAGS.lm_weight:g})"


if __name__ == "__main__":
    app.run(exit_on_interrupt(main))
