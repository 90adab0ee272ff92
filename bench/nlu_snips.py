"""SNIPS joint intent + slot benchmark: all-MiniLM-L6-v2, Keras vs TFLite (fp32, dynamic int8, full int8).

    nice -n 5 .venv/bin/python bench/nlu_snips.py --crf                  # the reported figures
    .venv/bin/python bench/nlu_snips.py --train_limit=256 --epochs=1      # a smoke run

Fine-tunes a joint model (`build_joint_nlu_model`), scores the SNIPS test split (intent accuracy,
conlleval slot F1, sentence accuracy, in points 0-100), exports each TFLite variant with the
verifying exporter (a variant it refuses is still measured, from the kept `.refused` bytes, and
flagged `tflite_<v>_refused`), and times batch-1 inference on 1 and 2 threads. Last line: one JSON object.
"""

from __future__ import annotations

import pathlib
import random
import sys
import tempfile
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

from absl import app, flags  # noqa: E402

import voice_ft  # noqa: E402
from common import ThroughputMeter, machine, print_result, tflite_latency_ms  # noqa: E402
from voice_ft.nlu.data import load_nlu  # noqa: E402
from voice_ft.export.errors import ExportVerificationError  # noqa: E402
from voice_ft.nlu.export import METRICS, export_nlu_tflite  # noqa: E402
from voice_ft.nlu import model as nlu_model
from voice_ft.nlu import train as nlu_train  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_string("backbone", "all-minilm-l6-v2", "Backbone spec.")
flags.DEFINE_integer("epochs", 3, "Epochs.")
flags.DEFINE_integer("batch_size", 32, "Batch size.")
flags.DEFINE_float("learning_rate", 2e-4, "Peak learning rate.")
flags.DEFINE_integer("sequence_length", 32, "Tokens per utterance: 32 truncates 5 of 13,084 SNIPS training utterances "
                     "and no validation/test one with MiniLM's vocabulary (40 truncates none).")
flags.DEFINE_bool("crf", False, "Train and decode with a CRF slot layer.")
flags.DEFINE_float("slot_loss_weight", 1.0, "Weight of the slot loss.")
flags.DEFINE_float("ema_momentum", None, "Weight averaging momentum (default: none, as in the Recipe).")
flags.DEFINE_integer("train_limit", None, "Use only the first N training examples (smoke runs).")
flags.DEFINE_integer("latency_examples", 200, "Utterances timed per file.")
flags.DEFINE_string("out_dir", None, "Keep the exported files here (default: a temporary folder).")

VARIANTS = {"fp32": "float32", "dynamic": "dynamic", "int8": "int8"}


def main(argv):
    del argv
    recipe = voice_ft.Recipe(epochs=FLAGS.epochs, batch_size=FLAGS.batch_size, learning_rate=FLAGS.learning_rate,
                             ema_momentum=FLAGS.ema_momentum)
    train, validation, test, intents, slot_tags = load_nlu("snips")
    if FLAGS.train_limit:
        train = train[: FLAGS.train_limit]
    backbone = voice_ft.load_backbone(FLAGS.backbone)
    model = nlu_model.build_joint_nlu_model(backbone, intents, slot_tags, crf=FLAGS.crf, sequence_length=FLAGS.sequence_length,
                                            slot_loss_weight=FLAGS.slot_loss_weight)  # fmt: skip
    encoded = {name: nlu_train.encode_for(model, split) for name, split in
               (("train", train), ("validation", validation), ("test", test))}  # fmt: skip

    meter = ThroughputMeter(FLAGS.batch_size)
    start = time.perf_counter()
    nlu_train.fit_nlu(model, encoded["train"], encoded["validation"], recipe=recipe, callbacks=[meter], verbose=2)
    train_seconds = time.perf_counter() - start

    keras_report = nlu_train.evaluate_nlu(model, encoded["test"])
    result = {
        "dataset": "snips", "backbone": FLAGS.backbone, "recipe": recipe.to_dict(), "crf": FLAGS.crf,
        "slot_decoding": model.slot_decoding, "slot_loss_weight": FLAGS.slot_loss_weight,
        "sequence_length": FLAGS.sequence_length,
        "truncated": {name: e.truncated for name, e in encoded.items()},
        "train_examples": len(train), "train_seconds": train_seconds, "train_examples_per_s": meter.examples_per_second,
        **{f"keras_{m}": 100 * keras_report[m] for m in METRICS},
    }  # fmt: skip

    out_dir = pathlib.Path(FLAGS.out_dir or tempfile.mkdtemp(prefix="voice_ft_nlu_bench_"))
    calibration = random.Random(0).sample(train, min(200, len(train)))
    test_inputs = encoded["test"].inputs
    latency_inputs = [{k: v[i : i + 1] for k, v in test_inputs.items()} for i in range(min(FLAGS.latency_examples, len(test)))]
    for short, quantization in VARIANTS.items():
        path = out_dir / f"snips_nlu_{short}.tflite"
        try:
            exported = export_nlu_tflite(model, path, quantization=quantization, verify_on=encoded["test"],
                                         representative_data=calibration, overwrite=True, keep_refused=True)  # fmt: skip
            result[f"tflite_{short}_refused"] = False
        except ExportVerificationError as refused:  # its figures are on the error; the file is kept for timing
            exported = refused.result
            result[f"tflite_{short}_refused"] = True
            path = path.with_suffix(".tflite.refused")
        for m in METRICS:
            result[f"tflite_{short}_{m}"] = 100 * exported.tflite[m]
        result[f"tflite_{short}_size_bytes"] = exported.size_bytes
        for threads in (1, 2):
            result[f"tflite_{short}_latency_ms_{threads}thread"] = tflite_latency_ms(str(path), latency_inputs, threads)
        if not result[f"tflite_{short}_refused"]:
            result[f"runtime_parse_{short}_ms_1thread"] = _parse_latency(path, [ex.text for ex in test[: FLAGS.latency_examples]])
    result["int8_meets_target"] = {v: all(result[f"keras_{m}"] - result[f"tflite_{v}_{m}"] <= 0.5 for m in METRICS)
                                   for v in ("dynamic", "int8")}  # fmt: skip
    result["machine"] = machine()
    print_result(result)


def _parse_latency(path, texts) -> float:
    """Median end-to-end `NLUParser.parse` time (tokenize + run + decode), 1 thread."""
    import statistics

    from voice_ft.runtime.nlu_parser import NLUParser

    parser = NLUParser(path, num_threads=1)
    for text in texts[:10]:
        parser.parse(text)
    times = []
    for text in texts:
        start = time.perf_counter()
        parser.parse(text)
        times.append((time.perf_counter() - start) * 1000)
    return float(statistics.median(times))


if __name__ == "__main__":
    app.run(main)
