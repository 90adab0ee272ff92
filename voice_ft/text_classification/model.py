"""Sentence classifiers (intent, sentiment) over a pretrained keras-hub encoder.

sentence embedding (BERT's pooled output, or the mean over tokens for sentence-transformers
checkpoints) -> dropout -> dense(num_labels) logits: the head of `keras_hub.models.BertTextClassifier`,
but as a plain functional model whose inputs are exactly what the phone feeds (`token_ids`,
`padding_mask`, int32, fixed length), so the same graph trains, saves as `.keras` and converts to
TFLite. The model carries its `TextEncoder` (`model.text_encoder`) so `voice_ft.fit` and the
exporter can tokenise raw text the way the model expects.

Given `slot_tags`, the classifier also gets a training-only slot-tagging head
(`voice_ft.text_classification.slot_supervision`): it learns from the slot tags of its training data
and still ships as the same one-output graph.
"""

from __future__ import annotations

from collections.abc import Sequence

import keras

from voice_ft.backbones import Backbone
from voice_ft.backbones.encoder import POOLINGS, backbone_outputs, encoder_inputs, sentence_embedding
from voice_ft.data.text_encoder import TextEncoder
from voice_ft.evaluation.distance_score import EMBEDDING_LAYER
from voice_ft.text_classification.slot_supervision import SLOT_LOSS_WEIGHT, attach_slot_head


def build_text_classifier(
    backbone: Backbone,
    num_labels: int,
    sequence_length: int = 64,
    dropout: float = 0.1,
    name: str = "text_classifier",
    pooling: str = "auto",
    slot_tags: Sequence[str] | None = None,
    slot_loss_weight: float = SLOT_LOSS_WEIGHT,
) -> keras.Model:
    """Builds `{token_ids, padding_mask} -> logits[num_labels]` over a pretrained encoder.

    Args:
        backbone: from `voice_ft.load_backbone`.
        num_labels: number of classes.
        sequence_length: tokens per input, including [CLS] and [SEP].
        dropout: dropout rate before the classification layer.
        name: the model's name.
        pooling: sentence summary fed to the head: "auto" (what the checkpoint was trained
            with: mean for sentence-transformers models like all-MiniLM-L6-v2, else BERT's
            pooler), "pooled", "mean", "cls" or "max".
        slot_tags: the BIO slot tags of the training data, to train with slot supervision
            (`model.slot_supervision`; train with `fit_with_slot_supervision`); None: a plain
            classifier.
        slot_loss_weight: the slot loss's weight beside the intent loss.

    Example:
        >>> backbone = voice_ft.load_backbone("all-minilm-l6-v2")
        >>> model = build_intent_classifier(backbone, num_labels=7, sequence_length=32)
        >>> model.output_shape
        (None, 7)
    """
    if num_labels < 2:
        raise ValueError(f"num_labels must be >= 2, got {num_labels}")
    max_length = backbone.max_sequence_length
    if max_length is not None and sequence_length > max_length:
        raise ValueError(f"sequence_length={sequence_length} exceeds the backbone's {max_length} positions.")
    if pooling not in POOLINGS:
        raise ValueError(f"pooling must be one of {POOLINGS}, got {pooling!r}")
    inputs = encoder_inputs(None)  # any length in training; exported at sequence_length
    pooling = backbone.pooling if pooling == "auto" else pooling
    outputs = backbone_outputs(backbone.model, inputs)
    x = sentence_embedding(outputs, inputs["padding_mask"], pooling)
    if pooling != "pooled" and "pooled_dense" in [layer.name for layer in backbone.model.layers]:
        backbone.model.get_layer("pooled_dense").trainable = False  # unused: no gradient reaches it
    x = keras.layers.Dropout(dropout, name=EMBEDDING_LAYER)(x)  # its input: what the Mahalanobis score reads
    logits = keras.layers.Dense(
        num_labels,
        kernel_initializer=keras.initializers.TruncatedNormal(stddev=0.02),
        dtype="float32",  # keep logits in float32 under mixed precision
        name="logits",
    )(x)
    model = keras.Model(inputs, logits, name=name)
    model.text_encoder = TextEncoder(backbone.tokenizer, sequence_length)
    if slot_tags is not None:
        attach_slot_head(model, outputs["sequence_output"], slot_tags, dropout, slot_loss_weight)
    return model


def build_intent_classifier(backbone: Backbone, num_labels: int, sequence_length: int = 64, dropout: float = 0.1,
                            pooling: str = "auto", slot_tags: Sequence[str] | None = None,
                            slot_loss_weight: float = SLOT_LOSS_WEIGHT) -> keras.Model:  # fmt: skip
    """An intent classifier ("wake me up at seven" -> SetAlarm). See `build_text_classifier`; with
    `slot_tags`, it trains with slot supervision."""
    return build_text_classifier(backbone, num_labels, sequence_length, dropout, name="intent_classifier", pooling=pooling,
                                 slot_tags=slot_tags, slot_loss_weight=slot_loss_weight)  # fmt: skip


def build_sentiment_classifier(backbone: Backbone, num_labels: int, sequence_length: int = 64, dropout: float = 0.1,
                               pooling: str = "auto") -> keras.Model:
    """A sentiment classifier (positive / negative / ...). See `build_text_classifier`."""
    return build_text_classifier(backbone, num_labels, sequence_length, dropout, name="sentiment_classifier", pooling=pooling)
