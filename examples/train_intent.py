"""Fine-tune a pretrained encoder into an intent classifier and export it for phones.

    python examples/train_intent.py --run_dir=runs/intent            # SNIPS, all-MiniLM-L6-v2
    python examples/train_intent.py --data=my_commands/ --run_dir=runs/mine --quantization=dynamic,int8

`my_commands/` holds train/validation/test .jsonl ({"text": ..., "label": ...}) or .csv files.
"""

import text_trainer  # noqa: F401  (defines the shared flags)
from absl import app, flags

from voice_ft.training.interrupt import exit_on_interrupt


def main(argv):
    del argv
    text_trainer.run("intent", "build_intent_classifier")


if __name__ == "__main__":
    flags.FLAGS.set_default("data", "snips")
    flags.FLAGS.set_default("task", None)
    flags.mark_flag_as_required("run_dir")
    app.run(exit_on_interrupt(main))
