"""A fix for `model.fit` under `MultiWorkerMirroredStrategy` on Keras 3.15 (TensorFlow backend).

Upstream-style report (keras 3.15.1, tensorflow 2.21.0, two workers on one host, one CPU replica each):

    Keras's TF trainer fails under MultiWorkerMirroredStrategy in two places of
    keras/src/backend/tensorflow/trainer.py:
    1. `TensorFlowTrainer._maybe_symbolic_build` takes the first distributed batch and calls
       `strategy.reduce("MEAN", batch, axis=None)` to get one batch to build the model from. Under
       multi-worker that is a cross-worker all-reduce of the whole input structure (a dict of int32
       token ids and masks here): it averages integer token ids, and it is a collective that every
       worker must reach in the same order. It also opens an iterator over the training data just
       for that batch: a dataset shuffled with `reshuffle_each_iteration=True` then trains epoch k
       on the order a single process sees in epoch k+1. Building needs only shapes and dtypes,
       which the dataset's `element_spec` has (`_symbolic_build` turns each spec into a
       KerasTensor), so the fix builds from it: no collective, no data read.
    2. `reduce_per_replica(..., reduction="mean")` calls `strategy.reduce("MEAN", v, axis=0)` for every
       value under multi-worker; the train step's logs are scalars (loss, metric results), and a
       reduction over axis 0 of a scalar fails. Scalars need `axis=None` (the mean across replicas).
    Expected: both workers train in sync, as they do with these two changes.

`apply_keras_multi_worker_fix()` installs exactly these two changes, only on the Keras versions
listed in `FIXED_FOR` (on any other version it does nothing: re-check there, and extend the list
or delete this module when Keras fixes it). Both changes act only in multi-worker mode; single
process and `MirroredStrategy` runs take Keras's own code.
"""

from __future__ import annotations

import keras
import tensorflow as tf

FIXED_FOR = ("3.15.",)  # Keras versions this fix was written and tested for

_applied = False


def keras_needs_fix(version: str | None = None) -> bool:
    """True on the Keras versions the fix is for."""
    version = version or keras.__version__
    return version.startswith(FIXED_FOR)


def apply_keras_multi_worker_fix() -> bool:
    """Installs the Keras 3.15 multi-worker fix once; returns whether it is active."""
    global _applied
    if _applied or not keras_needs_fix():
        return _applied
    from keras.src.backend.tensorflow import trainer as tf_trainer

    original_build = tf_trainer.TensorFlowTrainer._maybe_symbolic_build
    original_reduce = tf_trainer.reduce_per_replica

    def _maybe_symbolic_build(self, iterator=None, data_batch=None):
        strategy = self._distribute_strategy
        if strategy is None or iterator is None or not _multi_worker(strategy):
            return original_build(self, iterator=iterator, data_batch=data_batch)
        with strategy.scope():
            self._symbolic_build(data_batch=iterator.data_adapter.get_tf_dataset().element_spec)

    def reduce_per_replica(values, strategy, reduction):
        if not _multi_worker(strategy) or reduction not in ("auto", "mean"):
            return original_reduce(values, strategy, reduction)

        def reduce(v):
            axis = None if _local(v, strategy).shape.rank == 0 else 0
            return strategy.reduce("MEAN", v, axis=axis)

        return tf.nest.map_structure(reduce, values)

    tf_trainer.TensorFlowTrainer._maybe_symbolic_build = _maybe_symbolic_build
    tf_trainer.reduce_per_replica = reduce_per_replica
    _applied = True
    return True


def _multi_worker(strategy) -> bool:
    return isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy) and strategy.extended._in_multi_worker_mode()


def _local(value, strategy):
    if isinstance(value, tf.distribute.DistributedValues):
        return strategy.experimental_local_results(value)[0]
    return value
