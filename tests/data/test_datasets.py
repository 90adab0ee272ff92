"""voice_ft.datasets.load: bundled sets, user folders, TFDS builders prepared offline."""

import json

import pytest
import tensorflow as tf

import voice_ft
from voice_ft.runtime.errors import DataError


def test_bundled_snips_intents():
    train, validation, test, labels = voice_ft.datasets.load("snips", task="intent")
    assert len(labels) == 7 and "PlayMusic" in labels
    assert [int(d.cardinality()) for d in (train, validation, test)] == [13084, 700, 700]
    text, label = next(iter(train))
    assert text.dtype == tf.string and label.dtype == tf.int32


def test_bundled_banking77_has_77_intents_and_a_tfds_builder(tmp_path):
    import tensorflow_datasets as tfds

    from voice_ft.data import tfds_builders  # noqa: F401

    train, validation, test, labels = voice_ft.datasets.load("banking77")
    assert len(labels) == 77 and "card_arrival" in labels
    assert [int(d.cardinality()) for d in (train, validation, test)] == [9003, 1000, 3080]  # data/banking77/README.md
    assert int(tfds.load("voice_ft_banking77", split="test", data_dir=str(tmp_path)).cardinality()) == 3080


def test_bundled_goemotions_drops_mixed_sentiment():
    train, _, test, labels = voice_ft.datasets.load("goemotions")
    assert labels == ["positive", "negative", "ambiguous", "neutral"]
    assert int(test.cardinality()) == 5427 - 400  # the README's count of rows with mixed sentiment


def test_unknown_task_is_rejected():
    with pytest.raises(ValueError, match="no task 'slots'"):
        voice_ft.datasets.load("poem_sentiment", task="slots")


def _write_split(folder, name, rows):
    (folder / f"{name}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")


def test_user_folder_and_unknown_label_at_evaluation(tmp_path):
    _write_split(tmp_path, "train", [{"text": "turn on the lights", "label": "lights_on"}, {"text": "lights off", "label": "lights_off"}])
    _write_split(tmp_path, "validation", [{"text": "lights on please", "label": "lights_on"}])
    _write_split(tmp_path, "test", [{"text": "what time is it", "label": "time"}])
    with pytest.raises(DataError, match=r"test\.jsonl:1: unknown label 'time'"):
        voice_ft.datasets.load(str(tmp_path))


def test_missing_split_file(tmp_path):
    _write_split(tmp_path, "train", [{"text": "a", "label": "x"}])
    with pytest.raises(DataError, match="no validation"):
        voice_ft.datasets.load(str(tmp_path))


def test_tfds_builder_prepares_offline_from_data(tmp_path):
    import tensorflow_datasets as tfds

    from voice_ft.data import tfds_builders  # noqa: F401

    test = tfds.load("voice_ft_poem_sentiment", split="test", data_dir=str(tmp_path))
    assert int(test.cardinality()) == 104
    train, _, _, labels = voice_ft.datasets.load("voice_ft_poem_sentiment", data_dir=str(tmp_path))
    assert labels == ["negative", "no_impact", "positive", "mixed"]
    assert int(train.cardinality()) == 892


def test_unknown_name_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="neither a bundled data set"):
        voice_ft.datasets.load("no_such_dataset_xyz", data_dir=str(tmp_path))
