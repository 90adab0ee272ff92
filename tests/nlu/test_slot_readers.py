"""Slot data readers (SNIPS, JSONL, CoNLL, inline markup), their errors, and `load_nlu`."""

import json

import pytest

from voice_ft.runtime.errors import DataError
from voice_ft.nlu.readers import parse_markup, read_conll, read_markup, read_slot_jsonl, slot_tags_from_examples
from voice_ft.nlu.data import encode_nlu, load_nlu, nlu_dataset


def write(path, text):
    path.write_text(text, encoding="utf-8")
    return path


def test_load_bundled_snips():
    train, validation, test, intents, tags = load_nlu("snips")
    assert (len(train), len(validation), len(test)) == (13084, 700, 700)
    assert len(intents) == 7 and len(tags) == 72 and "O" in tags
    assert train[0].tokens[:2] == ("listen", "to") and train[0].tags[2] == "B-artist" and train[0].intent == "PlayMusic"
    assert train[0].line == 1 and train[0].path.endswith("train.jsonl")


def test_markup_to_words_and_tags():
    assert parse_markup("wake me up at [seven am](time)") == (["wake", "me", "up", "at", "seven", "am"],
                                                                ["O", "O", "O", "O", "B-time", "I-time"])
    assert parse_markup("[ paris ](city) [tomorrow](date)")[1] == ["B-city", "B-date"]


@pytest.mark.parametrize("markup, message", [
    ("wake me at [seven am(time)", "unbalanced '\\[' without '\\]' at column 12"),
    ("wake me at seven am](time)", "unbalanced '\\]' without '\\[' at column 20"),
    ("wake me at [seven [am](time)](time)", "nested '\\['"),
    ("wake me at [seven am] now", "'\\]' must be followed by '\\(slot_name\\)'"),
    ("wake me at [seven am](time", "missing '\\)'"),
    ("wake me at [](time)", "empty entity"),
    ("wake me at [seven]( )", "invalid slot name"),
    ("wake me at [seven]am(time)", "must be followed by"),
    ("wake me at [sev]en(time) x", "must be followed by"),
    ("wake me at[seven](time)", "inside a word"),
])  # fmt: skip
def test_bad_markup_names_file_line_and_column(tmp_path, markup, message):
    path = write(tmp_path / "train.md", f"## intent:SetAlarm\n- fine [one](x)\n- {markup}\n")
    with pytest.raises(DataError, match=message) as error:
        read_markup(path)
    assert f"{path}:3:" in str(error.value)


def test_markup_files_markdown_and_tab_separated(tmp_path):
    md = read_markup(write(tmp_path / "a.md", "<!-- comment -->\n## intent:SetAlarm\n- wake me at [7 am](time)\n\n"
                                               "## intent:GetWeather\n- weather in [new york](city)\n"))
    assert [(e.intent, e.tags) for e in md] == [("SetAlarm", ("O", "O", "O", "B-time", "I-time")),
                                                 ("GetWeather", ("O", "O", "B-city", "I-city"))]
    tsv = read_markup(write(tmp_path / "b.txt", "# comment\nSetAlarm\twake me at [7 am](time)\n"))
    assert tsv[0].tags == md[0].tags and tsv[0].line == 2
    with pytest.raises(DataError, match="before any '## intent:<name>' header"):
        read_markup(write(tmp_path / "c.md", "- wake me\n"))


def test_jsonl_errors_name_file_and_line(tmp_path):
    good = {"tokens": ["wake", "me"], "slots": ["O", "O"], "intent": "SetAlarm"}
    cases = [
        ({"tokens": ["wake", "me"], "slots": ["O"], "intent": "SetAlarm"}, "2 tokens but 1 slot tags"),
        ({"tokens": ["at", "seven"], "slots": ["O", "I-time"], "intent": "SetAlarm"}, "invalid BIO tags: word 2: 'I-time' follows 'O'"),
        ({"tokens": ["at"], "slots": ["time"], "intent": "SetAlarm"}, "is not 'O', 'B-<slot>' or 'I-<slot>'"),
        ({"tokens": ["at"], "slots": ["O"]}, "missing field 'intent'"),
        ({"tokens": ["a b"], "slots": ["O"], "intent": "X"}, "contains whitespace"),
    ]
    for record, message in cases:
        path = write(tmp_path / "bad.jsonl", json.dumps(good) + "\n" + json.dumps(record) + "\n")
        with pytest.raises(DataError, match=message) as error:
            read_slot_jsonl(path)
        assert str(error.value).startswith(f"{path}:2: ")
    texts = read_slot_jsonl(write(tmp_path / "t.jsonl", json.dumps({"text": "wake  me", "slots": ["O", "O"], "intent": "A"}) + "\n"
                                  + json.dumps({"markup": "at [7](time)", "intent": "A"}) + "\n"))
    assert texts[0].tokens == ("wake", "me") and texts[1].tags == ("O", "B-time")


def test_conll_reader_and_its_errors(tmp_path):
    path = write(tmp_path / "d.conll", "# intent: SetAlarm\nwake O\nme O\nat O\nseven B-time\nam I-time\n\n"
                                       "# intent = GetWeather\nrain\tNN\tO\n")
    examples = read_conll(path)
    assert [e.intent for e in examples] == ["SetAlarm", "GetWeather"]
    assert examples[0].tags[-2:] == ("B-time", "I-time") and examples[0].line == 2 and examples[1].tags == ("O",)
    with pytest.raises(DataError, match=r"d2.conll:3: invalid BIO tags: 'I-time' follows 'O'"):
        read_conll(write(tmp_path / "d2.conll", "# intent: A\nat O\nseven I-time\n"))
    with pytest.raises(DataError, match=r"d3.conll:1: sentence has no intent"):
        read_conll(write(tmp_path / "d3.conll", "at O\n"))
    with pytest.raises(DataError, match=r"d4.conll:2: expected 'word tag' columns"):
        read_conll(write(tmp_path / "d4.conll", "# intent: A\nlonely\n"))


def test_folder_of_mixed_formats_goes_through_one_pipeline(tmp_path, tiny_backbone):
    write(tmp_path / "train.md", "## intent:SetAlarm\n- wake me up at [seven am](time)\n- alarm at [six](time)\n"
                                 "## intent:GetWeather\n- weather in [paris](city) [tomorrow](date)\n")
    write(tmp_path / "validation.conll", "# intent: SetAlarm\nwake O\nme O\nat O\n[six] B-time\n")
    write(tmp_path / "test.jsonl", json.dumps({"tokens": ["rain", "in", "rome"], "slots": ["O", "O", "B-city"],
                                               "intent": "GetWeather"}) + "\n")
    train, validation, test, intents, tags = load_nlu(str(tmp_path))
    assert intents == ["GetWeather", "SetAlarm"]
    assert tags == ["O", "B-city", "I-city", "B-date", "I-date", "B-time", "I-time"] == slot_tags_from_examples(train)
    encoded = encode_nlu(train, tiny_backbone.tokenizer, 16, intents, tags)
    x, y = next(iter(nlu_dataset(encoded, batch_size=8)))
    assert x["token_ids"].shape == (3, 16) and x["padding_mask"].dtype.name == "int32"
    assert y["intent_logits"].numpy().tolist() == [1, 1, 0] and y["slot_logits"].shape == (3, 16)
    assert (y["slot_logits"].numpy() >= 0).sum(axis=1).tolist() == [6, 3, 4]


def test_unknown_slot_names_at_evaluation_name_file_and_line(tmp_path):
    write(tmp_path / "train.md", "## intent:A\n- at [six](time)\n")
    write(tmp_path / "validation.md", "## intent:A\n- at [six](time)\n")
    write(tmp_path / "test.md", "## intent:A\n- at [six](time)\n- in [paris](city)\n")
    with pytest.raises(DataError, match=r"test.md:3: unknown slot tag 'B-city' \(word 2, 'paris'\); the model's slots are: time"):
        load_nlu(str(tmp_path))
    write(tmp_path / "test.md", "## intent:B\n- at [six](time)\n")
    with pytest.raises(DataError, match=r"test.md:2: unknown intent 'B'"):
        load_nlu(str(tmp_path))
    with pytest.raises(DataError, match=r"train.md:2: unknown slot tag"):
        load_nlu(str(tmp_path), slot_tags=["O"], intents=["A", "B"])
