"""Sharded TFRecords: what is written to N shards reads back whole, and per-worker pipelines split it."""

import json

import pytest
import tensorflow as tf

from voice_ft.data.files import OutputExistsError
from voice_ft.data.text_pipeline import label_counts
from voice_ft.data.tfrecords import check_text_shards, read_text_shards, shard_names, write_text_shards
from voice_ft.runtime.errors import DataError


def rows(dataset):
    return sorted((t.decode(), int(y)) for t, y in dataset.as_numpy_iterator())


@pytest.fixture()
def raw(snips_rows):
    texts = [r["text"] for r in snips_rows[:50]]
    return tf.data.Dataset.from_tensor_slices((texts, [i % 7 for i in range(50)]))


def test_shards_read_back_whole_and_split_by_pipeline(raw, tmp_path):
    paths = write_text_shards(raw, tmp_path, num_shards=4)
    assert [p.name for p in paths] == shard_names("train", 4) and all(p.exists() for p in paths)
    assert not list(tmp_path.glob(".partial-*"))
    back = read_text_shards(str(tmp_path / "train-*-of-00004.tfrecord"))
    assert back.element_spec[1].dtype == tf.int32
    assert rows(back) == rows(raw)
    halves = [rows(read_text_shards(paths, num_input_pipelines=2, input_pipeline_id=i)) for i in (0, 1)]
    assert len(halves[0]) == len(halves[1]) == 25 and sorted(halves[0] + halves[1]) == rows(raw)


def test_bad_shard_arguments(raw, tmp_path):
    with pytest.raises(ValueError, match="num_shards"):
        write_text_shards(raw, tmp_path, num_shards=0)
    with pytest.raises(ValueError, match="no files match"):
        read_text_shards(str(tmp_path / "none-*.tfrecord"))
    paths = write_text_shards(raw, tmp_path, num_shards=2)
    with pytest.raises(ValueError, match="write more shards"):
        read_text_shards(paths, num_input_pipelines=3, input_pipeline_id=0)


def test_shards_are_never_replaced_unawares_and_know_their_size(raw, tmp_path):
    write_text_shards(raw, tmp_path, num_shards=4)
    spec = json.loads((tmp_path / "train.shards.json").read_text())
    assert spec["kind"] == "text" and spec["num_examples"] == 50 and list(spec["shards"].values()) == [13, 13, 12, 12]
    assert int(read_text_shards(str(tmp_path / "train-*.tfrecord")).cardinality()) == 50  # no counting pass in fit
    with pytest.raises(OutputExistsError, match="train-00000-of-00004"):  # any shard count of the prefix
        write_text_shards(raw.take(10), tmp_path, num_shards=2)
    write_text_shards(raw.take(10), tmp_path, num_shards=2, overwrite=True)
    assert sorted(p.name for p in tmp_path.glob("train-*")) == shard_names("train", 2)  # no stale shard left
    assert rows(read_text_shards(str(tmp_path / "train-*.tfrecord"))) == rows(raw.take(10))


def test_text_shards_record_their_labels_and_refuse_other_ones(raw, tmp_path):
    labels = [f"label{i}" for i in range(int(max(label for _, label in rows(raw))) + 1)]
    write_text_shards(raw, tmp_path, num_shards=2, labels=labels)
    pattern = str(tmp_path / "train-*.tfrecord")
    spec = check_text_shards(pattern, labels)
    assert spec["labels"] == labels
    # Examples per label, counted while writing: a trainer profiles the split without reading it again.
    assert spec["label_counts"] == label_counts(read_text_shards(pattern), len(labels)).tolist()
    assert sum(spec["label_counts"]) == spec["num_examples"] == len(rows(raw))
    with pytest.raises(DataError, match=r"train.shards.json: the shards do not fit the model \(labels"):
        check_text_shards(pattern, labels[::-1])
    with pytest.raises(ValueError, match="label id 1 is outside the 1 labels given"):
        write_text_shards(raw, tmp_path / "other", num_shards=2, labels=labels[:1])
    write_text_shards(raw, tmp_path / "unlabelled", num_shards=2)  # no label list: the check passes any labels,
    assert "labels" not in check_text_shards(str(tmp_path / "unlabelled" / "train-*.tfrecord"), ["a"])
    with pytest.raises(ValueError, match="label id 1 in the training data is outside the 1 labels"):
        label_counts(read_text_shards(str(tmp_path / "unlabelled" / "train-*.tfrecord")), 1)  # the count catches them
