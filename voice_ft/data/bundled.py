"""The catalogue of text data sets bundled in the repo's `data/` folder, and where that folder is.

Read by `voice_ft.datasets.load` and by the TFDS builders alike, so neither imports the other.
"""

from __future__ import annotations

import dataclasses
import os
import pathlib

SPLITS = ("train", "validation", "test")


def data_root() -> pathlib.Path:
    """Where the bundled data sets live: `$VOICE_FT_DATA_DIR`, else the repo's `data/` folder."""
    env = os.environ.get("VOICE_FT_DATA_DIR")
    return pathlib.Path(env) if env else pathlib.Path(__file__).resolve().parents[2] / "data"


@dataclasses.dataclass(frozen=True)
class BundledTextDataset:
    """A text classification data set shipped in `data/<folder>/` as JSONL splits + labels.txt."""

    folder: str
    label_field: str
    text_field: str = "text"
    labels_file: str = "labels.txt"
    skip_null_labels: bool = False
    description: str = ""


BUNDLED = {
    ("snips", "intent"): BundledTextDataset("snips", "intent", description="SNIPS, 7 intents (CC0)"),
    ("poem_sentiment", "sentiment"): BundledTextDataset("poem_sentiment", "label", description="Poem sentiment, 4 labels (CC BY 4.0)"),
    ("goemotions", "sentiment"): BundledTextDataset(
        "goemotions", "sentiment", skip_null_labels=True,
        description="GoEmotions grouped into positive/negative/ambiguous/neutral (Apache-2.0)",
    ),
    ("banking77", "intent"): BundledTextDataset("banking77", "label", description="BANKING77, 77 banking intents (CC BY 4.0)"),
}
DEFAULT_TASK = {"snips": "intent", "poem_sentiment": "sentiment", "goemotions": "sentiment", "banking77": "intent"}


def available() -> list[str]:
    """Names of the bundled data sets, as `name:task`."""
    return [f"{name}:{task}" for name, task in BUNDLED]
