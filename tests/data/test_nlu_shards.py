"""NLU shards: what `write_nlu_shards` stores reads back as the in-memory pipeline's very batches,
and `fit_nlu` trains from them, checked against the model first."""

import json

import keras
import numpy as np
import pytest
import tensorflow as tf

import voice_ft
from voice_ft.data.nlu_shards import read_nlu_shards, write_nlu_shards
from voice_ft.data.slot_examples import make_example
from voice_ft.nlu.data import nlu_dataset
from voice_ft.nlu.model import build_joint_nlu_model
from voice_ft.nlu.train import encode_for, fit_nlu
from voice_ft.runtime.errors import DataError


@pytest.fixture(scope="module")
def labelled(snips_rows):
    examples = [make_example(r["tokens"], r["slots"], r["intent"], "train.jsonl", i + 1) for i, r in enumerate(snips_rows[:60])]
    intents = sorted({r["intent"] for r in snips_rows})
    tags = ["O"] + sorted({t for r in snips_rows for t in r["slots"] if t != "O"})
    return examples, intents, tags


def build(tiny_preset, intents, tags, sequence_length=24):
    keras.utils.set_random_seed(0)
    return build_joint_nlu_model(voice_ft.load_backbone(tiny_preset), intents, tags, sequence_length=sequence_length,
                                 dropout=0.0)  # fmt: skip


def batches(dataset):
    return [tf.nest.map_structure(np.asarray, b) for b in dataset.as_numpy_iterator()]


def test_shards_read_back_as_the_in_memory_batches(tiny_preset, labelled, tmp_path):
    examples, intents, tags = labelled
    model = build(tiny_preset, intents, tags)
    encoded = encode_for(model, examples)
    chunks = [encoded.select(np.arange(len(encoded)) < 25), encoded.select(np.arange(len(encoded)) >= 25)]
    paths = write_nlu_shards(iter(chunks), tmp_path, 4, intents=intents, slot_tags=tags)  # a stream of chunks
    spec = json.loads((tmp_path / "train.shards.json").read_text())
    assert spec["num_examples"] == 60 and spec["sequence_length"] == 24 and sorted(spec["shards"].values()) == [15] * 4
    back = read_nlu_shards(str(tmp_path / "train-*.tfrecord"), batch_size=16)
    assert int(back.cardinality()) == 4  # from the spec: fit needs no counting pass
    assert back.element_spec == nlu_dataset(encoded, batch_size=16).element_spec
    got, want = batches(back), batches(nlu_dataset(encoded, batch_size=16))
    assert len(got) == len(want) == 4
    for g, w in zip(got, want):
        tf.nest.map_structure(np.testing.assert_array_equal, g, w)
    shuffled = batches(read_nlu_shards(paths, batch_size=16, shuffle=True, seed=1))
    assert rows(shuffled) == rows(want) and not all(
        np.array_equal(g[0]["token_ids"], w[0]["token_ids"]) for g, w in zip(shuffled, want))


def rows(batches_):
    """Every example of the batches as one sortable tuple of its ids."""
    return sorted(tuple(np.concatenate([x["token_ids"][i], x["padding_mask"][i], y["slot_logits"][i], [y["intent_logits"][i]]]))
                  for x, y in batches_ for i in range(len(y["intent_logits"])))  # fmt: skip


def test_fit_nlu_reads_a_shard_pattern_and_refuses_shards_for_another_model(tiny_preset, labelled, tmp_path):
    examples, intents, tags = labelled
    model = build(tiny_preset, intents, tags)
    encoded = encode_for(model, examples)
    write_nlu_shards(encoded, tmp_path, 2, intents=intents, slot_tags=tags)
    other = build(tiny_preset, intents, tags, sequence_length=16)
    with pytest.raises(DataError, match=r"train\.shards\.json.*sequence_length: the shards have 24, expected 16"):
        fit_nlu(other, str(tmp_path / "train-*.tfrecord"), recipe=voice_ft.Recipe(epochs=1), verbose=0)
    # A glob pattern is read (and shuffled) by fit_nlu itself, after the model's checks.
    history = fit_nlu(model, str(tmp_path / "train-*.tfrecord"), recipe=voice_ft.Recipe(steps=3, batch_size=16), verbose=0)
    assert model.optimizer.iterations.numpy() == 3 and np.isfinite(history.history["loss"]).all()
    with pytest.raises(DataError, match="intents"):
        read_nlu_shards(str(tmp_path / "train-*.tfrecord"), intents=intents[::-1])
    with pytest.raises(ValueError, match="out-of-scope"):
        oos = encoded.select(np.ones(len(encoded), bool))
        oos.intent_ids[0] = -1
        write_nlu_shards(oos, tmp_path / "oos", 2, intents=intents, slot_tags=tags)
    assert not list((tmp_path / "oos").glob("*.tfrecord"))  # nothing half written
