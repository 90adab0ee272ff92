"""Fine-tune a pretrained encoder into a sentiment classifier and export it for phones.

    python examples/train_sentiment.py --run_dir=runs/sentiment                 # GoEmotions, 4 labels
    python examples/train_sentiment.py --data=poem_sentiment --run_dir=runs/poem
"""

import text_trainer  # noqa: F401  (defines the shared flags)
from absl import app, flags

from voice_ft.training.interrupt import exit_on_interrupt


def main(argv):
    del argv
    text_trainer.run("sentiment", "build_sentiment_classifier")


if __name__ == "__main__":
    flags.FLAGS.set_default("data", "goemotions")
    flags.FLAGS.set_default("sequence_length", 64)
    flags.mark_flag_as_required("run_dir")
    app.run(exit_on_interrupt(main))
