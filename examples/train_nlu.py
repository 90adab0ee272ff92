"""Fine-tune a pretrained encoder into a joint intent + slot model and export it for phones.

    python examples/train_nlu.py --run_dir=runs/nlu                        # SNIPS, all-MiniLM-L6-v2
    python examples/train_nlu.py --data=my_nlu/ --run_dir=runs/mine --crf --quantization=dynamic,int8

`my_nlu/` holds train/validation/test files: .jsonl ({"tokens", "slots", "intent"} or
{"markup": "wake me up at [seven am](time)", "intent": ...}), CoNLL .conll/.bio (with
`# intent: X` lines) or markup .md/.txt; optional labels.txt and slot_labels.txt.
A run writes into --run_dir: model.keras, nlu_model.json, config.json, labels.txt, slot_labels.txt,
vocab.txt, metrics.json, history.csv, logs/, nlu[_<quantization>].tflite + .json sidecar,
training_curves.png, intent_confusion_matrix.png and, with --calibrate (the default),
reliability_diagram.png. It refuses to overwrite a finished run.

Out of scope (calibration_flags.py): the intent head's temperature and "I didn't understand"
threshold are fitted on the validation split and go into the sidecar; `NLUParser` then answers
`intent=None, not_understood=True` below it (slots are still decoded). With --oos_label=oos,
validation/test utterances of intent "oos" are out-of-scope examples: the threshold maximises
in-scope accuracy + OOS recall instead of rejecting --reject_rate of in-scope utterances, and the
export reports the .tflite's OOS recall.

Out-of-scope negatives (negatives_flags.py, as in the text trainers): --negatives=generated draws
off-topic sentences from other bundled data sets (SGD user turns, GoEmotions comments; those too
close to the training sentences dropped), --negatives=<.txt/.jsonl> reads your own. They become an
explicit intent named --oos_label (default "oos") whose every word is tagged O: 80% train it, 20%
are validation out-of-scope rows that choose the threshold. The sidecar records the intent, and
`NLUParser` answers `intent=None, not_understood=True` with no slots when it wins.
"""

from __future__ import annotations

import collections
import dataclasses
import pathlib

import calibration_flags
import negatives_flags
from export_flags import define_quantization_flag
from absl import app, flags, logging

import voice_ft  # lazy; TensorFlow loads in main, once the flags are checked
from voice_ft.data.files import prepare_run_dir, record_run_config
from voice_ft.evaluation import reports
from voice_ft.evaluation.metrics import confusion_matrix
from voice_ft.export.rejection_check import rejection_line
from voice_ft.nlu.negatives import add_nlu_negatives
from voice_ft.training.interrupt import exit_on_interrupt
from voice_ft.training.recipe_flags import define_strategy_flag, recipe_overrides

FLAGS = flags.FLAGS
flags.DEFINE_string("data", "snips", "'snips' (bundled) or a folder with train/validation/test files.")
flags.DEFINE_string("backbone", "all-minilm-l6-v2", "Backbone: packaged name, keras-hub preset, preset dir or HF folder.")
flags.DEFINE_string("run_dir", None, "Output directory for this run.")
flags.DEFINE_integer("epochs", None, "Training epochs (instead of --steps); default: steps chosen from the data.")
flags.DEFINE_integer("steps", None, "Optimizer steps; default: chosen from the number of intents, at least 3 epochs.")
flags.DEFINE_integer("steps_per_validation", None, "Steps between validations/backups with --steps; default: chosen.")
flags.DEFINE_integer("batch_size", 32, "Batch size (per replica under --strategy).")
flags.DEFINE_float("learning_rate", 1e-4, "Peak learning rate.")
flags.DEFINE_integer("sequence_length", None, "Word pieces per utterance, including [CLS]/[SEP]; default: the longest "
                     "training utterance's, rounded up to a multiple of 8.")
flags.DEFINE_float("slot_loss_weight", 1.0, "Weight of the slot loss in intent loss + weight * slot loss.")
flags.DEFINE_bool("crf", False, "Train a CRF slot layer and decode with its learned transitions.")
flags.DEFINE_enum("decoding", None, ["bio", "argmax"], "Slot decoding without --crf (default: BIO-constrained Viterbi).")
define_quantization_flag(["dynamic"])
flags.DEFINE_float("tolerance", 0.5, "Largest accepted TFLite drop of each metric, in points.")
flags.DEFINE_integer("freeze_layers", 0, "Freeze the embeddings and the bottom N transformer layers.")
flags.DEFINE_float("ema_momentum", None, "Validate, checkpoint and ship a moving average of the weights with this momentum (e.g. 0.99).")
flags.DEFINE_integer("early_stopping_patience", None, "Stop after N validations without improvement (0 = never); "
                     "default: chosen.")
flags.DEFINE_integer("train_limit", None, "Use only the first N training examples (quick runs).")
flags.DEFINE_bool("overwrite", False, "Replace the results of an existing run directory.")
define_strategy_flag()


def main(argv):
    del argv
    # Every flag that can be wrong without reading data fails here, before TensorFlow is imported.
    overrides = recipe_overrides(RECIPE_FLAGS)
    if FLAGS.crf and FLAGS.decoding:
        raise app.UsageError("--decoding applies without --crf only (a CRF decodes with its transitions).")
    user_negatives = negatives_flags.negatives_from_flag()
    oos_label = negatives_flags.oos_class_label()

    import tensorflow as tf

    from voice_ft.data.sequence_length import choose_sequence_length
    from voice_ft.nlu import model as nlu_model
    from voice_ft.nlu import train as nlu_train
    from voice_ft.nlu.data import load_nlu
    from voice_ft.nlu.export import export_nlu_tflite
    from voice_ft.training.distribution import alone_on_chief, start_strategy

    strategy, chief = start_strategy(FLAGS.strategy)  # before TensorFlow runs anything
    # Only the chief checks, prepares and writes the run directory (the workers share it).
    run_dir = prepare_run_dir(FLAGS.run_dir, overwrite=FLAGS.overwrite) if chief else pathlib.Path(FLAGS.run_dir)
    # Everything that can be wrong with the data fails here, before training.
    train, validation, test, intents, slot_tags = load_nlu(FLAGS.data, oos_label=oos_label)
    if FLAGS.train_limit:
        train = train[: FLAGS.train_limit]
    negatives = negatives_flags.negatives_for([ex.text for ex in train], user_negatives)
    in_scope_train = train
    if negatives is not None:  # an explicit out-of-scope intent; its validation rows get intent id -1
        train, validation, intents = add_nlu_negatives(train, validation, intents, negatives, oos_label)
        print(negatives_flags.negatives_line(negatives, oos_label), flush=True)
    recipe = nlu_recipe(train, intents, overrides, replicas=strategy.num_replicas_in_sync)
    with voice_ft.training.distribution_scope(FLAGS.strategy):
        backbone = voice_ft.load_backbone(FLAGS.backbone)
    sequence_length = FLAGS.sequence_length
    if sequence_length is None:  # the longest in-scope training utterance: a cut-off word loses its slot
        # (not the negatives': a long off-topic comment would lengthen every step, and cut, it loses no slot)
        texts = tf.data.Dataset.from_tensor_slices([" ".join(ex.tokens) for ex in in_scope_train])
        choice = choose_sequence_length(texts, backbone.tokenizer, percentile=100, max_length=backbone.max_sequence_length)
        sequence_length = choice.sequence_length
        logging.info("Chose %s (--sequence_length overrides).", choice.reason())

    def build(pretrained=None):  # fresh pretrained weights unless given a loaded backbone
        return nlu_model.build_joint_nlu_model(pretrained or voice_ft.load_backbone(FLAGS.backbone), intents, slot_tags,
                                               crf=FLAGS.crf, decoding=FLAGS.decoding, sequence_length=sequence_length,
                                               slot_loss_weight=FLAGS.slot_loss_weight)  # fmt: skip

    with voice_ft.training.distribution_scope(FLAGS.strategy):
        model = build(backbone)
    # Training rows of the out-of-scope intent get its id; validation/test ones -1 (they choose and measure rejection).
    encoded = {name: nlu_train.encode_for(model, split, oos_label=None if name == "train" else oos_label)
               for name, split in (("train", train), ("validation", validation), ("test", test))}  # fmt: skip
    config = {
        "task": "joint_nlu", "data": FLAGS.data, "backbone": FLAGS.backbone, "sequence_length": sequence_length,
        "crf": FLAGS.crf, "slot_decoding": model.slot_decoding, "slot_loss_weight": FLAGS.slot_loss_weight,
        "recipe": dataclasses.asdict(recipe), "quantization": FLAGS.quantization, "intents": intents,
        "slot_tags": slot_tags, "truncated": {name: e.truncated for name, e in encoded.items()},
        "calibrate": FLAGS.calibrate, "reject_rate": FLAGS.reject_rate, "score": FLAGS.score, "oos_label": oos_label,
        "negatives": FLAGS.negatives, "negatives_size": FLAGS.negatives_size,
    }  # fmt: skip
    if chief:  # other workers write nothing into the run directory
        record_run_config(run_dir, config)

    history = nlu_train.fit_nlu(model, encoded["train"], encoded["validation"], recipe=recipe, run_dir=run_dir)
    if not chief:
        return  # the chief evaluates, saves and exports
    model = alone_on_chief(model, build, FLAGS.strategy)
    test_metrics, predicted_intents, _ = nlu_train.evaluate_nlu(model, encoded["test"], return_predictions=True)
    nlu_model.save_nlu_model(model, run_dir, overwrite=FLAGS.overwrite)
    calibration = None
    if FLAGS.calibrate:  # the intent head's; out-of-scope validation rows (intent id -1) choose the threshold
        calibration = nlu_train.calibrate_nlu(model, encoded["validation"], score=FLAGS.score,
                                              target_in_scope_rejection=calibration_flags.target_in_scope_rejection(),
                                              oos_label=oos_label if negatives is not None else None)  # fmt: skip
        calibration_flags.write_reliability_diagram(calibration, run_dir)

    exports = {}
    for quantization in FLAGS.quantization:
        name = "nlu" if len(FLAGS.quantization) == 1 else f"nlu_{quantization}"
        result = export_nlu_tflite(model, run_dir / f"{name}.tflite", quantization=quantization, verify_on=encoded["test"],
                                   representative_data=train, tolerance=FLAGS.tolerance, overwrite=FLAGS.overwrite,
                                   calibration=calibration)  # fmt: skip
        exports[quantization] = result.to_dict()

    index = {name: i for i, name in enumerate(intents)}
    gold = [index[ex.intent] for ex in encoded["test"].in_scope().examples]  # evaluate_nlu scores these
    matrix = confusion_matrix(gold, [index[p] for p in predicted_intents], len(intents))
    metrics = {"test": test_metrics, "history": history.history, "tflite": exports, "intent_confusion_matrix": matrix.tolist()}
    if negatives is not None:
        metrics["negatives"] = {"train": len(negatives.train), "validation": len(negatives.validation), **negatives.report}
    if calibration is not None:
        metrics["calibration"] = calibration.report
    reports.write_json(run_dir / "metrics.json", metrics)
    reports.plot_confusion_matrix(matrix, intents, run_dir / "intent_confusion_matrix.png", title="Intent confusion (test)")
    reports.plot_training_curves(history.history, run_dir / "training_curves.png", metrics=(
        ("loss", "loss"), ("intent_logits_intent_accuracy", "intent accuracy"),
        ("slot_logits_slot_token_accuracy", "slot token accuracy")))
    print_report(run_dir, test_metrics, exports, calibration)


RECIPE_FLAGS = ("epochs", "steps", "steps_per_validation", "batch_size", "learning_rate", "freeze_layers",
                "early_stopping_patience", "ema_momentum", "strategy")
# Kept over choose_recipe's rules: the rate and head speed the SNIPS figures (bench/nlu_snips.py) were measured with.
NLU_DEFAULTS = {"learning_rate": 1e-4, "head_learning_rate_multiplier": 1.0}


def nlu_recipe(train, intents, overrides: dict, replicas: int = 1) -> voice_ft.Recipe:
    """Data-driven defaults (voice_ft.choose_recipe) from the intents' counts: at least 3 epochs, as the
    slot tagger needs them, more for many intents; the user's flags win. `replicas` in sync make
    the global batch (and so the steps) larger."""
    counts = collections.Counter(ex.intent for ex in train)
    profile = voice_ft.DataProfile.from_label_counts([counts[name] for name in intents])
    choice = voice_ft.choose_recipe(profile, overrides, defaults=NLU_DEFAULTS, min_epochs=3, balance_classes=False,
                                    replicas=replicas)
    print(f"Recipe:\n{choice.describe()}", flush=True)
    return choice.recipe


def print_report(run_dir, test_metrics: dict, exports: dict, calibration=None) -> None:
    lines = [f"\nRun directory: {run_dir}",
             "Keras test: " + _figures(test_metrics) + f" ({test_metrics['num_examples']} utterances)"]  # fmt: skip
    for quantization, r in exports.items():
        lines.append(f"TFLite {quantization:8s} {r['size_bytes'] / 1e6:.1f} MB: " + _figures(r["tflite"]))
        if rejection_line(r.get("rejection")):
            lines.append("  " + rejection_line(r["rejection"]))
    if calibration is not None:
        lines.append(calibration.summary())
    print("\n".join(lines), flush=True)
    logging.info("Done.")


def _figures(m: dict) -> str:
    return (f"intent accuracy {100 * m['intent_accuracy']:.2f}, slot F1 {100 * m['slot_f1']:.2f}, "
            f"sentence accuracy {100 * m['sentence_accuracy']:.2f}")  # fmt: skip


if __name__ == "__main__":
    flags.mark_flag_as_required("run_dir")
    app.run(exit_on_interrupt(main))
