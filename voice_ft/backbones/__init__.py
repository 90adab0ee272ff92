"""Pretrained backbones and the readers that bring their weights in offline.

`load_backbone(spec)` (in `loader.py`) is the one entry point; the other modules here read
checkpoints that ship in formats keras-hub has no converter for (GGUF decoders, the
speech_embedding ONNX graph) and turn them into keras-hub presets or Keras models.
"""

from voice_ft.backbones.loader import (
    PACKAGED_CHECKPOINTS,
    Backbone,
    BackboneNotFoundError,
    PackagedCheckpoint,
    load_backbone,
    packaged_checkpoint_path,
)

__all__ = [
    "PACKAGED_CHECKPOINTS",
    "Backbone",
    "BackboneNotFoundError",
    "PackagedCheckpoint",
    "load_backbone",
    "packaged_checkpoint_path",
]
