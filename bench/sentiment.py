"""Sentiment benchmark on GoEmotions grouped into 4 labels (positive/negative/ambiguous/neutral).

    .venv/bin/python bench/sentiment.py --sequence_length=64

For orientation only: the GoEmotions paper's BERT-base reached macro-F1 0.46 on the full 28-label
task, which is harder than this 4-way grouping. Last line: one JSON object (see intent_snips.py),
with keras_macro_f1 and tflite_*_macro_f1 added.
"""

from absl import app

import voice_ft
from classifier_bench import run
from common import print_result


def main(argv):
    del argv
    print_result(run("goemotions", "sentiment", voice_ft.build_sentiment_classifier))


if __name__ == "__main__":
    app.run(main)
