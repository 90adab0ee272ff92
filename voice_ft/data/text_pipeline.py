"""tf.data pipelines for labelled text: (text, label id) -> encoded, cached, shuffled, batched.

Raw datasets are plain `tf.data.Dataset`s of `(text: tf.string, label: tf.int32)`. `encode_dataset`
tokenises them in the pipeline (in batches, which is much faster than per example), caches the
token ids so later epochs skip tokenisation, then shuffles, batches and prefetches.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import tensorflow as tf
from absl import logging

from voice_ft.data.labels import OOS_LABEL_ID, LabelVocabulary
from voice_ft.data.readers import TextExample
from voice_ft.data.text_encoder import TextEncoder

AUTOTUNE = tf.data.AUTOTUNE


def examples_to_dataset(examples: Sequence[TextExample], labels: LabelVocabulary,
                        oos_label: str | None = None) -> tf.data.Dataset:
    """Turns validated examples into a raw `(text, label_id)` dataset.

    Unknown labels raise a DataError naming the file and line (e.g. a test file with a label the
    model was not trained on). Examples labelled `oos_label` get `OOS_LABEL_ID` (-1): out of scope.
    """
    label_ids = [OOS_LABEL_ID if oos_label is not None and ex.label == oos_label else labels.index(ex.label, ex.path, ex.line)
                 for ex in examples]  # fmt: skip
    texts = [ex.text for ex in examples]
    return tf.data.Dataset.from_tensor_slices((tf.constant(texts, tf.string), tf.constant(label_ids, tf.int32)))


def in_scope(dataset: tf.data.Dataset) -> tf.data.Dataset:
    """A raw `(text, label_id, ...)` dataset without its out-of-scope examples (label `OOS_LABEL_ID`).

    Training and plain accuracy need in-scope labels only; the size stays known (Keras wants it).
    """
    keep = dataset.filter(lambda text, label, *rest: label != OOS_LABEL_ID)
    if int(dataset.cardinality()) < 0:
        return keep
    count = sum(1 for label in dataset.map(lambda text, label, *rest: label).as_numpy_iterator() if label != OOS_LABEL_ID)
    return keep.apply(tf.data.experimental.assert_cardinality(count))


def is_raw_text(dataset: tf.data.Dataset) -> bool:
    """True for an unbatched dataset whose features are scalar strings."""
    spec = dataset.element_spec
    features = spec[0] if isinstance(spec, tuple) else spec
    return isinstance(features, tf.TensorSpec) and features.dtype == tf.string and features.shape.rank == 0


def encode_dataset(
    dataset: tf.data.Dataset,
    encoder: TextEncoder,
    batch_size: int = 32,
    shuffle: bool = False,
    cache: bool = True,
    seed: int | None = None,
    report_truncation: bool = True,
    bucket_by_length: bool = False,
    shuffle_buffer: int | None = None,
) -> tf.data.Dataset:
    """Encodes a raw `(text, label[, weight])` dataset into batches of `({token_ids, padding_mask}, label)`.

    Args:
        dataset: unbatched raw dataset (see `examples_to_dataset`).
        encoder: the model's `TextEncoder`.
        batch_size: examples per batch.
        shuffle: reshuffle each epoch (training data).
        cache: keep the encoded examples in memory after the first pass.
        seed: shuffle seed.
        report_truncation: log once how many texts exceed the sequence length.
        bucket_by_length: batch texts of similar length together and cut each batch to its longest
            text (rounded up to a multiple of 8), for models that take any length: a voice command
            is ~12 word pieces, so a batch padded to 32 or 64 is mostly padding (see
            `length_bucketed_batches`).
        shuffle_buffer: examples held for shuffling; None: the whole dataset (in-memory data).
            Give a bound (and `cache=False`) for data streamed from files that does not fit in memory.
    """
    if not is_raw_text(dataset):
        raise ValueError(f"encode_dataset needs an unbatched dataset of (text, label); got {dataset.element_spec}")
    if report_truncation:
        _report_truncation(dataset, encoder)

    def encode(texts, *rest):
        return (encoder(texts), *rest)

    encoded = dataset.batch(1024).map(encode, num_parallel_calls=AUTOTUNE).unbatch()
    if int(dataset.cardinality()) >= 0:  # unbatch() forgets the size; Keras needs it for progress and steps
        encoded = encoded.apply(tf.data.experimental.assert_cardinality(dataset.cardinality()))
    if cache:
        encoded = encoded.cache()
    if shuffle:
        buffer = shuffle_buffer or _cardinality_or(encoded, 10_000)
        encoded = encoded.shuffle(buffer, seed=seed, reshuffle_each_iteration=True)
    if bucket_by_length:
        return length_bucketed_batches(encoded, encoder.sequence_length, batch_size, seed=seed).prefetch(AUTOTUNE)
    return encoded.batch(batch_size).prefetch(AUTOTUNE)


def length_bucketed_batches(encoded: tf.data.Dataset, sequence_length: int, batch_size: int, chunk_batches: int = 32,
                            multiple: int = 8, seed: int | None = None) -> tf.data.Dataset:
    """Batches of similar-length texts, each cut to its longest text (rounded up to `multiple`).

    The (shuffled) stream is read in chunks of `chunk_batches` batches; each chunk is sorted by
    length and split into batches, whose order is then shuffled. So a batch holds texts of similar
    length drawn from a random chunk, the number of batches is exactly that of plain batching
    (Keras knows the epoch's length), and a model sees at most `sequence_length / multiple` shapes
    (Keras retraces once per shape). Labels may be nested (a dict of a model's outputs); per-token
    labels (rank 2, e.g. slot tags) are sorted and cut with the inputs. With `seed`, the batch order is reproducible (every worker
    of a distributed run must see the same order to take its part of the same global batch).
    """
    chunk = batch_size * chunk_batches

    def sort_by_length(x, *rest):
        order = tf.argsort(tf.reduce_sum(x["padding_mask"], axis=1), stable=True)
        return ({name: tf.gather(value, order) for name, value in x.items()},
                *tf.nest.map_structure(lambda r: tf.gather(r, order), rest))

    def cut(x, *rest):
        longest = tf.reduce_max(tf.reduce_sum(x["padding_mask"], axis=1))
        width = tf.minimum((longest + multiple - 1) // multiple * multiple, sequence_length)

        def cut_per_token(value):  # per-token labels ([B, T], e.g. slot tags) are cut with the inputs
            return value[:, :width] if value.shape.rank is not None and value.shape.rank >= 2 else value

        return ({name: value[:, :width] for name, value in x.items()}, *tf.nest.map_structure(cut_per_token, rest))

    sorted_examples = encoded.batch(chunk).map(sort_by_length, num_parallel_calls=AUTOTUNE).unbatch()
    if int(encoded.cardinality()) >= 0:
        sorted_examples = sorted_examples.apply(tf.data.experimental.assert_cardinality(encoded.cardinality()))
    batches = sorted_examples.batch(batch_size).map(cut, num_parallel_calls=AUTOTUNE)
    return batches.shuffle(chunk_batches, seed=seed, reshuffle_each_iteration=True)


def _cardinality_or(dataset: tf.data.Dataset, default: int) -> int:
    n = int(dataset.cardinality())
    return n if n > 0 else default


def _report_truncation(dataset: tf.data.Dataset, encoder: TextEncoder) -> None:
    truncated, total = encoder.count_truncated(dataset.map(lambda text, *_: text))
    if truncated:
        logging.warning(
            "%d of %d texts are longer than sequence_length=%d (with [CLS]/[SEP]) and were truncated.",
            truncated, total, encoder.sequence_length,
        )


def label_counts(dataset: tf.data.Dataset, num_labels: int) -> np.ndarray:
    """Counts label ids in a raw or encoded dataset; a ValueError for an id outside [0, num_labels)
    (e.g. shards written for another label list), which training would otherwise meet deep in a step."""
    counts = np.zeros(num_labels, np.int64)
    for label in dataset.map(lambda _, y, *rest: y).as_numpy_iterator():
        label = np.ravel(label)
        if label.size and (label.min() < 0 or label.max() >= num_labels):
            bad = int(label.min() if label.min() < 0 else label.max())
            raise ValueError(f"label id {bad} in the training data is outside the {num_labels} labels")
        counts += np.bincount(label, minlength=num_labels)
    return counts


def add_negatives(train: tf.data.Dataset, validation: tf.data.Dataset, labels: Sequence[str], negatives,
                  oos_label: str) -> tuple[tf.data.Dataset, tf.data.Dataset, list[str]]:
    """Adds out-of-scope negatives as an explicit class: `(train, validation, labels + [oos_label])`.

    `negatives` is a `voice_ft.data.negatives.Negatives`: its `train` sentences get the new label's id
    (the model learns to say "out of scope"), its `validation` ones `OOS_LABEL_ID`, so they choose and
    measure the rejection (`voice_ft.calibrate(..., oos_label=oos_label)`) and stay out of accuracy.
    """
    if oos_label in labels:
        raise ValueError(f"oos_label {oos_label!r} is already one of the labels")
    if not negatives.train:
        raise ValueError("no training negatives to learn the out-of-scope class from")
    oos_id = len(labels)

    def rows(texts, label_id):
        return tf.data.Dataset.from_tensor_slices((tf.constant(list(texts), tf.string),
                                                   tf.fill([len(texts)], tf.constant(label_id, tf.int32))))  # fmt: skip

    train = train.concatenate(rows(negatives.train, oos_id))
    if negatives.validation:
        validation = validation.concatenate(rows(negatives.validation, OOS_LABEL_ID))
    return train, validation, [*labels, oos_label]
