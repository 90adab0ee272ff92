"""Slaney-style mel filter bank (librosa's default), in numpy, for front ends that must match librosa models."""

from __future__ import annotations

import numpy as np

_F_SP = 200.0 / 3  # Hz per mel below 1 kHz
_MIN_LOG_HZ = 1000.0
_LOGSTEP = np.log(6.4) / 27.0


def _hz_to_mel(hz):
    hz = np.asarray(hz, dtype=np.float64)
    log_part = _MIN_LOG_HZ / _F_SP + np.log(np.maximum(hz, 1e-10) / _MIN_LOG_HZ) / _LOGSTEP
    return np.where(hz >= _MIN_LOG_HZ, log_part, hz / _F_SP)


def _mel_to_hz(mel):
    mel = np.asarray(mel, dtype=np.float64)
    min_log_mel = _MIN_LOG_HZ / _F_SP
    return np.where(mel >= min_log_mel, _MIN_LOG_HZ * np.exp(_LOGSTEP * (mel - min_log_mel)), _F_SP * mel)


def slaney_mel_matrix(sample_rate: int, fft_length: int, num_mel_bins: int, fmin: float, fmax: float) -> np.ndarray:
    """Returns the `(fft_length // 2 + 1, num_mel_bins)` matrix of `librosa.filters.mel(..., norm="slaney")`.

    tf.signal's mel matrix is HTK-style and unnormalised; models trained on librosa features
    (e.g. openWakeWord's melspectrogram.onnx) need this one.
    """
    fft_freqs = np.linspace(0, sample_rate / 2, fft_length // 2 + 1)
    mel_freqs = _mel_to_hz(np.linspace(_hz_to_mel(fmin), _hz_to_mel(fmax), num_mel_bins + 2))
    widths = np.diff(mel_freqs)
    ramps = mel_freqs[:, None] - fft_freqs[None, :]
    lower = -ramps[:-2] / widths[:-1, None]
    upper = ramps[2:] / widths[1:, None]
    weights = np.maximum(0.0, np.minimum(lower, upper))
    weights *= (2.0 / (mel_freqs[2:] - mel_freqs[:-2]))[:, None]
    return weights.T.astype(np.float32)
