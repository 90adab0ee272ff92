"""The text-classifier benchmark behind `intent_snips.py` and `sentiment.py`.

Fine-tunes with the library's default recipe (and, as the trainers do, slot supervision where the
data set tags slots: SNIPS), evaluates on the test split, exports float32,
dynamic-range int8 and full int8 .tflite files (each verified against Keras by the exporter),
times batch-1 inference on 1 and 2 threads, and returns one flat dict of figures.
"""

from __future__ import annotations

import pathlib
import sys
import tempfile
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

import keras  # noqa: E402
from absl import flags  # noqa: E402

import voice_ft  # noqa: E402
from common import ThroughputMeter, first_inputs, machine, tflite_latency_ms  # noqa: E402
from voice_ft.evaluation import metrics  # noqa: E402
from voice_ft.data.sequence_length import choose_sequence_length  # noqa: E402
from voice_ft.data.text_pipeline import encode_dataset, label_counts  # noqa: E402
from voice_ft.training.auto_recipe import choose_text_classifier_recipe  # noqa: E402
from voice_ft.training.precision import compute_in_float32, mixed_precision_policy  # noqa: E402
from voice_ft.export.errors import ExportVerificationError
from voice_ft.text_classification.export import tflite_logits  # noqa: E402
from voice_ft.runtime.interpreter import TFLiteModel  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_string("backbone", "all-minilm-l6-v2", "Backbone spec.")
flags.DEFINE_integer("epochs", None, "Epochs (default: steps chosen from the data by voice_ft.choose_recipe).")
flags.DEFINE_integer("steps", None, "Optimizer steps (default: chosen from the data by voice_ft.choose_recipe).")
flags.DEFINE_integer("seed", None, "Seed of the shuffling and the new heads' initialisation (default: the Recipe's, 42).")
flags.DEFINE_integer("batch_size", None, "Batch size (default: the Recipe default).")
flags.DEFINE_float("learning_rate", None, "Peak learning rate (default: the text classifiers' chosen one).")
flags.DEFINE_float("head_learning_rate_multiplier", None, "Head learning-rate multiplier (default: chosen).")
flags.DEFINE_integer("sequence_length", None, "Tokens per utterance (default: chosen from the data).")
flags.DEFINE_float("ema_momentum", None, "Weight averaging momentum (default: chosen, 0.99 for runs of 400+ steps).")
flags.DEFINE_bool("mixed_precision", None, "Train in bfloat16 (default: chosen, where the CPU has bfloat16 units).")
flags.DEFINE_bool("slot_supervision", None, "Train with the training-only slot head (default: as the trainers, on "
                  "when the data set tags slots: SNIPS).")
flags.DEFINE_integer("train_limit", None, "Use only the first N training examples (smoke runs).")
flags.DEFINE_integer("latency_examples", 200, "Utterances timed per file.")
flags.DEFINE_list("variants", ["fp32", "dynamic", "int8"], "TFLite variants to export, verify and time.")
flags.DEFINE_string("out_dir", None, "Keep the exported files here (default: a temporary folder).")

VARIANTS = {"fp32": "float32", "dynamic": "dynamic", "int8": "int8"}


def slot_data_for(dataset: str, task: str, labels):
    """The slot-tagged training data when this run trains with slot supervision, else None."""
    from voice_ft.runtime.errors import DataError
    from voice_ft.text_classification.slot_supervision import load_slot_data

    if FLAGS.slot_supervision is False or task != "intent":
        return None
    try:
        return load_slot_data(dataset, labels, train_limit=FLAGS.train_limit)
    except (DataError, ValueError):
        if FLAGS.slot_supervision:
            raise
        return None


def run(dataset: str, task: str, builder) -> dict:
    """Trains with the defaults (recipe and sequence length chosen from the data, as the trainers do)
    unless a flag sets a value, then evaluates, exports and times."""
    overrides = {name: FLAGS[name].value for name in
                 ("epochs", "steps", "batch_size", "learning_rate", "head_learning_rate_multiplier", "ema_momentum",
                  "mixed_precision", "seed")
                 if FLAGS[name].value is not None}  # fmt: skip
    train, validation, test, labels = voice_ft.datasets.load(dataset, task=task)
    if FLAGS.train_limit:
        train = train.take(FLAGS.train_limit)
    slot_data = slot_data_for(dataset, task, labels)
    profile = voice_ft.DataProfile.from_label_counts(label_counts(train, len(labels)))
    choice, slot_supervised = choose_text_classifier_recipe(profile, overrides, slot_supervised=slot_data is not None)
    slot_data = slot_data if slot_supervised else None  # as the trainers: class weights win
    recipe = choice.recipe
    print(f"Recipe:\n{choice.describe()}", flush=True)
    with mixed_precision_policy(recipe.mixed_precision):  # the recipe's bfloat16, where the CPU has it
        backbone = voice_ft.load_backbone(FLAGS.backbone)
        sequence_length = FLAGS.sequence_length or choose_sequence_length(
            train.map(lambda text, label: text), backbone.tokenizer, max_length=backbone.max_sequence_length).sequence_length
        slot_tags = {"slot_tags": slot_data.slot_tags} if slot_data is not None else {}
        keras.utils.set_random_seed(recipe.seed)
        model = builder(backbone, num_labels=len(labels), sequence_length=sequence_length, **slot_tags)

    meter = ThroughputMeter(recipe.batch_size)
    start = time.perf_counter()
    if slot_data is not None:
        voice_ft.fit_with_slot_supervision(model, slot_data.train, slot_data.validation, labels, recipe=recipe,
                                           callbacks=[meter], verbose=2)  # fmt: skip
    else:
        voice_ft.fit(model, train, validation, recipe=recipe, callbacks=[meter], verbose=2)
    train_seconds = time.perf_counter() - start
    compute_in_float32(model)  # evaluated and exported as the phone computes, as the trainers do

    y_true, y_pred, _ = voice_ft.training.predict_classes(model, test)
    result = {
        "dataset": dataset,
        "backbone": FLAGS.backbone,
        "recipe": recipe.to_dict(),
        "chosen_recipe": {name: reason for name, reason in choice.reasons.items()},
        "sequence_length": sequence_length,
        "slot_supervision": slot_data is not None,
        "train_examples": int(train.cardinality()),
        "train_seconds": train_seconds,
        "train_examples_per_s": meter.examples_per_second,
        "keras_accuracy": metrics.accuracy(y_true, y_pred),
        "keras_macro_f1": metrics.macro_f1(y_true, y_pred, len(labels)),
    }

    out_dir = pathlib.Path(FLAGS.out_dir or tempfile.mkdtemp(prefix="voice_ft_bench_"))
    encoded_test = encode_dataset(test, model.text_encoder, batch_size=64, cache=True, report_truncation=False)
    latency_inputs = first_inputs(encoded_test, FLAGS.latency_examples)
    for short in FLAGS.variants:
        quantization = VARIANTS[short]
        path = out_dir / f"{dataset}_{short}.tflite"
        try:
            exported = voice_ft.export_tflite(
                model, path, quantization=quantization, verify_on=test, labels=labels,
                representative_data=train, overwrite=True, keep_refused=True,
            )
            result[f"tflite_{short}_refused"] = False
        except ExportVerificationError as refused:  # still measured: the refused file is kept for timing
            exported = refused.result
            result[f"tflite_{short}_refused"] = True
            path = path.with_suffix(".tflite.refused")
        result[f"tflite_{short}_accuracy"] = exported.tflite_accuracy
        result[f"tflite_{short}_agreement"] = exported.agreement
        result[f"tflite_{short}_size_bytes"] = exported.size_bytes
        tflite = TFLiteModel(path)
        labels_true, logits = tflite_logits(tflite, encoded_test, tflite.output_names[0])
        result[f"tflite_{short}_macro_f1"] = metrics.macro_f1(labels_true, logits.argmax(-1), len(labels))
        for threads in (1, 2):
            result[f"tflite_{short}_latency_ms_{threads}thread"] = tflite_latency_ms(str(path), latency_inputs, threads)
    result["machine"] = machine()
    return result
