"""Waveform-in export: front end inside, int8 with the front end kept float, refusal beyond tolerance."""

import json

import keras
import numpy as np
import pytest

from voice_ft.speech_commands.export import export_audio_classifier
from voice_ft.export.errors import ExportVerificationError
from voice_ft.speech_commands.model import build_speech_command_classifier

FREQS = (300.0, 900.0, 2000.0)


def tone_clips(n_per_class, seed):
    """Tone bursts (a 0.3-0.6 s tone at a random place in 1 s of faint noise), one pitch per class.

    Bursts, not steady tones: the model normalises each feature over the utterance, which turns a
    steady tone into a flat, nearly empty input; a burst keeps its pitch after normalisation, so
    the toy problem is separable by a wide margin whatever the CPU's float rounding.
    """
    rng = np.random.default_rng(seed)
    t = np.arange(16000) / 16000
    x, y = [], []
    for label, f in enumerate(FREQS):
        for _ in range(n_per_class):
            length = rng.integers(4800, 9600)
            start = rng.integers(0, 16000 - length)
            envelope = np.zeros(16000)
            envelope[start : start + length] = np.hanning(length)
            clip = rng.uniform(0.1, 0.5) * envelope * np.sin(2 * np.pi * f * rng.uniform(0.97, 1.03) * t + rng.uniform(0, 6))
            x.append(clip + 0.01 * rng.standard_normal(16000))
            y.append(label)
    return np.asarray(x, np.float32), np.asarray(y, np.int32)


@pytest.fixture(scope="module")
def trained():
    keras.utils.set_random_seed(0)
    model = build_speech_command_classifier(3, filters=8, num_blocks=1, spec_augment=False)
    x, y = tone_clips(16, seed=0)
    model.compile(keras.optimizers.Adam(1e-2), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(x, y, batch_size=16, epochs=30, verbose=0)
    return model, tone_clips(10, seed=1), x


def test_int8_keeps_front_end_float_and_says_so(trained, tmp_path):
    model, (x_test, y_test), x_train = trained
    result = export_audio_classifier(model, tmp_path / "m.tflite", "int8", verify_on=(x_test, y_test),
                                     labels=["low", "mid", "high"], representative_waveforms=x_train[:30])
    assert result.keras_accuracy >= 0.9 and result.tflite_accuracy >= result.keras_accuracy - 0.005
    assert result.frontend_float
    assert {"CONV_2D", "DEPTHWISE_CONV_2D"} <= set(result.int8_ops)
    assert {"RFFT2D", "LOG"} <= set(result.float_ops) and "RFFT2D" not in result.int8_ops
    meta = json.loads((tmp_path / "m.json").read_text())
    assert meta["task"] == "audio_classification" and meta["labels"] == ["low", "mid", "high"]
    assert meta["audio"] == {"sample_rate": 16000, "clip_samples": 16000, "pad": "center", "channels": 1,
                             "scale": "float32 PCM in [-1, 1]"}
    assert meta["quantization"] == "int8" and meta["quantization_detail"]["frontend_float"]


def test_variant_beyond_tolerance_is_refused_and_not_written(trained, tmp_path):
    model, (x_test, y_test), _ = trained
    with pytest.raises(ExportVerificationError, match="float32.*points below Keras"):
        # A negative tolerance demands TFLite beat Keras: every variant must be refused.
        export_audio_classifier(model, tmp_path / "r.tflite", "float32", verify_on=(x_test, y_test), tolerance=-1.0)
    assert not (tmp_path / "r.tflite").exists() and not (tmp_path / "r.json").exists()


def test_auto_falls_back_and_reports_refusals(trained, tmp_path):
    model, (x_test, y_test), _ = trained
    # Without calibration data int8 is impossible, so auto starts at dynamic-range quantization.
    result = export_audio_classifier(model, tmp_path / "a.tflite", "auto", verify_on=(x_test, y_test))
    assert result.tflite_accuracy >= result.keras_accuracy - 0.005
    tried = [r["quantization"] for r in result.refused] + [result.quantization]
    assert tried == ["dynamic", "float16", "float32"][: len(tried)]
    for refusal in result.refused:  # dynamic-range int8 also quantizes the mel/DCT matmuls
        assert "points below Keras" in refusal["reason"]
    meta = json.loads((tmp_path / "a.json").read_text())
    assert meta["verification"]["refused"] == result.refused
