"""Sharded TFRecord files: the shard naming, atomic writing and file-sharded reading every kind of
data set shares, and the labelled-text kind itself (`write_text_shards` / `read_text_shards`).

In-memory data is fine for a few hundred thousand commands; beyond that, or with many workers,
the data is written once to N shards and streamed back: file-level sharding (each worker, or each
input pipeline, keeps every n-th file), parallel interleave of the files, and prefetch. The other
kinds build on the helpers here: `voice_ft.data.nlu_shards` (encoded intent + slot examples) and
`voice_ft.data.audio_shards` (waveforms or features at the model's rate).

Files of one data set (prefix "train", 4 shards):

    train-00000-of-00004.tfrecord ... train-00003-of-00004.tfrecord
    train.shards.json      what they hold: kind, per-shard example counts, the kind's own fields
                           (sequence length, label lists, sample rate...), checked before training

Example i goes to shard i % num_shards, so the shards hold equal numbers (within one); read back
with no file shuffling and `cycle_length` >= the number of shards, the records come back in the
order they were written. Every file is written under a temporary name and renamed when complete
(a killed run leaves no half shard), and existing shards of the same prefix are never replaced
unless `overwrite=True`.
"""

from __future__ import annotations

import json
import os
import pathlib
import re
from collections.abc import Iterable, Sequence

import numpy as np
import tensorflow as tf

from voice_ft.data.files import refuse_overwrite, write_text_atomic
from voice_ft.runtime.errors import DataError

AUTOTUNE = tf.data.AUTOTUNE
SPEC_SUFFIX = ".shards.json"
DEFAULT_SHUFFLE_BUFFER = 10_000  # examples held for shuffling (the whole data set need not fit)
_SHARD_NAME = re.compile(r"^(?P<prefix>.+)-\d{5}-of-(?P<count>\d{5})\.tfrecord$")
_TEXT_FEATURES = {"text": tf.io.FixedLenFeature([], tf.string), "label": tf.io.FixedLenFeature([], tf.int64)}


# === Shard files: naming, writing, reading ================================================


def shard_names(prefix: str, num_shards: int) -> list[str]:
    """`<prefix>-00000-of-00004.tfrecord`, ...: the names the shard writers give."""
    return [f"{prefix}-{i:05d}-of-{num_shards:05d}.tfrecord" for i in range(num_shards)]


def spec_path(shard: str | os.PathLike) -> pathlib.Path:
    """The `<prefix>.shards.json` beside a shard file (or beside `<directory>/<prefix>`)."""
    shard = pathlib.Path(shard)
    match = _SHARD_NAME.match(shard.name)
    return shard.with_name((match["prefix"] if match else shard.name) + SPEC_SUFFIX)


def write_shards(records: Iterable[bytes], directory: str | os.PathLike, num_shards: int, prefix: str = "train",
                 spec: dict | None = None, overwrite: bool = False) -> list[pathlib.Path]:  # fmt: skip
    """Writes serialized records round-robin to `num_shards` files, then `<prefix>.shards.json`.

    `spec` (JSON-able) is stored in the `.shards.json` with the shard and example counts; the
    readers check it against the model before training. It is read after the last record, so a
    record generator may fill in what it learns from the data (e.g. a sequence length).

    Raises `OutputExistsError` when shards or a spec of this prefix already exist (any shard
    count) unless `overwrite`, and `ValueError` when `records` is empty (an empty training set
    would otherwise fail only at training time).
    """
    if num_shards < 1:
        raise ValueError(f"num_shards must be >= 1, got {num_shards}")
    directory = pathlib.Path(directory)
    paths = [directory / name for name in shard_names(prefix, num_shards)]
    existing = sorted(directory.glob(f"{_glob_escape(prefix)}-*-of-*.tfrecord")) if directory.is_dir() else []
    refuse_overwrite([*existing, spec_path(directory / prefix)], overwrite)
    directory.mkdir(parents=True, exist_ok=True)
    partials = [p.with_name(f".partial-{p.name}") for p in paths]
    sizes = [0] * num_shards
    try:
        writers = [tf.io.TFRecordWriter(str(p)) for p in partials]
        for i, record in enumerate(records):
            writers[i % num_shards].write(record)
            sizes[i % num_shards] += 1
        for w in writers:
            w.close()
        if not sum(sizes):
            raise ValueError(f"write_shards: no examples to write to {directory / prefix}-*")
        for stale in existing:  # overwrite=True: shards of another count would be read with these
            if stale not in paths:
                stale.unlink()
        for partial, path in zip(partials, paths):
            os.replace(partial, path)
    finally:
        for partial in partials:
            partial.unlink(missing_ok=True)
    info = {**(spec or {}), "num_examples": sum(sizes), "shards": dict(zip((p.name for p in paths), sizes))}
    write_text_atomic(spec_path(paths[0]), json.dumps(info, indent=2) + "\n")
    return paths


def shard_files(files) -> list[str]:
    """Shard paths from a list or a glob pattern; a ValueError when nothing matches."""
    if isinstance(files, (str, os.PathLike)):
        names = sorted(tf.io.gfile.glob(str(files)))
    else:
        names = [str(f) for f in files]
    if not names:
        raise ValueError(f"no files match {files!r} (give shard paths or a glob pattern)")
    return names


def read_spec(files, kind: str | None = None) -> dict:
    """The `.shards.json` of the shards `files`; with `kind`, a `DataError` when it is missing or of
    another kind (e.g. text shards given to the NLU reader)."""
    names = shard_files(files)
    path = spec_path(names[0])
    if not path.exists():
        if kind is None:
            return {}
        raise DataError(f"no {path.name} beside the shards: write them with write_{kind}_shards", names[0])
    spec = json.loads(path.read_text(encoding="utf-8"))
    if kind is not None and spec.get("kind") != kind:
        raise DataError(f"these are {spec.get('kind')!r} shards, not {kind!r} shards", path)
    return spec


def check_spec(spec: dict, expected: dict, files) -> None:
    """A `DataError` naming the spec file for each field of `expected` (None: not checked) that the
    shards' spec does not equal, e.g. a model's label list or sequence length."""
    wrong = [f"{k}: the shards have {spec.get(k)!r}, expected {v!r}" for k, v in expected.items()
             if v is not None and _jsonable(spec.get(k)) != _jsonable(v)]  # fmt: skip
    if wrong:
        raise DataError("the shards do not fit the model (" + "; ".join(wrong) + ")", spec_path(shard_files(files)[0]))


def _glob_escape(text: str) -> str:
    return re.sub(r"([*?\[])", r"[\1]", text)


def _jsonable(value):
    return json.loads(json.dumps(value, default=lambda v: v.tolist() if isinstance(v, np.ndarray) else list(v)))


def read_records(files, features: dict, num_input_pipelines: int = 1, input_pipeline_id: int = 0,
                 shuffle_files: bool = False, shuffle_buffer: int | None = None, seed: int | None = None,
                 cycle_length: int = 4, repeat: int = 1) -> tf.data.Dataset:  # fmt: skip
    """Parsed examples (dicts of `features`) from the shards `files`, unbatched.

    Args:
        files: shard paths (a list) or a glob pattern.
        features: the `tf.io.parse_single_example` feature map.
        num_input_pipelines / input_pipeline_id: keep every n-th file from the id-th (one pipeline
            per worker, e.g. from a `tf.distribute.InputContext`).
        shuffle_files: shuffle the file order (with `seed`, anew each pass).
        shuffle_buffer: also shuffle the examples through a buffer of this many (memory stays
            bounded, unlike an in-memory shuffle); None: in file order.
        cycle_length: files read at once; their records are interleaved in a fixed order.
        repeat: passes over the files in one dataset pass (e.g. augmented copies).

    The cardinality is set from the `.shards.json` counts when there is one, so `fit` knows the
    steps per epoch without a counting pass over the data.
    """
    names = shard_files(files)
    if not 0 <= input_pipeline_id < num_input_pipelines:
        raise ValueError(f"input_pipeline_id must be in [0, {num_input_pipelines}), got {input_pipeline_id}")
    if num_input_pipelines > len(names):
        raise ValueError(f"{num_input_pipelines} input pipelines but only {len(names)} files: write more shards.")
    mine = names[input_pipeline_id::num_input_pipelines]
    file_names = tf.data.Dataset.from_tensor_slices(names).shard(num_input_pipelines, input_pipeline_id)
    if repeat > 1:
        file_names = file_names.repeat(repeat)
    if shuffle_files:
        file_names = file_names.shuffle(len(mine) * repeat, seed=seed, reshuffle_each_iteration=True)
    records = file_names.interleave(tf.data.TFRecordDataset, cycle_length=cycle_length, num_parallel_calls=AUTOTUNE,
                                    deterministic=True)  # fmt: skip
    sizes = read_spec(names).get("shards")
    if sizes and all(pathlib.Path(n).name in sizes for n in mine):
        records = records.apply(tf.data.experimental.assert_cardinality(repeat * sum(sizes[pathlib.Path(n).name] for n in mine)))
    if shuffle_buffer:
        records = records.shuffle(shuffle_buffer, seed=seed, reshuffle_each_iteration=True)
    return records.map(lambda r: tf.io.parse_single_example(r, features), num_parallel_calls=AUTOTUNE)


def example_bytes(**features: tf.train.Feature) -> bytes:
    """One serialized `tf.train.Example` of the given features."""
    return tf.train.Example(features=tf.train.Features(feature=features)).SerializeToString()


def int64_feature(values) -> tf.train.Feature:
    return tf.train.Feature(int64_list=tf.train.Int64List(value=np.asarray(values, np.int64).reshape(-1)))


def bytes_feature(value: bytes) -> tf.train.Feature:
    return tf.train.Feature(bytes_list=tf.train.BytesList(value=[value]))


# === Labelled text ========================================================================


def write_text_shards(dataset: tf.data.Dataset, directory: str | os.PathLike, num_shards: int,
                      prefix: str = "train", overwrite: bool = False,
                      labels: Sequence[str] | None = None) -> list[pathlib.Path]:  # fmt: skip
    """Writes raw `(text, label)` examples to `num_shards` files (see the module doc); returns their paths.

    `labels`, the label list the ids index, is stored in the spec when given, so that a trainer
    reading the shards can refuse them for a data set with other labels (`check_text_shards`),
    and with it `label_counts` (examples per label), so that a trainer profiles the split
    (`voice_ft.DataProfile.from_label_counts`) without reading the shards again.
    """
    spec = {"kind": "text"}
    if labels is not None:
        labels = [str(label) for label in labels]
        spec.update(labels=labels, label_counts=[0] * len(labels))

    def records():
        for text, label in dataset.as_numpy_iterator():
            if labels is not None:
                if not 0 <= int(label) < len(labels):
                    raise ValueError(f"write_text_shards: label id {int(label)} is outside the {len(labels)} labels given")
                spec["label_counts"][int(label)] += 1  # the spec is written after the last record
            yield example_bytes(text=bytes_feature(text), label=int64_feature([label]))

    return write_shards(records(), directory, num_shards, prefix, spec, overwrite)


def check_text_shards(files, labels: Sequence[str]) -> dict:
    """The spec of text shards meant to train a model over `labels`; a `DataError` naming the
    `.shards.json` when it is missing, of another kind, or records other labels."""
    spec = read_spec(files, "text")
    if "labels" in spec:
        check_spec(spec, {"labels": [str(label) for label in labels]}, files)
    return spec


def read_text_shards(files, num_input_pipelines: int = 1, input_pipeline_id: int = 0, shuffle_files: bool = False,
                     seed: int | None = None, cycle_length: int = 4) -> tf.data.Dataset:
    """Reads shards written by `write_text_shards` as a raw `(text: string, label: int32)` dataset.

    Args:
        files: shard paths (a list) or a glob pattern.
        num_input_pipelines / input_pipeline_id: keep every n-th file from the id-th.
        shuffle_files: shuffle the file order (with `seed`) before interleaving.
        cycle_length: files read at once; their records are interleaved in a fixed order.
    """
    records = read_records(files, _TEXT_FEATURES, num_input_pipelines, input_pipeline_id, shuffle_files, seed=seed,
                           cycle_length=cycle_length)  # fmt: skip
    return records.map(lambda e: (e["text"], tf.cast(e["label"], tf.int32)), num_parallel_calls=AUTOTUNE).prefetch(AUTOTUNE)
