"""Property tests: `LogMelSpectrogram` equals an independent numpy log-mel on any signal.

The reference is written from the definitions, in float64: frames at multiples of `frame_step`
(no padding, `1 + (n - frame_length) // frame_step` of them), periodic Hann window, zero-padded
`numpy.fft.rfft` of `fft_length`, power `|X|^2`, an HTK mel filter bank derived here in numpy
(mel = 1127 ln(1 + f / 700), triangles between `num_mel_bins + 2` equally spaced mel edges,
the DC bin weighted 0; the layer takes its matrix from `tf.signal.linear_to_mel_weight_matrix`,
which this test checks against the numpy one), then `log(mel + log_offset)`.

Tolerance: the layer runs in float32, so its error is relative to the frame's loudest mel band,
not to each band: |exp(layer) - exp(reference)| <= 1e-4 * (reference + log_offset) + 1e-5 * (the
frame's largest mel energy). For bands within 1e-5 of the frame's peak this is ~1e-4 in log units.

Signals: random lengths (one frame and up), silence, tiny noise, speech-level noise and
tones, full-scale and clipped tones, square waves at +-1, DC offsets. Deterministic: `derandomize=True`,
no example database; the numpy signal is built from a drawn seed.
"""

import functools

import numpy as np
import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import example, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

tf = pytest.importorskip("tensorflow")
from voice_ft.layers.log_mel import LogMelSpectrogram  # noqa: E402

SETTINGS = dict(derandomize=True, deadline=None, database=None)

# (sample_rate, frame_length, frame_step, fft_length, num_mel_bins, lower_edge_hertz, upper_edge_hertz)
CONFIGS = [
    (16000, 400, 160, 512, 40, 20.0, None),  # the default front end
    (16000, 400, 160, 512, 40, 20.0, 4000.0),  # top mel edge below Nyquist: the layer slices FFT bins
    (8000, 200, 80, 256, 32, 0.0, None),
    (16000, 256, 256, 256, 64, 125.0, 7500.0),  # no overlap, frame_length == fft_length
    (16000, 480, 120, 1024, 80, 60.0, 7800.0),
]
KINDS = ["silence", "tiny_noise", "noise", "tone", "clipped_tone", "square", "dc"]


@functools.lru_cache(maxsize=None)
def _layer(config):
    sample_rate, frame_length, frame_step, fft_length, bins, lower, upper = config
    return LogMelSpectrogram(sample_rate=sample_rate, frame_length=frame_length, frame_step=frame_step,
                             fft_length=fft_length, num_mel_bins=bins, lower_edge_hertz=lower,
                             upper_edge_hertz=upper)  # fmt: skip


def _hz_to_mel(hz):
    return 1127.0 * np.log1p(np.asarray(hz, np.float64) / 700.0)


def numpy_mel_matrix(num_mel_bins, num_spectrogram_bins, sample_rate, lower_hz, upper_hz):
    """HTK triangular filters, float64[num_spectrogram_bins, num_mel_bins], DC row zero."""
    freqs = np.linspace(0.0, sample_rate / 2.0, num_spectrogram_bins)
    mel = _hz_to_mel(freqs)[:, None]
    edges = np.linspace(_hz_to_mel(lower_hz), _hz_to_mel(upper_hz), num_mel_bins + 2)
    left, center, right = edges[:-2], edges[1:-1], edges[2:]
    weights = np.maximum(0.0, np.minimum((mel - left) / (center - left), (right - mel) / (right - center)))
    weights[0] = 0.0
    return weights


def numpy_log_mel(x, layer):
    """(log-mel float64[frames, bins], mel energies float64[frames, bins]) from the definitions."""
    x = np.asarray(x, np.float64)
    n, length, step = len(x), layer.frame_length, layer.frame_step
    count = max(0, 1 + (n - length) // step)
    frames = np.stack([x[i * step : i * step + length] for i in range(count)]) if count else np.zeros((0, length))
    window = 0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(length) / length)  # periodic Hann
    power = np.abs(np.fft.rfft(frames * window, layer.fft_length)) ** 2
    upper = layer.upper_edge_hertz if layer.upper_edge_hertz is not None else layer.sample_rate / 2
    mel_matrix = numpy_mel_matrix(layer.num_mel_bins, layer.fft_length // 2 + 1, layer.sample_rate,
                                  layer.lower_edge_hertz, upper)  # fmt: skip
    mel = power @ mel_matrix
    return np.log(mel + layer.log_offset), mel


@st.composite
def signals(draw):
    config = draw(st.sampled_from(CONFIGS))
    frame_length = config[1]
    # At least one frame: shorter input makes tf.signal.stft's RFFT fail when fft_length > frame_length.
    n = draw(st.one_of(st.integers(frame_length, frame_length + 2 * config[2]), st.integers(frame_length, 4 * config[0] // 10)))
    kind = draw(st.sampled_from(KINDS))
    amplitude = draw(st.sampled_from([1e-4, 0.01, 0.3, 1.0]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    t = np.arange(n) / config[0]
    freq = draw(st.floats(20.0, config[0] / 2 - 1))
    x = {
        "silence": lambda: np.zeros(n),
        "tiny_noise": lambda: 1e-6 * rng.standard_normal(n),
        "noise": lambda: amplitude * rng.standard_normal(n),
        "tone": lambda: amplitude * np.sin(2 * np.pi * freq * t + rng.uniform(0, 2 * np.pi)),
        "clipped_tone": lambda: np.clip(20.0 * np.sin(2 * np.pi * freq * t), -1.0, 1.0),
        "square": lambda: np.sign(np.sin(2 * np.pi * freq * t) + 1e-9),
        "dc": lambda: np.full(n, amplitude * rng.choice([-1.0, 1.0])),
    }[kind]()
    return config, x.astype(np.float32)


def test_tf_mel_matrix_equals_numpy_htk_matrix():
    """The layer's filter bank (tf.signal) is the HTK bank derived above, for every configuration."""
    for config in CONFIGS:
        layer = _layer(config)
        upper = layer.upper_edge_hertz if layer.upper_edge_hertz is not None else layer.sample_rate / 2
        expected = numpy_mel_matrix(layer.num_mel_bins, layer.fft_length // 2 + 1, layer.sample_rate,
                                    layer.lower_edge_hertz, upper)  # fmt: skip
        np.testing.assert_allclose(layer._mel, expected, atol=2e-5, err_msg=str(config))


@settings(max_examples=120, **SETTINGS)
@given(case=signals())
@example(case=(CONFIGS[0], np.zeros(16000, np.float32)))  # silence: log(log_offset) everywhere
@example(case=(CONFIGS[0], np.zeros(400, np.float32)))  # exactly one frame
@example(case=(CONFIGS[1], np.sign(np.sin(np.arange(4000) * 0.3)).astype(np.float32)))  # full-scale square
def test_log_mel_matches_numpy_reference(case):
    """Property: layer output == numpy log-mel (shape and values within the stated float32 tolerance),
    and `num_frames`/`compute_output_shape` give the number of frames the layer makes."""
    config, x = case
    layer = _layer(config)
    out = layer(x[None]).numpy()[0].astype(np.float64)
    reference, mel = numpy_log_mel(x, layer)
    assert out.shape == reference.shape
    assert layer.num_frames(len(x)) == reference.shape[0]
    assert layer.compute_output_shape((1, len(x)))[1] == reference.shape[0]
    assert np.isfinite(out).all()
    peak = mel.max(axis=1, keepdims=True)
    error = np.abs(np.exp(out) - np.exp(reference))
    allowed = 1e-4 * (mel + layer.log_offset) + 1e-5 * peak
    worst = np.unravel_index(np.argmax(error - allowed), error.shape)
    assert (error <= allowed).all(), (f"frame {worst[0]} bin {worst[1]}: layer {out[worst]:.6f} vs reference "
                                      f"{reference[worst]:.6f} (peak mel {peak[worst[0], 0]:.3g})")  # fmt: skip
