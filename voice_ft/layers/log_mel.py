"""Waveform -> log-mel spectrogram (and optionally MFCC) as a Keras layer that converts to TFLite builtins."""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf


def dct_matrix(num_mel_bins: int, num_coefficients: int) -> np.ndarray:
    """DCT-II matrix scaled as tf.signal's MFCCs, shape (num_mel_bins, num_coefficients).

    `log_mel @ dct_matrix(...)` equals `tf.signal.mfccs_from_log_mel_spectrograms(log_mel)[..., :k]`;
    a plain matmul is used because the tf.signal op lowers to a Flex StridedSlice in TFLite.
    """
    n = np.arange(num_mel_bins)[:, None]
    k = np.arange(num_coefficients)[None, :]
    return (np.cos(np.pi / num_mel_bins * (n + 0.5) * k) * np.sqrt(2.0 / num_mel_bins)).astype(np.float32)


@keras.saving.register_keras_serializable(package="voice_ft")
class LogMelSpectrogram(keras.layers.Layer):
    """Turns float PCM `(batch, samples)` into `(batch, frames, bins)` log-mel (or MFCC) features.

    STFT with `tf.signal.stft` (Hann window, no padding), power spectrum, mel filter bank as a matmul,
    `log(mel + log_offset)`, and with `num_mfcc` set, an explicit DCT matmul. `fft_length` must be a
    power of two: other lengths convert but fail at TFLite interpreter prepare time (RFFT2D).

    Frames: `1 + (samples - frame_length) // frame_step`.

    Args:
        sample_rate: rate of the input waveform in Hz.
        frame_length: window length in samples (e.g. 400 = 25 ms at 16 kHz).
        frame_step: hop in samples (e.g. 160 = 10 ms at 16 kHz).
        fft_length: FFT size, a power of two >= frame_length.
        num_mel_bins: mel bands.
        lower_edge_hertz, upper_edge_hertz: mel range; `None` upper means Nyquist. Keep it at or
            below the Nyquist rate of the *recordings* (4 kHz for 8 kHz FSDD), or the top bands see only zeros.
        log_offset: added before the log, so silence stays finite.
        num_mfcc: if set, return that many MFCCs instead of log-mels.

    Example:
        >>> layer = LogMelSpectrogram(sample_rate=16000, num_mel_bins=40, num_mfcc=20)
        >>> layer(np.zeros((2, 16000), "float32")).shape
        TensorShape([2, 98, 20])
    """

    def __init__(
        self,
        sample_rate: int = 16000,
        frame_length: int = 400,
        frame_step: int = 160,
        fft_length: int = 512,
        num_mel_bins: int = 40,
        lower_edge_hertz: float = 20.0,
        upper_edge_hertz: float | None = None,
        log_offset: float = 1e-6,
        num_mfcc: int | None = None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if fft_length & (fft_length - 1) or fft_length < frame_length:
            raise ValueError(
                f"fft_length must be a power of two >= frame_length ({frame_length}), got {fft_length}: "
                "TFLite's RFFT2D only runs power-of-two sizes."
            )
        if num_mfcc is not None and not 0 < num_mfcc <= num_mel_bins:
            raise ValueError(f"num_mfcc must be in 1..num_mel_bins ({num_mel_bins}), got {num_mfcc}")
        self.sample_rate = sample_rate
        self.frame_length = frame_length
        self.frame_step = frame_step
        self.fft_length = fft_length
        self.num_mel_bins = num_mel_bins
        self.lower_edge_hertz = lower_edge_hertz
        self.upper_edge_hertz = upper_edge_hertz
        self.log_offset = log_offset
        self.num_mfcc = num_mfcc
        upper = upper_edge_hertz if upper_edge_hertz is not None else sample_rate / 2
        self._mel = tf.signal.linear_to_mel_weight_matrix(
            num_mel_bins, fft_length // 2 + 1, sample_rate, lower_edge_hertz, upper
        ).numpy()
        # FFT bins above the top mel edge carry zero weight: keep only the bins in use, so the float
        # mel matrix in an exported file shrinks (FSDD's 4 kHz edge at 16 kHz: 129 of 257 rows, -20 KB)
        # and the matmul does half the work. The output is unchanged.
        used = np.flatnonzero(np.any(self._mel != 0, axis=1))
        self._num_bins_used = int(used[-1]) + 1 if used.size else self._mel.shape[0]
        self._mel_used = self._mel[: self._num_bins_used]
        self._dct = dct_matrix(num_mel_bins, num_mfcc) if num_mfcc else None

    def num_frames(self, num_samples: int) -> int:
        return 1 + (num_samples - self.frame_length) // self.frame_step

    def call(self, waveform):
        stft = tf.signal.stft(
            waveform, self.frame_length, self.frame_step, self.fft_length, window_fn=tf.signal.hann_window
        )
        power = tf.math.square(tf.math.abs(stft))
        if self._num_bins_used < self.fft_length // 2 + 1:
            # tf.slice (TFLite builtin SLICE), not `power[..., :n]`: keep the converted graph builtin-only.
            rank = len(power.shape)
            power = tf.slice(power, [0] * rank, [-1] * (rank - 1) + [self._num_bins_used])
        features = tf.math.log(tf.matmul(power, self._mel_used) + self.log_offset)
        if self._dct is not None:
            features = tf.matmul(features, self._dct)
        return features

    def compute_output_shape(self, input_shape):
        samples = input_shape[-1]
        frames = None if samples is None else self.num_frames(samples)
        return (input_shape[0], frames, self.num_mfcc or self.num_mel_bins)

    def get_config(self):
        config = super().get_config()
        config.update(
            sample_rate=self.sample_rate,
            frame_length=self.frame_length,
            frame_step=self.frame_step,
            fft_length=self.fft_length,
            num_mel_bins=self.num_mel_bins,
            lower_edge_hertz=self.lower_edge_hertz,
            upper_edge_hertz=self.upper_edge_hertz,
            log_offset=self.log_offset,
            num_mfcc=self.num_mfcc,
        )
        return config
