"""Reading audio files on the host: decode (soundfile), check, downmix, resample (soxr), pad/trim.

TensorFlow-free on purpose: `voice_ft.runtime` uses the same functions, so training and the
on-device runtime see identical samples. The tf.data side (`voice_ft.data.audio`) decodes WAV files
that are already 16-bit PCM at the model rate in-graph and sends everything else through here.
"""

from __future__ import annotations

import dataclasses
import os

import numpy as np

from voice_ft.runtime.errors import DataError, InputTypeError


class AudioFileError(DataError):
    """A file that cannot be used as audio. The message names the file and the reason."""


@dataclasses.dataclass(frozen=True)
class AudioInfo:
    """What the header says about a file."""

    path: str
    sample_rate: int
    channels: int
    frames: int
    format: str
    subtype: str

    @property
    def in_graph_wav(self) -> bool:
        """True when `tf.audio.decode_wav` can read the file (RIFF 16-bit PCM)."""
        return self.format == "WAV" and self.subtype == "PCM_16"


def audio_info(path: str | os.PathLike) -> AudioInfo:
    """Reads the header; raises AudioFileError for missing, unreadable, empty or truncated files."""
    import soundfile

    path = str(path)
    if not os.path.exists(path):
        raise AudioFileError("audio file does not exist", path)
    try:
        info = soundfile.info(path)
    except Exception as e:  # soundfile raises LibsndfileError / RuntimeError with the codec's reason
        raise AudioFileError(f"unreadable audio ({e})", path) from None
    if info.frames <= 0:
        raise AudioFileError("empty audio (0 samples)", path)
    if info.format == "WAV" and (shortfall := wav_data_shortfall(path)):
        declared, present = shortfall
        raise AudioFileError(f"truncated WAV: the header declares {declared} bytes of samples, the file holds {present}",
                             path)  # fmt: skip
    return AudioInfo(path, int(info.samplerate), int(info.channels), int(info.frames), info.format, info.subtype)


def wav_data_shortfall(path: str) -> tuple[int, int] | None:
    """For a RIFF WAV whose `data` chunk is cut short: (bytes the header declares, bytes present).

    libsndfile quietly reads what is there, so a half-copied file would otherwise pass as a
    shorter clip. Streamed WAVs that leave the size at 0 or 0xFFFFFFFF are not checked.
    """
    import struct

    with open(path, "rb") as f:
        if f.read(12)[8:12] != b"WAVE":
            return None
        size = os.fstat(f.fileno()).st_size
        while True:
            chunk = f.read(8)
            if len(chunk) < 8:
                return None
            chunk_id, chunk_size = chunk[:4], struct.unpack("<I", chunk[4:])[0]
            if chunk_id == b"data":
                present = size - f.tell()
                if 0 < chunk_size < 0xFFFFFFFF and present < chunk_size:
                    return chunk_size, present
                return None
            f.seek(chunk_size + (chunk_size & 1), os.SEEK_CUR)


def to_mono(samples: np.ndarray) -> np.ndarray:
    """Averages channels: `(frames, channels)` -> `(frames,)`; 1-D input is returned as is."""
    return samples if samples.ndim == 1 else samples.mean(axis=1, dtype=np.float32)


def resample(samples: np.ndarray, from_rate: int, to_rate: int) -> np.ndarray:
    """High-quality resampling with soxr (a no-op when the rates match)."""
    if from_rate == to_rate:
        return samples.astype(np.float32, copy=False)
    import soxr

    return soxr.resample(samples, from_rate, to_rate, quality="HQ").astype(np.float32, copy=False)


PAD_MODES = ("center", "end")


def fix_length(samples: np.ndarray, length: int, pad: str = "center") -> np.ndarray:
    """Pads with zeros or trims to exactly `length` samples (last axis).

    `pad="center"` keeps the clip in the middle (equal silence before and after; long clips lose
    both ends): pretrained encoders such as speech_embedding need silence *before* a word.
    `pad="end"` pads or trims at the end. The tf.data version (`voice_ft.data.audio.fix_length`)
    follows the same rule, and the runtime reads the mode from the sidecar.
    """
    if pad not in PAD_MODES:
        raise ValueError(f"pad must be one of {PAD_MODES}, got {pad!r}")
    n = samples.shape[-1]
    start = (n - length) // 2 if pad == "center" and n > length else 0
    if n >= length:
        return samples[..., start : start + length]
    before = (length - n) // 2 if pad == "center" else 0
    widths = [(0, 0)] * (samples.ndim - 1) + [(before, length - n - before)]
    return np.pad(samples, widths)


def check_samples(samples: np.ndarray, path: str, min_samples: int = 1) -> None:
    """Raises AudioFileError on empty, too short or non-finite audio."""
    if samples.size < min_samples:
        raise AudioFileError(f"audio too short: {samples.size} samples (need >= {min_samples})", path)
    if not np.all(np.isfinite(samples)):
        raise AudioFileError(f"{int(np.sum(~np.isfinite(samples)))} NaN/inf samples", path)


MAX_CHANNELS = 8  # a 2-D array with more columns and at most this many rows is (channels, samples)
MAX_FLOAT_PEAK = 4.0  # float samples beyond this are not [-1, 1] audio (clipping overshoot stays well below)


def check_sample_rate(sample_rate) -> int:
    """A caller's `sample_rate` as an int, or `DataError` for anything but a positive whole number of Hz."""
    if isinstance(sample_rate, bool) or not isinstance(sample_rate, (int, float, np.integer, np.floating)) \
            or not sample_rate > 0 or int(sample_rate) != sample_rate:  # fmt: skip
        raise DataError(f"sample_rate must be a positive whole number of Hz, got {sample_rate!r}")
    return int(sample_rate)


def samples_from_array(audio, what: str = "audio") -> np.ndarray:
    """A caller's array `(samples,)` / `(samples, channels)` / `(channels, samples)` -> float32 mono in [-1, 1].

    What the phone runtimes accept as audio: integer PCM is scaled from its range (unsigned 8-bit is
    centred on 128), a 2-D array with at most `MAX_CHANNELS` rows and more columns is read as
    `(channels, samples)` (librosa's layout). None, bytes, bool/complex/object arrays, empty or
    NaN/inf audio and float samples far outside [-1, 1] (integer PCM stored as float) raise, naming
    `what`.
    """
    if audio is None or isinstance(audio, (bytes, bytearray)):
        raise InputTypeError(f"{what} must be a file path or a numpy array of samples, got {type(audio).__name__}"
                             + (" (decode the bytes first, e.g. soundfile.read(io.BytesIO(data)))"
                                if audio is not None else ""))  # fmt: skip
    samples = np.asarray(audio)
    if samples.dtype.kind not in "iuf":
        raise InputTypeError(f"{what} samples must be integer PCM or float, got dtype {samples.dtype}")
    if samples.ndim == 2 and samples.shape[1] > MAX_CHANNELS >= samples.shape[0]:
        samples = samples.T  # (channels, samples)
    if samples.ndim not in (1, 2) or samples.ndim == 2 and samples.shape[1] > MAX_CHANNELS:
        raise DataError(f"{what} must have shape (samples,) or (samples, channels) with at most {MAX_CHANNELS} "
                        f"channels, got shape {samples.shape}")  # fmt: skip
    if samples.dtype.kind == "u":
        half = float(np.iinfo(samples.dtype).max // 2 + 1)
        samples = (samples.astype(np.float64) - half) / half
    elif samples.dtype.kind == "i":
        samples = samples.astype(np.float64) / float(np.iinfo(samples.dtype).max + 1)
    samples = to_mono(samples.astype(np.float32, copy=False))
    check_samples(samples, f"{what} array")
    peak = float(np.max(np.abs(samples)))
    if peak > MAX_FLOAT_PEAK:
        raise DataError(f"float {what} peaks at {peak:.1f}, far outside [-1, 1]: integer PCM stored as float? "
                        "Pass the integer array, or divide by 32768 for 16-bit samples")  # fmt: skip
    return samples


def read_audio(
    path: str | os.PathLike,
    sample_rate: int = 16000,
    clip_samples: int | None = None,
    max_channels: int = 8,
    pad: str = "center",
) -> np.ndarray:
    """Reads any soundfile format (WAV, FLAC, OGG, MP3) as mono float32 in [-1, 1] at `sample_rate`.

    Multi-channel audio is averaged to mono, other rates are resampled with soxr, and with
    `clip_samples` the result is padded/trimmed to that length (see `fix_length`). Truncated, empty, NaN-containing or
    unreadable files, and files with more than `max_channels` channels (probably not audio), raise
    AudioFileError naming the file.
    """
    import soundfile

    info = audio_info(path)
    if info.channels > max_channels:
        raise AudioFileError(f"{info.channels} channels (expected at most {max_channels})", info.path)
    try:
        samples, rate = soundfile.read(info.path, dtype="float32", always_2d=True)
    except Exception as e:
        raise AudioFileError(f"could not decode audio ({e})", info.path) from None
    if samples.shape[0] < info.frames:
        raise AudioFileError(f"truncated: header says {info.frames} samples, file holds {samples.shape[0]}", info.path)
    samples = to_mono(samples)
    check_samples(samples, info.path)
    samples = resample(samples, rate, sample_rate)
    return fix_length(samples, clip_samples, pad) if clip_samples else samples


def write_wav(path: str | os.PathLike, samples: np.ndarray, sample_rate: int) -> None:
    """Writes mono float samples as 16-bit PCM WAV (clipped to [-1, 1])."""
    import soundfile

    soundfile.write(str(path), np.clip(samples, -1.0, 1.0), sample_rate, subtype="PCM_16")
