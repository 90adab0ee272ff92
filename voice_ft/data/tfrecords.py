"""Sharded TFRecord files for labelled text: write a raw `(text, label)` dataset to N shards, read
them back with file-level sharding, parallel interleave and prefetch.

In-memory text is fine for a few hundred thousand commands; beyond that, or with many workers,
each worker should read only its own files: `read_text_shards(files, num_input_pipelines=k,
input_pipeline_id=i)` (or leave the sharding to tf.distribute's FILE auto-sharding, which works on
the file list this reader starts from).
"""

from __future__ import annotations

import os
import pathlib

import tensorflow as tf

AUTOTUNE = tf.data.AUTOTUNE
_FEATURES = {"text": tf.io.FixedLenFeature([], tf.string), "label": tf.io.FixedLenFeature([], tf.int64)}


def shard_names(prefix: str, num_shards: int) -> list[str]:
    """`<prefix>-00000-of-00004.tfrecord`, ...: the names `write_text_shards` gives."""
    return [f"{prefix}-{i:05d}-of-{num_shards:05d}.tfrecord" for i in range(num_shards)]


def write_text_shards(dataset: tf.data.Dataset, directory: str | os.PathLike, num_shards: int,
                      prefix: str = "train") -> list[pathlib.Path]:
    """Writes raw `(text, label)` examples round-robin to `num_shards` files; returns their paths.

    Example i goes to shard i % num_shards, so the shards hold equal numbers (within one) and each
    keeps the dataset's order. Every file is written under a temporary name and renamed when
    complete (a killed run leaves no half shard).
    """
    if num_shards < 1:
        raise ValueError(f"num_shards must be >= 1, got {num_shards}")
    directory = pathlib.Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    paths = [directory / name for name in shard_names(prefix, num_shards)]
    partials = [p.with_name(f".partial-{p.name}") for p in paths]
    try:
        writers = [tf.io.TFRecordWriter(str(p)) for p in partials]
        for i, (text, label) in enumerate(dataset.as_numpy_iterator()):
            example = tf.train.Example(features=tf.train.Features(feature={
                "text": tf.train.Feature(bytes_list=tf.train.BytesList(value=[text])),
                "label": tf.train.Feature(int64_list=tf.train.Int64List(value=[int(label)])),
            }))  # fmt: skip
            writers[i % num_shards].write(example.SerializeToString())
        for w in writers:
            w.close()
        for partial, path in zip(partials, paths):
            os.replace(partial, path)
    finally:
        for partial in partials:
            partial.unlink(missing_ok=True)
    return paths


def read_text_shards(files, num_input_pipelines: int = 1, input_pipeline_id: int = 0, shuffle_files: bool = False,
                     seed: int | None = None, cycle_length: int = 4) -> tf.data.Dataset:
    """Reads shards written by `write_text_shards` as a raw `(text: string, label: int32)` dataset.

    Args:
        files: shard paths (a list) or a glob pattern.
        num_input_pipelines / input_pipeline_id: keep every n-th file from the id-th (one pipeline
            per worker, e.g. from a `tf.distribute.InputContext`).
        shuffle_files: shuffle the file order (with `seed`) before interleaving.
        cycle_length: files read at once; their records are interleaved in a fixed order.
    """
    if isinstance(files, (str, os.PathLike)):
        names = sorted(tf.io.gfile.glob(str(files)))
    else:
        names = [str(f) for f in files]
    if not names:
        raise ValueError(f"read_text_shards: no files match {files!r}")
    if not 0 <= input_pipeline_id < num_input_pipelines:
        raise ValueError(f"input_pipeline_id must be in [0, {num_input_pipelines}), got {input_pipeline_id}")
    if num_input_pipelines > len(names):
        raise ValueError(f"{num_input_pipelines} input pipelines but only {len(names)} files: write more shards.")
    file_names = tf.data.Dataset.from_tensor_slices(names).shard(num_input_pipelines, input_pipeline_id)
    if shuffle_files:
        file_names = file_names.shuffle(len(names), seed=seed)
    records = file_names.interleave(tf.data.TFRecordDataset, cycle_length=cycle_length, num_parallel_calls=AUTOTUNE,
                                    deterministic=True)  # fmt: skip

    def parse(record):
        example = tf.io.parse_single_example(record, _FEATURES)
        return example["text"], tf.cast(example["label"], tf.int32)

    return records.map(parse, num_parallel_calls=AUTOTUNE).prefetch(AUTOTUNE)
