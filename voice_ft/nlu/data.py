"""Intent + slot data: `load_nlu` and the tf.data pipeline shared by every reader.

    train, validation, test, intents, slot_tags = load_nlu("snips")
    encoded = encode_nlu(train, tokenizer, sequence_length=40, intents=intents, slot_tags=slot_tags)
    dataset = nlu_dataset(encoded, batch_size=32, shuffle=True)   # ({token_ids, padding_mask},
                                                                  #  {intent_logits, slot_logits})

Readers (SNIPS / JSONL, CoNLL, inline markup) give `SlotExample`s; `encode_nlu` tokenizes them
word by word with the TensorFlow-free `WordPieceTokenizer` (id-for-id keras-hub's, and the very
code the phone runs), puts each word's tag on its first piece and -1 elsewhere, and keeps the
word positions for decoding; `nlu_dataset` turns the arrays into cached, shuffled batches.

Out-of-scope utterances (`oos_label="oos"`): validation/test rows with that intent get intent id
`OOS_LABEL_ID` (-1), as in `voice_ft.datasets.load`; they are not one of the model's intents and
only choose and measure the intent head's rejection threshold (`calibrate_nlu`). Training on them,
or an intent list that holds the label, is a `DataError` in `load_nlu`. `EncodedNLU.in_scope()`
drops them for training, validation loss and slot/intent scores. A model with an explicit
out-of-scope intent trained on negatives (`voice_ft.nlu.negatives`) has the label among its
intents: `encode_nlu` with `oos_label` still gives that intent's rows -1 (its validation/test
negatives), and without it the intent's id (its training negatives).
"""

from __future__ import annotations

import dataclasses
import os
import pathlib
from collections.abc import Sequence

import numpy as np
import tensorflow as tf
from absl import logging

from voice_ft.data.datasets import SPLITS, data_root
from voice_ft.data.labels import OOS_LABEL_ID, LabelVocabulary
from voice_ft.data.slot_examples import SlotExample
from voice_ft.evaluation.inference import inference_function
from voice_ft.nlu import metrics as nlu_metrics
from voice_ft.nlu.readers import check_known, read_slot_file, read_slot_jsonl, slot_tags_from_examples
from voice_ft.runtime.errors import DataError
from voice_ft.runtime.slot_alignment import SlotDecoder, align_words, token_labels
from voice_ft.runtime.wordpiece import WordPieceTokenizer

AUTOTUNE = tf.data.AUTOTUNE
SLOT_FILE_SUFFIXES = (".jsonl", ".json", ".conll", ".bio", ".iob", ".md", ".txt", ".tsv")
BUNDLED_NLU = {"snips": ("snips", "labels.txt", "slot_labels.txt")}


# === Loading ========================================================================


def load_nlu(name: str = "snips", data_dir: str | os.PathLike | None = None, intents=None, slot_tags=None,
             oos_label: str | None = None):
    """Loads train/validation/test `SlotExample`s with the intent and slot tag lists.

    Args:
        name: `"snips"` (bundled, `data/snips`), or a folder holding `train`, `validation` and
            `test` files in any supported format (.jsonl, .conll/.bio/.iob, .md/.txt/.tsv markup),
            optionally with `labels.txt` (intents) and `slot_labels.txt`.
        data_dir: overrides where the bundled SNIPS files live.
        intents, slot_tags: a fixed order (e.g. of a model being fine-tuned further).
        oos_label: the intent marking out-of-scope validation/test rows (see the module doc).

    Returns:
        `(train, validation, test, intents, slot_tags)`: three lists of `SlotExample` and two
        lists of names. Every intent and slot tag of every split is checked against the lists;
        an unknown one is a `DataError` naming its file and line.
    """
    if name in BUNDLED_NLU and not pathlib.Path(name).is_dir():
        folder_name, intents_file, tags_file = BUNDLED_NLU[name]
        folder = pathlib.Path(data_dir) if data_dir else data_root() / folder_name
        splits = [read_slot_jsonl(folder / f"{split}.jsonl") for split in SPLITS]
        intents = list(intents) if intents is not None else list(LabelVocabulary.from_file(folder / intents_file))
        slot_tags = list(slot_tags) if slot_tags is not None else list(LabelVocabulary.from_file(folder / tags_file))
    else:
        folder = pathlib.Path(name).expanduser()
        if not folder.is_dir():
            raise ValueError(f"{name!r} is neither a bundled NLU data set ({', '.join(BUNDLED_NLU)}) nor a folder.")
        splits = [read_slot_file(_split_file(folder, split)) for split in SPLITS]
        if intents is None:
            intents = (list(LabelVocabulary.from_file(folder / "labels.txt")) if (folder / "labels.txt").exists()
                       else list(LabelVocabulary.from_records(ex.intent for ex in splits[0])))  # fmt: skip
        if slot_tags is None:
            slot_tags = (list(LabelVocabulary.from_file(folder / "slot_labels.txt"))
                         if (folder / "slot_labels.txt").exists() else slot_tags_from_examples(splits[0]))  # fmt: skip
    LabelVocabulary(intents), LabelVocabulary(slot_tags)  # noqa: B018  (duplicates, emptiness)
    if oos_label is not None:
        _check_oos(splits[0], intents, oos_label, folder)
    for examples in splits:
        check_known(examples, [*intents, *([oos_label] if oos_label is not None else [])], slot_tags)
    return (*splits, list(intents), list(slot_tags))


def _check_oos(train: Sequence[SlotExample], intents: Sequence[str], oos_label: str, folder) -> None:
    """Out-of-scope rows choose the threshold only: none in training, and not one of the intents."""
    for ex in train:
        if ex.intent == oos_label:
            raise DataError(f"training utterance with intent oos_label {oos_label!r}: out-of-scope examples belong in "
                            "validation/test only (they choose the rejection threshold)", ex.path, ex.line)  # fmt: skip
    if oos_label in intents:
        raise DataError(f"oos_label {oos_label!r} is one of the intents; out-of-scope rows have no intent of the "
                        "model (remove it from labels.txt)", folder)  # fmt: skip


def _split_file(folder: pathlib.Path, split: str) -> pathlib.Path:
    found = [p for ext in SLOT_FILE_SUFFIXES if (p := folder / f"{split}{ext}").exists()]
    if not found:
        raise DataError(f"no {split} file ({'/'.join(SLOT_FILE_SUFFIXES)}) in the folder", folder)
    return found[0]


# === Encoding =======================================================================


@dataclasses.dataclass
class EncodedNLU:
    """Examples packed for the model, plus what decoding and scoring need.

    Attributes:
        token_ids, padding_mask: int32[N, sequence_length].
        intent_ids: int32[N].
        slot_labels: int32[N, sequence_length]: tag id at each word's first piece, -1 elsewhere.
        word_positions: one int32 array per example: each word's first-piece index (-1: none).
        examples: the source examples (gold words, tags, intents).
        truncated: how many examples had word pieces cut off.
        truncated_rows: bool[N], which ones (None when not known).
    """

    token_ids: np.ndarray
    padding_mask: np.ndarray
    intent_ids: np.ndarray
    slot_labels: np.ndarray
    word_positions: list[np.ndarray]
    examples: list[SlotExample]
    truncated: int
    truncated_rows: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.examples)

    @property
    def inputs(self) -> dict[str, np.ndarray]:
        return {"token_ids": self.token_ids, "padding_mask": self.padding_mask}

    def select(self, keep: np.ndarray) -> "EncodedNLU":
        """The examples where the boolean mask `keep` is true (`truncated` recounted for them)."""
        keep = np.asarray(keep, bool)
        positions = [p for p, k in zip(self.word_positions, keep) if k]
        cut = self.truncated_rows[keep] if self.truncated_rows is not None else None
        truncated = int(cut.sum()) if cut is not None else self.truncated
        return EncodedNLU(self.token_ids[keep], self.padding_mask[keep], self.intent_ids[keep], self.slot_labels[keep],
                          positions, [e for e, k in zip(self.examples, keep) if k], truncated, cut)  # fmt: skip

    def in_scope(self) -> "EncodedNLU":
        """The examples with a real intent (out-of-scope rows, intent id -1, left out)."""
        return self if self.num_oos == 0 else self.select(self.intent_ids >= 0)

    @property
    def num_oos(self) -> int:
        return int(np.sum(self.intent_ids == OOS_LABEL_ID))


def wordpiece_for(tokenizer) -> WordPieceTokenizer:
    """The TensorFlow-free tokenizer equivalent to a keras-hub BERT tokenizer (or itself)."""
    if isinstance(tokenizer, WordPieceTokenizer):
        return tokenizer
    return WordPieceTokenizer(
        tokenizer.get_vocabulary(),
        lowercase=bool(getattr(tokenizer, "lowercase", False)),
        strip_accents=bool(getattr(tokenizer, "strip_accents", False)),
        split_on_cjk=bool(getattr(tokenizer, "split_on_cjk", True)),
    )


def encode_nlu(examples: Sequence[SlotExample], tokenizer, sequence_length: int, intents: Sequence[str],
               slot_tags: Sequence[str], report_truncation: bool = True, oos_label: str | None = None) -> EncodedNLU:  # fmt: skip
    """Tokenizes and aligns examples (see the module docstring).

    Args:
        examples: from `load_nlu` or a reader.
        tokenizer: a keras-hub BERT tokenizer or a `WordPieceTokenizer`.
        sequence_length: tokens per input, with [CLS] and [SEP].
        intents, slot_tags: the model's label lists; unknown names raise `DataError` (file, line).
        oos_label: the intent of out-of-scope rows (intent id -1; see the module doc), also when
            it is one of `intents` (an explicit out-of-scope intent: these are its held-out rows).
    """
    if not examples:
        raise ValueError("encode_nlu got no examples")
    check_known(examples, [*intents, *([oos_label] if oos_label is not None else [])], slot_tags)
    wordpiece = wordpiece_for(tokenizer)
    intent_index = {name: i for i, name in enumerate(intents)}
    if oos_label is not None:
        intent_index[oos_label] = OOS_LABEL_ID
    tag_index = {name: i for i, name in enumerate(slot_tags)}
    n = len(examples)
    token_ids = np.zeros((n, sequence_length), np.int32)
    padding_mask = np.zeros((n, sequence_length), np.int32)
    slot_labels = np.zeros((n, sequence_length), np.int32)
    positions, truncated, cut = [], 0, np.zeros(n, bool)
    for i, ex in enumerate(examples):
        aligned = align_words(wordpiece, ex.tokens, sequence_length)
        token_ids[i], padding_mask[i] = aligned.token_ids, aligned.padding_mask
        slot_labels[i] = token_labels(aligned.word_positions, [tag_index[t] for t in ex.tags], sequence_length)
        positions.append(aligned.word_positions)
        truncated += int(aligned.truncated)
        cut[i] = bool(aligned.truncated)
    if truncated and report_truncation:
        logging.warning("%d of %d utterances have more word pieces than sequence_length=%d allows; their last words "
                        "are cut off (scored as predicted 'O').", truncated, n, sequence_length)  # fmt: skip
    intent_ids = np.array([intent_index[ex.intent] for ex in examples], np.int32)
    return EncodedNLU(token_ids, padding_mask, intent_ids, slot_labels, positions, list(examples), truncated, cut)


def nlu_dataset(encoded: EncodedNLU, batch_size: int = 32, shuffle: bool = False, seed: int | None = None) -> tf.data.Dataset:
    """Batched `({token_ids, padding_mask}, {intent_logits, slot_logits})` for `voice_ft.fit`."""
    dataset = tf.data.Dataset.from_tensor_slices(
        (encoded.inputs, {"intent_logits": encoded.intent_ids, "slot_logits": encoded.slot_labels})
    )
    if shuffle:
        dataset = dataset.shuffle(len(encoded), seed=seed, reshuffle_each_iteration=True)
    return dataset.batch(batch_size).prefetch(AUTOTUNE)


# === Decoding and scoring ===========================================================


def decode_and_score(encoded: EncodedNLU, intent_logits: np.ndarray, slot_logits: np.ndarray, intents: Sequence[str],
                     decoder: SlotDecoder) -> tuple[dict, list[str], list[list[str]]]:  # fmt: skip
    """Decodes model outputs to word tags and scores them against the gold examples.

    Returns:
        (metrics from `nlu_metrics.nlu_report`, predicted intents, predicted word tags).
    """
    predicted_intents = [intents[int(i)] for i in np.asarray(intent_logits).argmax(-1)]
    predicted_tags = [decoder.word_tags(slot_logits[i], encoded.word_positions[i]) for i in range(len(encoded))]
    report = nlu_metrics.nlu_report(
        [ex.intent for ex in encoded.examples], predicted_intents, [list(ex.tags) for ex in encoded.examples], predicted_tags
    )
    report["truncated"] = encoded.truncated
    return report, predicted_intents, predicted_tags


def predict_nlu(model, encoded: EncodedNLU, batch_size: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """Runs a Keras joint NLU model over encoded examples; returns (intent logits, slot logits)."""
    predict = inference_function(model)
    intent_logits, slot_logits = [], []
    for start in range(0, len(encoded), batch_size):
        batch = {k: v[start : start + batch_size] for k, v in encoded.inputs.items()}
        outputs = predict(batch)
        intent_logits.append(np.asarray(outputs["intent_logits"], np.float32))
        slot_logits.append(np.asarray(outputs["slot_logits"], np.float32))
    return np.concatenate(intent_logits), np.concatenate(slot_logits)


def decoder_for_model(model) -> SlotDecoder:
    """The slot decoder of a joint NLU model: its `slot_tags`, `slot_decoding` and, for "crf",
    the current potentials of the layer that has `crf_potentials()`."""
    tags = getattr(model, "slot_tags", None)
    if tags is None:
        raise ValueError("The model has no slot_tags; build it with build_joint_nlu_model (or load_nlu_model).")
    decoding = getattr(model, "slot_decoding", "bio")
    if decoding != "crf":
        return SlotDecoder(tags, decoding)
    layers = [layer for layer in model.layers if hasattr(layer, "crf_potentials")]
    if not layers:
        raise ValueError("slot_decoding='crf' but the model has no CRF layer.")
    return SlotDecoder(tags, "crf", *layers[0].crf_potentials())
