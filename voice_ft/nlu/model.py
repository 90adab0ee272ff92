"""Joint intent detection and slot filling (JointBERT) over a pretrained keras-hub encoder.

    {token_ids, padding_mask} -> encoder -> pooled output  -> dropout -> Dense -> "intent_logits"
                                         -> sequence output -> dropout -> Dense -> "slot_logits"

One functional model with two named outputs, trained on a weighted sum of the intent
cross-entropy and the slot loss (cross-entropy over the first piece of each word, or a linear-chain
CRF's negative log-likelihood with `crf=True`). The exported graph stays plain builtin ops either way:
the CRF layer is the identity on the emissions and only holds the learned transition scores, which
the decoder (numpy Viterbi, `voice_ft.runtime.slot_alignment.SlotDecoder`) reads from the model or from
the sidecar. Without a CRF, decoding is a Viterbi search over log-softmax scores with invalid BIO
transitions (an `I-x` not after `B-x`/`I-x`) forbidden.

The model carries `text_encoder` (like the text classifiers), `intent_labels`, `slot_tags` and
`slot_decoding`, so `fit_nlu`, `evaluate_nlu` (in `train.py`), `parse` and the exporter need nothing else.
"""

from __future__ import annotations

import os
import pathlib
import weakref
from collections.abc import Sequence

import keras
import numpy as np
import tensorflow as tf

from voice_ft.backbones import Backbone
from voice_ft.backbones.encoder import backbone_outputs, encoder_inputs, pooled_output
from voice_ft.data.labels import LabelVocabulary
from voice_ft.data.text_encoder import TextEncoder
from voice_ft.evaluation import reports
from voice_ft.evaluation.inference import inference_function
from voice_ft.nlu.data import decoder_for_model, wordpiece_for
from voice_ft.runtime.slot_alignment import DECODINGS, OUTSIDE, align_words, parse_result, split_words
from voice_ft.runtime.text_classifier import softmax
from voice_ft.training.saving import load_model, save_model

# === Layers and losses ==============================================================


@keras.saving.register_keras_serializable(package="voice_ft")
class CRFTransitions(keras.layers.Layer):
    """Holds linear-chain CRF scores; the identity on the slot emissions it is applied to.

    The scores are `lr_multiplier * raw weight`: with Adam this moves them `lr_multiplier` times
    faster than the encoder (the usual practice of a larger learning rate for CRF parameters; at a
    fine-tuning rate of 5e-5 zero-initialised transitions would hardly move).

    Args:
        num_tags: number of slot tags.
        lr_multiplier: effective learning-rate factor for the CRF scores.
    """

    def __init__(self, num_tags: int, lr_multiplier: float = 100.0, **kwargs):
        super().__init__(**kwargs)
        self.num_tags = int(num_tags)
        self.lr_multiplier = float(lr_multiplier)

    def build(self, input_shape):
        zeros = keras.initializers.Zeros()
        self.raw_transitions = self.add_weight(shape=(self.num_tags, self.num_tags), initializer=zeros, name="transitions")
        self.raw_start = self.add_weight(shape=(self.num_tags,), initializer=zeros, name="start_transitions")
        self.raw_end = self.add_weight(shape=(self.num_tags,), initializer=zeros, name="end_transitions")

    def call(self, emissions):
        return emissions

    def compute_output_shape(self, input_shape):
        return input_shape

    def potentials(self):
        """(transitions[K, K], start[K], end[K]) as tensors (for the loss)."""
        m = self.lr_multiplier
        return self.raw_transitions * m, self.raw_start * m, self.raw_end * m

    def crf_potentials(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The same as numpy arrays (for decoding and the sidecar)."""
        return tuple(np.asarray(keras.ops.convert_to_numpy(p), np.float64) for p in self.potentials())

    def get_config(self):
        return {**super().get_config(), "num_tags": self.num_tags, "lr_multiplier": self.lr_multiplier}


def crf_negative_log_likelihood(emissions, labels, transitions, start, end):
    """Per-example CRF NLL over the labelled positions (labels >= 0), which need not be contiguous.

    The labelled positions (each word's first piece) are moved to the front in order, then the
    usual forward algorithm runs over them.
    """
    mask = labels >= 0
    order = tf.argsort(tf.cast(tf.logical_not(mask), tf.int32), axis=1, stable=True)
    emissions = tf.gather(tf.cast(emissions, tf.float32), order, batch_dims=1)
    labels = tf.maximum(tf.gather(labels, order, batch_dims=1), 0)
    steps = tf.cast(tf.gather(mask, order, batch_dims=1), tf.float32)  # [B, T], a prefix of ones
    lengths = tf.cast(tf.reduce_sum(steps, axis=1), tf.int32)

    unary = tf.reduce_sum(tf.gather(emissions, labels, batch_dims=2) * steps, axis=1)
    pairs = tf.gather_nd(transitions, tf.stack([labels[:, :-1], labels[:, 1:]], axis=-1))
    binary = tf.reduce_sum(pairs * steps[:, 1:], axis=1)
    last = tf.gather(labels, tf.maximum(lengths - 1, 0), batch_dims=1)
    gold = tf.gather(start, labels[:, 0]) + unary + binary + tf.gather(end, last)

    def forward(alpha, inputs):  # one step of the forward algorithm; padded steps keep alpha
        emission, active = inputs
        step = tf.reduce_logsumexp(alpha[:, :, None] + transitions[None], axis=1) + emission
        return tf.where(active[:, None] > 0, step, alpha)

    alpha = tf.scan(forward, (tf.transpose(emissions[:, 1:], [1, 0, 2]), tf.transpose(steps[:, 1:])),
                    initializer=start[None, :] + emissions[:, 0])[-1]  # fmt: skip
    log_partition = tf.reduce_logsumexp(alpha + end[None, :], axis=1)
    return (log_partition - gold) * tf.cast(lengths > 0, tf.float32)


@keras.saving.register_keras_serializable(package="voice_ft")
class SlotLoss(keras.losses.Loss):
    """Slot loss over labelled positions only (label -1 = ignored), times `weight`.

    Cross-entropy averaged over each utterance's words, or, given `crf_layer`, the CRF negative
    log-likelihood. A loss restored from a saved model has no CRF layer: recompile with
    `joint_nlu_losses(model)` (as `fit_nlu` does) before training it further.
    """

    def __init__(self, weight: float = 1.0, crf: bool = False, crf_layer: CRFTransitions | None = None, name="slot_loss", **kwargs):
        super().__init__(name=name, **kwargs)
        self.weight = float(weight)
        self.crf = bool(crf or crf_layer is not None)
        self.crf_layer = crf_layer

    def call(self, y_true, y_pred):
        labels = tf.cast(y_true, tf.int32)
        if self.crf:
            if self.crf_layer is None:
                raise ValueError("This CRF slot loss was restored without its layer; recompile with joint_nlu_losses(model).")
            return self.weight * crf_negative_log_likelihood(y_pred, labels, *self.crf_layer.potentials())
        mask = tf.cast(labels >= 0, tf.float32)
        per_token = keras.losses.sparse_categorical_crossentropy(tf.maximum(labels, 0), tf.cast(y_pred, tf.float32), from_logits=True)
        per_example = tf.reduce_sum(per_token * mask, axis=1) / tf.maximum(tf.reduce_sum(mask, axis=1), 1.0)
        return self.weight * per_example

    def get_config(self):
        return {**super().get_config(), "weight": self.weight, "crf": self.crf}


@keras.saving.register_keras_serializable(package="voice_ft")
class MaskedTokenAccuracy(keras.metrics.Metric):
    """Accuracy of the argmax tag over labelled positions (label >= 0) only."""

    def __init__(self, name="slot_token_accuracy", **kwargs):
        super().__init__(name=name, **kwargs)
        self.correct = self.add_variable(shape=(), initializer="zeros", name="correct")
        self.count = self.add_variable(shape=(), initializer="zeros", name="count")

    def update_state(self, y_true, y_pred, sample_weight=None):
        labels = tf.cast(y_true, tf.int32)
        mask = tf.cast(labels >= 0, tf.float32)
        right = tf.cast(tf.equal(tf.cast(tf.argmax(y_pred, -1), tf.int32), labels), tf.float32) * mask
        self.correct.assign_add(tf.reduce_sum(right))
        self.count.assign_add(tf.reduce_sum(mask))

    def result(self):
        return self.correct / tf.maximum(self.count, 1.0)

    def reset_state(self):
        self.correct.assign(0.0)
        self.count.assign(0.0)


# === Builder ========================================================================


def build_joint_nlu_model(
    backbone: Backbone,
    intents: Sequence[str],
    slot_tags: Sequence[str],
    crf: bool = False,
    sequence_length: int = 40,
    slot_loss_weight: float = 1.0,
    dropout: float = 0.1,
    decoding: str | None = None,
    crf_lr_multiplier: float = 100.0,
    name: str = "joint_nlu",
) -> keras.Model:
    """Builds `{token_ids, padding_mask} -> {"intent_logits": [N, I], "slot_logits": [N, T, K]}`.

    Args:
        backbone: from `voice_ft.load_backbone` (a BERT-style encoder and its tokenizer).
        intents: intent names, in output order.
        slot_tags: BIO slot tags (including "O"), in output order.
        crf: train the slot head with a linear-chain CRF and decode with its learned transitions.
        sequence_length: tokens per input, including [CLS] and [SEP].
        slot_loss_weight: weight of the slot loss in `intent loss + weight * slot loss`.
        dropout: dropout before both heads.
        decoding: slot decoding, "bio" (default without CRF: constrained Viterbi), "argmax", or
            "crf" (the default, and the only choice, with `crf=True`).
        crf_lr_multiplier: see `CRFTransitions`.
        name: the model's name.

    Example:
        >>> backbone = voice_ft.load_backbone("all-minilm-l6-v2")
        >>> train, val, test, intents, tags = voice_ft.load_nlu("snips")
        >>> model = build_joint_nlu_model(backbone, intents, tags, sequence_length=40)
        >>> fit_nlu(model, train, val, voice_ft.Recipe(epochs=3))
        >>> parse(model, "wake me up at seven am")  # doctest: +SKIP
        {'intent': ..., 'confidence': ..., 'slots': [{'slot': ..., 'value': 'seven am', 'start': 14, 'end': 22}]}
    """
    intents = list(LabelVocabulary(intents))
    slot_tags = list(LabelVocabulary(slot_tags))
    if len(intents) < 2:
        raise ValueError(f"need at least 2 intents, got {intents}")
    if OUTSIDE not in slot_tags:
        raise ValueError(f"slot_tags must include {OUTSIDE!r}")
    decoding = decoding or ("crf" if crf else "bio")
    if decoding not in DECODINGS or (decoding == "crf") != bool(crf):
        raise ValueError(f"decoding={decoding!r} with crf={crf}: use 'crf' exactly when crf=True, else 'bio' or 'argmax'.")
    if slot_loss_weight < 0:
        raise ValueError(f"slot_loss_weight must be >= 0, got {slot_loss_weight}")
    max_length = backbone.max_sequence_length
    if max_length is not None and sequence_length > max_length:
        raise ValueError(f"sequence_length={sequence_length} exceeds the backbone's {max_length} positions.")

    # === Functional model ===
    inputs = encoder_inputs(sequence_length)
    outputs = backbone_outputs(backbone.model, inputs)
    init = keras.initializers.TruncatedNormal(stddev=0.02)
    pooled = keras.layers.Dropout(dropout, name="intent_dropout")(pooled_output(outputs))
    intent_logits = keras.layers.Dense(len(intents), kernel_initializer=init, dtype="float32", name="intent_logits")(pooled)
    sequence = keras.layers.Dropout(dropout, name="slot_dropout")(outputs["sequence_output"])
    slot_logits = keras.layers.Dense(len(slot_tags), kernel_initializer=init, dtype="float32",
                                     name="slot_emissions" if crf else "slot_logits")(sequence)  # fmt: skip
    if crf:
        slot_logits = CRFTransitions(len(slot_tags), crf_lr_multiplier, dtype="float32", name="slot_crf")(slot_logits)
    model = keras.Model(inputs, {"intent_logits": intent_logits, "slot_logits": slot_logits}, name=name)

    # === What the rest of voice_ft reads from the model ===
    model.text_encoder = TextEncoder(backbone.tokenizer, sequence_length)
    _attach(model, intents, slot_tags, decoding, slot_loss_weight)
    return model


def _attach(model, intents, slot_tags, decoding, slot_loss_weight):
    model.intent_labels = list(intents)
    model.slot_tags = list(slot_tags)
    model.slot_decoding = decoding
    model.slot_loss_weight = float(slot_loss_weight)


def crf_layer(model: keras.Model) -> CRFTransitions | None:
    for layer in model.layers:
        if isinstance(layer, CRFTransitions):
            return layer
    return None


def joint_nlu_losses(model: keras.Model) -> dict:
    """`{"intent_logits": cross-entropy, "slot_logits": weighted slot loss}` for `voice_ft.fit`."""
    return {
        "intent_logits": keras.losses.SparseCategoricalCrossentropy(from_logits=True, name="intent_loss"),
        "slot_logits": SlotLoss(getattr(model, "slot_loss_weight", 1.0), crf_layer=crf_layer(model)),
    }


def joint_nlu_metrics() -> dict:
    return {
        "intent_logits": [keras.metrics.SparseCategoricalAccuracy(name="intent_accuracy")],
        "slot_logits": [MaskedTokenAccuracy()],
    }


# === Parsing ======================================================================


_WORDPIECES: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()  # model -> its TF-free WordPiece tokenizer


def parse(model: keras.Model, text: str | Sequence[str]):
    """Intent and slots of `text` (or a list of texts) with a Keras joint NLU model.

    Returns:
        `{"intent", "confidence", "slots": [{"slot", "value", "start", "end"}]}`: `start`/`end` are
        character offsets into `text` (`text[start:end] == value`). The same output as
        `voice_ft.runtime.NLUParser(...).parse(text)` on the exported file.
    """
    if not isinstance(text, str):
        return [parse(model, t) for t in text]
    wordpiece = _WORDPIECES.get(model)
    if wordpiece is None:
        wordpiece = _WORDPIECES[model] = wordpiece_for(model.text_encoder.tokenizer)
    predict = inference_function(model)
    words = split_words(text)
    aligned = align_words(wordpiece, [w for w, _, _ in words], model.text_encoder.sequence_length)
    outputs = predict({"token_ids": aligned.token_ids[None], "padding_mask": aligned.padding_mask[None]})
    tags = decoder_for_model(model).word_tags(np.asarray(outputs["slot_logits"])[0], aligned.word_positions)
    return parse_result(text, words, softmax(np.asarray(outputs["intent_logits"])[0]), model.intent_labels, tags)


# === Saving =========================================================================


def save_nlu_model(model: keras.Model, directory: str | os.PathLike, overwrite: bool = False) -> pathlib.Path:
    """`voice_ft.save_model` plus `slot_labels.txt` and `nlu_model.json` (decoding, slot loss weight)."""
    directory = save_model(model, directory, labels=model.intent_labels, overwrite=overwrite)
    LabelVocabulary(model.slot_tags).save(directory / "slot_labels.txt")
    reports.write_json(directory / "nlu_model.json", {"task": "joint_nlu", "slot_decoding": model.slot_decoding,
                                                  "slot_loss_weight": model.slot_loss_weight})  # fmt: skip
    return directory


def load_nlu_model(directory: str | os.PathLike) -> keras.Model:
    """Restores a model saved by `save_nlu_model`, ready for `parse`, `evaluate_nlu` and export."""
    import json

    directory = pathlib.Path(directory)
    model, intents = load_model(directory)
    config = json.loads((directory / "nlu_model.json").read_text(encoding="utf-8"))
    slot_tags = list(LabelVocabulary.from_file(directory / "slot_labels.txt"))
    _attach(model, intents, slot_tags, config["slot_decoding"], config.get("slot_loss_weight", 1.0))
    return model
