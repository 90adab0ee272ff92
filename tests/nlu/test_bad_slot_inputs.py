"""Bad-input suite, slot data: the mistakes people make writing intent + slot files by hand.

Covers `voice_ft.nlu.readers` (`read_slot_jsonl`, `read_conll`, `parse_markup`, `read_markup`):
token/tag count mismatches, an `I-` tag without its `B-` (an error, never silently repaired: the
repair is ambiguous, a new entity or a continued one), empty and malformed tags, unclosed or
malformed inline markup (`[seven am(time)`), empty utterances, and the file-level cases shared with
the text readers (non-UTF-8 bytes name the line; a BOM and CRLF line ends are accepted). Every error
is a `DataError` naming the file and line (and the markup column).
"""

import json

import pytest

from voice_ft.nlu.readers import parse_markup, read_conll, read_markup, read_slot_jsonl
from voice_ft.runtime.errors import DataError


def write_jsonl(tmp_path, *records):
    path = tmp_path / "train.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def write(tmp_path, name, content):
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    return path


GOOD = {"tokens": ["wake", "me", "at", "seven", "am"], "slots": ["O", "O", "O", "B-time", "I-time"], "intent": "SetAlarm"}

JSONL_ERRORS = [
    pytest.param({"tokens": ["wake", "me"], "slots": ["O"]}, r"2 tokens but 1 slot tags", id="fewer-tags"),
    pytest.param({"tokens": ["wake"], "slots": ["O", "O"]}, r"1 tokens but 2 slot tags", id="more-tags"),
    pytest.param({"text": "wake me at  seven", "slots": ["O", "O", "B-time"]}, r"4 tokens but 3 slot tags",
                 id="text-split-mismatch"),
    pytest.param({"tokens": ["at", "seven"], "slots": ["O", "I-time"]}, r"word 2: 'I-time' follows 'O'", id="I-after-O"),
    pytest.param({"tokens": ["seven"], "slots": ["I-time"]}, r"word 1: 'I-time' follows 'O'", id="I-first"),
    pytest.param({"tokens": ["seven", "am"], "slots": ["B-date", "I-time"]}, r"'I-time' follows 'B-date'",
                 id="I-other-slot"),
    pytest.param({"tokens": ["seven"], "slots": [""]}, r"tag '' is not 'O', 'B-<slot>' or 'I-<slot>'", id="empty-tag"),
    pytest.param({"tokens": ["seven"], "slots": ["B-"]}, r"tag 'B-' is not", id="B-without-slot"),
    pytest.param({"tokens": ["seven"], "slots": ["time"]}, r"tag 'time' is not", id="slot-without-prefix"),
    pytest.param({"tokens": ["seven"], "slots": [None]}, r"slot tags must be a list of strings", id="null-tag"),
    pytest.param({"tokens": ["seven"], "slots": "O"}, r"slot tags must be a list of strings", id="tags-not-a-list"),
    pytest.param({"tokens": [], "slots": []}, r"empty utterance \(no tokens\)", id="no-tokens"),
    pytest.param({"tokens": ["seven am"], "slots": ["B-time"]}, r"token 1 \('seven am'\) is empty or contains whitespace",
                 id="token-with-space"),
    pytest.param({"tokens": ["seven"]}, r"missing field 'slots' \(or 'markup'\)", id="no-tags-field"),
    pytest.param({"tokens": ["seven"], "slots": ["O"], "intent": " "}, r"missing intent", id="blank-intent"),
]


@pytest.mark.parametrize("record, message", JSONL_ERRORS)
def test_bad_jsonl_record_names_file_and_line(tmp_path, record, message):
    path = write_jsonl(tmp_path, GOOD, {"intent": "SetAlarm", **record})
    with pytest.raises(DataError, match=rf"train\.jsonl:2: .*{message}") as info:
        read_slot_jsonl(path)
    assert (info.value.path, info.value.line) == (str(path), 2)


CONLL_ERRORS = [
    pytest.param("# intent: SetAlarm\nat O\nseven I-time\n", 3, r"'I-time' follows 'O'", id="I-without-B"),
    pytest.param("# intent: SetAlarm\nat O\nseven\n", 3, r"expected 'word tag' columns, got 'seven'", id="missing-tag"),
    pytest.param("# intent: SetAlarm\nseven B-\n", 2, r"tag 'B-' is not", id="empty-slot-name"),
    pytest.param("# intent: SetAlarm\nseven X-time\n", 2, r"tag 'X-time' is not", id="bad-prefix"),
    pytest.param("at O\nseven B-time\n", 1, r"sentence has no intent", id="no-intent"),
    pytest.param("# intent: SetAlarm\nat O\n# intent: Other\nseven B-time\n", 3, r"intent line inside a sentence",
                 id="intent-inside-sentence"),
    pytest.param("# intent: SetAlarm\nat O\n" + "caf\xe9 O\n", 3, r"not UTF-8: byte 0xe9", id="latin1-bytes"),
]


@pytest.mark.parametrize("content, line, message", CONLL_ERRORS)
def test_bad_conll_names_file_and_line(tmp_path, content, line, message):
    path = write(tmp_path, "train.conll", content.encode("latin-1"))
    with pytest.raises(DataError, match=rf"train\.conll:{line}: .*{message}"):
        read_conll(path)


def test_conll_with_bom_and_crlf_reads(tmp_path):
    path = write(tmp_path, "train.conll", b"\xef\xbb\xbf# intent: SetAlarm\r\nat O\r\nseven B-time\r\nam I-time\r\n\r\n")
    [example] = read_conll(path)
    assert (example.tokens, example.tags, example.intent) == (("at", "seven", "am"), ("O", "B-time", "I-time"), "SetAlarm")


MARKUP_ERRORS = [
    pytest.param("wake me up at [seven am(time)", r"unbalanced '\[' without '\]' at column 15", id="unclosed-bracket"),
    pytest.param("wake me at [seven am](time", r"unbalanced '\(' after '\]': missing '\)' at column 22", id="unclosed-paren"),
    pytest.param("wake me at seven am](time)", r"unbalanced '\]' without '\[' at column 20", id="stray-close"),
    pytest.param("wake me at [seven am] now", r"'\]' must be followed by '\(slot_name\)' at column 21", id="no-slot"),
    pytest.param("wake me at [seven am]()", r"invalid slot name '' at column 23", id="empty-slot"),
    pytest.param("wake me at [seven am]( )", r"invalid slot name ''", id="blank-slot"),
    pytest.param("wake me at [seven am](my time)", r"invalid slot name 'my time'", id="slot-with-space"),
    pytest.param("wake me at [](time)", r"empty entity '\[\]' at column 12", id="empty-entity"),
    pytest.param("wake me at [ ](time)", r"empty entity", id="blank-entity"),
    pytest.param("[at [seven](time)](when)", r"nested '\['", id="nested"),
    pytest.param("wake me at[seven](time)", r"starts or ends inside a word", id="inside-word"),
    pytest.param("   ", r"empty utterance", id="blank-utterance"),
]


@pytest.mark.parametrize("markup, message", MARKUP_ERRORS)
def test_bad_markup_names_line_and_column(markup, message):
    with pytest.raises(DataError, match=rf"^alarms\.md:7: .*{message}") as info:
        parse_markup(markup, "alarms.md", 7)
    assert info.value.line == 7


@pytest.mark.parametrize("markup, tokens, tags", [
    pytest.param("wake me at [seven am](time)", ["wake", "me", "at", "seven", "am"], ["O", "O", "O", "B-time", "I-time"],
                 id="plain"),
    pytest.param("wake me at [ seven am ](time)", ["wake", "me", "at", "seven", "am"], ["O", "O", "O", "B-time", "I-time"],
                 id="spaces-inside-brackets"),
    pytest.param("réveille-moi à [sept heures](heure)", ["réveille-moi", "à", "sept", "heures"],
                 ["O", "O", "B-heure", "I-heure"], id="unicode"),
    pytest.param("[7am](time) [tomorrow](date)", ["7am", "tomorrow"], ["B-time", "B-date"], id="adjacent-entities"),
])  # fmt: skip
def test_good_markup_gives_words_and_bio_tags(markup, tokens, tags):
    assert parse_markup(markup) == (tokens, tags)


def test_markup_must_be_a_string():
    with pytest.raises(DataError, match=r"f\.jsonl:3: markup must be a string, got list"):
        parse_markup(["wake", "me"], "f.jsonl", 3)


def test_unclosed_markup_in_a_file_names_its_line(tmp_path):
    path = write(tmp_path, "nlu.md", "## intent:SetAlarm\n- wake me at [six](time)\n\n- wake me up at [seven am(time)\n")
    with pytest.raises(DataError, match=r"nlu\.md:4: unbalanced '\[' without '\]' at column 15 of 'wake me up at \[seven am\(time\)'"):
        read_markup(path)


@pytest.mark.parametrize("content, message", [
    pytest.param(b"- wake me at [six](time)\n", r"nlu\.md:1: utterance before any '## intent:<name>' header",
                 id="no-header"),
    pytest.param(b"## SetAlarm\n- wake me\n", r"nlu\.md:1: expected a '## intent:<name>' header", id="bad-header"),
    pytest.param(b"## intent:SetAlarm\nwake me\n", r"nlu\.md:2: expected '- utterance'", id="missing-dash"),
    pytest.param("## intent:SetAlarm\n- caf\xe9 at [six](time)\n".encode("latin-1"), r"nlu\.md:2: not UTF-8",
                 id="latin1-bytes"),
    pytest.param(b"<!-- nothing -->\n\n", r"nlu\.md: no utterances found", id="empty"),
])  # fmt: skip
def test_bad_markdown_file_names_file_and_line(tmp_path, content, message):
    with pytest.raises(DataError, match=message):
        read_markup(write(tmp_path, "nlu.md", content))


def test_markup_file_with_bom_and_crlf_reads(tmp_path):
    path = write(tmp_path, "nlu.md", b"\xef\xbb\xbf## intent:SetAlarm\r\n- wake me at [six](time)\r\n")
    [example] = read_markup(path)
    assert (example.tokens, example.tags, example.intent) == (("wake", "me", "at", "six"), ("O", "O", "O", "B-time"), "SetAlarm")


def test_tab_separated_markup_with_blank_intent_is_refused(tmp_path):
    with pytest.raises(DataError, match=r"nlu\.tsv:2: missing intent"):
        read_markup(write(tmp_path, "nlu.tsv", "SetAlarm\twake me at [six](time)\n \twake me at [seven](time)\n"))
