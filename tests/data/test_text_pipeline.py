"""Text encoding inside tf.data: int32 tensors, fixed length, truncation counted, sizes known."""

import numpy as np
import pytest
import tensorflow as tf

from voice_ft.data.labels import LabelVocabulary
from voice_ft.data.readers import TextExample
from voice_ft.data.text_encoder import TextEncoder
from voice_ft.data.text_pipeline import encode_dataset, examples_to_dataset, is_raw_text, label_counts


def snips_dataset(rows):
    labels = LabelVocabulary.from_records(r["intent"] for r in rows)
    examples = [TextExample(r["text"], r["intent"], "snips", i + 1) for i, r in enumerate(rows)]
    return examples_to_dataset(examples, labels), labels


def test_encoder_packs_cls_sep_pad(tiny_backbone):
    encoder = TextEncoder(tiny_backbone.tokenizer, sequence_length=8)
    out = encoder(tf.constant(["play music", "add the song to my playlist please now"]))
    ids, mask = out["token_ids"].numpy(), out["padding_mask"].numpy()
    assert ids.dtype == np.int32 and mask.dtype == np.int32 and ids.shape == (2, 8)
    vocab = tiny_backbone.tokenizer.get_vocabulary()
    assert [vocab[i] for i in ids[0][:4]] == ["[CLS]", "play", "music", "[SEP]"]
    assert mask[0].tolist() == [1, 1, 1, 1, 0, 0, 0, 0]
    assert vocab[ids[1][-1]] == "[SEP]" and mask[1].sum() == 8  # truncated, still ends with [SEP]


def test_encode_dataset_batches_and_counts_truncation(tiny_backbone, snips_rows, caplog):
    raw, labels = snips_dataset(snips_rows[:100])
    assert is_raw_text(raw)
    encoder = TextEncoder(tiny_backbone.tokenizer, sequence_length=8)
    truncated, total = encoder.count_truncated(raw.map(lambda t, y: t))
    lengths = [len(tiny_backbone.tokenizer.tokenize(r["text"])) for r in snips_rows[:100]]
    assert total == 100 and truncated == sum(n > 6 for n in lengths) > 0
    batched = encode_dataset(raw, encoder, batch_size=16, shuffle=True, seed=1)
    assert int(batched.cardinality()) == 7  # known size: Keras shows progress and counts steps
    x, y = next(iter(batched))
    assert x["token_ids"].shape == (16, 8) and x["padding_mask"].dtype == tf.int32 and y.dtype == tf.int32
    assert any("were truncated" in r.getMessage() for r in caplog.records)
    counts = label_counts(raw, len(labels))
    assert counts.sum() == 100 and counts.tolist() == [sum(r["intent"] == l for r in snips_rows[:100]) for l in labels]


def test_one_encoder_traces_its_tokenizer_once_for_every_dataset_it_encodes(tiny_backbone, snips_rows):
    """Each tf.data map used to trace the tokenizer again (~2 s a map, six maps a training run)."""
    encoder = TextEncoder(tiny_backbone.tokenizer, sequence_length=16)
    texts = [r["text"] for r in snips_rows[:40]]
    encoded = []
    for rows in (snips_rows[:40], snips_rows[40:60], snips_rows[:40]):  # train, validation, test: three pipelines
        raw, _ = snips_dataset(rows)
        encoded.append([x["token_ids"].numpy() for x, _ in encode_dataset(raw, encoder, batch_size=8)])
    assert encoder._encode_batch.experimental_get_tracing_count() == 1
    assert encoder._batch_lengths.experimental_get_tracing_count() == 1  # the truncation counts
    # the traced encoding is the eager one, and a single text (rank 0) still encodes
    eager = encoder._encode(tf.constant(texts))["token_ids"].numpy()
    np.testing.assert_array_equal(np.concatenate(encoded[2]), eager)
    np.testing.assert_array_equal(encoder(tf.constant(texts[0]))["token_ids"].numpy(), eager[0])


def test_shuffle_reorders_each_epoch_but_keeps_examples(tiny_backbone, snips_rows):
    raw, _ = snips_dataset(snips_rows[:64])
    batched = encode_dataset(raw, TextEncoder(tiny_backbone.tokenizer, 16), batch_size=64, shuffle=True, seed=3)
    first = next(iter(batched))[0]["token_ids"].numpy()
    second = next(iter(batched))[0]["token_ids"].numpy()
    assert not np.array_equal(first, second)
    assert sorted(map(tuple, first)) == sorted(map(tuple, second))


def test_length_bucketed_batches_keep_every_example_and_cut_the_padding(tiny_backbone, snips_rows):
    raw, _ = snips_dataset(snips_rows[:300])
    encoder = TextEncoder(tiny_backbone.tokenizer, sequence_length=32)
    plain = encode_dataset(raw, encoder, batch_size=16, shuffle=True, seed=2)
    bucketed = encode_dataset(raw, encoder, batch_size=16, shuffle=True, seed=2, bucket_by_length=True)
    assert int(bucketed.cardinality()) == int(plain.cardinality()) == 19  # Keras still knows the epoch's length

    def examples(batches):
        """(unpadded token ids, label) of every example, and the batch widths."""
        seen, widths = [], []
        for x, y in batches.as_numpy_iterator():
            ids, mask = x["token_ids"], x["padding_mask"]
            widths.append(ids.shape[1])
            assert mask.sum(axis=1).max() <= ids.shape[1]  # no text was cut
            seen += [(tuple(row[: n]), int(label)) for row, n, label in zip(ids, mask.sum(axis=1), y)]
        return sorted(seen), widths

    plain_examples, plain_widths = examples(plain)
    bucketed_examples, widths = examples(bucketed)
    assert bucketed_examples == plain_examples  # the same texts, each with its own label, once
    assert set(plain_widths) == {32} and all(w % 8 == 0 and w <= 32 for w in widths)
    assert np.mean(widths) <= 0.8 * 32  # SNIPS commands are short: much of a padded batch was padding
    first, second = ([tuple(x["token_ids"][0]) for x, _ in bucketed.take(5)] for _ in range(2))
    assert first != second  # reshuffled each epoch


def test_add_negatives_trains_a_new_class_and_validates_as_out_of_scope():
    from voice_ft.data.labels import OOS_LABEL_ID
    from voice_ft.data.negatives import Negatives
    from voice_ft.data.text_pipeline import add_negatives

    train = tf.data.Dataset.from_tensor_slices((["play jazz", "rain today"], np.array([0, 1], np.int32)))
    validation = tf.data.Dataset.from_tensor_slices((["play rock"], np.array([0], np.int32)))
    negatives = Negatives(train=["tell me a joke", "who won"], validation=["capital of peru"])
    train, validation, labels = add_negatives(train, validation, ["PlayMusic", "GetWeather"], negatives, "oos")
    assert labels == ["PlayMusic", "GetWeather", "oos"] and int(train.cardinality()) == 4
    assert [(t.decode(), int(y)) for t, y in train.as_numpy_iterator()][2:] == [("tell me a joke", 2), ("who won", 2)]
    assert [(t.decode(), int(y)) for t, y in validation.as_numpy_iterator()] == [("play rock", 0), ("capital of peru", OOS_LABEL_ID)]
    with pytest.raises(ValueError, match="already one of the labels"):
        add_negatives(train, validation, labels, negatives, "oos")
