"""A few real FSDD clips as a CSV manifest (path,label,split), for the distributed audio tests."""

from __future__ import annotations

import csv
import pathlib
import shutil

FSDD = pathlib.Path(__file__).resolve().parents[2] / "data" / "fsdd"


def fsdd_manifest(folder: pathlib.Path, digits: str = "012", train: int = 8, held_out: int = 2) -> pathlib.Path:
    """`train` training and `held_out` validation and test clips of each digit, copied into `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    rows, counts = [], {}
    with (FSDD / "manifest.csv").open() as f:
        for row in csv.DictReader(f):
            key = (row["label"], row["split"])
            if row["label"] in digits and counts.get(key, 0) < (train if row["split"] == "train" else held_out):
                counts[key] = counts.get(key, 0) + 1
                name = pathlib.Path(row["path"]).name
                shutil.copy(FSDD / row["path"], folder / name)
                rows.append({"path": name, "label": row["label"], "split": row["split"]})
    manifest = folder / "manifest.csv"
    with manifest.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=["path", "label", "split"])
        writer.writeheader()
        writer.writerows(rows)
    return manifest
