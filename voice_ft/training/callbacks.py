"""The recipe's callbacks: best checkpoint, resume after interruption, early stopping, weight
averaging, logs."""

from __future__ import annotations

import os
import pathlib
import threading

import keras

from voice_ft.training.recipe import Recipe


def standard_callbacks(recipe: Recipe, run_dir: str | pathlib.Path | None, has_validation: bool) -> list[keras.callbacks.Callback]:
    """Builds the callbacks for one `fit` call, in the order Keras must run them.

    With a run directory:
      - `backup/`: `BackupAndRestore`, so re-running an interrupted `fit` resumes at its last epoch;
        with `double_checkpoint`, a backup cut short by a kill falls back to the one before it;
      - `checkpoints/best.weights.h5`: best weights by validation loss (or training loss), written
        to a temporary name and renamed (`AtomicModelCheckpoint`);
      - `logs/`: TensorBoard; `history.csv`: one row of metrics per epoch.
    Early stopping (with the best weights restored) whenever the recipe sets a patience.

    With `recipe.ema_momentum`, Keras's `SwapEMAWeights` puts the averaged weights in the model for
    validation and at each epoch end, so early stopping and the best checkpoint judge and keep the
    averaged weights, and `fit` ends with them. The backup runs before the swap: it stores the raw
    weights and the optimizer's averages as they are, so a resumed run goes on from the raw weights
    with its averages intact.
    """
    monitor = "val_loss" if has_validation else "loss"
    run_dir = pathlib.Path(run_dir) if run_dir is not None else None
    callbacks: list[keras.callbacks.Callback] = []
    if run_dir is not None:
        callbacks.append(keras.callbacks.BackupAndRestore(str(run_dir / "backup"), double_checkpoint=True, delete_checkpoint=True))
    if recipe.ema_momentum is not None:
        callbacks.append(keras.callbacks.SwapEMAWeights(swap_on_epoch=True))
    if recipe.early_stopping_patience is not None:
        callbacks.append(
            keras.callbacks.EarlyStopping(monitor=monitor, patience=recipe.early_stopping_patience, restore_best_weights=True)
        )
    if run_dir is None:
        return callbacks
    (run_dir / "checkpoints").mkdir(parents=True, exist_ok=True)
    callbacks += [
        AtomicModelCheckpoint(
            run_dir / "checkpoints" / "best.weights.h5", monitor=monitor, save_best_only=True, save_weights_only=True
        ),
        keras.callbacks.TensorBoard(str(run_dir / "logs"), update_freq="epoch", profile_batch=0),
        keras.callbacks.CSVLogger(str(run_dir / "history.csv"), append=True),
    ]
    return callbacks


class AtomicModelCheckpoint(keras.callbacks.ModelCheckpoint):
    """`ModelCheckpoint` (per epoch) that saves to `.partial-<name>` and renames it onto `filepath`.

    Keras writes the checkpoint in place, so a run killed while saving would leave a corrupt best
    checkpoint; here the final name only ever holds a complete file.
    """

    def __init__(self, filepath: str | os.PathLike, **kwargs):
        self.final_path = pathlib.Path(filepath)
        if kwargs.get("save_freq", "epoch") != "epoch":
            raise ValueError("AtomicModelCheckpoint saves once per epoch (save_freq='epoch').")
        super().__init__(str(self.final_path.with_name(f".partial-{self.final_path.name}")), **kwargs)

    def on_epoch_end(self, epoch, logs=None):
        super().on_epoch_end(epoch, logs)
        partial = pathlib.Path(self.filepath)
        if partial.exists():
            os.replace(partial, self.final_path)


class RaiseOnInterrupt(keras.callbacks.Callback):
    """Raises `KeyboardInterrupt` at the next batch or epoch end once `pending` is set."""

    def __init__(self, pending: threading.Event):
        super().__init__()
        self.pending = pending

    def _check(self, *args, **kwargs):
        if self.pending.is_set():
            raise KeyboardInterrupt

    on_train_batch_end = on_test_batch_end = on_epoch_end = _check
