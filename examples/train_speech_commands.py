"""Train a waveform-in speech-command classifier (default: FSDD spoken digits) and export it to .tflite.

    python examples/train_speech_commands.py --run_dir=runs/fsdd
    python examples/train_speech_commands.py --run_dir=runs/fsdd_scratch --model=dscnn
    python examples/train_speech_commands.py --run_dir=runs/fsdd_pre --model=speech_embedding --epochs=30
    python examples/train_speech_commands.py --data_dir=my_commands/ --run_dir=runs/mine  # <label>/<file>.wav
    python examples/train_speech_commands.py --run_dir=runs/fsdd_kd --teacher=speech_embedding  # distil

The default model (`speech_embedding_dscnn`) puts DS-CNN blocks on the first seven convolutions of
Google's pretrained speech_embedding: 43K parameters, a ~123 KB int8 file, and far better on speakers
it never heard than the same-size DS-CNN trained from scratch on MFCCs (`--model=dscnn`, which also
runs at other sample rates). With `--teacher=speech_embedding` the small model is distilled from the
whole pretrained speech_embedding classifier (its head trained first on the same training clips):
it learns the large model's softened predictions on every augmented clip as well as the labels.

The data is a CSV manifest (path,label[,speaker,split]) or a folder per label. With a `split` column
the manifest's train/validation/test are used (FSDD's are speaker-disjoint); otherwise a seeded random
80/10/10 split is made. A run writes model.keras, labels.txt, metrics.json, history.csv, one
<name>_<quantization>.tflite + .json per exported variant and, with --calibrate (the default),
reliability_diagram.png. --strategy trains on several devices (--batch_size clips per replica; batch
normalisation uses the global batch's statistics); only the chief (worker 0) writes the run
directory, evaluates and exports.

Out of scope (calibration_flags.py): a temperature and an "I didn't understand" threshold fitted on
the validation clips go into each sidecar; `AudioClassifier` then answers `label=None,
not_understood=True` below it. With --oos_label=_unknown_, validation/test clips of that label (not
a class; none may be in training) are out-of-scope examples: they choose the threshold (max in-scope
accuracy + OOS recall, lowered while the OOS recall stays >= 0.95) and the export reports the
.tflite's OOS recall.

Out-of-scope negatives: --negatives_dir=<folder> holds clips that are none of the keywords (other
words, noise, speech; any layout, read with the same audio checks as the data). They train an
explicit out-of-scope class named --oos_label (default "oos", the last label): a seeded 80% train
it, the other 20% are validation out-of-scope clips that choose the threshold. The sidecar records
the class; `AudioClassifier` answers `label=None, not_understood=True` when it wins. Without clips of
your own, --negatives_dir=generated writes them into <run_dir>/negatives
(`voice_ft.data.audio_negatives`): other words spoken by espeak-ng voices (as many as a keyword has
training clips; words that sound like a keyword dropped), as many non-words made from your training
clips (reversed, or halves of two keywords joined) and a quarter as many noise clips.
"""

from __future__ import annotations

import atexit
import pathlib
import random
import shutil
import tempfile

import calibration_flags
import numpy as np
from absl import app, flags, logging
from export_flags import define_quantization_flag

import voice_ft  # lazy; TensorFlow loads in main, once the flags are checked
from voice_ft.data.audio_negatives import generate_audio_negatives
from voice_ft.data.audio_readers import read_audio_clips, read_audio_folder, read_audio_manifest, select_split
from voice_ft.data.files import prepare_run_dir
from voice_ft.data.negatives import holdout_split
from voice_ft.evaluation import reports
from voice_ft.export.errors import ExportVerificationError
from voice_ft.export.rejection_check import rejection_line
from voice_ft.runtime.errors import DataError
from voice_ft.speech_commands.audio_recipe import choose_audio_recipe
from voice_ft.training.interrupt import exit_on_interrupt
from voice_ft.training.recipe_flags import define_strategy_flag, recipe_overrides

FLAGS = flags.FLAGS
flags.DEFINE_string("manifest", "data/fsdd/manifest.csv", "CSV manifest: path,label[,speaker,split].")
flags.DEFINE_string("data_dir", None, "Folder-per-label tree (overrides --manifest).")
flags.DEFINE_string("run_dir", None, "Output directory.")
flags.DEFINE_enum("model", "speech_embedding_dscnn", ["speech_embedding_dscnn", "dscnn", "speech_embedding"],
                  "speech_embedding_dscnn: DS-CNN blocks on the pretrained speech_embedding's first layers (16 kHz; "
                  "a ~123 KB int8 file); dscnn: DS-CNN on MFCCs from scratch (any rate); "
                  "speech_embedding: the whole pretrained encoder, frozen, with a trained head (328K parameters).")
flags.DEFINE_integer("epochs", None, "Training epochs (instead of --steps); default: steps chosen from the data.")
flags.DEFINE_integer("steps", None, "Optimizer steps; default: chosen from the number of classes (FSDD's 10: 3,000 "
                     "steps, 40 passes over its augmented clips).")
flags.DEFINE_integer("batch_size", 64, "Batch size (per replica under --strategy).")
flags.DEFINE_float("learning_rate", 3e-3, "Peak learning rate.")
flags.DEFINE_integer("sample_rate", 16000, "Model sample rate (files are resampled to it).")
flags.DEFINE_float("clip_seconds", 1.0, "Fixed clip length; shorter clips are centred in silence.")
flags.DEFINE_float("upper_edge_hertz", None, "Top mel frequency (default: half the lowest file sample rate).")
flags.DEFINE_integer("filters", None, "Block width (default: the builder's 64 x 3 blocks for speech_embedding_dscnn, "
                     "43K parameters, a ~123 KB int8 file; 96 x 5 for dscnn, 59K, ~134 KB).")
flags.DEFINE_integer("num_blocks", None, "Depthwise-separable blocks (default: 3 for speech_embedding_dscnn, 5 for dscnn).")
flags.DEFINE_enum("teacher", "none", ["none", "speech_embedding"],
                  "Distil the small model from the whole pretrained speech_embedding classifier (16 kHz only).")
flags.DEFINE_integer("teacher_epochs", 60, "Epochs for the teacher's head (on embeddings computed once).")
flags.DEFINE_float("distill_alpha", None, "Weight of the label loss when distilling (the rest: the teacher's); "
                   "default: voice_ft.Distiller's (0.3).")
flags.DEFINE_float("distill_temperature", None, "Distillation softening temperature; default: voice_ft.Distiller's (4.0).")
flags.DEFINE_bool("augment", True, "Speed, shift, gain and noise augmentation (plus SpecAugment in the DS-CNN).")
flags.DEFINE_string("noise_dir", None, "Folder of background-noise recordings (default: generated pink noise).")
flags.DEFINE_integer("repeat_augmented", 2, "Augmented copies of each clip per epoch.")
flags.DEFINE_integer("train_per_class", None, "Keep only N training clips per class (data-scarcity runs).")
flags.DEFINE_string("negatives_dir", None, "Folder of clips that are none of the keywords (other words, noise, speech; "
                    "sub-folders included): they train an explicit out-of-scope class named --oos_label (default "
                    "'oos'); a held-out 20% of them choose the rejection threshold. 'generated': voice_ft writes "
                    "them (other words spoken by espeak-ng, and noise) into <run_dir>/negatives.")
flags.DEFINE_bool("skip_bad_files", False, "Skip unreadable/empty/NaN files (and report them) instead of failing.")
define_quantization_flag(["float32", "int8"], extra=["auto"])
flags.DEFINE_float("tolerance", 0.5, "Largest accepted TFLite accuracy drop, in points.")
flags.DEFINE_integer("seed", 42, "Seed for splits, subsets and training.")
flags.DEFINE_bool("overwrite", False, "Replace the results of an existing run directory.")
define_strategy_flag()
flags.mark_flag_as_required("run_dir")


def oos_class_label() -> str | None:
    """The out-of-scope label: --oos_label, or "oos" with --negatives_dir; None when neither is given."""
    return FLAGS.oos_label or ("oos" if FLAGS.negatives_dir else None)


def generated_negatives_folder(run_dir: pathlib.Path, chief: bool) -> pathlib.Path:
    """Where --negatives_dir=generated writes: `run_dir`/negatives on the chief. The other workers of
    a multi-worker run must not write into the run directory they share with it, so each makes the
    same seeded clips in a temporary folder of its own, removed when it exits."""
    if chief:
        return run_dir / "negatives"
    folder = pathlib.Path(tempfile.mkdtemp(prefix="voice_ft_negatives_"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return folder


def load_splits(run_dir: pathlib.Path, chief: bool = True):
    """(train, validation, test) AudioSources, the negatives' (train, validation) clips and, with
    --negatives_dir=generated, what was generated (`generated_negatives_folder`); every file is
    checked here, before training."""
    examples = read_audio_folder(FLAGS.data_dir) if FLAGS.data_dir else read_audio_manifest(FLAGS.manifest)
    if all(e.split for e in examples):
        parts = [select_split(examples, s) for s in ("train", "validation", "test")]
    else:
        shuffled = random.Random(FLAGS.seed).sample(examples, len(examples))
        n = len(shuffled) // 10
        parts = [shuffled[2 * n :], shuffled[:n], shuffled[n : 2 * n]]
    if FLAGS.train_per_class:
        rng = random.Random(FLAGS.seed)
        by_label = {}
        for e in parts[0]:
            by_label.setdefault(e.label, []).append(e)
        parts[0] = [e for group in by_label.values() for e in rng.sample(group, min(FLAGS.train_per_class, len(group)))]
    options = dict(sample_rate=FLAGS.sample_rate, clip_seconds=FLAGS.clip_seconds, skip_bad_files=FLAGS.skip_bad_files)
    oos_label = oos_class_label()
    if oos_label and any(e.label == oos_label for e in parts[0]):
        raise DataError(f"--oos_label={oos_label}: training clips have that label; out-of-scope clips belong in "
                        "validation/test only (they choose the rejection threshold) or in --negatives_dir")  # fmt: skip
    labels = sorted({e.label for e in parts[0]})
    negatives, generated = ([], []), None
    if FLAGS.negatives_dir:  # an explicit out-of-scope class, the last label; its validation clips get label id -1
        folder = FLAGS.negatives_dir
        if folder == "generated":
            per_class = max(1, round(len(parts[0]) / len(labels)))
            generated = generate_audio_negatives(
                labels, generated_negatives_folder(run_dir, chief), num_words=per_class,
                num_noise_clips=max(1, per_class // 4), clip_seconds=FLAGS.clip_seconds, seed=FLAGS.seed,
                keyword_clips=[(e.path, e.label) for e in parts[0]], num_derived_clips=per_class,
            )
            folder = generated.folder
        negatives = holdout_split(read_audio_clips(folder, oos_label), seed=FLAGS.seed)
        labels.append(oos_label)
    from voice_ft.data.audio import AudioSource

    train = AudioSource.from_examples(parts[0] + negatives[0], labels, **options)
    validation = AudioSource.from_examples(parts[1] + negatives[1], train.labels, oos_label=oos_label, **options)
    test = AudioSource.from_examples(parts[2], train.labels, oos_label=oos_label, **options)
    skipped = train.skipped + validation.skipped + test.skipped
    if skipped:
        print(f"Skipped {len(skipped)} bad files:\n  " + "\n  ".join(s.reason for s in skipped))
    return train, validation, test, negatives, generated


def build_model(train):
    """The --model for `train`'s labels (an AudioSource)."""
    from voice_ft.speech_commands.model import build_speech_command_classifier
    from voice_ft.speech_commands.pretrained import build_speech_embedding_classifier, build_speech_embedding_dscnn

    if FLAGS.model == "speech_embedding":
        return build_speech_embedding_classifier(len(train.labels), FLAGS.clip_seconds)
    sizes = {k: v for k, v in (("filters", FLAGS.filters), ("num_blocks", FLAGS.num_blocks)) if v is not None}
    if FLAGS.model == "speech_embedding_dscnn":
        return build_speech_embedding_dscnn(len(train.labels), FLAGS.clip_seconds, **sizes)
    upper = FLAGS.upper_edge_hertz or min(train.min_native_rate, FLAGS.sample_rate) / 2
    return build_speech_command_classifier(
        len(train.labels), FLAGS.sample_rate, FLAGS.clip_seconds, upper_edge_hertz=upper, spec_augment=FLAGS.augment,
        **{"filters": 96, "num_blocks": 5, **sizes},
    )


def train_teacher(x_train, y_train, x_test, y_test, num_classes: int):
    """(the speech_embedding classifier, head trained on the training clips, its test accuracy)."""
    from voice_ft.speech_commands.pretrained import train_speech_embedding_classifier

    teacher = train_speech_embedding_classifier(x_train, y_train, num_classes, FLAGS.clip_seconds,
                                                epochs=FLAGS.teacher_epochs, seed=FLAGS.seed)
    accuracy = float(np.mean(teacher.predict(x_test, batch_size=64, verbose=0).argmax(-1) == y_test))
    print(f"Teacher (speech_embedding, {teacher.count_params():,} parameters): test accuracy {accuracy:.4f}")
    return teacher, accuracy


# An audio model learns its front end almost from scratch: ~16x the sightings a text classifier's head needs.
# Chosen so FSDD's 10 digits get the 3,000 steps its figures (bench/speech_fsdd.py) were measured with.
AUDIO_PRESENTATIONS_PER_CLASS = 19_200
RECIPE_FLAGS = ("epochs", "steps", "batch_size", "learning_rate", "strategy")


def audio_recipe(train, copies: int, overrides: dict, replicas: int = 1) -> voice_ft.Recipe:
    """Steps from the number of classes (choose_audio_recipe), at most 60 passes; the flags win.
    `replicas` in sync make the global batch (and so the steps) larger."""
    defaults = {"batch_size": FLAGS.batch_size, "learning_rate": FLAGS.learning_rate, "seed": FLAGS.seed,
                "head_learning_rate_multiplier": 1.0, "early_stopping_patience": None}  # fmt: skip
    choice = choose_audio_recipe(train, overrides, defaults, presentations_per_class=AUDIO_PRESENTATIONS_PER_CLASS,
                                 max_epochs=60, copies=copies, replicas=replicas)  # fmt: skip
    print(f"Recipe:\n{choice.describe()}", flush=True)
    return choice.recipe


def check_flags():
    """Flag combinations that cannot work, refused before any data is read."""
    if FLAGS.teacher != "none" and FLAGS.model == "speech_embedding":
        raise app.UsageError("--teacher distils a small student; it makes no sense with --model=speech_embedding.")
    for name, value in (("--teacher", FLAGS.teacher), ("--model", FLAGS.model)):
        if value.startswith("speech_embedding") and FLAGS.sample_rate != 16000:
            raise app.UsageError(f"{name}={value} needs --sample_rate=16000 (got {FLAGS.sample_rate}).")


def main(argv):
    del argv
    check_flags()
    overrides = recipe_overrides(RECIPE_FLAGS)  # a bad value fails now, before TensorFlow or any audio is read

    from voice_ft.data.augment import WaveformAugmentation, generated_noise, noise_from_folder
    from voice_ft.speech_commands.export import export_audio_classifier
    from voice_ft.training.distribution import (
        alone_on_chief,
        distribute_batches,
        distribution_scope,
        global_batch_size,
        start_strategy,
    )

    strategy, chief = start_strategy(FLAGS.strategy)  # before TensorFlow runs anything
    # Only the chief checks, prepares and writes the run directory (the workers share it).
    run_dir = prepare_run_dir(FLAGS.run_dir, overwrite=FLAGS.overwrite) if chief else pathlib.Path(FLAGS.run_dir)
    try:
        train, validation, test, negatives, generated = load_splits(pathlib.Path(run_dir), chief)
    except DataError as e:  # a bad file or manifest: say which, without a traceback
        raise SystemExit(f"Error: {e}\n(--skip_bad_files skips unreadable audio files and lists them.)") from None
    if FLAGS.negatives_dir:
        print(f"Out-of-scope class {oos_class_label()!r}: {len(negatives[0])} training and {len(negatives[1])} "
              f"validation clips ({FLAGS.negatives_dir})", flush=True)
        if generated is not None:
            print(f"  generated: {len(generated.words)} spoken words, {generated.derived_clips} reversed or spliced "
                  f"keyword clips and {generated.noise_clips} noise clips in {generated.folder}; "
                  f"{len(generated.dropped)} words that sound like a keyword left out", flush=True)
    augment = None
    if FLAGS.augment:
        clip = train.clip_samples
        noise = noise_from_folder(FLAGS.noise_dir, FLAGS.sample_rate, clip) if FLAGS.noise_dir else generated_noise(clip, "pink", num_clips=16)
        augment = WaveformAugmentation(sample_rate=FLAGS.sample_rate, noise=noise)
    copies = FLAGS.repeat_augmented if augment else 1
    recipe = audio_recipe(train, copies, overrides, replicas=strategy.num_replicas_in_sync)
    batch_size = global_batch_size(recipe.batch_size, strategy)
    train_ds = distribute_batches(train.dataset(batch_size, shuffle=True, augment=augment, seed=FLAGS.seed,
                                                repeat_augmented=copies), strategy)  # fmt: skip
    with distribution_scope(FLAGS.strategy):
        model = build_model(train)
    logging.info("%s: %d parameters, %d training clips", model.name, model.count_params(), len(train.examples))
    labels = list(train.labels)
    x_train, y_train = train.arrays()  # decoded once: the teacher's data and the int8 calibration clips
    x_test, y_test = test.arrays()  # the teacher's score and the export verification (-1: out of scope)
    teacher, teacher_accuracy = None, None
    with distribution_scope(FLAGS.strategy):  # the distiller holds the teacher's variables too
        if FLAGS.teacher == "speech_embedding":
            keep = y_test >= 0
            teacher, teacher_accuracy = train_teacher(x_train, y_train, x_test[keep], y_test[keep], len(labels))
        given = {"temperature": FLAGS.distill_temperature, "alpha": FLAGS.distill_alpha}
        trained = model if teacher is None else voice_ft.Distiller(
            model, teacher, **{name: value for name, value in given.items() if value is not None})
    validation_ds = distribute_batches(validation.in_scope().dataset(global_batch_size(128, strategy)), strategy)
    history = voice_ft.fit(trained, train_ds, validation_ds, recipe=recipe, run_dir=run_dir, verbose=2)
    if not chief:
        return  # the chief evaluates, saves and exports
    model = alone_on_chief(model, lambda: build_model(train), FLAGS.strategy)
    test_metrics = voice_ft.evaluate(model, test.dataset(128), labels)
    voice_ft.save_model(model, run_dir, labels=labels, overwrite=FLAGS.overwrite)
    calibration = None
    if FLAGS.calibrate:  # out-of-scope validation clips (label id -1) choose the threshold
        calibration = voice_ft.calibrate(model, validation.dataset(128), labels, score=FLAGS.score,
                                         target_in_scope_rejection=calibration_flags.target_in_scope_rejection(),
                                         oos_label=oos_class_label() if FLAGS.negatives_dir else None)  # fmt: skip
        calibration_flags.write_reliability_diagram(calibration, run_dir)

    x_rep = x_train[:200]
    exports = {}
    for quantization in FLAGS.quantization:
        try:
            result = export_audio_classifier(
                model, run_dir / f"{model.name}_{quantization}.tflite", quantization, verify_on=(x_test, y_test),
                labels=labels, representative_waveforms=x_rep, sample_rate=FLAGS.sample_rate, pad=train.pad,
                tolerance=FLAGS.tolerance, overwrite=FLAGS.overwrite, calibration=calibration,
            )
        except ExportVerificationError as e:
            print(f"Refused {quantization}: {e}")
            exports[quantization] = {"refused": str(e)}
            continue
        print(f"{result.path.name}: {result.size_bytes / 1e3:.0f} KB, {result.summary()}; TFLite accuracy "
              f"{result.tflite_accuracy:.4f} (Keras {result.keras_accuracy:.4f})")
        if rejection_line(result.to_dict()):
            print("  " + rejection_line(result.to_dict()))
        exports[quantization] = result.to_dict()
    metrics = {"test": test_metrics, "params": model.count_params(), "epochs_run": len(history.epoch),
               "skipped_files": [s.path for s in train.skipped + validation.skipped + test.skipped], "exports": exports,
               "teacher": FLAGS.teacher, "teacher_test_accuracy": teacher_accuracy}
    if FLAGS.negatives_dir:
        metrics["negatives"] = {"dir": FLAGS.negatives_dir, "train": len(negatives[0]), "validation": len(negatives[1])}
        if generated is not None:
            metrics["negatives"]["generated"] = {"words": list(generated.words), "noise_clips": generated.noise_clips,
                                                 "derived_clips": generated.derived_clips,
                                                 "dropped_look_alikes": list(generated.dropped)}  # fmt: skip
    if calibration is not None:
        metrics["calibration"] = calibration.report
    reports.write_json(pathlib.Path(run_dir) / "metrics.json", metrics)
    print(f"Test accuracy {test_metrics['accuracy']:.4f} on {test_metrics['num_examples']} clips")
    if calibration is not None:
        print(calibration.summary())


if __name__ == "__main__":
    app.run(exit_on_interrupt(main))
