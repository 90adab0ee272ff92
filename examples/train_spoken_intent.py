"""Synthesise spoken SNIPS commands with espeak-ng, train an audio -> intent classifier, export it.

    python examples/train_spoken_intent.py --run_dir=runs/spoken_intent

Train voices and held-out voices are disjoint by accent (en-gb-scotland and en-029 are test,
en-gb-x-rp validation), so the test accuracy is for voices never heard in training. The model is the
pretrained speech_embedding encoder (frozen) plus a small head; the encoder's embeddings are computed
once and the head is trained on them with `voice_ft.fit`, then the whole waveform-in model is exported.
The head trains for a number of steps chosen from the data (each intent seen a set number of times,
at most 60 passes; `voice_ft.speech_commands.audio_recipe`), validated at least once a pass; the
chosen values are printed with their reasons and every flag overrides them (--epochs switches the
step rule off; --early_stopping_patience=3 stops early and keeps the best weights, which measured
worse here: see `head_recipe`).

Out of scope (calibration_flags.py): with --calibrate (the default) a temperature and an "I didn't
understand" threshold are fitted on the validation clips, written to the sidecar (`AudioClassifier`
answers `label=None, not_understood=True` below it) and drawn in reliability_diagram.png. With
--oos_label=oos, validation/test sentences labelled "oos" are spoken too and become out-of-scope
clips: they choose the threshold and the export reports the .tflite's OOS recall.

Out-of-scope negatives (negatives_flags.py, as in the text trainers): --negatives=generated (off-topic
sentences from other bundled data sets, those too close to the spoken training sentences dropped) or
--negatives=<.txt/.jsonl> (your own), --negatives_size per training sentence. They are spoken by the
same espeak-ng synthesis and voices as the commands (each training one --train_renditions times) and
train an explicit out-of-scope class named --oos_label (default "oos"): 80% train it, 20% are
validation out-of-scope clips that choose the threshold. The sidecar records the class, and
`AudioClassifier` answers `label=None, not_understood=True` when it wins.

--strategy trains the head on several devices (--batch_size embeddings per replica); only the chief
(worker 0) writes the run directory, evaluates and exports (other workers render their audio into a
temporary directory unless --audio_dir is given).
"""

from __future__ import annotations

import hashlib
import pathlib
from typing import TYPE_CHECKING

import calibration_flags
import negatives_flags
import numpy as np
from absl import app, flags
from export_flags import define_quantization_flag

import voice_ft  # lazy; TensorFlow loads in main, once the flags are checked
from voice_ft.data.audio_readers import read_audio_manifest, read_manifest_rows, select_split
from voice_ft.data.files import prepare_run_dir
from voice_ft.data.speech_synthesis import Utterance, synthesize_text_splits
from voice_ft.evaluation import reports
from voice_ft.export.rejection_check import rejection_line
from voice_ft.speech_commands.audio_recipe import choose_audio_recipe
from voice_ft.training.interrupt import exit_on_interrupt
from voice_ft.training.recipe_flags import define_strategy_flag, recipe_overrides

if TYPE_CHECKING:
    from voice_ft.data.audio import AudioSource

FLAGS = flags.FLAGS
flags.DEFINE_string("data_dir", "data/snips", "Folder with train/validation/test .jsonl text files.")
flags.DEFINE_string("label_field", "intent", "Label field of the text files.")
flags.DEFINE_string("audio_dir", None, "Where synthesised audio goes (reused if present); default <run_dir>/audio.")
flags.DEFINE_integer("train_per_intent", 600, "Training utterances per intent to synthesise.")
flags.DEFINE_integer("train_renditions", 2, "Different train voices (each with its own speed and pitch) per training sentence.")
flags.DEFINE_integer("eval_per_intent", 50, "Validation/test utterances per intent.")
flags.DEFINE_float("clip_seconds", 4.0, "Clip length (commands are centred, longer ones trimmed).")
flags.DEFINE_integer("epochs", None, "Head training epochs (instead of --steps); default: steps chosen from the data.")
flags.DEFINE_integer("steps", None, "Head optimizer steps; default: chosen from the number of intents (SNIPS's 7 with "
                     "8,400 clips: 7,875 steps, the 30 epochs its figures were measured with).")
flags.DEFINE_integer("early_stopping_patience", None, "Stop after N validations without a lower validation loss, "
                     "keeping the best weights (0 = never); default: never (it cost accuracy on held-out voices).")
flags.DEFINE_float("learning_rate", 1e-3, "Peak learning rate.")
flags.DEFINE_integer("batch_size", 32, "Head training batch size (per replica under --strategy).")
flags.DEFINE_string("run_dir", None, "Output directory.")
define_quantization_flag(["float32", "int8"], extra=["auto"])
flags.DEFINE_float("tolerance", 0.5, "Largest accepted TFLite accuracy drop, in points.")
flags.DEFINE_integer("seed", 42, "Seed.")
flags.DEFINE_bool("overwrite", False, "Replace an existing run.")
define_strategy_flag()
flags.mark_flag_as_required("run_dir")


def spoken_negatives(manifest: pathlib.Path, audio_dir: pathlib.Path, user_negatives, oos_label: str):
    """Negatives for the spoken training sentences, rendered like them; returns (Negatives, their AudioExamples).

    They go to `audio_dir/negatives_<digest of the sentences>`: the synthesis reuses files by
    position, so other sentences (another --negatives_size or file) get a folder of their own.
    """
    texts = list(dict.fromkeys(row["text"] for _, row in read_manifest_rows(manifest, ("path", "text", "split"))
                               if row["split"] == "train"))  # fmt: skip
    negatives = negatives_flags.negatives_for(texts, user_negatives)
    if not negatives.train:
        raise app.UsageError(f"--negatives={FLAGS.negatives}: no training negatives to learn {oos_label!r} from")
    splits = {"train": [Utterance(t, oos_label) for t in negatives.train],
              "validation": [Utterance(t, oos_label) for t in negatives.validation]}  # fmt: skip
    digest = hashlib.sha1(repr((splits, FLAGS.train_renditions, FLAGS.seed)).encode()).hexdigest()[:10]
    spoken = synthesize_text_splits(splits, audio_dir / f"negatives_{digest}", seed=FLAGS.seed,
                                    renditions={"train": FLAGS.train_renditions})  # fmt: skip
    return negatives, read_audio_manifest(spoken)


def spoken_sources(audio_dir: pathlib.Path, user_negatives=None):
    """Synthesises (or reuses) the spoken data set; returns train/validation/test AudioSources and the Negatives."""
    data_dir = pathlib.Path(FLAGS.data_dir)
    manifest = synthesize_text_splits(
        {s: data_dir / f"{s}.jsonl" for s in ("train", "validation", "test")}, audio_dir, FLAGS.label_field,
        per_label={"train": FLAGS.train_per_intent, "validation": FLAGS.eval_per_intent, "test": FLAGS.eval_per_intent},
        seed=FLAGS.seed, renditions={"train": FLAGS.train_renditions},
    )
    examples = read_audio_manifest(manifest)
    train_examples = select_split(examples, "train")
    oos_label = negatives_flags.oos_class_label()
    if oos_label and any(e.label == oos_label for e in train_examples):
        raise app.UsageError(f"--oos_label={oos_label}: the training sentences have that label; out-of-scope "
                             "sentences belong in validation/test only (they choose the rejection threshold) "
                             "or in --negatives")  # fmt: skip
    labels = sorted({e.label for e in train_examples})
    negatives, spoken = None, []
    if FLAGS.negatives != "none":  # an explicit out-of-scope class, the last label; its validation clips get id -1
        negatives, spoken = spoken_negatives(manifest, audio_dir, user_negatives, oos_label)
        labels.append(oos_label)
        print(negatives_flags.negatives_line(negatives, oos_label), flush=True)
    splits = {s: select_split(examples, s) + [e for e in spoken if e.split == s] for s in ("train", "validation", "test")}
    from voice_ft.data.audio import AudioSource

    train = AudioSource.from_examples(splits["train"], labels, clip_seconds=FLAGS.clip_seconds)
    validation, test = (AudioSource.from_examples(splits[s], train.labels, clip_seconds=FLAGS.clip_seconds,
                                                  oos_label=oos_label) for s in ("validation", "test"))  # fmt: skip
    return train, validation, test, negatives


def build_model(train: AudioSource):
    from voice_ft.speech_commands.spoken_intent import build_spoken_intent_classifier

    return build_spoken_intent_classifier(len(train.labels), FLAGS.clip_seconds)


# The head learns from frozen pretrained embeddings: chosen so SNIPS's 7 intents x 1,200 clips get the 7,875
# steps (30 epochs at batch 32) its figures (bench/spoken_intent.py) were measured with.
SPOKEN_INTENT_PRESENTATIONS_PER_CLASS = 36_000
RECIPE_FLAGS = ("epochs", "steps", "batch_size", "learning_rate", "early_stopping_patience", "strategy")


def head_recipe(train: AudioSource, overrides: dict, replicas: int = 1) -> voice_ft.Recipe:
    """The head's recipe: steps from the number of intents (choose_audio_recipe), at most 60 passes; its
    measured rate and batch kept, no early stopping; the flags win. Printed with reasons."""
    # The head is all that trains (the encoder is frozen, its outputs cached): no faster "head" rate. No early
    # stopping: on spoken SNIPS the validation loss bottoms out at pass ~14 of 30 while the validation accuracy
    # still rises (0.894 -> 0.914); stopping there and keeping those weights gave 0.840 on the held-out voices,
    # training the whole run 0.866 (2026-12-02, 7,875 steps).
    defaults = {"batch_size": FLAGS.batch_size, "learning_rate": FLAGS.learning_rate, "seed": FLAGS.seed,
                "head_learning_rate_multiplier": 1.0, "early_stopping_patience": None}  # fmt: skip
    choice = choose_audio_recipe(train, overrides, defaults, presentations_per_class=SPOKEN_INTENT_PRESENTATIONS_PER_CLASS,
                                 max_epochs=60, replicas=replicas)  # fmt: skip
    print(f"Recipe:\n{choice.describe()}", flush=True)
    return choice.recipe


def train_spoken_intent(train: AudioSource, validation: AudioSource, strategy=None, overrides: dict | None = None):
    """Builds the model (under `strategy`, default: none) and trains its head on cached encoder outputs
    with `head_recipe` (`overrides`: the Recipe fields the user set); returns (model, arrays by split)."""
    import tensorflow as tf

    from voice_ft.speech_commands.export import keras_predict
    from voice_ft.training.distribution import distribute_batches, distribution_scope, global_batch_size

    strategy = strategy or tf.distribute.get_strategy()
    recipe = head_recipe(train, recipe_overrides(RECIPE_FLAGS) if overrides is None else overrides,
                         replicas=strategy.num_replicas_in_sync)  # fmt: skip
    with distribution_scope(FLAGS.strategy):
        model = build_model(train)
    encoder, head = model.get_layer("encoder"), model.get_layer("head")
    arrays = {"train": train.arrays(), "validation": validation.in_scope().arrays()}
    embedded = {k: (keras_predict(encoder, x, batch_size=32), y) for k, (x, y) in arrays.items()}
    # Shuffle clips, then batch: the manifest is grouped by intent (and renditions of a sentence are
    # adjacent), so shuffling whole batches would train on one-intent batches.
    batch_size = global_batch_size(recipe.batch_size, strategy)
    train_batches = tf.data.Dataset.from_tensor_slices(embedded["train"]).shuffle(
        len(embedded["train"][1]), seed=FLAGS.seed, reshuffle_each_iteration=True).batch(batch_size)
    validation_batches = tf.data.Dataset.from_tensor_slices(embedded["validation"]).batch(batch_size)
    voice_ft.fit(head, distribute_batches(train_batches, strategy), distribute_batches(validation_batches, strategy),
                 recipe=recipe, verbose=2)  # fmt: skip
    return model, arrays


def main(argv):
    del argv
    overrides = recipe_overrides(RECIPE_FLAGS)  # a bad value fails now, before any audio is rendered
    user_negatives = negatives_flags.negatives_from_flag()  # a bad file too, before TensorFlow loads

    from voice_ft.speech_commands.export import export_audio_classifier, keras_predict
    from voice_ft.training.distribution import alone_on_chief, start_strategy, writer_dir

    strategy, chief = start_strategy(FLAGS.strategy)  # before TensorFlow runs anything
    # Only the chief checks, prepares and writes the run directory (the workers share it).
    run_dir = prepare_run_dir(FLAGS.run_dir, overwrite=FLAGS.overwrite) if chief else pathlib.Path(FLAGS.run_dir)
    with writer_dir(run_dir, strategy) as write_dir:  # a worker's own temporary directory off the chief
        train, validation, test, negatives = spoken_sources(pathlib.Path(FLAGS.audio_dir or write_dir / "audio"),
                                                            user_negatives)  # fmt: skip
        model, arrays = train_spoken_intent(train, validation, strategy, overrides)
    if not chief:
        return  # the chief evaluates, saves and exports
    model = alone_on_chief(model, lambda: build_model(train), FLAGS.strategy)
    x_test, y_test = test.arrays()  # label id -1: out of scope (the export measures their rejection)
    keep = y_test >= 0
    accuracy = float(np.mean(keras_predict(model, x_test[keep], 32).argmax(-1) == y_test[keep]))
    labels = list(train.labels)
    voice_ft.save_model(model, run_dir, labels=labels, overwrite=FLAGS.overwrite)
    calibration = None
    if FLAGS.calibrate:  # out-of-scope validation clips (label id -1) choose the threshold
        calibration = voice_ft.calibrate(model, validation.dataset(32), labels, score=FLAGS.score,
                                         target_in_scope_rejection=calibration_flags.target_in_scope_rejection(),
                                         oos_label=negatives_flags.oos_class_label() if negatives is not None else None)  # fmt: skip
        calibration_flags.write_reliability_diagram(calibration, run_dir)
    exports = {}
    for quantization in FLAGS.quantization:
        try:
            result = export_audio_classifier(
                model, run_dir / f"spoken_intent_{quantization}.tflite", quantization, verify_on=(x_test, y_test),
                labels=labels, representative_waveforms=arrays["train"][0][::10], pad=train.pad,
                tolerance=FLAGS.tolerance, overwrite=FLAGS.overwrite, calibration=calibration,
            )
            exports[quantization] = result.to_dict()
            print(f"{result.path.name}: {result.size_bytes / 1e3:.0f} KB, {result.summary()}, accuracy {result.tflite_accuracy:.4f}")
            if rejection_line(result.to_dict()):
                print("  " + rejection_line(result.to_dict()))
        except voice_ft.export.errors.ExportVerificationError as e:
            exports[quantization] = {"refused": str(e)}
            print(f"Refused {quantization}: {e}")
    metrics = {"test_accuracy_held_out_voices": accuracy, "exports": exports, "num_train": len(train.examples),
               "num_test": int(keep.sum()), "num_test_oos": int((~keep).sum())}
    if negatives is not None:
        metrics["negatives"] = {"train": len(negatives.train), "validation": len(negatives.validation), **negatives.report}
    if calibration is not None:
        metrics["calibration"] = calibration.report
    reports.write_json(run_dir / "metrics.json", metrics)
    print(f"Spoken-intent accuracy on held-out voices: {accuracy:.4f} ({int(keep.sum())} clips)")
    if calibration is not None:
        print(calibration.summary())


if __name__ == "__main__":
    app.run(exit_on_interrupt(main))
