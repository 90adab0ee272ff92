"""The out-of-scope data contract: rows labelled `oos_label` are label id -1 in validation/test."""

import json

import numpy as np
import pytest

import voice_ft
from voice_ft.data.labels import OOS_LABEL_ID
from voice_ft.data.text_pipeline import in_scope


def write_split(folder, split, rows):
    (folder / f"{split}.jsonl").write_text("".join(json.dumps({"text": t, "label": l}) + "\n" for t, l in rows))


@pytest.fixture()
def folder(tmp_path):
    write_split(tmp_path, "train", [("play jazz", "PlayMusic"), ("weather today", "GetWeather")] * 3)
    write_split(tmp_path, "validation", [("play rock", "PlayMusic"), ("meaning of life", "oos"), ("rain?", "GetWeather")])
    write_split(tmp_path, "test", [("tell a joke", "oos"), ("play pop", "PlayMusic")])
    return tmp_path


def test_oos_rows_get_label_id_minus_one_and_are_no_model_label(folder):
    train, validation, test, labels = voice_ft.datasets.load(str(folder), oos_label="oos")
    assert labels == ["GetWeather", "PlayMusic"]
    assert [int(y) for _, y in validation.as_numpy_iterator()] == [1, OOS_LABEL_ID, 0]
    assert [int(y) for _, y in test.as_numpy_iterator()] == [OOS_LABEL_ID, 1]
    kept = in_scope(validation)
    assert int(kept.cardinality()) == 2 and [int(y) for _, y in kept.as_numpy_iterator()] == [1, 0]


def test_without_oos_label_an_oos_row_is_an_unknown_label(folder):
    with pytest.raises(voice_ft.DataError, match=r"validation.jsonl:2: unknown label 'oos'"):
        voice_ft.datasets.load(str(folder))


def test_oos_rows_in_training_or_in_labels_are_refused(folder):
    write_split(folder, "train", [("play jazz", "PlayMusic"), ("hello there", "oos"), ("weather", "GetWeather")])
    with pytest.raises(voice_ft.DataError, match=r"train.jsonl:2: training example labelled oos_label 'oos'"):
        voice_ft.datasets.load(str(folder), oos_label="oos")
    write_split(folder, "train", [("play jazz", "PlayMusic"), ("weather", "GetWeather")])
    (folder / "labels.txt").write_text("GetWeather\nPlayMusic\noos\n")
    with pytest.raises(voice_ft.DataError, match="is one of the model's labels"):
        voice_ft.datasets.load(str(folder), oos_label="oos")


def test_evaluate_leaves_oos_rows_out(tiny_backbone, folder):
    _, validation, _, labels = voice_ft.datasets.load(str(folder), oos_label="oos")
    model = voice_ft.build_intent_classifier(tiny_backbone, len(labels), sequence_length=8)
    metrics = voice_ft.evaluate(model, validation, labels)
    assert metrics["num_examples"] == 2 and metrics["num_oos"] == 1
    assert np.sum(metrics["confusion_matrix"]) == 2
