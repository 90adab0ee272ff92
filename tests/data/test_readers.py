"""Readers fail on bad rows with the file and line, before training."""

import pytest

from voice_ft.runtime.errors import DataError
from voice_ft.data.readers import read_csv, read_jsonl, read_text_file


def write(path, text):
    path.write_text(text, encoding="utf-8")
    return path


def test_reads_bundled_snips_rows(snips_rows, tmp_path):
    import json

    path = write(tmp_path / "train.jsonl", "\n".join(json.dumps(r) for r in snips_rows[:50]) + "\n")
    examples = read_jsonl(path, label_field="intent")
    assert len(examples) == 50
    assert examples[0].text == snips_rows[0]["text"] and examples[0].label == snips_rows[0]["intent"]
    assert examples[3].line == 4


def test_malformed_json_names_file_and_line(tmp_path):
    path = write(tmp_path / "bad.jsonl", '{"text": "hi", "label": "a"}\n{"text": "oops", "label": \n')
    with pytest.raises(DataError, match=r"bad\.jsonl:2: malformed JSON"):
        read_jsonl(path)


def test_missing_field_and_empty_text(tmp_path):
    path = write(tmp_path / "a.jsonl", '{"text": "hi", "label": "a"}\n\n{"text": "yo"}\n')
    with pytest.raises(DataError, match=r"a\.jsonl:3: missing field 'label'"):
        read_jsonl(path)
    path = write(tmp_path / "b.jsonl", '{"text": "   ", "label": "a"}\n')
    with pytest.raises(DataError, match=r"b\.jsonl:1: empty utterance"):
        read_jsonl(path)


def test_null_labels_skipped_only_when_asked(tmp_path):
    path = write(tmp_path / "g.jsonl", '{"text": "hi", "sentiment": null}\n{"text": "yo", "sentiment": "positive"}\n')
    assert [e.label for e in read_jsonl(path, label_field="sentiment", skip_null_labels=True)] == ["positive"]
    with pytest.raises(DataError, match="g.jsonl:1: missing field 'sentiment'"):
        read_jsonl(path, label_field="sentiment")


def test_csv_rows_and_errors(tmp_path):
    path = write(tmp_path / "a.csv", 'text,label\n"play, some jazz",PlayMusic\nrate this book,RateBook\n')
    examples = read_csv(path)
    assert [(e.text, e.label, e.line) for e in examples] == [("play, some jazz", "PlayMusic", 2), ("rate this book", "RateBook", 3)]
    bad = write(tmp_path / "b.csv", "text,label\nhello,A,extra\n")
    with pytest.raises(DataError, match=r"b\.csv:2: row has 3 columns"):
        read_csv(bad)
    no_column = write(tmp_path / "c.csv", "utterance,label\nhello,A\n")
    with pytest.raises(DataError, match="no column 'text'"):
        read_csv(no_column)
    empty_label = write(tmp_path / "d.csv", "text,label\nhello,\n")
    with pytest.raises(DataError, match=r"d\.csv:2: missing field 'label'"):
        read_csv(empty_label)


def test_missing_file_and_unknown_extension(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        read_jsonl(tmp_path / "none.jsonl")
    with pytest.raises(DataError, match="unsupported file type"):
        read_text_file(write(tmp_path / "x.txt", "hi"))
