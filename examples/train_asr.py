"""Fine-tune Whisper for a voice assistant's commands and report WER before and after.

    # SNIPS commands rendered by espeak-ng, test voices unheard in training (short audio, 5 s):
    python examples/train_asr.py --text_data=data/snips --run_dir=runs/asr
    # your own recordings: a CSV manifest path,transcript,speaker,split (train/validation[/test]):
    python examples/train_asr.py --manifest=my_audio/manifest.csv --run_dir=runs/asr_mine

The encoder is frozen by default (its outputs are computed once, the decoder trains on them);
--train_encoder=lora or full trains it too. metrics.json holds WER before and after on the test
split (the validation split when there is none); model/ is the fine-tuned backbone as a keras-hub
preset (`voice_ft.load_backbone("runs/asr/model")`). --strategy trains on several devices
(--batch_size clips per replica); only the chief (worker 0) evaluates and writes --run_dir (other
workers render their audio into a temporary directory unless --audio_dir is given).
"""

from __future__ import annotations

import json
import pathlib
import shutil

from absl import app, flags

from voice_ft.training.distribution import define_strategy_flag
from voice_ft.training.interrupt import exit_on_interrupt

FLAGS = flags.FLAGS
flags.DEFINE_string("manifest", None, "CSV manifest path,transcript[,speaker],split.")
flags.DEFINE_string("text_data", None, "Folder of train/validation/test .jsonl text files to render with espeak-ng.")
flags.DEFINE_string("label_field", "intent", "Label field of the text files (to sample per label).")
flags.DEFINE_integer("train_per_label", 100, "Training sentences rendered per label (--text_data).")
flags.DEFINE_integer("eval_per_label", 15, "Validation/test sentences rendered per label (--text_data).")
flags.DEFINE_string("audio_dir", None, "Where rendered audio goes (reused if present); default <run_dir>/audio.")
flags.DEFINE_string("backbone", "whisper-tiny-en", "whisper-tiny-en, a Whisper preset folder, or tiny-whisper (tests).")
flags.DEFINE_float("audio_seconds", 5.0, "Encoder window in seconds (short-audio mode); 30 = Whisper's standard input.")
flags.DEFINE_enum("train_encoder", "frozen", ["frozen", "lora", "full"], "What of the encoder trains.")
flags.DEFINE_enum("train_decoder", "full", ["full", "lora"], "What of the decoder trains.")
flags.DEFINE_integer("lora_rank", 8, "LoRA rank where LoRA is chosen.")
flags.DEFINE_integer("epochs", 3, "Training epochs.")
flags.DEFINE_float("learning_rate", 1e-5, "Peak learning rate (AdamW, warm-up + linear decay).")
flags.DEFINE_integer("batch_size", 16, "Batch size (per replica under --strategy).")
flags.DEFINE_integer("patience", 2, "Stop after this many epochs without validation improvement, keeping the best (0 = off).")
flags.DEFINE_integer("beams", 1, "Beam width for the WER evaluation (1 = greedy).")
flags.DEFINE_integer("max_tokens", 64, "Most tokens decoded per clip in evaluation.")
flags.DEFINE_integer("max_eval", 0, "Evaluate on at most this many clips (0 = all).")
flags.DEFINE_string("run_dir", None, "Output directory.")
flags.DEFINE_bool("save_model", True, "Save the fine-tuned backbone to <run_dir>/model.")
flags.DEFINE_integer("seed", 42, "Seed.")
flags.DEFINE_bool("overwrite", False, "Replace a finished run.")
define_strategy_flag()
flags.mark_flag_as_required("run_dir")


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

    return build_speech_recognizer(backbone, frames, FLAGS.train_encoder, FLAGS.train_decoder, FLAGS.lora_rank)


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


def evaluate(backbone, data, frames) -> dict:
    """WER of greedy/beam transcripts of `data` (features already computed)."""
    from voice_ft.asr.decoding import transcribe_features
    from voice_ft.asr.metrics import wer_report

    hypotheses = transcribe_features(backbone, data.features, beams=FLAGS.beams, max_tokens=FLAGS.max_tokens)
    report = wer_report(data.transcripts, hypotheses)
    report.pop("per_utterance")
    return {**report, "hypotheses": hypotheses}


def main(argv):
    del argv
    from voice_ft.data.files import prepare_run_dir
    from voice_ft.training.distribution import start_strategy, writer_dir

    strategy, chief = start_strategy(FLAGS.strategy)  # before TensorFlow runs anything
    # Only the chief checks, prepares and writes the run directory (the workers share it).
    run_dir = (prepare_run_dir(FLAGS.run_dir, overwrite=FLAGS.overwrite, results=("metrics.json",)) if chief
               else pathlib.Path(FLAGS.run_dir))  # fmt: skip
    with writer_dir(run_dir, strategy) as audio_root:  # a worker's own temporary directory off the chief
        train_and_report(run_dir, audio_root, chief)


def train_and_report(run_dir: pathlib.Path, audio_root: pathlib.Path, chief: bool) -> None:
    """Evaluates, fine-tunes and evaluates again; the chief alone evaluates and writes into `run_dir`."""
    import voice_ft
    from voice_ft.asr.data import load_speech, select_split
    from voice_ft.asr.decoding import GENERATION_CONFIG
    from voice_ft.asr.train import fit_speech_recognizer
    from voice_ft.training.distribution import distribution_scope

    examples = read_examples(audio_root)
    splits = {s: select_split(examples, s) for s in ("train", "validation")}
    eval_split = "test" if any(e.split == "test" for e in examples) else "validation"
    held_out = select_split(examples, eval_split)[: FLAGS.max_eval or None]

    frames = None if FLAGS.audio_seconds >= 30 else round(FLAGS.audio_seconds * 100)
    with distribution_scope(FLAGS.strategy):
        backbone = load_backbone()
        recognizer = build_recognizer(backbone, frames)
    train, validation = (load_speech(backbone, splits[s], frames) for s in ("train", "validation"))
    evaluation = load_speech(backbone, held_out, frames)

    if chief:
        before = evaluate(alone(backbone, frames), evaluation, frames)
        print(f"WER before fine-tuning on {len(evaluation)} {eval_split} clips: {before['wer']:.4f}")
    recipe = voice_ft.Recipe(epochs=FLAGS.epochs, batch_size=FLAGS.batch_size, learning_rate=FLAGS.learning_rate,
                             early_stopping_patience=FLAGS.patience or None, seed=FLAGS.seed,
                             strategy=FLAGS.strategy)  # fmt: skip
    trained = fit_speech_recognizer(recognizer, train, validation, recipe=recipe, run_dir=run_dir / "training", verbose=2)
    if not chief:
        return  # the chief evaluates and writes
    backbone = alone(backbone, frames)
    after = evaluate(backbone, evaluation, frames)
    print(f"WER after fine-tuning: {after['wer']:.4f} ({trained.seconds:.0f} s of training)")

    if FLAGS.save_model:
        model_dir = run_dir / "model"
        if model_dir.exists():
            shutil.rmtree(model_dir)
        backbone.model.save_to_preset(str(model_dir))
        backbone.tokenizer.save_to_preset(str(model_dir))
        backbone.audio_converter.save_to_preset(str(model_dir))
        if backbone.path is not None and (backbone.path / GENERATION_CONFIG).exists():
            shutil.copy(backbone.path / GENERATION_CONFIG, model_dir / GENERATION_CONFIG)
    samples = [{"reference": r, "before": b, "after": a}
               for r, b, a in zip(evaluation.transcripts, before.pop("hypotheses"), after.pop("hypotheses"))][:20]  # fmt: skip
    metrics = {
        "eval_split": eval_split, "wer_before": before["wer"], "wer_after": after["wer"],
        "before": before, "after": after, "train_seconds": trained.seconds, "cached_encoder": trained.cached_encoder,
        "trainable_parameters": trained.trainable_parameters, "audio_frames": recognizer.audio_frames,
        "train_encoder": FLAGS.train_encoder, "train_decoder": FLAGS.train_decoder, "beams": FLAGS.beams,
        "num_train": len(train), "num_validation": len(validation), "num_eval": len(evaluation),
        "recipe": recipe.to_dict(), "history": trained.history, "samples": samples,
    }
    (run_dir / "metrics.json").write_text(json.dumps(metrics, indent=2, default=float), encoding="utf-8")
    print(json.dumps({k: metrics[k] for k in ("wer_before", "wer_after", "train_seconds", "num_train", "num_eval")}))


if __name__ == "__main__":
    app.run(exit_on_interrupt(main))
