"""Shared main for the text-classifier trainers (`train_intent.py`, `train_sentiment.py`).

Flags live here and in the two scripts; the work is done by the voice_ft API. A run writes into
`--run_dir`: model.keras, config.json, labels.txt, vocab.txt, metrics.json, history.csv, logs/
(TensorBoard), <task>.tflite + <task>.json (sidecar), confusion_matrix.png, training_curves.png and,
with --calibrate (the default), reliability_diagram.png: the temperature and the "I didn't
understand" threshold fitted on the validation split go into the sidecar (see voice_ft.calibrate).
With --oos_label=oos, validation/test rows labelled "oos" are out-of-scope examples: the threshold
then maximises in-scope accuracy + OOS recall instead of rejecting --reject_rate of in-scope inputs.

Out-of-scope negatives (--negatives): `generated` draws them from other bundled data sets (SGD
dialogue user turns, GoEmotions comments; those too similar to your training sentences dropped,
`voice_ft.generate_negatives`), a path reads your own (`.txt`, one sentence a line, or `.jsonl` with
`{"text": ...}`). They become an explicit out-of-scope class named --oos_label (default "oos"):
80% train it, 20% are validation OOS rows that choose the threshold. The sidecar records the label;
`TextClassifier` answers not_understood when it wins or the score is below the threshold. --score
picks the score the threshold is on (auto: the max softmax, the logit energy or, with out-of-scope
validation rows, the Mahalanobis distance of the sentence embedding to the nearest intent: the best
validation AUROC).

Slot supervision (--slot_supervision, on by default where the data has slot tags: SNIPS, or a folder
that `voice_ft.load_nlu` reads, e.g. .jsonl with "tokens" + "slots"): the intent classifier trains
with a second, training-only head that tags each word's slot, and its loss beside the intent loss
(`voice_ft.text_classification.slot_supervision`), for 1.5x the steps (each class seen 4,200 times
instead of 2,800: `choose_text_classifier_recipe`). The shipped model is the same one-output
classifier. Not with --train_shards or --tune, nor with class weights.

Training sets larger than memory: write them once to sharded TFRecords
(`voice_ft.data.tfrecords.write_text_shards(dataset, "shards/", 16, labels=labels)`) and pass
`--train_shards='shards/train-*.tfrecord'`: the training split is then streamed from the files
(validation, test and the label list still come from --data; shards recording other labels are
refused before training).
"""

from __future__ import annotations

import dataclasses
import pathlib
import sys
import time

import calibration_flags
import negatives_flags
from export_flags import define_quantization_flag
from absl import app, flags, logging

import voice_ft  # lazy: the names used below load (with TensorFlow) when first touched
from voice_ft.data.files import prepare_run_dir, record_run_config
from voice_ft.evaluation import reports
from voice_ft.training.auto_recipe import TEXT_CLASSIFIER_LEARNING_RATE, choose_text_classifier_recipe
from voice_ft.training.recipe_flags import define_strategy_flag, recipe_overrides

FLAGS = flags.FLAGS
flags.DEFINE_string("data", None, "Bundled data set name (snips, poem_sentiment, goemotions), a folder with "
                    "train/validation/test .jsonl/.csv files, or a TFDS name.")
flags.DEFINE_string("train_shards", None, "Glob pattern of TFRecord shards of the training split (written by "
                    "voice_ft.data.tfrecords.write_text_shards, label ids indexing --data's labels), streamed "
                    "instead of --data's training split: for training sets larger than memory.")
flags.DEFINE_string("task", None, "Label field of a bundled data set (intent, sentiment).")
flags.DEFINE_string("backbone", "all-minilm-l6-v2", "Backbone: packaged name, keras-hub preset, preset dir or HF folder.")
flags.DEFINE_integer("epochs", None, "Training epochs (instead of --steps); default: steps chosen from the data.")
flags.DEFINE_integer("steps", None, "Optimizer steps; default: chosen from the number of classes (voice_ft.choose_recipe).")
flags.DEFINE_integer("steps_per_validation", None, "Steps between validations/backups with --steps; default: chosen.")
flags.DEFINE_integer("batch_size", 32, "Batch size.")
flags.DEFINE_float("learning_rate", TEXT_CLASSIFIER_LEARNING_RATE, "Peak learning rate of the pretrained encoder "
                   "(the text classifiers' default: all-MiniLM-L6-v2 is a small encoder).")
flags.DEFINE_integer("sequence_length", None, "Tokens per utterance, including [CLS]/[SEP]; default: chosen from "
                     "the training data (99.5th percentile, rounded up to 8).")
flags.DEFINE_string("run_dir", None, "Output directory for this run.")
define_quantization_flag(["dynamic"])
flags.DEFINE_float("tolerance", 0.5, "Largest accepted TFLite accuracy drop, in points.")
flags.DEFINE_bool("freeze_backbone", False, "Train only the classification head.")
flags.DEFINE_integer("freeze_layers", 0, "Freeze the embeddings and the bottom N transformer layers.")
flags.DEFINE_bool("freeze_embeddings", None, "Freeze the token-embedding table (a faster step); default: chosen.")
flags.DEFINE_bool("jit_compile", None, "XLA-compile the training step (pays back its compiles only on long runs: "
                  "about 1,500 steps on 2 CPU cores).")
flags.DEFINE_integer("lora_rank", None, "Train LoRA adapters of this rank instead of the whole backbone.")
flags.DEFINE_float("layerwise_lr_decay", None, "Layer-wise learning-rate decay factor (e.g. 0.9).")
flags.DEFINE_float("head_learning_rate_multiplier", None, "The new classification head trains at this times the learning "
                   "rate; default: chosen.")
flags.DEFINE_bool("mixed_precision", None, "Train in bfloat16 (CPU) / float16 (GPU), evaluate and export in float32; "
                  "default: chosen (true where the CPU has bfloat16 matrix units).")
flags.DEFINE_float("ema_momentum", None, "Validate, checkpoint and ship a moving average of the weights with this momentum (e.g. 0.99).")
flags.DEFINE_integer("early_stopping_patience", None, "Stop after N validations without improvement (0 = never); "
                     "default: chosen.")
flags.DEFINE_enum("class_weight", None, ["balanced"], "Re-weight classes by inverse frequency.")
flags.DEFINE_integer("seed", None, "Seed of the shuffling and the new heads' initialisation (default: the Recipe's, 42).")
flags.DEFINE_integer("train_limit", None, "Use only the first N training examples (quick runs).")
flags.DEFINE_integer("tune", 0, "Try N variants of the recipe (learning rate x steps) by successive halving on the "
                     "validation split and keep the best (0 = off); about 3x a run's time for N=4.")
flags.DEFINE_float("tune_budget_minutes", None, "Wall-clock budget for --tune, the final run included.")
flags.DEFINE_bool("slot_supervision", None, "Train the intent classifier with an auxiliary slot-tagging loss on the "
                  "training data's slot tags (the shipped model is the same classifier); default: on when --data has "
                  "slot tags (SNIPS, or a folder voice_ft.load_nlu reads).")
flags.DEFINE_bool("overwrite", False, "Replace the results of an existing run directory.")
define_strategy_flag()


# Recipe fields the trainers take from flags; the ones left unset are chosen from the data.
RECIPE_FLAGS = ("epochs", "steps", "steps_per_validation", "batch_size", "learning_rate", "freeze_backbone",
                "freeze_layers", "freeze_embeddings", "jit_compile", "lora_rank", "layerwise_lr_decay",
                "head_learning_rate_multiplier", "mixed_precision", "ema_momentum", "early_stopping_patience",
                "class_weight", "strategy", "seed")


def recipe_for(train, num_labels: int, overrides: dict, replicas: int = 1, label_counts=None,
               slot_supervised: bool = False) -> tuple[voice_ft.Recipe, int, bool]:  # fmt: skip
    """The recipe for this training split (data-driven defaults under the user's flags, logged with
    reasons), the split's size, and whether slot supervision stays on (`choose_text_classifier_recipe`:
    class weights turn it off); `label_counts` (e.g. from a shard spec) spare a pass over the split."""
    if label_counts is not None:
        profile = voice_ft.DataProfile.from_label_counts(label_counts)
    else:
        profile = voice_ft.DataProfile.from_dataset(train, num_labels)
    choice, slot_supervised = choose_text_classifier_recipe(profile, overrides, slot_supervised=slot_supervised,
                                                            replicas=replicas)  # fmt: skip
    logging.info("Recipe for %d sentences in %d classes (flags override):\n%s",
                 profile.num_examples, profile.num_classes, choice.describe())  # fmt: skip
    print(f"Recipe:\n{choice.describe()}", flush=True)
    return choice.recipe, profile.num_examples, slot_supervised


def check_flags() -> dict:
    """The recipe overrides; every flag that can be wrong without reading data fails here, as a usage
    error naming the flag, before TensorFlow is imported."""
    overrides = recipe_overrides(RECIPE_FLAGS)
    if FLAGS.tune < 0 or (FLAGS.tune_budget_minutes is not None and FLAGS.tune_budget_minutes <= 0):
        raise app.UsageError(f"--tune must be >= 0 and --tune_budget_minutes > 0, got {FLAGS.tune} and {FLAGS.tune_budget_minutes}")
    if FLAGS.tune and FLAGS.strategy != "default":
        raise app.UsageError("--tune runs on one device; leave --strategy at 'default'.")
    if FLAGS.train_shards and (FLAGS.negatives != "none" or FLAGS.train_limit or FLAGS.tune):
        raise app.UsageError("--train_shards streams the training split: combine it with neither --negatives, "
                             "--train_limit nor --tune (write the shards you want to train on)")  # fmt: skip
    if FLAGS.slot_supervision and (FLAGS.train_shards or FLAGS.tune or FLAGS.class_weight):
        raise app.UsageError("--slot_supervision trains from --data's slot-tagged sentences: combine it with neither "
                             "--train_shards, --tune nor --class_weight")  # fmt: skip
    return overrides


# The panels of training_curves.png, those the run logged: a slot-supervised run's intent accuracy is `logits_accuracy`.
TRAINING_CURVES = (("loss", "loss"), ("accuracy", "accuracy"), ("logits_accuracy", "intent accuracy"),
                   ("slot_logits_loss", "slot loss"))


def slot_supervision_for(labels, oos_label, negatives, task_name: str):
    """(`SlotData` or None, why): whether this run trains with slot supervision, and on what.

    On by default when `--data` carries slot tags; a data set without them is an error only when
    the flag asks for it (the error names the file and line). Class weights, which the recipe
    chooses afterwards, turn it off again (`recipe_for`).
    """
    from voice_ft.runtime.errors import DataError
    from voice_ft.text_classification import slot_supervision

    wanted = FLAGS.slot_supervision
    if wanted is False:
        return None, "off (set by you)"
    if task_name != "intent":
        if wanted:
            raise app.UsageError(f"--slot_supervision is for intent classifiers, not {task_name}")
        return None, f"off (a {task_name} classifier has no slots)"
    if FLAGS.train_shards or FLAGS.tune:
        return None, f"off (not combined with {'--train_shards' if FLAGS.train_shards else '--tune'})"
    try:
        data = slot_supervision.load_slot_data(FLAGS.data, labels, oos_label=oos_label, train_limit=FLAGS.train_limit)
    except (DataError, ValueError) as error:
        if wanted:
            raise app.UsageError(f"--slot_supervision needs slot-tagged data (rows with \"intent\", \"tokens\" and "
                                 f"\"slots\", as SNIPS, or another format voice_ft.load_nlu reads): {error}") from None
        return None, f"off (--data has no slot tags: {error})"
    if negatives is not None:  # the out-of-scope class: sentences with no slot of the domain
        data.train.extend(slot_supervision.untagged_examples(negatives.train, oos_label, "negatives"))
    return data, (f"on ({'set by you' if wanted else 'the training data tags slots'}: {len(data.slot_tags)} slot tags; "
                  f"a training-only head tags each word, its loss x{slot_supervision.SLOT_LOSS_WEIGHT:g} beside the "
                  "intent loss, and the steps are chosen for it; --slot_supervision=false turns it off)")  # fmt: skip


def run(task_name: str, builder_name: str) -> dict:
    """Trains, evaluates, saves and exports one text classifier (built by `voice_ft.<builder_name>`);
    returns the metrics."""
    overrides = check_flags()
    user_negatives = negatives_flags.negatives_from_flag()  # --negatives_size was checked with the flags
    oos_label = negatives_flags.oos_class_label()
    # Only now TensorFlow: a bad flag or negatives file was answered in well under a second.
    from voice_ft.data.sequence_length import choose_sequence_length
    from voice_ft.data.text_pipeline import add_negatives, in_scope
    from voice_ft.data.tfrecords import check_text_shards, read_text_shards, shard_files
    from voice_ft.training.distribution import alone_on_chief, start_strategy
    from voice_ft.training.precision import compute_in_float32

    builder = getattr(voice_ft, builder_name)
    strategy, chief = start_strategy(FLAGS.strategy)  # before TensorFlow runs anything
    # Only the chief checks, prepares and writes the run directory (the workers share it).
    run_dir = prepare_run_dir(FLAGS.run_dir, overwrite=FLAGS.overwrite) if chief else pathlib.Path(FLAGS.run_dir)
    train, validation, test, labels = voice_ft.datasets.load(FLAGS.data, task=FLAGS.task, oos_label=oos_label)
    shard_label_counts = None
    if FLAGS.train_shards:
        shard_label_counts = check_text_shards(FLAGS.train_shards, labels).get("label_counts")
        train = read_text_shards(FLAGS.train_shards)  # profiled and measured by streaming; fit reads the pattern
        print(f"Training split: {len(shard_files(FLAGS.train_shards))} shards ({FLAGS.train_shards})", flush=True)
    if FLAGS.train_limit:
        train = train.take(FLAGS.train_limit)
    negatives = None
    if FLAGS.negatives != "none":
        texts = [text.decode("utf-8") for text, _ in train.as_numpy_iterator()]
        negatives = negatives_flags.negatives_for(texts, user_negatives)
        train, validation, labels = add_negatives(train, validation, labels, negatives, oos_label)
        print(negatives_flags.negatives_line(negatives, oos_label), flush=True)
    slot_data, slot_reason = slot_supervision_for(labels, oos_label, negatives, task_name)
    recipe, num_train, slot_supervised = recipe_for(
        train, len(labels), overrides, replicas=strategy.num_replicas_in_sync, label_counts=shard_label_counts,
        slot_supervised=slot_data is not None)
    if slot_data is not None and not slot_supervised:
        slot_data, slot_reason = None, "off (not combined with class weights)"
    print(f"Slot supervision: {slot_reason}", flush=True)
    voice_ft.training.use_mixed_precision(recipe.mixed_precision)  # before any layer is built, the backbone's too
    with voice_ft.training.distribution_scope(FLAGS.strategy):
        backbone = voice_ft.load_backbone(FLAGS.backbone)
    sequence_length = FLAGS.sequence_length
    if sequence_length is None:
        choice = choose_sequence_length(train.map(lambda text, label: text), backbone.tokenizer,
                                        max_length=backbone.max_sequence_length)  # fmt: skip
        sequence_length = choice.sequence_length
        logging.info("Chose %s (--sequence_length overrides).", choice.reason())

    def build(pretrained=None):  # fresh pretrained weights unless given a loaded backbone
        slot_tags = {"slot_tags": slot_data.slot_tags} if slot_data is not None else {}
        return builder(pretrained or voice_ft.load_backbone(FLAGS.backbone), num_labels=len(labels),
                       sequence_length=sequence_length, **slot_tags)  # fmt: skip

    config = {
        "task": task_name, "data": FLAGS.data, "train_shards": FLAGS.train_shards, "backbone": FLAGS.backbone,
        "sequence_length": sequence_length, "recipe": dataclasses.asdict(recipe),
        "quantization": FLAGS.quantization, "labels": labels,
        "calibrate": FLAGS.calibrate, "reject_rate": FLAGS.reject_rate, "oos_label": oos_label,
        "negatives": FLAGS.negatives, "negatives_size": FLAGS.negatives_size, "score": FLAGS.score, "tune": FLAGS.tune,
        "slot_supervision": slot_data is not None,
    }
    if chief:  # other workers write nothing into the run directory
        record_run_config(run_dir, config)
    fit_validation = in_scope(validation) if oos_label else validation
    started = time.monotonic()
    if FLAGS.tune:
        steps_per_epoch = -(-num_train // recipe.batch_size)
        budget = FLAGS.tune_budget_minutes * 60 if FLAGS.tune_budget_minutes else None
        search = voice_ft.tune(build, train, fit_validation, recipe, steps_per_epoch, num_candidates=FLAGS.tune,
                               budget_seconds=budget, fit_kwargs={"run_dir": run_dir})  # fmt: skip
        print(f"Tuning ({FLAGS.tune} candidates):\n{search.report()}", flush=True)
        model, recipe, history = search.model, search.recipe, search.history
        reports.write_json(run_dir / "tuning.json", {"trials": [t.to_dict() for t in search.trials],
                                                     "chosen": recipe.to_dict(), "stopped_by_budget": search.stopped_by_budget})
    else:
        import keras

        keras.utils.set_random_seed(recipe.seed)  # the new heads' initialisation too: a run is repeatable
        with voice_ft.training.distribution_scope(FLAGS.strategy):
            model = build(backbone)
        if slot_data is not None:
            history = voice_ft.fit_with_slot_supervision(model, slot_data.train, slot_data.validation, labels,
                                                         recipe=recipe, run_dir=run_dir)  # fmt: skip
        else:
            history = voice_ft.fit(model, FLAGS.train_shards or train, fit_validation, recipe=recipe, run_dir=run_dir)
    train_seconds = time.monotonic() - started  # every trial's with --tune; the resumed part of a resumed run
    logging.info("Training took %.0f s.", train_seconds)
    voice_ft.training.use_mixed_precision(False)  # evaluated, saved and exported in float32, as on the phone
    compute_in_float32(model)
    if not chief:
        return {}  # the chief evaluates, saves and exports
    model = alone_on_chief(model, build, FLAGS.strategy)  # multi_worker: predict would wait for the others
    test_metrics = voice_ft.evaluate(model, test, labels)
    voice_ft.save_model(model, run_dir, labels=labels, overwrite=FLAGS.overwrite)
    calibration = None
    if FLAGS.calibrate:
        # train: with out-of-scope validation rows, --score=auto also weighs the Mahalanobis distance of the
        # sentence embedding, fitted on the training split (one more pass over it).
        calibration = voice_ft.calibrate(model, validation, labels, score=FLAGS.score, train=train,
                                         target_in_scope_rejection=calibration_flags.target_in_scope_rejection(),
                                         oos_label=oos_label if negatives is not None else None)  # fmt: skip
        calibration_flags.write_reliability_diagram(calibration, run_dir)

    exports = {}
    for quantization in FLAGS.quantization:
        name = task_name if len(FLAGS.quantization) == 1 else f"{task_name}_{quantization}"
        result = voice_ft.export_tflite(
            model, run_dir / f"{name}.tflite", quantization=quantization, verify_on=test, labels=labels,
            representative_data=train, tolerance=FLAGS.tolerance, overwrite=FLAGS.overwrite, calibration=calibration,
        )
        exports[quantization] = result.to_dict()

    metrics = {"test": test_metrics, "history": history.history, "train_seconds": round(train_seconds, 1), "tflite": exports}
    if negatives is not None:
        metrics["negatives"] = {"train": len(negatives.train), "validation": len(negatives.validation), **negatives.report}
    if calibration is not None:
        metrics["calibration"] = calibration.report
    reports.write_json(run_dir / "metrics.json", metrics)
    reports.plot_confusion_matrix(test_metrics["confusion_matrix"], labels, run_dir / "confusion_matrix.png")
    reports.plot_training_curves(history.history, run_dir / "training_curves.png", metrics=TRAINING_CURVES)
    print_report(run_dir, test_metrics, exports, calibration)
    return metrics


def print_report(run_dir: pathlib.Path, test_metrics: dict, exports: dict, calibration=None) -> None:
    lines = [
        f"\nRun directory: {run_dir}",
        f"Keras test accuracy {test_metrics['accuracy']:.4f}, macro-F1 {test_metrics['macro_f1']:.4f} "
        f"({test_metrics['num_examples']} examples)",
    ]
    for quantization, r in exports.items():
        lines.append(
            f"TFLite {quantization:8s} {pathlib.Path(r['path']).name}: {r['size_bytes'] / 1e6:.1f} MB, "
            f"accuracy {r['tflite_accuracy']:.4f} (Keras {r['keras_accuracy']:.4f}, agreement {r['agreement']:.4f})"
        )
        if r.get("tflite_in_scope_accuracy") is not None:
            oos = f", OOS recall {r['tflite_oos_recall']:.4f}" if r.get("tflite_oos_recall") is not None else ""
            lines.append(f"  with rejection: in-scope accuracy {r['tflite_in_scope_accuracy']:.4f}{oos}")
    if calibration is not None:
        lines.append(calibration.summary())
    print("\n".join(lines), file=sys.stdout, flush=True)
    logging.info("Done.")
