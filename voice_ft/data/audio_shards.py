"""Sharded TFRecords of labelled audio, for audio training sets larger than memory.

Each record holds one clip as the model takes it, already decoded, resampled and cut to length:
a waveform at the model's rate (int16, half the bytes, or float32), or any fixed-shape float
features (e.g. log-mel frames, for a model without its front end inside), plus the label id.
`<prefix>.shards.json` keeps the sample rate, the shape, the label list and the padding rule. The
reader yields what `AudioSource.dataset` yields, `(float32[shape], label_id: int32)`, with the same
augmentation, repetition and batching arguments, so the training code does not change:

    write_audio_shards(train_source, "shards/", num_shards=16)             # an AudioSource, or
    write_audio_shards(features_dataset, "shards/", 16, labels=..., sample_rate=16000, dtype="float32")
    train = read_audio_shards("shards/train-*.tfrecord", batch_size=64, shuffle=True, augment=augment,
                              sample_rate=16000, labels=labels)            # checked before training
    voice_ft.fit(model, train, validation, recipe=recipe)

int16 keeps 16-bit PCM at the model's rate exactly (`tf.audio.decode_wav` gives sample / 32768);
other audio is rounded to the nearest 1/32768 (clipped to [-1, 1)). File layout, ordering and the
no-overwrite rule: `voice_ft.data.tfrecords`.
"""

from __future__ import annotations

import os
import pathlib
from collections.abc import Callable, Sequence

import numpy as np
import tensorflow as tf

from voice_ft.data import tfrecords
from voice_ft.data.tfrecords import AUTOTUNE, DEFAULT_SHUFFLE_BUFFER

KIND = "audio"
DTYPES = {"int16": "<i2", "float32": "<f4"}  # little-endian, as the reader decodes
INT16_SCALE = 32768.0


def write_audio_shards(source, directory: str | os.PathLike, num_shards: int, prefix: str = "train",
                       dtype: str = "int16", labels: Sequence[str] | None = None, sample_rate: int | None = None,
                       pad: str | None = None, overwrite: bool = False) -> list[pathlib.Path]:  # fmt: skip
    """Writes labelled clips to `num_shards` TFRecord files; returns their paths.

    Args:
        source: an `AudioSource` (its in-scope clips, decoded one at a time: never all in memory;
            its labels, rate and padding rule go into the spec), or an unbatched `tf.data.Dataset`
            of `(float features of one fixed shape, label id)` with `labels` and `sample_rate`.
        dtype: "int16" (waveforms in [-1, 1] only) or "float32" (any features).
        labels, sample_rate, pad: for a dataset source (an AudioSource has its own).
    """
    if dtype not in DTYPES:
        raise ValueError(f"dtype must be one of {', '.join(DTYPES)}, got {dtype!r}")
    if hasattr(source, "examples"):  # an AudioSource
        source = source.in_scope()
        labels, sample_rate, pad = list(source.labels), source.sample_rate, source.pad
        dataset = source.dataset(cache=False)
    elif labels is None or sample_rate is None:
        raise ValueError("write_audio_shards: a dataset source needs labels= and sample_rate= (the reader checks them)")
    else:
        dataset = source
    spec = {"kind": KIND, "dtype": dtype, "labels": list(labels), "sample_rate": int(sample_rate), "pad": pad}

    def records():
        for features, label in dataset.as_numpy_iterator():
            features = np.asarray(features, np.float32)
            shape = spec.setdefault("shape", list(features.shape))  # the spec is written last
            if list(features.shape) != shape:
                raise ValueError(f"write_audio_shards: clips of shapes {shape} and {list(features.shape)}; cut them "
                                 "to one length (AudioSource does)")  # fmt: skip
            if not 0 <= int(label) < len(labels):
                raise ValueError(f"write_audio_shards: label id {int(label)} is not one of the {len(labels)} labels")
            if dtype == "int16":
                features = np.clip(np.round(features * INT16_SCALE), -INT16_SCALE, INT16_SCALE - 1)
            yield tfrecords.example_bytes(audio=tfrecords.bytes_feature(features.astype(DTYPES[dtype]).tobytes()),
                                          label=tfrecords.int64_feature([label]))  # fmt: skip

    return tfrecords.write_shards(records(), directory, num_shards, prefix, spec, overwrite)


def read_audio_shards(files, batch_size: int | None = None, shuffle: bool = False,
                      augment: Callable[[tf.Tensor], tf.Tensor] | None = None, seed: int | None = 0,
                      repeat_augmented: int = 1, shuffle_buffer: int = DEFAULT_SHUFFLE_BUFFER,
                      num_input_pipelines: int = 1, input_pipeline_id: int = 0, cycle_length: int = 4,
                      sample_rate: int | None = None, labels: Sequence[str] | None = None,
                      shape: Sequence[int] | None = None) -> tf.data.Dataset:  # fmt: skip
    """`(float32[shape], label_id: int32)` pairs, as `AudioSource.dataset` yields them.

    Args:
        files: shard paths or a glob pattern (from `write_audio_shards`).
        batch_size: batch if set (the last partial batch is kept).
        shuffle: shuffle the file order and the clips (through `shuffle_buffer`), anew each pass.
        augment: waveform -> waveform, applied after reading (fresh every pass).
        seed: shuffle seed.
        repeat_augmented: with `augment`, each clip appears this many times per pass.
        num_input_pipelines / input_pipeline_id / cycle_length: see `tfrecords.read_records`.
        sample_rate, labels, shape: the model's; when given, shards made for another model are a
            `DataError` naming their `.shards.json`, before any training.
    """
    spec = tfrecords.read_spec(files, KIND)
    tfrecords.check_spec(spec, {"sample_rate": sample_rate, "labels": labels, "shape": shape}, files)
    clip_shape, dtype = list(spec["shape"]), spec["dtype"]
    features = {"audio": tf.io.FixedLenFeature([], tf.string), "label": tf.io.FixedLenFeature([], tf.int64)}
    repeat = repeat_augmented if augment is not None and repeat_augmented > 1 else 1
    examples = tfrecords.read_records(files, features, num_input_pipelines, input_pipeline_id, shuffle_files=shuffle,
                                      shuffle_buffer=shuffle_buffer if shuffle else None, seed=seed,
                                      cycle_length=cycle_length, repeat=repeat)  # fmt: skip

    def decode(e):
        if dtype == "int16":
            audio = tf.cast(tf.io.decode_raw(e["audio"], tf.int16, little_endian=True), tf.float32) / INT16_SCALE
        else:
            audio = tf.io.decode_raw(e["audio"], tf.float32, little_endian=True)
        return tf.reshape(audio, clip_shape), tf.cast(e["label"], tf.int32)

    ds = examples.map(decode, num_parallel_calls=AUTOTUNE)
    if augment is not None:
        ds = ds.map(lambda x, y: (augment(x), y), num_parallel_calls=AUTOTUNE)
    if batch_size:
        ds = ds.batch(batch_size)
    return ds.prefetch(AUTOTUNE)
