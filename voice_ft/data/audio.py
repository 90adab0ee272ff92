"""Audio tf.data pipelines: labelled files -> fixed-length float32 waveforms at the model rate.

16-bit PCM WAV files already at the model rate are decoded in-graph (`tf.audio.decode_wav`); other
formats (FLAC/OGG/MP3, float WAV) and other sample rates go through `voice_ft.runtime.audio_io.read_audio`
on the host (soundfile + soxr resampling), so resampling uses a real resampler and matches the runtime.
All files are checked before the pipeline is built (`check_audio_files`), so bad files are named up
front or skipped with `skip_bad_files=True`.

Example:
    >>> examples = read_audio_manifest("data/fsdd/manifest.csv")
    >>> source = AudioSource.from_examples(select_split(examples, "train"))
    >>> train = source.dataset(batch_size=64, shuffle=True, augment=WaveformAugmentation())

Out-of-scope clips (`oos_label="oos"`, for validation/test sources): clips with that label get
label id `OOS_LABEL_ID` (-1), as text rows do in `voice_ft.datasets.load`; they are not one of the
model's labels and only choose and measure the rejection threshold (`voice_ft.calibrate`, the audio
exporter's verification). `in_scope()` leaves them out (for validation loss and accuracy). With an
explicit out-of-scope class trained on negatives the label is also one of the model's labels: a
training source (no `oos_label`) gives its clips the class's id, a validation/test source built
with `oos_label` gives its held-out negatives -1 all the same.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence

import numpy as np
import tensorflow as tf

from voice_ft.data.audio_readers import AudioExample, SkippedFile, check_audio_files
from voice_ft.data.labels import OOS_LABEL_ID, LabelVocabulary
from voice_ft.runtime.audio_io import PAD_MODES, read_audio
from voice_ft.runtime.errors import DataError


def decode_wav(path: tf.Tensor, clip_samples: int, pad: str = "center") -> tf.Tensor:
    """In-graph decode of a 16-bit PCM WAV, mono downmix, pad/trim to `clip_samples`."""
    audio, _ = tf.audio.decode_wav(tf.io.read_file(path))
    return fix_length(tf.reduce_mean(audio, axis=-1), clip_samples, pad)


def fix_length(waveform: tf.Tensor, clip_samples: int, pad: str = "center") -> tf.Tensor:
    """Pads with zeros or trims to `clip_samples`, the same rule as `audio_io.fix_length`."""
    if pad not in PAD_MODES:
        raise ValueError(f"pad must be one of {PAD_MODES}, got {pad!r}")
    n = tf.shape(waveform)[0]
    start = tf.maximum(n - clip_samples, 0) // 2 if pad == "center" else 0
    waveform = waveform[start : start + clip_samples]
    missing = clip_samples - tf.shape(waveform)[0]
    before = missing // 2 if pad == "center" else 0
    waveform = tf.pad(waveform, [[before, missing - before]])
    return tf.ensure_shape(waveform, [clip_samples])


@dataclasses.dataclass
class AudioSource:
    """Checked, labelled audio files, ready to become a tf.data pipeline.

    Attributes:
        examples: the usable examples (bad files removed when skipping).
        labels: the label vocabulary (model output order).
        sample_rate, clip_samples: the model's rate and fixed input length.
        in_graph: per example, whether `tf.audio.decode_wav` can read it directly.
        skipped: files dropped by `skip_bad_files`, with reasons.
        pad: where short clips get their silence ("center" or "end"); the exporter records it.
        min_native_rate: the lowest sample rate among the files (its half is the highest frequency
            the recordings hold: mel bands above it see only resampling silence).
        oos_label: the label of out-of-scope clips (label id -1; see the module doc), or None.
    """

    examples: list[AudioExample]
    labels: LabelVocabulary
    sample_rate: int
    clip_samples: int
    in_graph: list[bool]
    skipped: list[SkippedFile]
    pad: str = "center"
    min_native_rate: int | None = None
    oos_label: str | None = None

    @classmethod
    def from_examples(
        cls,
        examples: Sequence[AudioExample],
        labels: LabelVocabulary | Sequence[str] | None = None,
        sample_rate: int = 16000,
        clip_seconds: float = 1.0,
        skip_bad_files: bool = False,
        pad: str = "center",
        oos_label: str | None = None,
    ) -> "AudioSource":
        """Checks every file and the labels (an unknown label names its file) and builds the source.

        `oos_label` marks out-of-scope clips (label id -1), also when it is one of `labels` (an
        explicit out-of-scope class; see the module doc). Without `labels` they come from the
        clips, out-of-scope ones left out.
        """
        if labels is None:
            labels = LabelVocabulary.from_records(e.label for e in examples if e.label != oos_label)
        elif not isinstance(labels, LabelVocabulary):
            labels = LabelVocabulary(labels)
        for e in examples:
            if e.label != oos_label:
                labels.index(e.label, path=e.path)
        good, infos, skipped = check_audio_files(examples, sample_rate, skip_bad_files)
        in_graph = [infos[e.path].in_graph_wav and infos[e.path].sample_rate == sample_rate for e in good]
        native = min(infos[e.path].sample_rate for e in good)
        return cls(good, labels, sample_rate, int(round(clip_seconds * sample_rate)), in_graph, skipped, pad, native,
                   oos_label)  # fmt: skip

    def label_ids(self) -> np.ndarray:
        """Label id per clip; `OOS_LABEL_ID` (-1) for out-of-scope clips."""
        return np.array([OOS_LABEL_ID if e.label == self.oos_label else self.labels.index(e.label)
                         for e in self.examples], np.int32)  # fmt: skip

    def in_scope(self) -> "AudioSource":
        """This source without its out-of-scope clips."""
        keep = [e.label != self.oos_label for e in self.examples]
        if all(keep):
            return self
        return dataclasses.replace(self, examples=[e for e, k in zip(self.examples, keep) if k],
                                   in_graph=[g for g, k in zip(self.in_graph, keep) if k])  # fmt: skip

    def dataset(
        self,
        batch_size: int | None = None,
        shuffle: bool = False,
        augment: Callable[[tf.Tensor], tf.Tensor] | None = None,
        cache: bool = True,
        seed: int | None = 0,
        repeat_augmented: int = 1,
    ) -> tf.data.Dataset:
        """`(waveform[clip_samples], label_id)` pairs, decoded once and cached before augmentation.

        Args:
            batch_size: batch if set (the last partial batch is kept).
            shuffle: reshuffle every epoch.
            augment: waveform -> waveform, applied after the cache (so fresh every epoch).
            cache: keep decoded clips in memory (clip_samples * 4 bytes each).
            seed: shuffle seed.
            repeat_augmented: with `augment`, each clip appears this many times per epoch.
        """
        paths = tf.constant([e.path for e in self.examples])
        flags = tf.constant(self.in_graph)
        ds = tf.data.Dataset.from_tensor_slices((paths, flags, self.label_ids()))
        clip, rate, pad = self.clip_samples, self.sample_rate, self.pad

        def host_read(path):
            return read_audio(path.decode(), rate, clip, pad=pad)

        def load(path, in_graph, label):
            waveform = tf.cond(
                in_graph,
                lambda: decode_wav(path, clip, pad),
                lambda: tf.ensure_shape(tf.numpy_function(host_read, [path], tf.float32), [clip]),
            )
            return waveform, label

        ds = ds.map(load, num_parallel_calls=tf.data.AUTOTUNE)
        if cache:
            ds = ds.cache()
        if augment is not None and repeat_augmented > 1:
            ds = ds.repeat(repeat_augmented)
        if shuffle:
            ds = ds.shuffle(len(self.examples) * max(repeat_augmented, 1), seed=seed, reshuffle_each_iteration=True)
        if augment is not None:
            ds = ds.map(lambda x, y: (augment(x), y), num_parallel_calls=tf.data.AUTOTUNE)
        if batch_size:
            ds = ds.batch(batch_size)
        return ds.prefetch(tf.data.AUTOTUNE)

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """All clips and labels as numpy arrays `(n, clip_samples)`, `(n,)` (for evaluation and export checks)."""
        x, y = zip(*self.dataset(cache=False).as_numpy_iterator())
        return np.stack(x), np.array(y)


def tfds_audio_dataset(
    name: str,
    split: str,
    data_dir: str | None = None,
    sample_rate: int = 16000,
    clip_seconds: float = 1.0,
    audio_key: str = "audio",
    label_key: str = "label",
    pad: str = "center",
) -> tuple[tf.data.Dataset, LabelVocabulary]:
    """A prepared TFDS audio dataset (e.g. "speech_commands") as `(waveform, label)` pairs, unbatched.

    Integer PCM is scaled to [-1, 1] and clips are padded/trimmed. TFDS audio is decoded in-graph, so
    its rate must already equal `sample_rate` (no in-graph resampler is used): otherwise this raises.
    """
    import tensorflow_datasets as tfds

    ds, info = tfds.load(name, split=split, data_dir=data_dir, with_info=True, download=False)
    audio_feature = info.features[audio_key]
    native_rate = getattr(audio_feature, "sample_rate", None)
    if native_rate is not None and native_rate != sample_rate:
        raise DataError(f"TFDS {name!r} audio is {native_rate} Hz but the model expects {sample_rate} Hz")
    labels = LabelVocabulary(info.features[label_key].names)
    clip = int(round(clip_seconds * sample_rate))
    scale = 1.0 / 32768.0 if audio_feature.dtype in (tf.int16, tf.int32, tf.int64) else 1.0

    def convert(example):
        audio = tf.cast(example[audio_key], tf.float32) * scale
        if audio.shape.rank == 2:
            audio = tf.reduce_mean(audio, axis=-1)
        return fix_length(audio, clip, pad), tf.cast(example[label_key], tf.int32)

    return ds.map(convert, num_parallel_calls=tf.data.AUTOTUNE), labels
