"""Audio shards: real FSDD clips written as int16 or float32 read back as `AudioSource.dataset`'s very
batches, any fixed-shape features too, and a tiny DS-CNN trains from them as it does from memory."""

import pathlib

import keras
import numpy as np
import pytest
import tensorflow as tf

import voice_ft
from voice_ft.data.audio import AudioSource
from voice_ft.data.audio_readers import read_audio_manifest
from voice_ft.data.audio_shards import read_audio_shards, write_audio_shards
from voice_ft.data.augment import WaveformAugmentation
from voice_ft.data.files import OutputExistsError
from voice_ft.runtime.errors import DataError

FSDD = pathlib.Path(__file__).resolve().parents[2] / "data" / "fsdd"


@pytest.fixture(scope="module")
def clips():
    """Six training clips of each of the digits 0-2, as written in the manifest."""
    examples = [e for e in read_audio_manifest(FSDD / "manifest.csv") if e.split == "train" and e.label in "012"]
    return [e for label in "012" for e in [x for x in examples if x.label == label][:6]]


def batches(dataset):
    return list(dataset.as_numpy_iterator())


def assert_same_batches(got, want):
    assert len(got) == len(want)
    for (x, y), (wx, wy) in zip(got, want):
        np.testing.assert_array_equal(x, wx)
        np.testing.assert_array_equal(y, wy)


@pytest.mark.parametrize("dtype, rate", [("int16", 8000), ("float32", 16000)])
def test_clips_read_back_as_the_in_memory_batches(clips, tmp_path, dtype, rate):
    """int16 keeps 16-bit PCM at the model rate exactly; float32 keeps resampled audio exactly."""
    source = AudioSource.from_examples(clips, sample_rate=rate, clip_seconds=0.5)
    paths = write_audio_shards(source, tmp_path, 3, dtype=dtype)
    back = read_audio_shards(str(tmp_path / "train-*.tfrecord"), batch_size=4, sample_rate=rate, labels=["0", "1", "2"])
    assert int(back.cardinality()) == 5 and back.element_spec == source.dataset(4).element_spec
    assert_same_batches(batches(back), batches(source.dataset(4)))
    assert sum(p.stat().st_size for p in paths) < (0.7 if dtype == "int16" else 1.2) * 18 * source.clip_samples * 4


def test_features_of_any_fixed_shape_and_checks(clips, tmp_path):
    source = AudioSource.from_examples(clips, sample_rate=8000, clip_seconds=0.5)
    mel = keras.layers.MelSpectrogram(sampling_rate=8000, num_mel_bins=16, fft_length=256, sequence_stride=80)
    features = source.dataset().map(lambda x, y: (tf.transpose(mel(x[None])[0]), y))
    write_audio_shards(features, tmp_path, 2, dtype="float32", labels=list(source.labels), sample_rate=8000)
    back = read_audio_shards(str(tmp_path / "train-*.tfrecord"), shape=[51, 16])
    assert_same_batches(batches(back), batches(features))
    with pytest.raises(DataError, match=r"train\.shards\.json.*sample_rate: the shards have 8000, expected 16000"):
        read_audio_shards(str(tmp_path / "train-*.tfrecord"), sample_rate=16000)
    with pytest.raises(OutputExistsError):  # nothing a user made is replaced
        write_audio_shards(features, tmp_path, 4, dtype="float32", labels=list(source.labels), sample_rate=8000)
    with pytest.raises(ValueError, match="labels= and sample_rate="):
        write_audio_shards(features, tmp_path / "other", 2)


def test_a_tiny_dscnn_trains_from_shards_as_from_memory(clips, tmp_path):
    source = AudioSource.from_examples(clips, sample_rate=8000, clip_seconds=0.5)
    write_audio_shards(source, tmp_path, 3)
    recipe = voice_ft.Recipe(epochs=2, batch_size=6, learning_rate=3e-3, seed=7)
    losses = []
    for train in (source.dataset(6), read_audio_shards(str(tmp_path / "train-*.tfrecord"), batch_size=6)):
        keras.utils.set_random_seed(0)
        model = voice_ft.build_speech_command_classifier(3, 8000, 0.5, upper_edge_hertz=4000, filters=8, num_blocks=1,
                                                         dropout=0.0, spec_augment=False)  # fmt: skip
        losses.append(voice_ft.fit(model, train, recipe=recipe, verbose=0).history["loss"])
    np.testing.assert_allclose(losses[1], losses[0], rtol=1e-5)  # the same batches, the same training
    # Shuffled, augmented and repeated as AudioSource.dataset does it: each clip twice a pass.
    augmented = read_audio_shards(str(tmp_path / "train-*.tfrecord"), batch_size=6, shuffle=True, seed=1,
                                  augment=WaveformAugmentation(sample_rate=8000), repeat_augmented=2)  # fmt: skip
    labels = np.concatenate([y for _, y in augmented.as_numpy_iterator()])
    assert int(augmented.cardinality()) == 6 and np.bincount(labels).tolist() == [12, 12, 12]
