"""Spoken SNIPS intents on held-out espeak-ng voices: accuracy, TFLite variants, size, latency, noise.

    nice -n 5 python bench/spoken_intent.py --run_dir=out/bench_spoken_intent

Uses the trainer's flags and functions (examples/train_spoken_intent.py): synthesise, train the head on
the frozen speech_embedding encoder, export float32 and int8 (front end float), then measure. Prints
one JSON line last.
"""

from __future__ import annotations

import pathlib
import sys
import time

import numpy as np
from absl import app, flags

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "bench"), str(ROOT / "examples")]
from common import machine, print_result, tflite_latency_ms  # noqa: E402
from train_spoken_intent import spoken_sources, train_spoken_intent  # noqa: E402  (defines the flags)

import voice_ft  # noqa: E402
from voice_ft.data.augment import generated_noise  # noqa: E402
from voice_ft.speech_commands.export import export_audio_classifier, keras_predict  # noqa: E402

FLAGS = flags.FLAGS


def noisy(x: np.ndarray, snr_db: float) -> np.ndarray:
    noise = generated_noise(x.shape[1], "pink", seed=1000, num_clips=len(x))
    active = np.abs(x) > 1e-4
    power = (x**2 * active).sum(1) / np.maximum(active.sum(1), 1)
    return (x + np.sqrt(power / (np.mean(noise**2, 1) * 10 ** (snr_db / 10)))[:, None] * noise).astype(np.float32)


def main(argv):
    del argv
    start = time.time()
    run_dir = pathlib.Path(FLAGS.run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    train, validation, test = spoken_sources(pathlib.Path(FLAGS.audio_dir or run_dir / "audio"))
    model, arrays = train_spoken_intent(train, validation)
    x_test, y_test = test.arrays()
    acc = lambda x: float(np.mean(keras_predict(model, x, 32).argmax(-1) == y_test))  # noqa: E731
    result = {"benchmark": "spoken_intent", "keras_accuracy": acc(x_test), "params": model.count_params(),
              "num_train": len(train.examples), "num_test": len(test.examples),
              "test_voices": sorted({e.speaker.split("+")[0] for e in test.examples})}
    for quantization, key in (("float32", "fp32"), ("int8", "int8")):
        try:
            exported = export_audio_classifier(model, run_dir / f"spoken_intent_{quantization}.tflite", quantization,
                                               verify_on=(x_test, y_test), labels=list(train.labels),
                                               representative_waveforms=arrays["train"][0][::10], overwrite=True)
            result[f"tflite_{key}_accuracy"], result[f"tflite_{key}_bytes"] = exported.tflite_accuracy, exported.size_bytes
        except voice_ft.export.errors.ExportVerificationError as e:
            result[f"tflite_{key}_accuracy"], result[f"tflite_{key}_refused"] = None, str(e)
    clips = [{"waveform": x_test[i : i + 1]} for i in range(50)]
    seconds = FLAGS.clip_seconds
    for key in ("int8", "fp32"):
        name = "int8" if key == "int8" else "float32"
        if result.get(f"tflite_{key}_bytes"):
            ms = tflite_latency_ms(str(run_dir / f"spoken_intent_{name}.tflite"), clips, 1)
            result[f"latency_ms_per_clip_1thread{'' if key == 'int8' else '_fp32'}"] = ms / seconds  # per 1 s of audio
    result["latency_note"] = f"median per {seconds:g} s clip divided by {seconds:g} (ms per 1 s of audio)"
    for snr in (20, 10, 5):
        result[f"accuracy_snr_{snr}db"] = acc(noisy(x_test, snr))
    result["seconds"] = round(time.time() - start, 1)
    result["machine"] = machine()
    print_result(result)


if __name__ == "__main__":
    app.run(main)
