"""BANKING77 intent benchmark (77 intents, 9,003 training sentences): all-MiniLM-L6-v2 with the defaults only.

The recipe (steps, head learning rate, validation and early stopping) and the sequence length are chosen
from the data, as `examples/train_intent.py --data=banking77` chooses them; no flag is tuned for this set.

    .venv/bin/python bench/intent_banking77.py                       # the figures in bench/README.md
    .venv/bin/python bench/intent_banking77.py --train_limit=512 --variants=int8 --latency_examples=20   # smoke

Last line: one JSON object with keras_accuracy, tflite_int8_accuracy, macro_f1, train_examples_per_s,
train_seconds, chosen_recipe (and the per-variant accuracy, size and latency figures).
"""

from absl import app, flags

import voice_ft
from classifier_bench import run
from common import print_result


def main(argv):
    del argv
    result = run("banking77", None, voice_ft.build_intent_classifier)
    result["macro_f1"] = result["keras_macro_f1"]
    print_result(result)


if __name__ == "__main__":
    flags.FLAGS.set_default("variants", ["dynamic", "int8"])
    app.run(main)
