"""Time of a trainer's usual exports (float32 then int8 weights) of one text classifier: each writing its own
SavedModel, against the second reusing the first's (`voice_ft.export.convert.recent_saved_models`).

    PYTHONPATH=. .venv/bin/python bench/export_speed.py [--backbone=all-minilm-l6-v2 --sequence_length=32 --rounds=1]

The classifier is built on the backbone (its head untrained: the time does not depend on the weights' values).
Each round converts to "float32" then "dynamic" twice, first with the SavedModel removed before each conversion
("fresh"), then with the reuse ("reused"), the way `export_tflite` converts for each of a trainer's
`--quantization` values; the files of the two ways must be the same size.
Last line (JSON): `fresh_seconds`, `reused_seconds` (median, both conversions), `dynamic_fresh_seconds`,
`dynamic_reused_seconds` (the second conversion alone), `speedup` (fresh / reused), `digest_seconds` (the
weights digest a conversion adds), `float32_bytes`, `dynamic_bytes`.
"""

from __future__ import annotations

import pathlib
import statistics
import sys
import time

from absl import app, flags

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from common import machine, print_result  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_string("backbone", "all-minilm-l6-v2", "Backbone preset or path.")
flags.DEFINE_integer("sequence_length", 32, "Exported input length.")
flags.DEFINE_integer("rounds", 1, "Times each way is timed, alternating.")

QUANTIZATIONS = ("float32", "dynamic")


def main(argv):
    del argv
    import voice_ft
    from voice_ft.export import convert
    from voice_ft.text_classification.export import text_input_signature

    model = voice_ft.build_intent_classifier(voice_ft.load_backbone(FLAGS.backbone), 7, sequence_length=FLAGS.sequence_length)
    signature = text_input_signature(FLAGS.sequence_length)
    times = {"fresh": [], "reused": []}
    dynamic = {"fresh": [], "reused": []}
    sizes = {}
    for _ in range(FLAGS.rounds):
        for way in times:
            convert.recent_saved_models.clear()
            began = time.perf_counter()
            for quantization in QUANTIZATIONS:
                if way == "fresh":
                    convert.recent_saved_models.clear()
                started = time.perf_counter()
                size = len(convert.convert_to_tflite(model, quantization, input_signature=signature))
                if sizes.setdefault(quantization, size) != size:
                    raise RuntimeError(f"{quantization}: {size} bytes {way}, {sizes[quantization]} before")
                if quantization == "dynamic":
                    dynamic[way].append(time.perf_counter() - started)
            times[way].append(time.perf_counter() - began)
    convert.recent_saved_models.clear()
    began = time.perf_counter()
    convert.weights_digest(model)
    digest = time.perf_counter() - began
    fresh, reused = statistics.median(times["fresh"]), statistics.median(times["reused"])
    print(f"float32 + dynamic: {fresh:.1f} s writing a SavedModel each, {reused:.1f} s reusing it", flush=True)
    print_result({"fresh_seconds": fresh, "reused_seconds": reused,
                  "dynamic_fresh_seconds": statistics.median(dynamic["fresh"]),
                  "dynamic_reused_seconds": statistics.median(dynamic["reused"]), "speedup": fresh / reused,
                  "digest_seconds": digest, "float32_bytes": sizes["float32"], "dynamic_bytes": sizes["dynamic"],
                  "backbone": FLAGS.backbone, "machine": machine()})  # fmt: skip


if __name__ == "__main__":
    app.run(main)
