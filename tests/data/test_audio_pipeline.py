"""The tf.data side: in-graph WAV decoding vs host reading, padding parity, augmentation."""

import pathlib

import numpy as np
import pytest
import soundfile
import tensorflow as tf

from voice_ft.runtime import audio_io
from voice_ft.data.audio import AudioSource, fix_length
from voice_ft.data.audio_readers import AudioExample, read_audio_manifest
from voice_ft.data.augment import WaveformAugmentation, change_speed, generated_noise, mix_at_snr, random_time_shift

FSDD = pathlib.Path(__file__).resolve().parents[2] / "data" / "fsdd"


def tone(freq, seconds, rate, amplitude=0.5):
    t = np.arange(int(seconds * rate)) / rate
    return (amplitude * np.sin(2 * np.pi * freq * t)).astype(np.float32)


@pytest.mark.parametrize("pad", ["center", "end"])
@pytest.mark.parametrize("n", [3, 8, 13])
def test_tf_fix_length_matches_numpy(pad, n):
    x = np.arange(1, n + 1, dtype=np.float32)
    np.testing.assert_array_equal(fix_length(tf.constant(x), 8, pad).numpy(), audio_io.fix_length(x, 8, pad))


def test_source_mixes_in_graph_and_host_decoding(tmp_path):
    wav16 = tmp_path / "a.wav"  # 16-bit PCM at the model rate: decoded in-graph
    soundfile.write(wav16, tone(440, 0.5, 16000), 16000, subtype="PCM_16")
    fsdd = next(e for e in read_audio_manifest(FSDD / "manifest.csv") if e.split == "test")  # 8 kHz: host + soxr
    source = AudioSource.from_examples([AudioExample(str(wav16), "tone"), AudioExample(fsdd.path, "digit")])
    assert source.in_graph == [True, False]
    assert source.min_native_rate == 8000
    x, y = source.arrays()
    assert x.shape == (2, 16000) and list(y) == [1, 0]  # labels sorted: digit, tone
    for i, path in enumerate([wav16, fsdd.path]):  # identical to what the runtime reads
        np.testing.assert_allclose(x[i], audio_io.read_audio(path, 16000, 16000), atol=1e-4)


def test_unknown_label_names_the_file(tmp_path):
    wav = tmp_path / "x.wav"
    soundfile.write(wav, tone(440, 0.1, 16000), 16000)
    with pytest.raises(ValueError, match="x.wav.*unknown label 'cat'"):
        AudioSource.from_examples([AudioExample(str(wav), "cat")], labels=["dog"])


def test_an_explicit_oos_class_trains_with_its_id_and_validates_as_out_of_scope(tmp_path):
    paths = []
    for i in range(3):
        paths.append(tmp_path / f"{i}.wav")
        soundfile.write(paths[-1], tone(300 + 100 * i, 0.2, 16000), 16000, subtype="PCM_16")
    clips = [AudioExample(str(paths[0]), "yes"), AudioExample(str(paths[1]), "no"), AudioExample(str(paths[2]), "oos")]
    labels = ["no", "yes", "oos"]  # the out-of-scope class last, as the trainers put it
    train = AudioSource.from_examples(clips, labels, clip_seconds=0.25)
    assert list(train.label_ids()) == [1, 0, 2]
    validation = AudioSource.from_examples(clips, train.labels, clip_seconds=0.25, oos_label="oos")
    assert list(validation.label_ids()) == [1, 0, -1] and list(validation.in_scope().label_ids()) == [1, 0]


def test_mix_at_snr_hits_the_requested_snr():
    speech = tf.constant(tone(300, 1.0, 16000))
    noise = tf.constant(generated_noise(16000, "white")[0])
    for snr in (20.0, 5.0):
        mixed = mix_at_snr(speech, noise, snr).numpy()
        added = mixed - speech.numpy()
        measured = 10 * np.log10(np.mean(speech.numpy() ** 2) / np.mean(added**2))
        assert measured == pytest.approx(snr, abs=0.1)


def test_speed_change_doubles_the_pitch():
    x = tf.constant(tone(500, 1.0, 16000))
    fast = change_speed(x, 2.0).numpy()
    assert fast.shape == (16000,)
    spectrum = np.abs(np.fft.rfft(fast[:8000]))
    assert np.argmax(spectrum) * 16000 / 8000 == pytest.approx(1000, abs=4)
    assert np.all(fast[8001:] == 0)  # the clip ran out halfway


def test_time_shift_and_chain_keep_length():
    x = tf.constant(tone(300, 1.0, 16000))
    shifted = random_time_shift(x, 1600).numpy()
    assert shifted.shape == (16000,)
    augment = WaveformAugmentation(noise=generated_noise(16000, "pink", num_clips=2), noise_probability=1.0)
    assert augment(x).shape == (16000,)
    assert not np.allclose(augment(x).numpy(), x.numpy())


def test_pink_noise_falls_with_frequency():
    noise = generated_noise(16000, "pink", num_clips=4)
    spectrum = np.abs(np.fft.rfft(noise, axis=-1)) ** 2
    assert spectrum[:, 50:100].mean() > 10 * spectrum[:, 5000:5050].mean()
