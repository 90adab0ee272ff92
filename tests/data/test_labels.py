import pytest

from voice_ft.runtime.errors import DataError
from voice_ft.data.labels import LabelVocabulary


def test_lookup_and_unknown_label_names_the_line():
    labels = LabelVocabulary(["GetWeather", "PlayMusic"])
    assert labels.index("PlayMusic") == 1
    with pytest.raises(DataError, match=r"test\.jsonl:7: unknown label 'SetAlarm'"):
        labels.index("SetAlarm", "test.jsonl", 7)


def test_duplicates_and_mismatch():
    with pytest.raises(ValueError, match="Duplicate"):
        LabelVocabulary(["a", "a"])
    with pytest.raises(ValueError, match="missing \\['b'\\], unexpected \\['c'\\]"):
        LabelVocabulary(["a", "b"]).check_matches(["a", "c"])
    with pytest.raises(ValueError, match="order matters"):
        LabelVocabulary(["a", "b"]).check_matches(["b", "a"])


def test_file_round_trip(tmp_path):
    LabelVocabulary(["x", "y"]).save(tmp_path / "labels.txt")
    assert list(LabelVocabulary.from_file(tmp_path / "labels.txt")) == ["x", "y"]
