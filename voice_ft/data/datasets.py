"""`voice_ft.datasets.load`: the bundled text data sets, your own files, or any TFDS data set.

- Bundled (in the repo's `data/`, read offline): `snips` (intent), `poem_sentiment` (sentiment),
  `goemotions` (4-way sentiment derived from GoEmotions; mixed-sentiment rows dropped), `banking77`
  (77 intents).
- A folder with `train`/`validation`/`test` `.jsonl` or `.csv` files (and optionally labels.txt).
- A grammar (Rhino-style context YAML, e.g. `data/grammars/smart_home.yml`): `from_grammar(path)`
  samples intent + slot sentences from it (`SlotExample`s for the NLU trainer; see
  `voice_ft.data.grammar` and `voice_ft.data.grammar_sampling`), `read_grammar(path)` reads it.
- Any other name goes to `tfds.load(name)` (e.g. `"imdb_reviews"`, if prepared locally, or the
  registered `voice_ft_snips` builders from `voice_ft.data.tfds_builders`).

Every loader returns raw, unbatched `(text, label_id)` datasets plus the label list; the model's
`TextEncoder` tokenises them in the pipeline (see `text_pipeline.encode_dataset`).

Out-of-scope examples (`oos_label="oos"`, bundled sets and folders): rows of the validation and test
splits labelled `oos_label` get label id `OOS_LABEL_ID` (-1) and are not one of the model's labels
(it has no output for them); they choose and measure the "I didn't understand" threshold
(`voice_ft.calibrate`, `export_tflite`). In the training split they are a DataError: the threshold
method learns from in-scope examples only. `text_pipeline.in_scope(dataset)` drops them (for `fit`).
"""

from __future__ import annotations

import os
import pathlib

import tensorflow as tf

from voice_ft.data.bundled import BUNDLED, DEFAULT_TASK, SPLITS, BundledTextDataset, available, data_root  # noqa: F401
from voice_ft.data.grammar import canonical_value, read_grammar  # noqa: F401  (voice_ft.datasets.read_grammar)
from voice_ft.data.grammar_sampling import from_grammar  # noqa: F401  (voice_ft.datasets.from_grammar)
from voice_ft.data.labels import LabelVocabulary
from voice_ft.data.readers import read_text_file
from voice_ft.data.text_pipeline import examples_to_dataset
from voice_ft.runtime.errors import DataError


def load(name: str, task: str | None = None, data_dir: str | os.PathLike | None = None, labels=None,
         oos_label: str | None = None):
    """Loads train/validation/test splits as raw `(text, label_id)` datasets.

    Args:
        name: a bundled data set name, a folder of split files (write `./snips` for a folder
            that shares a bundled set's name), or a TFDS name.
        task: which labels to read for bundled sets (`"intent"`, `"sentiment"`); defaults per set.
        data_dir: overrides where bundled data (or TFDS data) lives.
        labels: a fixed label order (e.g. from a model being fine-tuned further); unknown labels in
            the data are then errors naming file and line.
        oos_label: the label marking out-of-scope rows in validation/test (see the module doc).

    Returns:
        `(train, validation, test, labels)`: three `tf.data.Dataset`s and a list of label names.
    """
    if name in DEFAULT_TASK:
        task = task or DEFAULT_TASK[name]
        if (name, task) not in BUNDLED:
            tasks = [t for n, t in BUNDLED if n == name]
            raise ValueError(f"Data set {name!r} has no task {task!r}; available: {tasks}")
        return load_bundled(BUNDLED[(name, task)], data_dir=data_dir, labels=labels, oos_label=oos_label)
    if pathlib.Path(name).expanduser().is_dir():
        return load_folder(pathlib.Path(name).expanduser(), labels=labels, oos_label=oos_label)
    if oos_label is not None:
        raise ValueError("oos_label is supported for bundled data sets and folders, not TFDS data sets.")
    return load_tfds(name, data_dir=data_dir, labels=labels)


def _check_oos(vocabulary: LabelVocabulary, train_examples, oos_label: str | None, where) -> None:
    """An out-of-scope label must not be a model label nor label a training example."""
    if oos_label is None:
        return
    for ex in train_examples:
        if ex.label == oos_label:
            raise DataError(f"training example labelled oos_label {oos_label!r}: out-of-scope examples belong in "
                            "validation/test only (they choose the rejection threshold)", ex.path, ex.line)  # fmt: skip
    if oos_label in vocabulary.names:
        raise DataError(f"oos_label {oos_label!r} is one of the model's labels; out-of-scope rows have no label "
                        "of their own (remove it from the label list)", where)  # fmt: skip


def load_bundled(spec: BundledTextDataset, data_dir=None, labels=None, oos_label: str | None = None):
    folder = pathlib.Path(data_dir) if data_dir else data_root() / spec.folder
    vocabulary = LabelVocabulary(labels) if labels is not None else LabelVocabulary.from_file(folder / spec.labels_file)
    splits = []
    for split in SPLITS:
        examples = read_text_file(
            folder / f"{split}.jsonl", spec.text_field, spec.label_field, skip_null_labels=spec.skip_null_labels
        )
        if split == "train":
            _check_oos(vocabulary, examples, oos_label, folder)
        splits.append(examples_to_dataset(examples, vocabulary, oos_label))
    return (*splits, list(vocabulary))


def load_folder(folder: pathlib.Path, text_field="text", label_field="label", labels=None, oos_label: str | None = None):
    """Loads `train`/`validation`/`test` files (.jsonl, .csv or .tsv) from a user's folder.

    Labels come from `labels` or `labels.txt` if present, else from the training split (sorted).
    A label the vocabulary lacks (e.g. one only in test) is a DataError naming its file and line; a
    training split with a single label, or two files for one split, is a DataError too. Rows
    labelled `oos_label` in validation/test are out of scope (label id -1; see the module doc).
    """
    files = {}
    for split in SPLITS:
        found = [p for ext in (".jsonl", ".csv", ".tsv") if (p := folder / f"{split}{ext}").exists()]
        if not found:
            raise DataError(f"no {split}.jsonl/.csv/.tsv in the folder", folder)
        if len(found) > 1:
            raise DataError(f"{' and '.join(p.name for p in found)} both hold the {split} split; keep one", folder)
        files[split] = found[0]
    examples = {split: read_text_file(path, text_field, label_field) for split, path in files.items()}
    if labels is not None:
        vocabulary = LabelVocabulary(labels)
    elif (folder / "labels.txt").exists():
        vocabulary = LabelVocabulary.from_file(folder / "labels.txt")
    else:
        vocabulary = LabelVocabulary.from_records(ex.label for ex in examples["train"])
    _check_oos(vocabulary, examples["train"], oos_label, folder)
    train_labels = sorted({ex.label for ex in examples["train"]})
    if len(train_labels) < 2:
        raise DataError(
            f"every training example has the label {train_labels[0]!r}; a classifier needs at least two labels",
            files["train"],
        )
    return (*(examples_to_dataset(examples[s], vocabulary, oos_label) for s in SPLITS), list(vocabulary))


def load_tfds(name: str, data_dir=None, labels=None, text_key: str = "text", label_key: str = "label"):
    """Passes a name through to TFDS and maps its records to `(text, label_id)`.

    Uses the data set's `ClassLabel` names as labels. Missing validation/test splits are an error.
    """
    import tensorflow_datasets as tfds

    from voice_ft.data import tfds_builders  # noqa: F401  registers voice_ft_* builders

    try:
        builder = tfds.builder(name, data_dir=data_dir)
    except Exception as e:  # tfds raises several types for unknown names
        raise ValueError(
            f"{name!r} is neither a bundled data set ({', '.join(available())}), a folder, "
            f"nor a TFDS data set: {e}"
        ) from None
    builder.download_and_prepare()
    features = builder.info.features
    if text_key not in features or label_key not in features:
        raise ValueError(f"TFDS {name!r} has features {list(features)}; expected {text_key!r} and {label_key!r}.")
    names = features[label_key].names
    if labels is not None:
        LabelVocabulary(labels).check_matches(names, what=f"TFDS data set {name!r}")
    available_splits = list(builder.info.splits)
    wanted = [s for s in SPLITS if s in available_splits]
    if len(wanted) < 3:
        raise ValueError(f"TFDS {name!r} has splits {available_splits}; voice_ft needs train, validation and test.")
    datasets = [
        builder.as_dataset(split=s).map(lambda r: (r[text_key], tf.cast(r[label_key], tf.int32))) for s in wanted
    ]
    return (*datasets, list(names))
