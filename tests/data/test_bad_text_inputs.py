"""Bad-input suite, labelled text: what users' own JSONL/CSV files really contain.

Covers `voice_ft.data.readers` (`read_jsonl`, `read_csv`, `read_text_file`), `LabelVocabulary.from_file`
and `voice_ft.datasets.load` on a folder: non-UTF-8 and UTF-16 bytes (a DataError naming file and
line, not a UnicodeDecodeError), a UTF-8 BOM and CRLF line ends (accepted), blank lines (skipped,
line numbers kept), duplicate rows (kept, logged once per file), a 200 KB line, CSV quoting, labels
with spaces or Unicode (kept; surrounding whitespace stripped), a label only in test, one-class
training data, empty and missing splits.
"""

import json
import logging

import pytest

import voice_ft
from voice_ft.data.labels import LabelVocabulary
from voice_ft.data.readers import read_csv, read_jsonl, read_text_file
from voice_ft.runtime.errors import DataError


def jsonl(*rows) -> bytes:
    return "".join(json.dumps({"text": t, "label": l}, ensure_ascii=False) + "\n" for t, l in rows).encode("utf-8")


def write(tmp_path, name, content: bytes | str):
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    return path


def rows(examples):
    return [(e.text, e.label, e.line) for e in examples]


# --- encodings and line ends ----------------------------------------------------------------------

NOT_UTF8 = [
    pytest.param("train.jsonl", jsonl(("play jazz", "Play")) + '{"text": "caf\xe9", "label": "Order"}\n'.encode("latin-1"),
                 r"train\.jsonl:2: not UTF-8: byte 0xe9 at column 14", id="jsonl-latin1"),
    pytest.param("train.csv", b"text,label\nplay jazz,Play\n" + "na\xefve caf\xe9,Order\n".encode("cp1252"),
                 r"train\.csv:3: not UTF-8: byte 0xef at column 3", id="csv-cp1252"),
    pytest.param("train.tsv", b"text\tlabel\n\xff\xfeplay\tPlay\n", r"train\.tsv:2: not UTF-8: byte 0xff", id="tsv-stray-bytes"),
    pytest.param("train.csv", "text,label\nplay,Play\n".encode("utf-16"), r"train\.csv:1: file is UTF-16", id="csv-utf16"),
    pytest.param("train.jsonl", b"\xff\xfe" + jsonl(("play", "Play")).decode().encode("utf-16-le"),
                 r"train\.jsonl:1: file is UTF-16", id="jsonl-utf16"),
]


@pytest.mark.parametrize("name, content, message", NOT_UTF8)
def test_non_utf8_bytes_name_file_and_line(tmp_path, name, content, message):
    with pytest.raises(DataError, match=message) as info:
        read_text_file(write(tmp_path, name, content))
    assert info.value.path == str(tmp_path / name)


@pytest.mark.parametrize("name, content", [
    pytest.param("train.jsonl", b"\xef\xbb\xbf" + jsonl(("play jazz", "Play"), ("stop", "Stop")), id="jsonl"),
    pytest.param("train.csv", b"\xef\xbb\xbftext,label\nplay jazz,Play\nstop,Stop\n", id="csv-excel-utf8"),
])  # fmt: skip
def test_utf8_bom_is_accepted(tmp_path, name, content):
    examples = read_text_file(write(tmp_path, name, content))
    assert [(e.text, e.label) for e in examples] == [("play jazz", "Play"), ("stop", "Stop")]


def test_labels_file_with_bom_gives_clean_labels(tmp_path):
    path = write(tmp_path, "labels.txt", b"\xef\xbb\xbfPlay\r\nStop\r\n\r\n")
    assert list(LabelVocabulary.from_file(path)) == ["Play", "Stop"]


@pytest.mark.parametrize("name, content", [
    pytest.param("train.jsonl", jsonl(("play jazz", "Play"), ("stop", "Stop")).replace(b"\n", b"\r\n"), id="jsonl"),
    pytest.param("train.csv", b"text,label\r\nplay jazz,Play\r\nstop,Stop\r\n", id="csv"),
])  # fmt: skip
def test_crlf_line_ends_leave_no_carriage_return(tmp_path, name, content):
    examples = read_text_file(write(tmp_path, name, content))
    assert [(e.text, e.label) for e in examples] == [("play jazz", "Play"), ("stop", "Stop")]


def test_blank_lines_are_skipped_and_line_numbers_kept(tmp_path):
    content = b"\n" + jsonl(("play jazz", "Play")) + b"   \n\t\n" + jsonl(("stop", "Stop")) + b"\n\n"
    assert rows(read_jsonl(write(tmp_path, "train.jsonl", content))) == [("play jazz", "Play", 2), ("stop", "Stop", 5)]
    csv_rows = read_csv(write(tmp_path, "train.csv", b"text,label\n\nplay jazz,Play\n\nstop,Stop\n"))
    assert rows(csv_rows) == [("play jazz", "Play", 3), ("stop", "Stop", 5)]


# --- rows -----------------------------------------------------------------------------------------


def test_duplicate_rows_are_kept_and_logged_once(tmp_path, caplog):
    path = write(tmp_path, "train.jsonl", jsonl(("play jazz", "Play"), ("stop", "Stop"), ("play  jazz", "Play"),
                                                ("play jazz", "Play")))  # fmt: skip
    with caplog.at_level(logging.WARNING):
        examples = read_jsonl(path)
    assert len(examples) == 4
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == [f"{path}: 2 duplicate rows kept (first: line 3 repeats line 1)"]


def test_same_text_with_two_labels_is_logged(tmp_path, caplog):
    path = write(tmp_path, "train.csv", "text,label\nplay jazz,Play\nplay jazz,Stop\n")
    with caplog.at_level(logging.WARNING):
        assert len(read_csv(path)) == 2
    assert any("line 3 says 'Stop', line 2 says 'Play'" in r.getMessage() for r in caplog.records)


def test_200kb_line_is_read_whole(tmp_path):
    text = "wake me up " * 20000
    examples = read_jsonl(write(tmp_path, "train.jsonl", jsonl(("short one", "A"), (text, "B"))))
    assert len(examples[1].text) == len(text) == 220000 and examples[1].label == "B"


def test_csv_quoting_commas_newlines_and_quotes(tmp_path):
    content = 'text,label\n"play, then stop",A\n"line one\nline two",B\n"say ""hi""",C\nlast,D\n'
    examples = read_csv(write(tmp_path, "train.csv", content))
    assert [(e.text, e.label) for e in examples] == [
        ("play, then stop", "A"), ("line one\nline two", "B"), ('say "hi"', "C"), ("last", "D")]  # fmt: skip
    assert [e.line for e in examples] == [2, 4, 5, 6]  # a row's last physical line


@pytest.mark.parametrize("label, expected", [
    pytest.param("Play Music", "Play Music", id="inner-space"),
    pytest.param("café ☕", "café ☕", id="unicode"),
    pytest.param("天気", "天気", id="cjk"),
    pytest.param("  PlayMusic ", "PlayMusic", id="surrounding-space-stripped"),
    pytest.param(7, "7", id="integer"),
])  # fmt: skip
def test_labels_with_spaces_or_unicode(tmp_path, label, expected):
    examples = read_jsonl(write(tmp_path, "train.jsonl", jsonl(("play", label))))
    assert examples[0].label == expected
    if isinstance(label, str):
        assert read_csv(write(tmp_path, "train.csv", f'text,label\nplay,"{label}"\n'))[0].label == expected


BAD_ROWS = [
    pytest.param("train.jsonl", jsonl(("ok", "A")) + b'{"text": "broken", "label": \n', r"train\.jsonl:2: malformed JSON",
                 id="jsonl-malformed"),
    pytest.param("train.jsonl", b'["play", "A"]\n', r"train\.jsonl:1: expected a JSON object", id="jsonl-array"),
    pytest.param("train.jsonl", b'{"utterance": "play", "label": "A"}\n', r"train\.jsonl:1: missing field 'text'",
                 id="jsonl-wrong-field"),
    pytest.param("train.jsonl", b'{"text": "play", "label": "   "}\n', r"train\.jsonl:1: empty label", id="jsonl-blank-label"),
    pytest.param("train.jsonl", b'{"text": " ", "label": "A"}\n', r"train\.jsonl:1: empty utterance", id="jsonl-blank-text"),
    pytest.param("train.jsonl", b'{"text": "play", "label": true}\n', r"train\.jsonl:1: field 'label' must be a string",
                 id="jsonl-bool-label"),
    pytest.param("train.csv", b"text,label\nplay,A,extra\n", r"train\.csv:2: row has 3 columns", id="csv-extra-column"),
    pytest.param("train.csv", b"text,label\nplay,A\nstop,\n", r"train\.csv:3: missing field 'label'", id="csv-empty-label"),
    pytest.param("train.csv", b"utterance,intent\nplay,A\n", r"train\.csv:1: header has no column 'text'", id="csv-wrong-header"),
    pytest.param("train.csv", b"", r"train\.csv: empty file", id="csv-zero-bytes"),
    pytest.param("train.csv", b"text,label\n", r"train\.csv: no examples found", id="csv-header-only"),
    pytest.param("train.jsonl", b"\n\n  \n", r"train\.jsonl: no examples found", id="jsonl-only-blank-lines"),
    pytest.param("train.txt", b"play\tA\n", r"unsupported file type '\.txt'", id="unsupported-extension"),
]


@pytest.mark.parametrize("name, content, message", BAD_ROWS)
def test_bad_row_names_file_and_line(tmp_path, name, content, message):
    with pytest.raises(DataError, match=message):
        read_text_file(write(tmp_path, name, content))


# --- voice_ft.datasets.load on a folder -----------------------------------------------------------

TRAIN = jsonl(("play jazz", "Play"), ("stop it", "Stop"), ("play rock", "Play"))
VALIDATION = jsonl(("play pop", "Play"), ("stop now", "Stop"))


def make_folder(tmp_path, train=TRAIN, validation=VALIDATION, test=VALIDATION, **extra):
    folder = tmp_path / "my_commands"
    folder.mkdir()
    for name, content in {"train.jsonl": train, "validation.jsonl": validation, "test.jsonl": test, **extra}.items():
        if content is not None:
            write(folder, name, content)
    return folder


def test_folder_loads_with_bom_crlf_and_unicode_labels(tmp_path):
    train = b"\xef\xbb\xbf" + jsonl(("play jazz", "Play Music"), ("arrête", "Arrêt")).replace(b"\n", b"\r\n")
    folder = make_folder(tmp_path, train=train, validation=jsonl(("stop", "Arrêt")), test=jsonl(("music", "Play Music")))
    train_ds, validation_ds, test_ds, labels = voice_ft.datasets.load(str(folder))
    assert labels == ["Arrêt", "Play Music"]
    assert [(t.decode(), int(y)) for t, y in train_ds.as_numpy_iterator()] == [("play jazz", 1), ("arrête", 0)]
    assert [int(y) for _, y in test_ds.as_numpy_iterator()] == [1]


def test_label_only_in_test_names_file_and_line(tmp_path):
    folder = make_folder(tmp_path, test=jsonl(("play pop", "Play"), ("what time is it", "GetTime")))
    with pytest.raises(DataError, match=r"test\.jsonl:2: unknown label 'GetTime'; the model's labels are: Play, Stop"):
        voice_ft.datasets.load(str(folder))


@pytest.mark.parametrize("labels_txt", [None, b"Play\nStop\n"], ids=["labels-from-train", "labels-txt"])
def test_one_class_training_data_is_an_error_before_training(tmp_path, labels_txt):
    folder = make_folder(tmp_path, train=jsonl(("play jazz", "Play"), ("play rock", "Play")),
                         validation=jsonl(("play pop", "Play")), test=jsonl(("play", "Play")), **{"labels.txt": labels_txt})  # fmt: skip
    with pytest.raises(DataError, match=r"train\.jsonl: every training example has the label 'Play'; .* at least two"):
        voice_ft.datasets.load(str(folder))


@pytest.mark.parametrize("split", ["train", "validation", "test"])
def test_empty_split_file_names_it(tmp_path, split):
    folder = make_folder(tmp_path, **{f"{split}.jsonl": b""})
    with pytest.raises(DataError, match=rf"{split}\.jsonl: no examples found"):
        voice_ft.datasets.load(str(folder))


def test_missing_split_names_the_folder(tmp_path):
    folder = make_folder(tmp_path, test=None)
    with pytest.raises(DataError, match=r"my_commands: no test\.jsonl/\.csv/\.tsv in the folder"):
        voice_ft.datasets.load(str(folder))


def test_two_files_for_one_split_is_an_error(tmp_path):
    folder = make_folder(tmp_path, **{"train.csv": b"text,label\nhello,Greet\n"})
    with pytest.raises(DataError, match=r"train\.jsonl and train\.csv both hold the train split"):
        voice_ft.datasets.load(str(folder))
