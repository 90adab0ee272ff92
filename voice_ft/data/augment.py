"""Waveform augmentation for tf.data: time shift, gain, background noise at a chosen SNR, speed perturbation.

All functions take and return one float32 waveform `(samples,)` of fixed length, so they can be chained
in `dataset.map` before batching. (SpecAugment works on features, which live inside the model: see
`voice_ft.layers.SpecAugment`.)
"""

from __future__ import annotations

import dataclasses
import os

import numpy as np
import tensorflow as tf


def random_time_shift(waveform: tf.Tensor, max_shift: int) -> tf.Tensor:
    """Shifts by a uniform number of samples in [-max_shift, max_shift], filling with zeros."""
    n = tf.shape(waveform)[0]
    shift = tf.random.uniform([], -max_shift, max_shift + 1, dtype=tf.int32)
    padded = tf.pad(waveform, [[max_shift, max_shift]])
    return tf.slice(padded, [max_shift - shift], [n])


def random_gain(waveform: tf.Tensor, min_db: float, max_db: float) -> tf.Tensor:
    """Scales by a uniform gain in [min_db, max_db] decibels."""
    gain_db = tf.random.uniform([], min_db, max_db)
    return waveform * tf.pow(10.0, gain_db / 20.0)


def speech_power(waveform: tf.Tensor, threshold: float = 1e-4) -> tf.Tensor:
    """Mean power over the non-silent samples (zero padding does not dilute it)."""
    active = tf.cast(tf.abs(waveform) > threshold, tf.float32)
    return tf.reduce_sum(tf.square(waveform) * active) / tf.maximum(tf.reduce_sum(active), 1.0)


def mix_at_snr(waveform: tf.Tensor, noise: tf.Tensor, snr_db: tf.Tensor | float) -> tf.Tensor:
    """Adds `noise` (same length) scaled so that speech power / noise power = `snr_db`."""
    noise_power = tf.reduce_mean(tf.square(noise)) + 1e-12
    scale = tf.sqrt(speech_power(waveform) / (noise_power * tf.pow(10.0, tf.cast(snr_db, tf.float32) / 10.0)))
    return waveform + scale * noise


def generated_noise(num_samples: int, kind: str = "white", seed: int = 0, num_clips: int = 8) -> np.ndarray:
    """`(num_clips, num_samples)` synthetic noise: "white", "pink" (1/f) or "brown" (1/f^2), unit variance."""
    rng = np.random.default_rng(seed)
    white = rng.standard_normal((num_clips, num_samples))
    if kind != "white":
        spectrum = np.fft.rfft(white, axis=-1)
        freqs = np.maximum(np.fft.rfftfreq(num_samples), 1.0 / num_samples)
        exponent = {"pink": 0.5, "brown": 1.0}[kind]
        white = np.fft.irfft(spectrum / freqs**exponent, n=num_samples, axis=-1)
    white /= white.std(axis=-1, keepdims=True)
    return white.astype(np.float32)


def noise_from_folder(folder: str | os.PathLike, sample_rate: int, clip_samples: int) -> np.ndarray:
    """All clips of `clip_samples` cut from every audio file in `folder` (e.g. Speech Commands' _background_noise_)."""
    import pathlib

    from voice_ft.data.audio_readers import AUDIO_EXTENSIONS
    from voice_ft.runtime.audio_io import read_audio

    clips = []
    for file in sorted(pathlib.Path(folder).iterdir()):
        if file.suffix.lower() in AUDIO_EXTENSIONS:
            samples = read_audio(file, sample_rate)
            for start in range(0, len(samples) - clip_samples + 1, clip_samples):
                clips.append(samples[start : start + clip_samples])
    if not clips:
        raise ValueError(f"{folder}: no noise file of at least {clip_samples} samples")
    return np.stack(clips).astype(np.float32)


def random_noise(waveform: tf.Tensor, noise_bank: tf.Tensor, min_snr_db: float, max_snr_db: float) -> tf.Tensor:
    """Mixes a random clip of `noise_bank` `(clips, samples)` at a uniform SNR in [min_snr_db, max_snr_db]."""
    index = tf.random.uniform([], 0, tf.shape(noise_bank)[0], dtype=tf.int32)
    return mix_at_snr(waveform, noise_bank[index], tf.random.uniform([], min_snr_db, max_snr_db))


def change_speed(waveform: tf.Tensor, rate: tf.Tensor | float) -> tf.Tensor:
    """Plays `rate` times faster (tempo and pitch, like Kaldi's speed perturbation), same output length.

    Linear-interpolation resampling: output sample i reads input position i * rate; past the end is zero.
    """
    n = tf.shape(waveform)[0]
    position = tf.cast(tf.range(n), tf.float32) * tf.cast(rate, tf.float32)
    left = tf.cast(tf.floor(position), tf.int32)
    frac = position - tf.cast(left, tf.float32)
    padded = tf.concat([waveform, tf.zeros([2], waveform.dtype)], 0)
    left = tf.minimum(left, n)
    value = tf.gather(padded, left) * (1.0 - frac) + tf.gather(padded, left + 1) * frac
    return tf.where(position <= tf.cast(n - 1, tf.float32), value, 0.0)


def random_speed(waveform: tf.Tensor, min_rate: float, max_rate: float) -> tf.Tensor:
    return change_speed(waveform, tf.random.uniform([], min_rate, max_rate))


@dataclasses.dataclass
class WaveformAugmentation:
    """A chain of waveform augmentations for `dataset.map`, each applied with its probability.

    Args:
        sample_rate: waveform rate, to express the shift in seconds.
        shift_seconds: max time shift (0 disables).
        gain_db: (min, max) gain in dB (None disables).
        speed: (min, max) speed factor (None disables).
        noise: `(clips, samples)` noise bank (see `generated_noise`, `noise_from_folder`); None disables.
        snr_db: (min, max) SNR of the mixed noise.
        noise_probability, speed_probability: how often those two are applied.

    Example:
        >>> augment = WaveformAugmentation(noise=generated_noise(16000, "pink"))
        >>> train = train.map(lambda x, y: (augment(x), y))
    """

    sample_rate: int = 16000
    shift_seconds: float = 0.1
    gain_db: tuple[float, float] | None = (-6.0, 6.0)
    speed: tuple[float, float] | None = (0.9, 1.1)
    noise: np.ndarray | None = None
    snr_db: tuple[float, float] = (5.0, 25.0)
    noise_probability: float = 0.5
    speed_probability: float = 0.5

    def __call__(self, waveform: tf.Tensor) -> tf.Tensor:
        x = waveform
        if self.speed is not None:
            x = _maybe(self.speed_probability, lambda: random_speed(x, *self.speed), x)
        if self.shift_seconds:
            x = random_time_shift(x, int(self.shift_seconds * self.sample_rate))
        if self.gain_db is not None:
            x = random_gain(x, *self.gain_db)
        if self.noise is not None:
            bank = tf.constant(self.noise)
            x = _maybe(self.noise_probability, lambda: random_noise(x, bank, *self.snr_db), x)
        return x


def _maybe(probability: float, fn, default: tf.Tensor) -> tf.Tensor:
    return tf.cond(tf.random.uniform([]) < probability, fn, lambda: default)
