"""Training, evaluation and calibration of joint intent + slot models: `fit_nlu`, `evaluate_nlu`, `calibrate_nlu`.

What the shared recipe (`voice_ft.fit`) does not know about this task: the two losses and metrics,
and how `SlotExample`s become batches for the model's own tokenizer and label lists. Out-of-scope
rows (intent id -1, `encode_nlu(..., oos_label=...)`) are left out of training, validation loss
and scores; `calibrate_nlu` uses them to choose the intent head's rejection threshold.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import keras
import tensorflow as tf

from voice_ft.data.nlu_shards import read_nlu_shards
from voice_ft.data.slot_examples import SlotExample
from voice_ft.evaluation.calibration import DEFAULT_BINS, DEFAULT_REJECTION_RATE, Calibration, calibrate_logits
from voice_ft.nlu.data import EncodedNLU, decode_and_score, decoder_for_model, encode_nlu, nlu_dataset, predict_nlu
from voice_ft.nlu.model import joint_nlu_losses, joint_nlu_metrics
from voice_ft.training import Recipe, fit
from voice_ft.training.distribution import batching_for, distribute_batches


def encode_for(model: keras.Model, examples: Sequence[SlotExample], report_truncation: bool = True,
               oos_label: str | None = None) -> EncodedNLU:  # fmt: skip
    """`encode_nlu` with the model's tokenizer, sequence length and label lists."""
    encoder = model.text_encoder
    return encode_nlu(examples, encoder.tokenizer, encoder.sequence_length, model.intent_labels, model.slot_tags,
                      report_truncation=report_truncation, oos_label=oos_label)  # fmt: skip


def _as_dataset(model, data, batch_size: int, shuffle: bool, seed=None):
    if data is None or isinstance(data, tf.data.Dataset):
        return data
    if isinstance(data, (str, os.PathLike)):  # shards from write_nlu_shards, checked against the model here
        return read_nlu_shards(data, batch_size, shuffle=shuffle, seed=seed, sequence_length=model.text_encoder.sequence_length,
                               intents=list(model.intent_labels), slot_tags=list(model.slot_tags))  # fmt: skip
    encoded = data if isinstance(data, EncodedNLU) else encode_for(model, data)
    return nlu_dataset(encoded.in_scope(), batch_size=batch_size, shuffle=shuffle, seed=seed)


def fit_nlu(model: keras.Model, train, validation=None, recipe=None, run_dir=None, callbacks=None, verbose="auto"):
    """`voice_ft.fit` with the joint losses and metrics.

    `train`/`validation` are lists of `SlotExample` (from `load_nlu` or a reader), `EncodedNLU`,
    batched `tf.data` from `nlu_dataset`, or the glob pattern (or path) of TFRecord shards from
    `voice_ft.data.nlu_shards.write_nlu_shards`, streamed (for data larger than memory) and
    checked against the model's sequence length and label lists before training. Examples are batched at `recipe.batch_size` per replica
    of the recipe's strategy (a global batch of batch_size x replicas), as `voice_ft.fit` does.
    """
    recipe = recipe or Recipe()
    if recipe.class_weight is not None:
        raise ValueError("class_weight is not supported for joint NLU models (two outputs).")
    strategy, batch_size = batching_for(model, recipe)  # Recipe.batch_size per replica
    train_data = distribute_batches(_as_dataset(model, train, batch_size, shuffle=True, seed=recipe.seed), strategy)
    validation_data = distribute_batches(_as_dataset(model, validation, batch_size, shuffle=False), strategy)
    return fit(model, train_data, validation_data, recipe=recipe, run_dir=run_dir, loss=joint_nlu_losses(model),
               metrics=joint_nlu_metrics(), callbacks=callbacks, verbose=verbose)  # fmt: skip


def evaluate_nlu(model: keras.Model, data, batch_size: int = 64, return_predictions: bool = False):
    """Intent accuracy, slot F1 (conlleval) and sentence accuracy on `SlotExample`s or `EncodedNLU`.

    Over the in-scope examples (out-of-scope rows of an `EncodedNLU` have no right intent; their
    rejection is measured by `calibrate_nlu` and `export_nlu_tflite`). Unknown intents or slot tags
    in the data raise `DataError` naming the file and line.
    """
    encoded = (data if isinstance(data, EncodedNLU) else encode_for(model, data)).in_scope()
    intent_logits, slot_logits = predict_nlu(model, encoded, batch_size)
    report, intents, tags = decode_and_score(encoded, intent_logits, slot_logits, model.intent_labels, decoder_for_model(model))
    return (report, intents, tags) if return_predictions else report


def calibrate_nlu(model: keras.Model, validation, bins: int = DEFAULT_BINS,
                  target_in_scope_rejection: float | None = DEFAULT_REJECTION_RATE, score: str = "auto",
                  oos_label: str | None = None, batch_size: int = 64) -> Calibration:  # fmt: skip
    """Fits the intent head's temperature and rejection rule on validation utterances.

    The joint model's counterpart of `voice_ft.calibrate`: the intent logits of `validation`
    (`SlotExample`s or `EncodedNLU`) go to `calibrate_logits`. Out-of-scope rows (intent id -1,
    from `encode_nlu(..., oos_label=...)`) then choose the threshold (max in-scope accuracy + OOS
    recall) instead of `target_in_scope_rejection`. When `oos_label` is one of the model's intents
    (an explicit out-of-scope intent trained on negatives, `voice_ft.nlu.negatives`), an utterance
    that intent wins is rejected whatever its score, and the sidecar records it.

    Args:
        model: a joint NLU model (`build_joint_nlu_model`).
        validation: its validation examples.
        bins: equal-width bins for ECE and the reliability diagram.
        target_in_scope_rejection: without OOS rows, the fraction of in-scope validation
            utterances the threshold rejects; None for calibrated confidences only.
        score: "max_softmax", "energy" or "auto" (the better AUROC on OOS rows).
        oos_label: the intent of out-of-scope rows (encoded as -1 when `validation` is
            `SlotExample`s); if the model has that intent, its explicit out-of-scope class.

    Returns:
        A `Calibration`; `export_nlu_tflite(..., calibration=...)` ships it, and `NLUParser` then
        answers `intent=None, not_understood=True` below the threshold.
    """
    encoded = validation if isinstance(validation, EncodedNLU) else encode_for(model, validation, False, oos_label)
    intents = list(model.intent_labels)
    oos_class = intents.index(oos_label) if oos_label is not None and oos_label in intents else None
    intent_logits, _ = predict_nlu(model, encoded, batch_size)
    return calibrate_logits(intent_logits, encoded.intent_ids, bins=bins, score=score,
                            target_in_scope_rejection=target_in_scope_rejection, oos_class=oos_class,
                            oos_label=oos_label if oos_class is not None else None)  # fmt: skip
