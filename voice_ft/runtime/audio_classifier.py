"""`AudioClassifier`: a WAV path or a numpy waveform in, a label out, from an exported `.tflite` + sidecar.

TensorFlow-free (numpy, soundfile, soxr, ai-edge-litert): it reads, downmixes, resamples and
pads/trims audio with the same functions the training pipeline used (`voice_ft.runtime.audio_io`), then
runs the waveform-in model. Sidecar schema (task "audio_classification"):

    {"task": "audio_classification", "labels": [...],
     "audio": {"sample_rate": 16000, "clip_samples": 16000, "pad": "center", "channels": 1},
     "inputs": {"waveform": "<signature input>"}, "outputs": {"logits": "<signature output>"},
     "quantization": "int8", "quantization_detail": {...}, "verification": {...}, "versions": {...}}
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from voice_ft.runtime.audio_io import check_samples, fix_length, read_audio, resample, to_mono
from voice_ft.runtime.interpreter import TFLiteModel
from voice_ft.runtime.text_classifier import SidecarError, load_sidecar, softmax

AudioInput = str | os.PathLike | np.ndarray


class AudioClassifier:
    """Classifies audio clips with a waveform-in `.tflite` exported by `voice_ft.speech_commands.export`.

    Args:
        tflite_path: the `.tflite`; `<stem>.json` must sit beside it.
        num_threads: interpreter threads.

    Example:
        >>> classifier = AudioClassifier("out/fsdd_int8.tflite")
        >>> classifier("data/fsdd/7/7_theo_3.wav")
        {"label": "7", "confidence": 0.99, "scores": {...}}
    """

    def __init__(self, tflite_path: str | os.PathLike, num_threads: int = 1):
        self.meta = load_sidecar(tflite_path, task="audio_classification")
        audio = self.meta.get("audio")
        if not isinstance(audio, dict) or not {"sample_rate", "clip_samples"} <= set(audio):
            raise SidecarError(f"Sidecar of {tflite_path}: 'audio' must give sample_rate and clip_samples.")
        self.labels: list[str] = list(self.meta["labels"])
        self.sample_rate = int(audio["sample_rate"])
        self.clip_samples = int(audio["clip_samples"])
        self.pad = str(audio.get("pad", "center"))
        self.model = TFLiteModel(tflite_path, num_threads=num_threads)
        self._input = self.meta.get("inputs", {}).get("waveform", self.model.input_names[0])
        self._output = self.meta.get("outputs", {}).get("logits", self.model.output_names[0])

    def waveform(self, audio: AudioInput, sample_rate: int | None = None) -> np.ndarray:
        """A path (any soundfile format) or an array `(samples,)` / `(samples, channels)` -> model input clip.

        Arrays are taken to be at the model rate unless `sample_rate` says otherwise; integer arrays
        are scaled from their PCM range to [-1, 1].
        """
        if isinstance(audio, (str, os.PathLike)):
            return read_audio(audio, self.sample_rate, self.clip_samples, pad=self.pad)
        samples = np.asarray(audio)
        if np.issubdtype(samples.dtype, np.integer):
            samples = samples.astype(np.float32) / float(np.iinfo(samples.dtype).max + 1)
        samples = to_mono(samples.astype(np.float32, copy=False))
        check_samples(samples, "<array>")
        samples = resample(samples, sample_rate or self.sample_rate, self.sample_rate)
        return fix_length(samples, self.clip_samples, self.pad)

    def logits(self, clips: Sequence[AudioInput] | np.ndarray, sample_rate: int | None = None) -> np.ndarray:
        """`(n, num_labels)` logits, one clip at a time (the batch size phones use)."""
        if isinstance(clips, np.ndarray) and clips.ndim == 2 and clips.shape[1] == self.clip_samples:
            batch = clips.astype(np.float32)
        else:
            batch = np.stack([self.waveform(c, sample_rate) for c in clips])
        return np.concatenate([self.model(**{self._input: clip[None]})[self._output] for clip in batch])

    def predict_batch(self, clips: Sequence[AudioInput], sample_rate: int | None = None) -> list[dict[str, Any]]:
        probabilities = softmax(self.logits(clips, sample_rate))
        results = []
        for p in probabilities:
            best = int(p.argmax())
            results.append({"label": self.labels[best], "confidence": float(p[best]),
                            "scores": {name: float(s) for name, s in zip(self.labels, p)}})
        return results

    def __call__(self, audio: AudioInput, sample_rate: int | None = None) -> dict[str, Any]:
        """`{"label", "confidence", "scores"}` for one clip (a path or an array)."""
        return self.predict_batch([audio], sample_rate)[0]
