"""Whisper's log-mel front end in numpy (no TensorFlow), for the exported speech recogniser.

Why numpy and not inside the `.tflite`: the exported encoder takes log-mel features rather than
a waveform. A 400-point FFT (not a power of two) fails at interpreter prepare, a DFT written as
a matmul would be int8-quantized with the encoder's weights in the "dynamic" variant, and
numpy computes 300 frames in about a millisecond. The features must still be *the* Whisper
features the model was trained on, so this module reproduces keras-hub's
`WhisperAudioConverter` (OpenAI's `log_mel_spectrogram`) step by step:

- the waveform zero-padded (or cut) to the window, reflection-padded by `n_fft // 2` each side;
- frames of 400 samples every 160, periodic Hann window, `|rfft|^2`, the last frame dropped;
- Slaney mel filters (80 or 128, area-normalised) as in librosa / OpenAI;
- `log10(max(mel, 1e-10))`, clamped to `max - 8`, then `(x + 4) / 4`.

Short-audio mode (`frames` < 3000, e.g. 300 for 3 s): the features are the *first* `frames`
frames of the standard 30 s features of the waveform cut to `frames * hop` samples. The
normalising max of the 30 s features can come from the two frames just past the cut (their
windows still overlap the last samples), so those two are computed too and then dropped.
"""

from __future__ import annotations

import functools

import numpy as np

SAMPLE_RATE = 16000
N_FFT = 400
HOP = 160
FULL_FRAMES = 3000  # 30 s


@functools.lru_cache(maxsize=4)
def mel_filters(num_mels: int = 80, n_fft: int = N_FFT, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """(n_fft // 2 + 1, num_mels) Slaney mel filter bank, as keras-hub's `WhisperAudioConverter`."""
    fft_freqs = np.fft.rfftfreq(n=n_fft, d=1.0 / sample_rate)
    mels = np.linspace(0.0, 45.245640471924965, num_mels + 2)  # hz_to_mel(8000) on the Slaney scale
    f_sp, min_log_hz = 200.0 / 3, 1000.0
    min_log_mel = min_log_hz / f_sp
    logstep = np.log(6.4) / 27.0
    freqs = f_sp * mels
    log_region = mels >= min_log_mel
    freqs[log_region] = min_log_hz * np.exp(logstep * (mels[log_region] - min_log_mel))
    fdiff = np.diff(freqs)
    ramps = np.subtract.outer(freqs, fft_freqs)
    weights = np.zeros((num_mels, n_fft // 2 + 1), dtype=np.float32)
    for i in range(num_mels):
        lower = -ramps[i] / fdiff[i]
        upper = ramps[i + 2] / fdiff[i + 1]
        weights[i] = np.maximum(0, np.minimum(lower, upper))
    weights *= (2.0 / (freqs[2 : num_mels + 2] - freqs[:num_mels]))[:, None]
    return np.ascontiguousarray(weights.T.astype(np.float32))


@functools.lru_cache(maxsize=2)
def _hann(n_fft: int) -> np.ndarray:
    return (0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(n_fft) / n_fft)).astype(np.float32)  # periodic


def log_mel(waveform: np.ndarray, frames: int = FULL_FRAMES, num_mels: int = 80, n_fft: int = N_FFT,
            hop: int = HOP, full_frames: int = FULL_FRAMES) -> np.ndarray:
    """(frames, num_mels) float32 Whisper log-mel features of one 16 kHz mono waveform.

    Args:
        waveform: 1-D float samples in [-1, 1] at 16 kHz; cut to `frames * hop` samples.
        frames: feature frames to return (3000 = the standard 30 s window).
        num_mels: mel bins (80 for Whisper up to large-v2).
        full_frames: frames of the model's full window (3000); only the last-frame padding and
            the normalising max depend on it.
    """
    if not 0 < frames <= full_frames:
        raise ValueError(f"frames must be in 1..{full_frames}, got {frames}.")
    wave = np.asarray(waveform, dtype=np.float32).reshape(-1)[: frames * hop]
    half = n_fft // 2
    extra = 0 if frames == full_frames else 2  # frames past the cut that still see samples
    total = frames + extra  # frames whose values matter for the max
    body = np.zeros(total * hop + n_fft, dtype=np.float32)  # [reflect | waveform + zeros | tail]
    if wave.size:
        body[half : half + wave.size] = wave
        body[:half] = body[2 * half : half : -1]  # reflection of samples 1..half
    if frames == full_frames:  # the 30 s window ends with a reflection too
        n = frames * hop
        body[half + n : 2 * half + n] = body[half + n - 2 : n - 2 : -1]
    index = np.arange(n_fft)[None, :] + hop * np.arange(total)[:, None]
    spectrum = np.fft.rfft(body[index] * _hann(n_fft), n=n_fft, axis=-1)
    power = (spectrum.real**2 + spectrum.imag**2).astype(np.float32)
    mel = np.maximum(power @ mel_filters(num_mels, n_fft), 1e-10)
    log_spec = np.log10(mel)
    log_spec = np.maximum(log_spec, log_spec.max() - 8.0)
    return ((log_spec[:frames] + 4.0) / 4.0).astype(np.float32)
