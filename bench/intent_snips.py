"""SNIPS intent benchmark: the default recipe on all-MiniLM-L6-v2, Keras vs TFLite (fp32, dynamic, int8).

    .venv/bin/python bench/intent_snips.py            # the figures in bench/README.md
    .venv/bin/python bench/intent_snips.py --train_limit=256 --epochs=1   # a smoke run

Last line: one JSON object with keras_accuracy, tflite_fp32_accuracy, tflite_int8_accuracy,
tflite_dynamic_accuracy, train_examples_per_s, tflite_*_latency_ms_{1,2}thread, tflite_*_size_bytes.
"""

from absl import app

import voice_ft
from classifier_bench import run
from common import print_result


def main(argv):
    del argv
    print_result(run("snips", "intent", voice_ft.build_intent_classifier))


if __name__ == "__main__":
    app.run(main)
