"""Whisper tiny.en exported for the phone: file sizes, latency per command, int8 greedy match.

    PYTHONPATH=. python bench/speech_recognizer.py --out_dir=/tmp/bench_asr --frames=300,500

For each encoder window (`--frames`, 100 frames per second) and each quantization (float32,
dynamic-range int8 weights): export with `voice_ft.asr.export.export_speech_recognizer`, verified
on `--clips` espeak-ng voice commands against Keras greedy decoding (float32 must match on all,
else it is refused and reported so), then time the TF-free `SpeechRecognizer` per command
(numpy log-mel + encoder + cross K/V + every greedy step) on 1 and 2 threads. Prints one JSON
line last.
"""

from __future__ import annotations

import pathlib
import shutil
import statistics
import sys
import tempfile
import time

import numpy as np
from absl import app, flags

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from common import machine, print_result  # noqa: E402

import voice_ft  # noqa: E402
from voice_ft.asr.export import export_speech_recognizer, keras_greedy_tokens  # noqa: E402
from voice_ft.data.speech_synthesis import render  # noqa: E402
from voice_ft.export.errors import ExportVerificationError  # noqa: E402
from voice_ft.runtime.audio_io import read_audio  # noqa: E402
from voice_ft.runtime.speech_recognizer import SpeechRecognizer  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_string("out_dir", "/tmp/bench_asr", "Where the exported files go (replaced).")
flags.DEFINE_list("frames", ["300", "500"], "Encoder windows in log-mel frames (100 per second).")
flags.DEFINE_list("quantizations", ["float32", "dynamic"], "Variants to export.")
flags.DEFINE_integer("clips", 20, "espeak-ng commands to verify and time on.")
flags.DEFINE_integer("max_tokens", 48, "Most tokens per command (the self-attention cache).")
flags.DEFINE_list("threads", ["1", "2"], "Interpreter thread counts to time.")

COMMANDS = [
    "turn on the kitchen lights", "set a timer for ten minutes", "what is the weather like tomorrow",
    "play some jazz in the living room", "call mom", "turn off the fan", "wake me up at seven",
    "open the garage door", "what time is it", "add milk to my shopping list", "skip this song",
    "lower the volume", "lock the front door", "how long is my commute", "pause the music",
    "remind me to water the plants", "set the thermostat to twenty degrees", "read my messages",
    "start the vacuum cleaner", "close the blinds in the bedroom",
]
VOICES = ["en-us", "en-gb", "en-us+f2", "en-gb-x-rp", "en-us+m3"]


def espeak_commands(count: int, folder: pathlib.Path) -> tuple[list[str], list[np.ndarray]]:
    texts, waves = [], []
    for i in range(count):
        text, voice = COMMANDS[i % len(COMMANDS)], VOICES[i % len(VOICES)]
        path = folder / f"{i}.wav"
        render(text, path, voice=voice, speed=170)
        wave = read_audio(path, sample_rate=16000)
        texts.append(text)
        waves.append(wave)
    return texts, waves


def time_recognizer(sidecar, waves, threads: int, max_tokens: int) -> dict:
    asr = SpeechRecognizer(sidecar, num_threads=threads, max_tokens=max_tokens)
    asr(waves[0])  # warm-up
    total, feats, enc, dec, steps = [], [], [], [], []
    for wave in waves:
        t0 = time.perf_counter()
        features = asr.features(wave)
        t1 = time.perf_counter()
        output = asr.encode(features)
        t2 = time.perf_counter()
        tokens = asr.greedy_tokens(output)
        t3 = time.perf_counter()
        total.append(t3 - t0)
        feats.append(t1 - t0)
        enc.append(t2 - t1)
        dec.append(t3 - t2)
        steps.append(len(tokens) + len(asr.prompt_ids))
    ms = lambda xs: 1000 * statistics.median(xs)  # noqa: E731
    return {"total_ms": ms(total), "features_ms": ms(feats), "encoder_ms": ms(enc), "decode_ms": ms(dec),
            "decode_steps_median": statistics.median(steps), "total_ms_max": 1000 * max(total)}


def main(_):
    out = pathlib.Path(FLAGS.out_dir)
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    backbone = voice_ft.load_backbone("whisper-tiny-en")
    with tempfile.TemporaryDirectory() as tmp:
        texts, waves = espeak_commands(FLAGS.clips, pathlib.Path(tmp))
    result = {"bench": "speech_recognizer", "model": "whisper-tiny-en", "clips": len(waves),
              "clip_seconds_max": max(len(w) for w in waves) / 16000, "machine": machine()}
    for frames in map(int, FLAGS.frames):
        t = time.perf_counter()
        reference = keras_greedy_tokens(backbone, waves, frames, FLAGS.max_tokens)
        result[f"keras_reference_s_{frames}"] = time.perf_counter() - t
        for quantization in FLAGS.quantizations:
            key = f"{frames}_{quantization}"
            t = time.perf_counter()
            try:
                exported = export_speech_recognizer(backbone, out / key, quantization, frames, FLAGS.max_tokens,
                                                    verify_on=waves, reference_tokens=reference)
            except ExportVerificationError as e:
                exported, result[f"{key}_refused"] = e.result, True
            result[f"{key}_export_s"] = time.perf_counter() - t
            result[f"{key}_encoder_mb"] = exported.encoder_bytes / 1e6
            result[f"{key}_decoder_mb"] = exported.decoder_bytes / 1e6
            result[f"{key}_total_mb"] = exported.size_bytes / 1e6
            result[f"{key}_greedy_match"] = exported.greedy_match
            result[f"{key}_text_match"] = float(np.mean([r["keras_text"] == r["tflite_text"] for r in exported.verification]))
            result[f"{key}_examples"] = [(text, r["tflite_text"]) for text, r in zip(texts[:4], exported.verification)]
            if result.get(f"{key}_refused"):
                continue
            for threads in map(int, FLAGS.threads):
                for name, value in time_recognizer(exported.sidecar_path, waves, threads, FLAGS.max_tokens).items():
                    result[f"{key}_{threads}t_{name}"] = value
    print_result(result)


if __name__ == "__main__":
    app.run(main)
