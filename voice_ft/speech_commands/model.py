"""Waveform-in keyword / speech-command classifiers: a DS-CNN with the feature front end inside.

The model takes float32 PCM `(batch, clip_samples)` at the model rate and returns logits, so the
exported .tflite needs no feature code on the device (kws_streaming's design).
"""

from __future__ import annotations

import keras
import tensorflow as tf

from voice_ft.layers import LogMelSpectrogram, SpecAugment, UtteranceNormalization

EMBEDDING_LAYER = "embedding"


def build_speech_command_classifier(
    num_classes: int,
    sample_rate: int = 16000,
    clip_seconds: float = 1.0,
    num_mel_bins: int = 40,
    num_mfcc: int | None = 20,
    upper_edge_hertz: float | None = None,
    filters: int = 64,
    num_blocks: int = 4,
    dropout: float = 0.2,
    spec_augment: bool = True,
    name: str = "speech_commands_dscnn",
) -> keras.Model:
    """DS-CNN (Zhang et al. 2017, "Hello Edge") on log-mel or MFCC features, waveform in, logits out.

    Front end: 25 ms windows, 10 ms hop, 512-point FFT, `num_mel_bins` mel bands up to
    `upper_edge_hertz`, `num_mfcc` MFCCs (None: log-mels), per-utterance normalisation, SpecAugment
    in training. Then a 10x4 stride-2 conv and `num_blocks` depthwise-separable blocks, global
    average pooling (the `"embedding"` layer, reusable as an encoder) and a Dense head.

    Args:
        num_classes: output labels.
        sample_rate, clip_seconds: the fixed input, `(batch, sample_rate * clip_seconds)`.
        upper_edge_hertz: top of the mel range; set 4000 for 8 kHz recordings such as FSDD.
        filters, num_blocks: width and depth (64 / 4 is ~24K parameters; 96 / 5 is ~59K, a ~134 KB
            int8 file with the float front end; its FSDD unseen-speaker figures are in bench/README.md).

    Example:
        >>> model = build_speech_command_classifier(10, upper_edge_hertz=4000)
        >>> model(np.zeros((1, 16000), "float32")).shape
        TensorShape([1, 10])
    """
    clip_samples = int(round(sample_rate * clip_seconds))
    waveform = keras.Input((clip_samples,), name="waveform")
    features = LogMelSpectrogram(
        sample_rate=sample_rate,
        frame_length=int(0.025 * sample_rate),
        frame_step=int(0.010 * sample_rate),
        fft_length=_next_power_of_two(int(0.025 * sample_rate)),
        num_mel_bins=num_mel_bins,
        upper_edge_hertz=upper_edge_hertz,
        num_mfcc=num_mfcc,
        name="frontend",
    )(waveform)
    x = UtteranceNormalization(name="normalize")(features)
    if spec_augment:
        x = SpecAugment(max_time_width=10, max_freq_width=max(1, x.shape[-1] // 8), name="spec_augment")(x)
    x = keras.layers.Reshape((x.shape[1], x.shape[2], 1), name="to_image")(x)
    x = keras.layers.Conv2D(filters, (10, 4), strides=(2, 2), padding="same", use_bias=False, name="conv0")(x)
    x = _bn_relu(x, "conv0")
    for i in range(1, num_blocks + 1):
        x = depthwise_separable_block(x, filters, str(i))
    x = keras.layers.GlobalAveragePooling2D(name=EMBEDDING_LAYER)(x)
    x = keras.layers.Dropout(dropout, name="dropout")(x)
    logits = keras.layers.Dense(num_classes, name="logits")(x)
    return keras.Model(waveform, logits, name=name)


def reuse_audio_encoder(
    model: keras.Model | str,
    num_classes: int,
    embedding_layer: str = EMBEDDING_LAYER,
    freeze: bool = True,
    dropout: float = 0.2,
    name: str | None = None,
) -> keras.Model:
    """A trained audio model (or a `.keras` path) as a pretrained backbone for a new label set.

    Keeps everything up to `embedding_layer` (frozen if `freeze`; batch-norm statistics then stay fixed
    too) and puts a new Dropout + Dense(num_classes) head on top. Train it with `voice_ft.fit` as usual;
    to fine-tune afterwards, set `layer.trainable = True` and train again with a lower learning rate.
    """
    if isinstance(model, str):
        model = keras.saving.load_model(model)
    encoder = keras.Model(model.input, model.get_layer(embedding_layer).output, name=f"{model.name}_encoder")
    for layer in encoder.layers:  # shared with `model`: freezing here freezes them there too
        layer.trainable = not freeze
    x = keras.layers.Dropout(dropout, name="new_dropout")(encoder.output)
    logits = keras.layers.Dense(num_classes, name="new_logits")(x)
    return keras.Model(encoder.input, logits, name=name or f"{model.name}_reused")


def depthwise_separable_block(x, filters: int, suffix: str):
    """3x3 depthwise conv -> BN -> ReLU -> 1x1 conv to `filters` -> BN -> ReLU (layers `dw<suffix>`, `pw<suffix>`)."""
    x = _bn_relu(keras.layers.DepthwiseConv2D(3, padding="same", use_bias=False, name=f"dw{suffix}")(x), f"dw{suffix}")
    return _bn_relu(keras.layers.Conv2D(filters, 1, use_bias=False, name=f"pw{suffix}")(x), f"pw{suffix}")


def batch_norm(name: str) -> keras.layers.BatchNormalization:
    """The audio models' batch normalisation.

    Momentum 0.9, not 0.99: small speech datasets give few steps per epoch, and the moving
    statistics used at inference must converge within them. Built under a strategy with several
    replicas (`voice_ft.training.distribution_scope`), its batch statistics are those of the global
    batch (`synchronized`), so training on N replicas of B clips matches one device on N x B; on
    one replica Keras's own single-device statistics are kept.
    """
    synchronized = tf.distribute.get_strategy().num_replicas_in_sync > 1
    return keras.layers.BatchNormalization(momentum=0.9, synchronized=synchronized, name=name)


def _bn_relu(x, name):
    x = batch_norm(f"{name}_bn")(x)
    return keras.layers.ReLU(name=f"{name}_relu")(x)


def _next_power_of_two(n: int) -> int:
    return 1 << (n - 1).bit_length()
