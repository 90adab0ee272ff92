"""`fit`: compile a task model with the recipe and train it with `keras.Model.fit`.

It does only what plain Keras does not: tokenise raw text in the pipeline, apply freezing/LoRA,
build the AdamW + warm-up schedule from the real number of steps, balance classes, and set up
checkpoints/resume/logs. The training loop itself is Keras's, so it keeps Keras's speed.
"""

from __future__ import annotations

import os
import pathlib

import keras
import numpy as np
import tensorflow as tf
from absl import logging

from voice_ft.data.text_pipeline import encode_dataset, is_raw_text, label_counts
from voice_ft.data.tfrecords import DEFAULT_SHUFFLE_BUFFER, read_text_shards
from voice_ft.training.callbacks import RaiseOnInterrupt, standard_callbacks
from voice_ft.training.distribution import global_batch_size, model_strategy, shard_by_data, writer_dir
from voice_ft.training.freezing import apply_trainability, find_backbone, num_transformer_layers
from voice_ft.training.interrupt import TrainingInterrupted, deferred_interrupt
from voice_ft.training.optimizer import build_optimizer
from voice_ft.training.precision import check_model_precision
from voice_ft.training.recipe import Recipe


def fit(
    model: keras.Model,
    train: tf.data.Dataset,
    validation: tf.data.Dataset | None = None,
    recipe: Recipe | None = None,
    run_dir: str | pathlib.Path | None = None,
    loss=None,
    metrics=None,
    callbacks: list | None = None,
    verbose="auto",
) -> keras.callbacks.History:
    """Fine-tunes `model` on `train` with the recipe.

    Args:
        model: a Keras model (e.g. from `voice_ft.build_intent_classifier`).
        train: raw `(text, label)` examples (tokenised here with `model.text_encoder`), the glob
            pattern (or path) of text shards from `voice_ft.data.tfrecords.write_text_shards`
            (streamed: tokenised on the fly, never cached, shuffled through a bounded buffer, for
            data larger than memory), or batched `(x, y)` / `(x, y, sample_weight)` data.
        validation: the same kinds, optional.
        recipe: hyper-parameters; `Recipe()` if None.
        run_dir: where checkpoints, the resume backup, TensorBoard logs and history.csv go.
        loss: defaults to sparse categorical cross-entropy on logits.
        metrics: defaults to accuracy.
        callbacks: extra Keras callbacks.
        verbose: Keras's progress bar setting.

    Returns:
        The Keras `History`.
    """
    recipe = recipe or Recipe()
    strategy = model_strategy(model, recipe.strategy)  # raises if the model was built under another one
    keras.utils.set_random_seed(recipe.seed)
    check_model_precision(model, recipe.mixed_precision)
    train_data = _prepare(model, train, recipe, shuffle=True, strategy=strategy)
    validation_data = _prepare(model, validation, recipe, shuffle=False, strategy=strategy) if validation is not None else None

    with strategy.scope():  # LoRA adapters are new variables: made under the model's strategy
        apply_trainability(model, recipe.freeze_backbone, recipe.freeze_layers, recipe.lora_rank,
                           recipe.freeze_embeddings)
    batches_per_pass = _count_batches(train_data)
    epochs, steps_per_epoch = recipe.schedule(batches_per_pass)
    if recipe.steps is not None:
        train_data = train_data.repeat()  # reshuffled (and re-bucketed) each pass
    backbone = find_backbone(model)
    with strategy.scope():  # the optimizer's and metrics' variables live beside the model's
        optimizer = build_optimizer(
            recipe,
            total_steps=steps_per_epoch * epochs,  # global steps: a step is one global batch
            model=model,
            num_layers=num_transformer_layers(backbone) if backbone is not None else None,
            backbone=backbone,
        )
        model.compile(
            optimizer=optimizer,
            loss=loss or keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            metrics=metrics if metrics is not None else [keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
            jit_compile=recipe.jit_compile,
        )
        build_optimizer_now(model)
    class_weight = _class_weight(recipe.class_weight, train, model)
    with writer_dir(run_dir, strategy) as write_dir:  # only the chief writes into run_dir
        return _fit(model, train_data, validation_data, recipe, run_dir, write_dir, epochs, steps_per_epoch,
                    batches_per_pass, class_weight, callbacks, verbose, strategy)


def _fit(model, train_data, validation_data, recipe, run_dir, write_dir, epochs, steps_per_epoch, batches_per_pass,
         class_weight, callbacks, verbose, strategy):
    all_callbacks = standard_callbacks(recipe, write_dir, validation_data is not None) + list(callbacks or [])
    logging.info(
        "Training %s: %d steps x %d %s (%d batches a pass over the data), %s trainable parameters, %d replica(s).",
        model.name, steps_per_epoch, epochs, "validation intervals" if recipe.steps else "epochs",
        batches_per_pass, f"{_count_params(model.trainable_weights):,}", strategy.num_replicas_in_sync,
    )
    try:
        with deferred_interrupt() as pending:  # Ctrl-C lands at a batch end, never in a finaliser
            return model.fit(
                train_data,
                validation_data=validation_data,
                epochs=epochs,
                steps_per_epoch=steps_per_epoch if recipe.steps is not None else None,
                callbacks=all_callbacks + [RaiseOnInterrupt(pending)],
                class_weight=class_weight,
                shuffle=False,  # the pipeline shuffles
                verbose=verbose,
            )
    except KeyboardInterrupt:
        raise TrainingInterrupted(run_dir) from None


def build_optimizer_now(model: keras.Model) -> None:
    """Creates the compiled optimizer's variables (moments, weight average) before the first step.

    Keras 3.15's TensorFlow trainer builds the optimizer inside the first traced train step when no
    distribution strategy is set (`TensorFlowTrainer._maybe_symbolic_build` defers it), and TensorFlow
    then traces that step a second time, since a `tf.function` that created variables on its first
    call is traced again without creating them. Built here, the step is traced once: a BERT step's
    trace is seconds of a run, and a fine-tuning trial pays it again.
    """
    if model.optimizer is not None and not model.optimizer.built:
        model.optimizer.build(model.trainable_variables)


def _prepare(model, dataset, recipe: Recipe, shuffle: bool, strategy=None) -> tf.data.Dataset:
    streamed = isinstance(dataset, (str, os.PathLike))  # text shards: tokenised on the fly, never cached
    if streamed:
        dataset = read_text_shards(dataset, shuffle_files=shuffle, seed=recipe.seed if shuffle else None)
    if not is_raw_text(dataset):
        return dataset  # batched by the caller: its batch is the global batch
    encoder = getattr(model, "text_encoder", None)
    if encoder is None:
        raise ValueError(
            "fit got raw text but the model has no text_encoder; build it with a voice_ft text builder "
            "or pass batched (token inputs, label) data."
        )
    any_length = all(t.shape[1] is None for t in model.inputs)  # e.g. the text classifiers
    strategy = strategy or tf.distribute.get_strategy()
    # Validation batches are length-bucketed too: a validation pass is then as cheap per sentence as a step.
    encoded = encode_dataset(dataset, encoder, batch_size=global_batch_size(recipe.batch_size, strategy),
                             shuffle=shuffle, seed=recipe.seed, bucket_by_length=any_length, cache=not streamed,
                             shuffle_buffer=DEFAULT_SHUFFLE_BUFFER if streamed else None)  # fmt: skip
    # Every worker shuffles with the same seed and keeps its part of each global batch.
    return shard_by_data(encoded) if strategy.num_replicas_in_sync > 1 else encoded


def _count_batches(dataset: tf.data.Dataset) -> int:
    n = int(dataset.cardinality())
    if n > 0:
        return n
    if n == 0:
        raise ValueError("The training dataset is empty.")
    return sum(1 for _ in dataset)  # unknown cardinality: count once


def _class_weight(setting, raw_train, model: keras.Model):
    if setting is None or isinstance(setting, dict):
        return setting
    if isinstance(raw_train, (str, os.PathLike)):  # text shards: one counting pass over the files
        raw_train = read_text_shards(raw_train)
    num_labels = int(model.output_shape[-1])
    counts = label_counts(raw_train, num_labels).astype(np.float64)
    if np.any(counts == 0):
        missing = np.flatnonzero(counts == 0).tolist()
        raise ValueError(f"class_weight='balanced' but label ids {missing} never occur in the training data.")
    weights = counts.sum() / (num_labels * counts)
    return {i: float(w) for i, w in enumerate(weights)}


def _count_params(weights) -> int:
    return int(sum(np.prod(w.shape) for w in weights))
