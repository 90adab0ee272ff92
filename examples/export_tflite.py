"""Export a trained run (or model directory) to .tflite, verified against Keras on test data.

    python examples/export_tflite.py --model_dir=runs/intent --quantization=float16,int8 --data=snips
"""

import pathlib

from absl import app, flags
from export_flags import define_quantization_flag

import voice_ft

FLAGS = flags.FLAGS
flags.DEFINE_string("model_dir", None, "Directory written by a trainer or voice_ft.save_model.")
flags.DEFINE_string("data", None, "Data set to verify on (its test split) and calibrate int8 on (its train split).")
flags.DEFINE_string("task", None, "Label field of a bundled data set.")
define_quantization_flag(["dynamic"])
flags.DEFINE_string("out_dir", None, "Where to write (default: the model directory).")
flags.DEFINE_string("name", None, "File stem (default: the model's name).")
flags.DEFINE_float("tolerance", 0.5, "Largest accepted accuracy drop, in points.")
flags.DEFINE_bool("overwrite", False, "Replace existing files.")
flags.mark_flags_as_required(["model_dir", "data"])


def main(argv):
    del argv
    model, labels = voice_ft.load_model(FLAGS.model_dir)
    # labels=labels: the verification data must use the model's label set, in its order.
    train, _, test, _ = voice_ft.datasets.load(FLAGS.data, task=FLAGS.task, labels=labels)
    out_dir = pathlib.Path(FLAGS.out_dir or FLAGS.model_dir)
    stem = FLAGS.name or model.name
    for quantization in FLAGS.quantization:
        result = voice_ft.export_tflite(
            model, out_dir / f"{stem}_{quantization}.tflite", quantization=quantization, verify_on=test,
            labels=labels, representative_data=train, tolerance=FLAGS.tolerance, overwrite=FLAGS.overwrite,
        )
        print(f"{result.path}: {result.size_bytes / 1e6:.1f} MB, TFLite accuracy {result.tflite_accuracy:.4f} "
              f"(Keras {result.keras_accuracy:.4f}, max |diff| {result.max_abs_diff:.2e})")


if __name__ == "__main__":
    app.run(main)
