"""Out-of-scope negatives: generated from the bundled SGD and GoEmotions data, or read from a file."""

import json

import pytest

from voice_ft.data.negatives import (
    generate_negatives,
    holdout_split,
    normalise,
    read_negatives,
    source_sentences,
    split_negatives,
)
from voice_ft.data.text_similarity import nearest_similarity
from voice_ft.runtime.errors import DataError


@pytest.fixture(scope="module")
def snips_texts(snips_rows):
    return [r["text"] for r in snips_rows]


@pytest.fixture(scope="module")
def generated(snips_texts):
    return generate_negatives(snips_texts, size=0.5, seed=3)


def test_sources_are_user_turns_and_comments():
    sgd = source_sentences("sgd_dialogues", "validation")
    assert sgd and all(len(t.split()) >= 2 for t in sgd)
    assert len({normalise(t) for t in sgd}) == len(sgd)
    with pytest.raises(ValueError, match="not one of"):
        source_sentences("snips")


def test_generated_negatives_are_sized_disjoint_and_far_from_the_intents(generated, snips_texts):
    wanted = round(0.5 * len(snips_texts))
    total = len(generated.train) + len(generated.validation)
    assert wanted - 2 <= total <= wanted
    assert len(generated.validation) == round(0.2 * total)
    assert not {normalise(t) for t in generated.train} & {normalise(t) for t in generated.validation}
    assert not {normalise(t) for t in generated.train + generated.validation} & {normalise(t) for t in snips_texts}
    # IDF depends on the sentences compared together, so re-scoring the kept ones moves the cosine a little
    assert nearest_similarity(generated.train + generated.validation, snips_texts).max() <= 0.35
    words = set(generated.report["distinctive_words"])
    assert {"playlist", "weather", "restaurant"} <= words
    assert not any(words & set(t.lower().split()) for t in generated.train)
    assert set(generated.report["sources"]) == {"sgd_dialogues", "goemotions"}


def test_generation_is_deterministic_per_seed(generated, snips_texts):
    again = generate_negatives(snips_texts, size=0.5, seed=3)
    assert again.train == generated.train and again.validation == generated.validation
    assert generate_negatives(snips_texts, size=0.5, seed=4).train != generated.train


def test_training_negatives_never_come_from_held_out_splits(generated):
    held_out = {normalise(t) for s in ("sgd_dialogues", "goemotions") for t in source_sentences(s, "test")}
    train_pool = {normalise(t) for s in ("sgd_dialogues", "goemotions") for t in source_sentences(s, "train")}
    assert {normalise(t) for t in generated.train + generated.validation} <= train_pool
    assert len(held_out) > 1000


def test_split_dedupes_and_holds_out_a_fraction():
    got = split_negatives(["a b", "A  b", "c d", "e f", "g h", "i j"], validation_fraction=0.2, seed=0)
    assert len(got.train) + len(got.validation) == 5 and len(got.validation) == 1


def test_holdout_split_keeps_every_item_once_and_is_seeded():
    items = [f"clip{i}.wav" for i in range(10)]
    train, validation = holdout_split(items, 0.2, seed=5)
    assert len(validation) == 2 and sorted(train + validation) == sorted(items)
    assert (train, validation) == holdout_split(items, 0.2, seed=5) != holdout_split(items, 0.2, seed=6)
    assert holdout_split(["only.wav"], 0.2) == (["only.wav"], [])  # round(0.2) = 0 held out
    with pytest.raises(ValueError, match="validation_fraction must be in"):
        holdout_split(items, 1.0)


def test_read_txt_and_jsonl(tmp_path):
    (tmp_path / "neg.txt").write_text("# my negatives\nwhat is the capital of peru\n\n tell me a joke \n", encoding="utf-8")
    assert read_negatives(tmp_path / "neg.txt") == ["what is the capital of peru", "tell me a joke"]
    (tmp_path / "neg.jsonl").write_text(json.dumps({"text": "who won the cup"}) + "\n", encoding="utf-8")
    assert read_negatives(tmp_path / "neg.jsonl") == ["who won the cup"]


@pytest.mark.parametrize("name, content, pattern", [
    ("neg.jsonl", '{"text": "ok"}\n{"txt": "x"}\n', r"neg.jsonl:2: .*'text'"),
    ("neg.jsonl", '{"text": "ok"}\n{bad\n', r"neg.jsonl:2: malformed JSON"),
    ("neg.txt", "# only a comment\n\n", r"neg.txt: no negative sentences"),
    ("neg.csv", "text\nhello\n", r"neg.csv: negatives must be a .txt"),
])  # fmt: skip
def test_bad_negative_files_name_file_and_line(tmp_path, name, content, pattern):
    (tmp_path / name).write_text(content, encoding="utf-8")
    with pytest.raises(DataError, match=pattern):
        read_negatives(tmp_path / name)


def test_missing_file_is_named(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        read_negatives(tmp_path / "nope.txt")
