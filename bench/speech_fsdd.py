"""FSDD spoken digits, speaker-disjoint: on-device model accuracy, TFLite variants, latency, noise, pretraining.

    PYTHONPATH=. python bench/speech_fsdd.py --out_dir=out/bench_fsdd

Train on 4 speakers, select on a 5th (validation), test on a 6th never heard. The on-device model is
`--model`: DS-CNN blocks on the pretrained speech_embedding's first layers (default) or the MFCC DS-CNN
from scratch, trained on labels or distilled from the whole speech_embedding classifier (`--teacher`).
Prints one JSON line last: Keras / TFLite fp32 / TFLite int8 (front end float) accuracy, parameters,
file sizes, median 1-thread latency per 1 s clip, accuracy with pink noise at 20/10/5 dB SNR, and the
from-scratch MFCC DS-CNN vs the pretrained speech_embedding (frozen, head trained) at 5, 20 and all
training clips per class.
"""

from __future__ import annotations

import pathlib
import random
import sys
import time

import keras
import numpy as np
from absl import app, flags

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from common import machine, print_result, tflite_latency_ms  # noqa: E402

import voice_ft  # noqa: E402
from voice_ft.data.audio import AudioSource  # noqa: E402
from voice_ft.data.audio_readers import read_audio_manifest, select_split  # noqa: E402
from voice_ft.data.augment import WaveformAugmentation, generated_noise  # noqa: E402
from voice_ft.speech_commands.export import export_audio_classifier, keras_predict  # noqa: E402
from voice_ft.speech_commands.model import build_speech_command_classifier  # noqa: E402
from voice_ft.speech_commands.pretrained import (  # noqa: E402
    build_embedding_head, build_speech_embedding_classifier, build_speech_embedding_dscnn, fit_embedding_head,
)
from voice_ft.training.distillation import DEFAULT_ALPHA, DEFAULT_TEMPERATURE  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_string("manifest", "data/fsdd/manifest.csv", "FSDD manifest.")
flags.DEFINE_string("out_dir", "out/bench_fsdd", "Where the .tflite files go.")
flags.DEFINE_integer("epochs", 40, "DS-CNN epochs on all data.")
flags.DEFINE_integer("head_epochs", 60, "Epochs for heads on pretrained embeddings.")
flags.DEFINE_list("per_class", ["5", "20", "all"], "Training clips per class for the pretraining comparison.")
flags.DEFINE_integer("seed", 42, "Seed.")
flags.DEFINE_enum("model", "speech_embedding_dscnn", ["speech_embedding_dscnn", "dscnn"],
                  "The on-device model: DS-CNN blocks on speech_embedding's pretrained first layers, or a DS-CNN "
                  "on MFCCs trained from scratch.")
flags.DEFINE_integer("filters", None, "Block width (default: the builder's 64 on the pretrained stem; 96 for the MFCC DS-CNN).")
flags.DEFINE_integer("num_blocks", None, "Depthwise-separable blocks (default: the builder's 3 on the stem; 5 for the MFCC DS-CNN).")
flags.DEFINE_enum("teacher", "none", ["speech_embedding", "none"],
                  "Distil the shipped model from the pretrained speech_embedding classifier, or train it on the labels "
                  "(default: distillation gains about a point on clean clips but loses 3-9 in noise; bench/README.md).")
flags.DEFINE_float("alpha", DEFAULT_ALPHA, "Weight of the hard-label loss in distillation.")
flags.DEFINE_float("temperature", DEFAULT_TEMPERATURE, "Distillation temperature.")


def build_student(train: AudioSource, kind: str):
    """The on-device model: `kind` is "speech_embedding_dscnn" or "dscnn" (MFCC, from scratch)."""
    keras.utils.set_random_seed(FLAGS.seed)
    sizes = {k: v for k, v in (("filters", FLAGS.filters), ("num_blocks", FLAGS.num_blocks)) if v is not None}
    if kind == "speech_embedding_dscnn":
        return build_speech_embedding_dscnn(len(train.labels), **sizes)
    return build_speech_command_classifier(len(train.labels), upper_edge_hertz=train.min_native_rate / 2,
                                           **{"filters": 96, "num_blocks": 5, **sizes})


def train_model(train: AudioSource, validation: AudioSource, epochs: int, repeat: int, teacher=None, kind: str = "dscnn"):
    """A `kind` model (see `build_student`), trained on labels, or distilled from `teacher` (same augmented batches)."""
    model = build_student(train, kind)
    augment = WaveformAugmentation(noise=generated_noise(train.clip_samples, "pink", num_clips=16))
    data = train.dataset(64, shuffle=True, augment=augment, seed=FLAGS.seed, repeat_augmented=repeat)
    recipe = voice_ft.Recipe(epochs=epochs, batch_size=64, learning_rate=3e-3, seed=FLAGS.seed)
    trained = model if teacher is None else voice_ft.Distiller(model, teacher, FLAGS.temperature, FLAGS.alpha)
    voice_ft.fit(trained, data, validation.dataset(128), recipe=recipe, verbose=0)
    return model


def train_head(emb_train, y_train, epochs: int):
    keras.utils.set_random_seed(FLAGS.seed)
    head = build_embedding_head(int(y_train.max()) + 1, emb_train.shape[1])
    return fit_embedding_head(head, emb_train, y_train, epochs=epochs, seed=FLAGS.seed)


def subset(examples, per_class, seed):
    if per_class == "all":
        return list(examples)
    rng, groups = random.Random(seed), {}
    for e in examples:
        groups.setdefault(e.label, []).append(e)
    return [e for g in groups.values() for e in rng.sample(g, int(per_class))]


def noisy(x: np.ndarray, snr_db: float, seed: int = 0) -> np.ndarray:
    noise = generated_noise(x.shape[1], "pink", seed=seed + 1000, num_clips=len(x))
    active = np.abs(x) > 1e-4
    speech_power = (x**2 * active).sum(1) / np.maximum(active.sum(1), 1)
    scale = np.sqrt(speech_power / (np.mean(noise**2, 1) * 10 ** (snr_db / 10)))
    return (x + scale[:, None] * noise).astype(np.float32)


def accuracy(model, x, y) -> float:
    return float(np.mean(keras_predict(model, x).argmax(-1) == y))


def main(argv):
    del argv
    start = time.time()
    out_dir = pathlib.Path(FLAGS.out_dir)
    examples = read_audio_manifest(FLAGS.manifest)
    labels = [str(d) for d in range(10)]
    train, validation, test = (AudioSource.from_examples(select_split(examples, s), labels) for s in ("train", "validation", "test"))
    x_test, y_test = test.arrays()
    x_train, y_train = train.arrays()

    # The pretrained speech_embedding (frozen) + a small head: the teacher, and the pretraining comparison.
    # Its head trains on embeddings computed once, here, so the subsets below reuse them.
    keras.utils.set_random_seed(FLAGS.seed)
    teacher = build_speech_embedding_classifier(len(labels), train.clip_samples / 16000)
    encoder, teacher_head = teacher.get_layer("encoder"), teacher.get_layer("head")
    emb_train, emb_test = keras_predict(encoder, x_train), keras_predict(encoder, x_test)
    fit_embedding_head(teacher_head, emb_train, y_train, epochs=FLAGS.head_epochs, seed=FLAGS.seed)

    distil = FLAGS.teacher == "speech_embedding"
    model = train_model(train, validation, FLAGS.epochs, repeat=2, teacher=teacher if distil else None, kind=FLAGS.model)
    result = {"benchmark": "speech_fsdd", "test_speaker": "yweweler", "keras_accuracy": accuracy(model, x_test, y_test),
              "model": FLAGS.model, "params": model.count_params(), "seed": FLAGS.seed, "teacher": FLAGS.teacher,
              "teacher_accuracy": accuracy(teacher_head, emb_test, y_test)}
    if distil:
        result.update(alpha=FLAGS.alpha, temperature=FLAGS.temperature)
    for quantization in ("float32", "int8"):
        key = "fp32" if quantization == "float32" else "int8"
        try:
            exported = export_audio_classifier(model, out_dir / f"fsdd_{quantization}.tflite", quantization,
                                               verify_on=(x_test, y_test), labels=labels,
                                               representative_waveforms=x_train[::10], overwrite=True)
            result[f"tflite_{key}_accuracy"] = exported.tflite_accuracy
            result[f"tflite_{key}_bytes"] = exported.size_bytes
            if quantization == "int8":
                result["int8_quantized"] = exported.summary()
        except voice_ft.export.errors.ExportVerificationError as e:
            result[f"tflite_{key}_accuracy"] = None
            result[f"tflite_{key}_refused"] = str(e)
    if result.get("tflite_int8_bytes"):
        clips = [{"waveform": x_test[i : i + 1]} for i in range(100)]
        result["latency_ms_per_clip_1thread"] = tflite_latency_ms(str(out_dir / "fsdd_int8.tflite"), clips, 1)
        result["latency_ms_per_clip_1thread_fp32"] = tflite_latency_ms(str(out_dir / "fsdd_float32.tflite"), clips, 1)
    for snr in (20, 10, 5):
        result[f"accuracy_snr_{snr}db"] = accuracy(model, noisy(x_test, snr), y_test)

    # Pretraining: frozen speech_embedding + small head vs the DS-CNN from scratch (no teacher), by clips per class.
    index = {e.path: i for i, e in enumerate(train.examples)}
    comparison = {}
    for per_class in FLAGS.per_class:
        if per_class == "all":
            pretrained = result["teacher_accuracy"]
            same_as_main = not distil and FLAGS.model == "dscnn"
            scratch = result["keras_accuracy"] if same_as_main else accuracy(train_model(train, validation, FLAGS.epochs, 2), x_test, y_test)
        else:
            chosen = subset(train.examples, per_class, FLAGS.seed)
            rows = np.array([index[e.path] for e in chosen])
            pretrained = accuracy(train_head(emb_train[rows], y_train[rows], FLAGS.head_epochs), emb_test, y_test)
            small = AudioSource.from_examples(chosen, labels)
            repeat = max(2, 2000 // (2 * len(chosen)))  # same number of steps as the full run
            scratch = accuracy(train_model(small, validation, FLAGS.epochs, repeat), x_test, y_test)
        comparison[str(per_class)] = {"scratch": scratch, "pretrained": pretrained, "margin": pretrained - scratch}
    result["pretrained_vs_scratch"] = comparison
    result["pretrained_params"] = int(teacher.count_params())
    result["seconds"] = round(time.time() - start, 1)
    result["machine"] = machine()
    print_result(result)


if __name__ == "__main__":
    app.run(main)
