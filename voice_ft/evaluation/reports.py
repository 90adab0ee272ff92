"""Run reports: metrics.json and the confusion-matrix, training-curve and reliability PNGs, each written atomically."""

from __future__ import annotations

import json
import os
import pathlib

import numpy as np

from voice_ft.data.files import atomic_output, write_text_atomic


def write_json(path: str | os.PathLike, data: dict) -> None:
    write_text_atomic(path, json.dumps(data, indent=2, default=_jsonable) + "\n")


def _jsonable(value):
    if isinstance(value, (np.integer, np.floating)):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, pathlib.Path):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def plot_confusion_matrix(matrix, labels, path: str | os.PathLike, title: str = "Confusion matrix (test)") -> None:
    """Row-normalised confusion matrix with counts in the cells."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    matrix = np.asarray(matrix)
    rates = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1)
    size = max(4.0, 0.6 * len(labels) + 2)
    fig, ax = plt.subplots(figsize=(size + 1, size))
    image = ax.imshow(rates, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(labels)), labels, rotation=45, ha="right")
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    if len(labels) <= 30:
        for i in range(len(labels)):
            for j in range(len(labels)):
                if matrix[i, j]:
                    ax.text(j, i, str(matrix[i, j]), ha="center", va="center", fontsize=7,
                            color="white" if rates[i, j] > 0.5 else "black")
    fig.colorbar(image, ax=ax, fraction=0.046)
    fig.tight_layout()
    with atomic_output(path) as partial:
        fig.savefig(partial, dpi=120)
    plt.close(fig)


def plot_training_curves(history: dict, path: str | os.PathLike, metrics=(("loss", "loss"), ("accuracy", "accuracy"))) -> None:
    """One panel per `(history key, title)` present in `history`: training and validation per epoch."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [(key, title) for key, title in metrics if key in history]
    fig, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 3.5), squeeze=False)
    for ax, (key, title) in zip(axes[0], panels):
        epochs = np.arange(1, len(history[key]) + 1)
        ax.plot(epochs, history[key], marker="o", label="train")
        if f"val_{key}" in history:
            ax.plot(epochs, history[f"val_{key}"], marker="o", label="validation")
        ax.set_xlabel("epoch")
        ax.set_title(title)
        ax.legend()
        ax.grid(alpha=0.3)
    fig.tight_layout()
    with atomic_output(path) as partial:
        fig.savefig(partial, dpi=120)
    plt.close(fig)


def plot_reliability_diagram(report: dict, path: str | os.PathLike, title: str = "Reliability (validation)") -> None:
    """Accuracy against confidence per bin, before and after temperature scaling, with the diagonal.

    `report` is `Calibration.report` (its `reliability_before`/`_after` tables, ECEs, temperature).
    A calibrated model's bars follow the diagonal; bars below it mean over-confidence.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4.2), sharey=True)
    panels = [("reliability_before", f"before (T = 1): ECE {report['ece_before']:.3f}"),
              ("reliability_after", f"after (T = {report['temperature']:.2f}): ECE {report['ece_after']:.3f}")]  # fmt: skip
    for ax, (key, subtitle) in zip(axes, panels):
        table = report[key]
        lower, upper = np.asarray(table["lower"]), np.asarray(table["upper"])
        count = np.asarray(table["count"])
        accuracy = np.where(count > 0, np.asarray(table["accuracy"]), 0.0)
        confidence = np.where(count > 0, np.asarray(table["confidence"]), (lower + upper) / 2)
        ax.bar(lower, accuracy, width=upper - lower, align="edge", edgecolor="black", alpha=0.8, label="accuracy")
        ax.bar(lower, confidence - accuracy, bottom=accuracy, width=upper - lower, align="edge", color="red",
               alpha=0.25, label="gap to confidence")  # fmt: skip
        ax.plot([0, 1], [0, 1], "k--", linewidth=1)
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.set_xlabel("confidence")
        ax.set_title(subtitle)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("accuracy")
    axes[0].legend(loc="upper left")
    fig.suptitle(title)
    fig.tight_layout()
    with atomic_output(path) as partial:
        fig.savefig(partial, dpi=120)
    plt.close(fig)
