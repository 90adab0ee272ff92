"""Freezing and LoRA on the keras-hub backbone inside a task model."""

from __future__ import annotations

import keras
import keras_hub


def find_backbone(model: keras.Model) -> keras_hub.models.Backbone | None:
    """The keras-hub Backbone layer inside a task model (or the model itself), if any."""
    if isinstance(model, keras_hub.models.Backbone):
        return model
    for layer in model.layers:
        if isinstance(layer, keras_hub.models.Backbone):
            return layer
    return None


def num_transformer_layers(backbone: keras.Model) -> int:
    """How many transformer blocks a keras-hub backbone has."""
    layers = getattr(backbone, "transformer_layers", None)
    if layers is not None:
        return len(layers)
    return int(getattr(backbone, "num_layers", 0))


def freeze_bottom_layers(backbone: keras_hub.models.Backbone, num_frozen: int) -> None:
    """Freezes the embeddings and the first `num_frozen` transformer layers."""
    total = num_transformer_layers(backbone)
    if num_frozen > total:
        raise ValueError(f"freeze_layers={num_frozen} but the backbone has only {total} transformer layers.")
    for layer in backbone.layers:
        if "embedding" in layer.name:
            layer.trainable = False
    for layer in backbone.transformer_layers[:num_frozen]:
        layer.trainable = False


def freeze_token_embedding(backbone: keras_hub.models.Backbone) -> None:
    """Freezes the backbone's token-embedding table (`Recipe.freeze_embeddings`)."""
    table = getattr(backbone, "token_embedding", None)
    if table is None:
        raise ValueError(f"freeze_embeddings: {type(backbone).__name__} has no token_embedding layer.")
    table.trainable = False


def apply_trainability(model: keras.Model, freeze_backbone=False, freeze_layers=0, lora_rank=None,
                       freeze_embeddings=False) -> None:
    """Applies the recipe's freezing/LoRA choice to the model's backbone (the head stays trainable)."""
    if not (freeze_backbone or freeze_layers or lora_rank or freeze_embeddings):
        return
    backbone = find_backbone(model)
    if backbone is None:
        raise ValueError("freezing/LoRA need a keras-hub backbone inside the model; none was found.")
    if freeze_embeddings:
        freeze_token_embedding(backbone)
    if freeze_backbone:
        backbone.trainable = False
    elif freeze_layers:
        freeze_bottom_layers(backbone, freeze_layers)
    elif lora_rank:
        if not getattr(backbone, "_lora_enabled_layers", None):
            backbone.enable_lora(lora_rank)
