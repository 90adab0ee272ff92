"""Slot supervision: an intent classifier that learns from the slot tags its training data carries.

Intent data often comes tagged (SNIPS, data made by `voice_ft.datasets.from_grammar`, any folder that
`voice_ft.load_nlu` reads). The tags say which words are a film, a playlist or a city, and that is what
tells the intents the plain classifier confuses apart: most of SNIPS's remaining errors are a bare title
("find heat wave") taken for a book rather than a film showing now, and SNIPS tags film titles
`movie_name` (SearchScreeningEvent) but books and albums `object_name` (SearchCreativeWork).

So while it trains, the classifier gets a second head that tags each word (a dense layer over the
encoder's token outputs, JointBERT's slot head) and the loss is

    intent cross-entropy + SLOT_LOSS_WEIGHT * slot cross-entropy (each word's first piece)

The head exists only in training: the classifier keeps its one output and its graph, so evaluation,
calibration, saving and the exported `.tflite` are exactly those of a plain classifier. The training
model with both outputs shares every layer with the classifier and travels with it as
`model.slot_supervision` (a plain attribute, not a tracked layer, so it is not saved with it).

The head learns its tags from nothing, so a slot-supervised run wants more steps than a plain one:
the trainers choose its recipe with `voice_ft.training.auto_recipe.choose_text_classifier_recipe`.

    model = build_intent_classifier(backbone, num_labels=7, slot_tags=slot_tags)
    fit_with_slot_supervision(model, train_examples, validation_examples, intents, recipe=recipe)
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import keras
import tensorflow as tf

from voice_ft.data.slot_examples import SlotExample
from voice_ft.data.text_pipeline import length_bucketed_batches
from voice_ft.nlu.data import encode_nlu, load_nlu
from voice_ft.nlu.model import SlotLoss
from voice_ft.runtime.slot_alignment import OUTSIDE, split_words
from voice_ft.training import Recipe, fit
from voice_ft.training.distribution import batching_for, distribute_batches

# Weight of the slot loss beside the intent loss (JointBERT's 1.0; all-MiniLM-L6-v2 on SNIPS:
# bench/README.md, "SNIPS with slot supervision").
SLOT_LOSS_WEIGHT = 1.0
INTENT_OUTPUT = "logits"  # the classifier's output layer, and the training model's intent output
SLOT_OUTPUT = "slot_logits"


@dataclasses.dataclass(frozen=True, eq=False)
class SlotSupervision:
    """What a classifier built with `slot_tags` trains through.

    Attributes:
        training_model: `{token_ids, padding_mask} -> {"logits", "slot_logits"}`, sharing its
            layers with the classifier.
        slot_tags: the BIO tags of the slot head, in output order.
        loss_weight: the slot loss's weight beside the intent loss.
    """

    training_model: keras.Model
    slot_tags: tuple[str, ...]
    loss_weight: float


def attach_slot_head(classifier: keras.Model, token_outputs, slot_tags: Sequence[str], dropout: float,
                     loss_weight: float = SLOT_LOSS_WEIGHT) -> None:  # fmt: skip
    """Builds the training-only slot head over `token_outputs` (the encoder's sequence output inside
    `classifier`'s graph) and attaches `classifier.slot_supervision`."""
    slot_tags = tuple(slot_tags)
    if OUTSIDE not in slot_tags or len(set(slot_tags)) != len(slot_tags):
        raise ValueError(f"slot_tags must be distinct BIO tags including 'O', got {list(slot_tags)[:8]}...")
    if loss_weight <= 0:
        raise ValueError(f"slot loss_weight must be > 0, got {loss_weight}")
    x = keras.layers.Dropout(dropout, name="slot_dropout")(token_outputs)
    slot_logits = keras.layers.Dense(len(slot_tags), kernel_initializer=keras.initializers.TruncatedNormal(stddev=0.02),
                                     dtype="float32", name=SLOT_OUTPUT)(x)  # fmt: skip
    training_model = keras.Model(classifier.inputs, {INTENT_OUTPUT: classifier.outputs[0], SLOT_OUTPUT: slot_logits},
                                 name=f"{classifier.name}_with_slot_head")  # fmt: skip
    training_model.text_encoder = classifier.text_encoder
    classifier.slot_supervision = SlotSupervision(training_model, slot_tags, float(loss_weight))


def slot_supervised_batches(model: keras.Model, examples: Sequence[SlotExample], labels: Sequence[str],
                            batch_size: int, shuffle: bool = False, seed: int | None = None) -> tf.data.Dataset:  # fmt: skip
    """`({token_ids, padding_mask}, {"logits": intent id, "slot_logits": tag ids})` batches for the
    training model, length-bucketed like the classifier's own text batches.

    Words are tokenised one by one (`encode_nlu`: each word's tag on its first piece, -1 on the
    others); for text whose words are separated by spaces this gives the same ids as the classifier's
    tokenizer on the sentence. An intent or tag the model does not know is a `DataError` naming the
    file and line.
    """
    supervision = _supervision(model)
    encoder = model.text_encoder
    encoded = encode_nlu(examples, encoder.tokenizer, encoder.sequence_length, list(labels), list(supervision.slot_tags))
    dataset = tf.data.Dataset.from_tensor_slices(
        (encoded.inputs, {INTENT_OUTPUT: encoded.intent_ids, SLOT_OUTPUT: encoded.slot_labels})
    ).cache()
    if shuffle:
        dataset = dataset.shuffle(len(encoded), seed=seed, reshuffle_each_iteration=True)
    return length_bucketed_batches(dataset, encoder.sequence_length, batch_size, seed=seed).prefetch(tf.data.AUTOTUNE)


def fit_with_slot_supervision(model: keras.Model, train: Sequence[SlotExample], validation: Sequence[SlotExample] | None,
                              labels: Sequence[str], recipe: Recipe | None = None, run_dir=None, callbacks=None,
                              verbose="auto") -> keras.callbacks.History:  # fmt: skip
    """`voice_ft.fit` of a classifier built with `slot_tags`, through its training model.

    Args:
        model: from `build_intent_classifier(..., slot_tags=...)`.
        train, validation: `SlotExample`s (from `voice_ft.load_nlu` or a slot reader).
        labels: the classifier's labels, in output order (each example's intent is one of them).
        recipe, run_dir, callbacks, verbose: as for `voice_ft.fit`; validation loss, early stopping
            and the best checkpoint count both losses.

    Returns:
        The Keras `History` (`logits_accuracy`, `val_logits_accuracy`, both losses). The classifier
        itself holds the trained (and, with the recipe's weight average, averaged) weights.
    """
    supervision = _supervision(model)
    recipe = recipe or Recipe()
    if recipe.class_weight is not None:
        raise ValueError("class_weight is not supported with slot supervision (two outputs); "
                         "train without slot_tags to balance classes.")  # fmt: skip
    training_model = supervision.training_model
    strategy, batch_size = batching_for(training_model, recipe)
    train_data = slot_supervised_batches(model, train, labels, batch_size, shuffle=True, seed=recipe.seed)
    validation_data = slot_supervised_batches(model, validation, labels, batch_size) if validation else None
    metrics = {INTENT_OUTPUT: [keras.metrics.SparseCategoricalAccuracy(name="accuracy")]}
    return fit(training_model, distribute_batches(train_data, strategy), distribute_batches(validation_data, strategy),
               recipe=recipe, run_dir=run_dir, loss=slot_supervised_losses(model), metrics=metrics,
               callbacks=callbacks, verbose=verbose)  # fmt: skip


def slot_supervised_losses(model: keras.Model) -> dict:
    """The training model's losses, by output: the intent cross-entropy, and the slot loss (over each
    word's first piece) at the supervision's weight."""
    supervision = _supervision(model)
    return {INTENT_OUTPUT: keras.losses.SparseCategoricalCrossentropy(from_logits=True, name="intent_loss"),
            SLOT_OUTPUT: SlotLoss(supervision.loss_weight)}  # fmt: skip


def _supervision(model: keras.Model) -> SlotSupervision:
    supervision = getattr(model, "slot_supervision", None)
    if supervision is None:
        raise ValueError("The model has no slot head: build it with slot_tags=... "
                         "(e.g. build_intent_classifier(backbone, num_labels, slot_tags=slot_tags)).")  # fmt: skip
    return supervision


@dataclasses.dataclass(frozen=True)
class SlotData:
    """A data set's slot-tagged training and validation examples, and its slot tags."""

    train: list[SlotExample]
    validation: list[SlotExample]
    slot_tags: list[str]


def load_slot_data(data: str, labels: Sequence[str], oos_label: str | None = None,
                   train_limit: int | None = None) -> SlotData:  # fmt: skip
    """The slot-tagged train/validation examples of `data` (a bundled set or a folder, as
    `voice_ft.load_nlu` reads them), for a classifier with `labels`.

    Out-of-scope validation rows (`oos_label`) are left out: they choose the rejection threshold,
    not the weights. Raises `DataError` (naming the file and line) or `ValueError` when `data` has
    no slot tags or an intent outside `labels`.
    """
    in_scope = [label for label in labels if label != oos_label]
    train, validation, _, _, slot_tags = load_nlu(data, intents=in_scope, oos_label=oos_label)
    if train_limit:
        train = train[:train_limit]
    return SlotData(list(train), [ex for ex in validation if ex.intent != oos_label], list(slot_tags))


def untagged_examples(texts: Sequence[str], intent: str, source: str) -> list[SlotExample]:
    """`texts` (e.g. out-of-scope negatives) as examples of `intent` with every word tagged "O"."""
    examples = []
    for line, text in enumerate(texts, start=1):
        words = [word for word, _, _ in split_words(text)]
        if words:
            examples.append(SlotExample(tuple(words), (OUTSIDE,) * len(words), intent, source, line))
    return examples
