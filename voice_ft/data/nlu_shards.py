"""Sharded TFRecords of encoded intent + slot examples, for NLU training sets larger than memory.

What is stored is what the joint NLU model consumes, already encoded (`voice_ft.nlu.data.encode_nlu`):
token ids, padding mask, slot tag id per token (-1 off the first word pieces) and the intent id,
with the sequence length and the two label lists in `<prefix>.shards.json`. The reader yields
exactly the batches of the in-memory pipeline (`nlu_dataset`), so `fit_nlu` takes either:

    for chunk in chunks_of_slot_examples:                        # e.g. 50,000 utterances at a time
        encoded.append(encode_for(model, chunk))                 # or one EncodedNLU
    write_nlu_shards(encoded, "shards/", 16, intents=model.intent_labels, slot_tags=model.slot_tags)
    fit_nlu(model, "shards/train-*.tfrecord", recipe=recipe)    # streams, shuffles through a buffer

(`encoded` may be any iterable of `EncodedNLU`s, e.g. a generator, so the whole set is never in
memory.) File layout, ordering and the no-overwrite rule: `voice_ft.data.tfrecords`.
"""

from __future__ import annotations

import os
import pathlib
from collections.abc import Iterable, Sequence

import numpy as np
import tensorflow as tf

from voice_ft.data import tfrecords
from voice_ft.data.tfrecords import AUTOTUNE, DEFAULT_SHUFFLE_BUFFER

KIND = "nlu"


def write_nlu_shards(encoded, directory: str | os.PathLike, num_shards: int, intents: Sequence[str],
                     slot_tags: Sequence[str], prefix: str = "train", overwrite: bool = False) -> list[pathlib.Path]:  # fmt: skip
    """Writes encoded NLU examples to `num_shards` TFRecord files; returns their paths.

    Args:
        encoded: an `EncodedNLU` (from `encode_nlu` / `encode_for`) or an iterable of them, all of
            one sequence length. Out-of-scope rows (intent id -1) are refused: they never train
            (write `encoded.in_scope()`).
        intents, slot_tags: the label lists the ids index (the model's), checked by the reader.
    """
    chunks = [encoded] if hasattr(encoded, "token_ids") else encoded

    def records(chunks: Iterable, spec: dict):
        for chunk in chunks:
            token_ids, padding_mask = np.asarray(chunk.token_ids), np.asarray(chunk.padding_mask)
            intent_ids, slot_labels = np.asarray(chunk.intent_ids), np.asarray(chunk.slot_labels)
            length = spec.setdefault("sequence_length", int(token_ids.shape[1]))  # the spec is written last
            if token_ids.shape[1] != length:
                raise ValueError(f"write_nlu_shards: chunks of sequence lengths {length} and {token_ids.shape[1]}; "
                                 "encode them alike")  # fmt: skip
            if np.any(intent_ids < 0):
                raise ValueError("write_nlu_shards: out-of-scope rows (intent id -1) never train; write "
                                 "encoded.in_scope()")  # fmt: skip
            for i in range(len(intent_ids)):
                yield tfrecords.example_bytes(
                    token_ids=tfrecords.int64_feature(token_ids[i]),
                    padding_mask=tfrecords.int64_feature(padding_mask[i]),
                    slot_labels=tfrecords.int64_feature(slot_labels[i]),
                    intent=tfrecords.int64_feature([intent_ids[i]]),
                )

    spec = {"kind": KIND, "intents": list(intents), "slot_tags": list(slot_tags)}
    return tfrecords.write_shards(records(chunks, spec), directory, num_shards, prefix, spec, overwrite)


def read_nlu_shards(files, batch_size: int = 32, shuffle: bool = False, seed: int | None = None,
                    shuffle_buffer: int = DEFAULT_SHUFFLE_BUFFER, num_input_pipelines: int = 1,
                    input_pipeline_id: int = 0, cycle_length: int = 4, sequence_length: int | None = None,
                    intents: Sequence[str] | None = None, slot_tags: Sequence[str] | None = None) -> tf.data.Dataset:  # fmt: skip
    """Batched `({token_ids, padding_mask}, {intent_logits, slot_logits})`, as `nlu_dataset` yields.

    Args:
        files: shard paths or a glob pattern (from `write_nlu_shards`).
        batch_size: examples a batch (the last partial batch is kept, as in memory).
        shuffle: shuffle the file order and the examples (through `shuffle_buffer`), anew each pass.
        num_input_pipelines / input_pipeline_id / cycle_length: see `tfrecords.read_records`.
        sequence_length, intents, slot_tags: the model's; when given, shards written for another
            model are a `DataError` naming their `.shards.json`, before any training.
    """
    spec = tfrecords.read_spec(files, KIND)
    tfrecords.check_spec(spec, {"sequence_length": sequence_length, "intents": intents, "slot_tags": slot_tags}, files)
    length = int(spec["sequence_length"])
    features = {name: tf.io.FixedLenFeature([length], tf.int64) for name in ("token_ids", "padding_mask", "slot_labels")}
    features["intent"] = tf.io.FixedLenFeature([], tf.int64)
    examples = tfrecords.read_records(files, features, num_input_pipelines, input_pipeline_id, shuffle_files=shuffle,
                                      shuffle_buffer=shuffle_buffer if shuffle else None, seed=seed,
                                      cycle_length=cycle_length)  # fmt: skip

    def to_model(e):
        ids = {k: tf.cast(e[k], tf.int32) for k in features}
        inputs = {"token_ids": ids["token_ids"], "padding_mask": ids["padding_mask"]}
        return inputs, {"intent_logits": ids["intent"], "slot_logits": ids["slot_labels"]}

    return examples.map(to_model, num_parallel_calls=AUTOTUNE).batch(batch_size).prefetch(AUTOTUNE)
