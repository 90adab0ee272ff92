"""TFDS builders for the bundled text data sets, prepared offline from the repo's `data/`.

Importing this module registers `voice_ft_snips`, `voice_ft_poem_sentiment`,
`voice_ft_goemotions` and `voice_ft_banking77`, so `tfds.load("voice_ft_snips", data_dir=...)` works
with no network.
Each record has `text` (Text) and `label` (ClassLabel); SNIPS also carries `tokens`/`slots`.
"""

from __future__ import annotations

import tensorflow_datasets as tfds

from voice_ft.data.bundled import BUNDLED, data_root
from voice_ft.data.labels import LabelVocabulary
from voice_ft.data.readers import iter_jsonl


class _BundledTextBuilder(tfds.core.GeneratorBasedBuilder):
    """Shared logic: read `data/<folder>/<split>.jsonl`, keep rows with a label."""

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "Bundled copy of the data in the voice_ft repository."}
    BUNDLE_KEY: tuple[str, str]

    @classmethod
    def _spec(cls):
        return BUNDLED[cls.BUNDLE_KEY]

    def _info(self) -> tfds.core.DatasetInfo:
        spec = self._spec()
        labels = LabelVocabulary.from_file(data_root() / spec.folder / spec.labels_file)
        return self.dataset_info_from_configs(
            description=spec.description,
            features=tfds.features.FeaturesDict(
                {"id": tfds.features.Text(), "text": tfds.features.Text(), "label": tfds.features.ClassLabel(names=list(labels))}
            ),
            supervised_keys=("text", "label"),
        )

    def _split_generators(self, dl_manager):
        folder = data_root() / self._spec().folder
        return {split: self._generate_examples(folder / f"{split}.jsonl") for split in ("train", "validation", "test")}

    def _generate_examples(self, path):
        spec = self._spec()
        for line_no, record in iter_jsonl(path):
            label = record.get(spec.label_field)
            if label is None:
                continue
            key = record.get("id", f"{path.stem}-{line_no}")
            yield key, {"id": key, "text": record[spec.text_field], "label": label}


class VoiceFtSnips(_BundledTextBuilder):
    """SNIPS intents (7 classes), from data/snips."""

    BUNDLE_KEY = ("snips", "intent")


class VoiceFtPoemSentiment(_BundledTextBuilder):
    """Poem sentiment (4 classes), from data/poem_sentiment."""

    BUNDLE_KEY = ("poem_sentiment", "sentiment")


class VoiceFtGoemotions(_BundledTextBuilder):
    """GoEmotions 4-way sentiment (mixed rows dropped), from data/goemotions."""

    BUNDLE_KEY = ("goemotions", "sentiment")


class VoiceFtBanking77(_BundledTextBuilder):
    """BANKING77 (77 intents), from data/banking77."""

    BUNDLE_KEY = ("banking77", "intent")
