"""`AudioClassifier`: a WAV path or a numpy waveform in, a label out, from an exported `.tflite` + sidecar.

TensorFlow-free (numpy, soundfile, soxr, ai-edge-litert): it reads, downmixes, resamples and
pads/trims audio with the same functions the training pipeline used (`voice_ft.runtime.audio_io`), then
runs the waveform-in model. Sidecar schema (task "audio_classification"):

    {"task": "audio_classification", "labels": [...],
     "audio": {"sample_rate": 16000, "clip_samples": 16000, "pad": "center", "channels": 1},
     "inputs": {"waveform": "<signature input>"}, "outputs": {"logits": "<signature output>"},
     "quantization": "int8", "quantization_detail": {...}, "verification": {...}, "versions": {...},
     # optional, as for text classifiers (voice_ft.runtime.probabilities / voice_ft.runtime.rejection):
     "calibration": {"temperature": 1.3, ...}, "rejection": {"method": "threshold", "threshold": 0.6, ...}}

With a rejection block a clip below the threshold (or won by the block's `oos_label`, e.g. a
"_unknown_" class) gets `label=None`, `not_understood=True` and `best_label`.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from voice_ft.runtime.audio_io import check_sample_rate, fix_length, read_audio, resample, samples_from_array
from voice_ft.runtime.errors import InputTypeError
from voice_ft.runtime.interpreter import TFLiteModel
from voice_ft.runtime.probabilities import calibrated_softmax, sidecar_temperature
from voice_ft.runtime.rejection import rejected_result, sidecar_rejection
from voice_ft.runtime.sidecar import SidecarError, check_output_width, load_sidecar, require_field, sidecar_path

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
        self.labels: list[str] = [str(x) for x in require_field(self.meta, sidecar_path(tflite_path), "labels", list)]
        self.sample_rate = int(audio["sample_rate"])
        self.clip_samples = int(audio["clip_samples"])
        self.pad = str(audio.get("pad", "center"))
        self.model = TFLiteModel(tflite_path, num_threads=num_threads)
        self._input = self.meta.get("inputs", {}).get("waveform", self.model.input_names[0])
        self._output = self.meta.get("outputs", {}).get("logits", self.model.output_names[0])
        sidecar = sidecar_path(tflite_path)
        if self._input not in self.model.input_details:
            raise SidecarError(f"Sidecar {sidecar} names input {self._input!r}; the model has {self.model.input_names}.")
        if self._output not in self.model.output_details:
            raise SidecarError(f"Sidecar {sidecar} names output {self._output!r}; the model has {self.model.output_names}.")
        check_output_width(sidecar, self.model.output_details, self._output, self.labels, "labels")
        self.temperature = sidecar_temperature(self.meta, sidecar)
        self.rejection = sidecar_rejection(self.meta, sidecar, self.labels)

    def waveform(self, audio: AudioInput, sample_rate: int | None = None) -> np.ndarray:
        """A path (any soundfile format) or an array `(samples,)` / `(samples, channels)` -> model input clip.

        Arrays are taken to be at the model rate unless `sample_rate` says otherwise; integer arrays
        are scaled from their PCM range to [-1, 1] (unsigned 8-bit PCM is centred on 128); a 2-D
        array with at most 8 rows and more columns is read as `(channels, samples)` (librosa's
        layout). None, bytes, bool/complex/object arrays, NaN/inf samples, float samples far outside
        [-1, 1] (integer PCM stored as float) and a non-positive `sample_rate` raise `DataError`.
        """
        rate = self._check_rate(sample_rate)
        if isinstance(audio, (str, os.PathLike)):
            return read_audio(audio, self.sample_rate, self.clip_samples, pad=self.pad)
        samples = samples_from_array(audio, "audio")
        samples = resample(samples, rate, self.sample_rate)
        return fix_length(samples, self.clip_samples, self.pad)

    def _check_rate(self, sample_rate) -> int:
        return self.sample_rate if sample_rate is None else check_sample_rate(sample_rate)

    def logits(self, clips: Sequence[AudioInput] | np.ndarray, sample_rate: int | None = None) -> np.ndarray:
        """`(n, num_labels)` logits, one clip at a time (the batch size phones use).

        A 2-D array is a batch of mono clips, one per row; every clip goes through `waveform`, so
        rates, integer PCM and NaN checks apply to batches too.
        """
        if isinstance(clips, (str, os.PathLike, bytes, bytearray)) or clips is None:
            raise InputTypeError(f"clips must be a list of paths or arrays, got {type(clips).__name__}; "
                                 "call the classifier on a single clip instead")  # fmt: skip
        batch = np.stack([self.waveform(c, sample_rate) for c in clips])
        return np.concatenate([self.model(**{self._input: clip[None]})[self._output] for clip in batch])

    def predict_batch(self, clips: Sequence[AudioInput], sample_rate: int | None = None) -> list[dict[str, Any]]:
        logits = self.logits(clips, sample_rate)
        probabilities = calibrated_softmax(logits, self.temperature)
        results = []
        for i, p in enumerate(probabilities):
            best = int(p.argmax())
            result = {"label": self.labels[best], "confidence": float(p[best])}
            if self.rejection is not None:
                _, top, value, rejected = self.rejection.decide(logits[i : i + 1], self.temperature)
                result = rejected_result(self.labels, p, int(top[0]), value[0], rejected[0], self.rejection)
            result["scores"] = {name: float(s) for name, s in zip(self.labels, p)}
            results.append(result)
        return results

    def __call__(self, audio: AudioInput, sample_rate: int | None = None) -> dict[str, Any]:
        """`{"label", "confidence", "scores"}` for one clip (a path or an array)."""
        return self.predict_batch([audio], sample_rate)[0]
