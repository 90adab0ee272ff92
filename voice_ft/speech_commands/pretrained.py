"""Speech-command classifiers on Google's pretrained speech_embedding (`voice_ft.backbones.speech_embedding`).

Two ways to use it: its first convolutions as the stem of a small DS-CNN that fits a phone's
keyword-spotting budget (`build_speech_embedding_dscnn`), or the whole encoder, frozen, under a small
convolutional head (`build_speech_embedding_classifier`), e.g. as a distillation teacher.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from voice_ft.backbones.speech_embedding import (
    EMBEDDING_DIM,
    load_speech_embedding,
    load_speech_embedding_stem,
    waveform_and_mel,  # fmt: skip
)
from voice_ft.layers.speech_embedding_mel import SAMPLE_RATE
from voice_ft.speech_commands.model import EMBEDDING_LAYER, batch_norm, depthwise_separable_block
from voice_ft.training import Recipe, fit


def build_speech_embedding_dscnn(
    num_classes: int,
    clip_seconds: float = 1.0,
    stem_layer: str = "pool_6",
    filters: int = 64,
    num_blocks: int = 3,
    dropout: float = 0.2,
    trainable_stem: bool = True,
    name: str = "speech_embedding_dscnn",
) -> keras.Model:
    """A small on-device classifier on a pretrained stem: waveform (16 kHz) -> speech_embedding's mel
    front end -> its first convolutions (`load_speech_embedding_stem`) -> DS-CNN blocks -> logits.

    The whole speech_embedding (328K parameters) is too big for a 150 KB int8 file; its first seven
    convolutions (28K) are not, and they carry what it learnt from far more speakers than a small data
    set has. On FSDD's unseen speaker this beats the same-size DS-CNN trained from scratch (figures in
    bench/README.md). The stem is fine-tuned with the blocks by default (`trainable_stem`); the mel
    front end stays float in the int8 export like every front end. Feed clips centred in silence
    (`pad="center"`), as for `build_speech_embedding_classifier`.

    Example:
        >>> model = build_speech_embedding_dscnn(10)
        >>> model(np.zeros((1, 16000), "float32")).shape
        TensorShape([1, 10])
    """
    waveform, mel = waveform_and_mel(int(round(SAMPLE_RATE * clip_seconds)))
    x = load_speech_embedding_stem(stem_layer, trainable=trainable_stem)(mel)
    x = batch_norm("stem_bn")(x)
    for i in range(1, num_blocks + 1):
        x = depthwise_separable_block(x, filters, str(i))
    x = keras.layers.GlobalAveragePooling2D(name=EMBEDDING_LAYER)(x)
    x = keras.layers.Dropout(dropout, name="dropout")(x)
    return keras.Model(waveform, keras.layers.Dense(num_classes, name="logits")(x), name=name)


def build_embedding_head(
    num_classes: int, steps: int | None = None, hidden: int = 128, dropout: float = 0.3, name: str = "head"
) -> keras.Model:
    """A small classifier over an embedding sequence `(batch, steps, 96)`: Conv1D -> max+mean pool -> Dense.

    Convolutions and pooling only (no RNN), so it converts to TFLite builtins and handles any
    number of steps.
    """
    embeddings = keras.Input((steps, EMBEDDING_DIM), name="embeddings")
    x = keras.layers.LayerNormalization(name="input_norm")(embeddings)  # embeddings range over +-80
    x = keras.layers.Dropout(dropout / 2, name="input_dropout")(x)
    x = keras.layers.Conv1D(hidden, 3, padding="same", activation="relu", name="conv1")(x)
    x = keras.layers.Conv1D(hidden, 3, padding="same", activation="relu", name="conv2")(x)
    pooled = keras.layers.Concatenate(name="pool")(
        [keras.layers.GlobalMaxPooling1D(name="max")(x), keras.layers.GlobalAveragePooling1D(name="mean")(x)]
    )
    x = keras.layers.Dropout(dropout, name="dropout")(pooled)
    return keras.Model(embeddings, keras.layers.Dense(num_classes, name="logits")(x), name=name)


def build_speech_embedding_classifier(
    num_classes: int,
    clip_seconds: float = 1.0,
    hidden: int = 128,
    dropout: float = 0.3,
    trainable_encoder: bool = False,
    name: str = "speech_embedding_classifier",
) -> keras.Model:
    """Waveform (16 kHz) -> pretrained speech_embedding encoder -> `build_embedding_head` -> logits.

    Feed clips padded with `pad="center"`: the encoder needs silence before a word (on FSDD,
    end-padded clips gave 0.47 speaker-disjoint accuracy, centred ones 0.99).
    The encoder (sub-model `"encoder"`) is frozen by default; the head is the sub-model `"head"`.
    Because the frozen encoder is deterministic, the head can be trained on embeddings computed
    once (`model.get_layer("encoder").predict(waveforms)`), which is much faster on a CPU than
    running the encoder every epoch; the full model is then exported as one waveform-in file.
    """
    encoder = load_speech_embedding(int(round(SAMPLE_RATE * clip_seconds)), trainable=trainable_encoder)
    steps = int(encoder.output.shape[1])
    head = build_embedding_head(num_classes, steps, hidden, dropout)
    waveform = keras.Input(encoder.input.shape[1:], name="waveform")
    return keras.Model(waveform, head(encoder(waveform)), name=name)


def fit_embedding_head(
    head: keras.Model, embeddings: np.ndarray, labels: np.ndarray, epochs: int = 60, learning_rate: float = 1e-3,
    batch_size: int = 32, seed: int = 42,
) -> keras.Model:
    """Trains `head` (from `build_embedding_head`) on embeddings computed once by the frozen encoder.

    Much faster on a CPU than running the encoder every epoch; the head then serves inside the
    waveform-in `build_speech_embedding_classifier` model (its sub-model `"head"`), e.g. as the
    teacher of a `voice_ft.Distiller`.
    """
    labels = np.asarray(labels)
    if len(embeddings) != len(labels):
        raise ValueError(f"fit_embedding_head: {len(embeddings)} embeddings but {len(labels)} labels.")
    data = tf.data.Dataset.from_tensor_slices((embeddings, labels)).shuffle(len(labels), seed=seed).batch(batch_size)
    fit(head, data, recipe=Recipe(epochs=epochs, learning_rate=learning_rate, batch_size=batch_size, seed=seed), verbose=0)
    return head


def train_speech_embedding_classifier(
    waveforms: np.ndarray, labels: np.ndarray, num_classes: int, clip_seconds: float = 1.0, epochs: int = 60,
    seed: int = 42,
) -> keras.Model:
    """A waveform-in speech_embedding classifier whose head is trained on `(waveforms, labels)`.

    The encoder stays frozen and runs once over the clips (16 kHz, centred in silence).
    """
    keras.utils.set_random_seed(seed)  # the head's initialisation
    model = build_speech_embedding_classifier(num_classes, clip_seconds)
    embeddings = model.get_layer("encoder").predict(waveforms, batch_size=64, verbose=0)
    fit_embedding_head(model.get_layer("head"), embeddings, labels, epochs=epochs, seed=seed)
    return model
