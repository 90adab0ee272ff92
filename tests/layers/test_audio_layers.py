"""Audio front-end layers against numpy / tf.signal / onnxruntime references, and TFLite conversion."""

import numpy as np
import pytest
import tensorflow as tf

from voice_ft.layers import LogMelSpectrogram, SpecAugment, SpeechEmbeddingMel, UtteranceNormalization
from voice_ft.layers.log_mel import dct_matrix


def chirp(seconds=1.0, rate=16000):
    t = np.arange(int(seconds * rate)) / rate
    return (0.3 * np.sin(2 * np.pi * (200 + 1500 * t) * t)).astype(np.float32)


def numpy_log_mel(x, layer):
    """Reference: framing, periodic Hann, |rfft|^2, tf's mel matrix, log."""
    n = np.arange(layer.frame_length)
    window = 0.5 - 0.5 * np.cos(2 * np.pi * n / layer.frame_length)
    frames = np.stack([x[i : i + layer.frame_length] for i in range(0, len(x) - layer.frame_length + 1, layer.frame_step)])
    power = np.abs(np.fft.rfft(frames * window, layer.fft_length)) ** 2
    return np.log(power @ layer._mel + layer.log_offset)


def test_log_mel_matches_numpy_reference():
    layer = LogMelSpectrogram(sample_rate=16000, num_mel_bins=40)
    x = chirp()
    out = layer(x[None]).numpy()[0]
    assert out.shape == (98, 40) == (layer.num_frames(16000), 40)
    np.testing.assert_allclose(out, numpy_log_mel(x, layer), atol=2e-3, rtol=1e-3)


def test_mfcc_dct_matches_tf_signal():
    layer = LogMelSpectrogram(num_mel_bins=40, num_mfcc=13)
    x = chirp()[None]
    log_mel = LogMelSpectrogram(num_mel_bins=40)(x)
    expected = tf.signal.mfccs_from_log_mel_spectrograms(log_mel)[..., :13].numpy()
    np.testing.assert_allclose(layer(x).numpy(), expected, atol=1e-3, rtol=1e-4)
    basis = dct_matrix(40, 40)
    off_diagonal = basis.T @ basis - np.diag(np.diag(basis.T @ basis))
    np.testing.assert_allclose(off_diagonal, 0, atol=1e-5)  # orthogonal basis


def test_non_power_of_two_fft_is_refused():
    with pytest.raises(ValueError, match="power of two"):
        LogMelSpectrogram(frame_length=400, fft_length=400)


def test_utterance_normalization_and_spec_augment():
    features = tf.random.normal([2, 50, 8]) * 5 + 3
    normalized = UtteranceNormalization(epsilon=0.0)(features).numpy()
    np.testing.assert_allclose(normalized.mean(axis=1), 0, atol=1e-5)
    np.testing.assert_allclose(normalized.std(axis=1), 1, atol=1e-3)
    augment = SpecAugment(time_masks=2, max_time_width=10, freq_masks=1, max_freq_width=3)
    ones = tf.ones([4, 50, 8])
    assert np.array_equal(augment(ones, training=False).numpy(), ones.numpy())
    masked = augment(ones, training=True).numpy()
    assert masked.min() == 0 and masked.mean() > 0.4


def test_speech_embedding_mel_matches_onnx():
    ort = pytest.importorskip("onnxruntime")
    from voice_ft.backbones.speech_embedding import speech_embedding_onnx_dir

    try:
        onnx_dir = speech_embedding_onnx_dir()
    except ImportError as e:
        pytest.skip(str(e))
    x = chirp(1.0)[None]
    session = ort.InferenceSession(str(onnx_dir / "melspectrogram.onnx"), providers=["CPUExecutionProvider"])
    expected = session.run(None, {"input": x * 32768})[0][:, 0] / 10 + 2
    out = SpeechEmbeddingMel()(x).numpy()
    assert out.shape == expected.shape == (1, 97, 32)
    np.testing.assert_allclose(out, expected, atol=1e-4, rtol=1e-4)  # float32 dB of values up to 1e9


def test_front_ends_convert_to_builtin_tflite(tmp_path):
    import keras
    from ai_edge_litert.interpreter import Interpreter

    from voice_ft.export.convert import convert_to_tflite

    waveform = keras.Input((16000,), name="waveform")
    mfcc = UtteranceNormalization()(LogMelSpectrogram(num_mfcc=10, name="frontend")(waveform))
    model = keras.Model(waveform, [mfcc, SpeechEmbeddingMel()(waveform)])
    interpreter = Interpreter(model_content=convert_to_tflite(model, "float32"))
    runner = interpreter.get_signature_runner()
    x = chirp()[None]
    outputs = sorted(runner(waveform=x).values(), key=lambda a: a.shape[-1])
    expected = sorted((np.asarray(o) for o in model(x)), key=lambda a: a.shape[-1])
    for got, want in zip(outputs, expected):
        np.testing.assert_allclose(got, want, atol=1e-3)
