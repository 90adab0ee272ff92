"""Speech-recognition data: (audio, transcript) records -> log-mel features -> teacher-forcing batches.

Sources:

- a CSV manifest with a header and columns ``path,transcript[,speaker,split]`` (extra columns
  ignored; relative paths resolved against the manifest's folder), read by
  `read_transcript_manifest`; errors name the manifest and line;
- a text data set (.jsonl/.csv split files such as data/snips/*.jsonl) rendered with espeak-ng
  by `synthesize_transcripts` (voice-disjoint splits, see `voice_ft.data.speech_synthesis`),
  whose manifest's ``text`` column is the transcript.

Audio is read with `voice_ft.runtime.audio_io.read_audio` (any soundfile format, mono, 16 kHz via
soxr), so the phone reads the same samples. Features are the backbone's Whisper log-mel over
`audio_frames` frames (`voice_ft.asr.decoding.log_mel_features`; 500 = 5 s in short-audio mode).

Labels: the decoder reads ``<|startoftranscript|><|notimestamps|> transcript`` and predicts
``<|notimestamps|> transcript <|endoftext|>`` shifted by one; the loss counts the transcript
tokens and the end token only (so the model learns to stop, which short-audio input needs), as
response SFT does. The transcript is tokenized with a leading space, as Whisper writes text.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import pathlib
from collections.abc import Mapping, Sequence

import numpy as np

from voice_ft.asr.decoding import SAMPLE_RATE, log_mel_features, prompt_ids
from voice_ft.data.audio_readers import read_manifest_rows
from voice_ft.runtime.audio_io import AudioFileError, read_audio
from voice_ft.runtime.errors import DataError

logger = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class TranscribedAudio:
    """One recording and what was said. `source` ("manifest.csv:3") is named in errors."""

    path: str
    transcript: str
    speaker: str | None = None
    split: str | None = None
    source: str | None = None


def read_transcript_manifest(
    path: str | os.PathLike, root: str | os.PathLike | None = None, transcript_column: str = "transcript"
) -> list[TranscribedAudio]:
    """Reads a CSV manifest ``path,transcript[,speaker,split]``; files are opened later (`load_speech`).

    Raises:
        DataError: a missing manifest, a header without `path` or `transcript_column`, an empty
            path or transcript (naming the line), or no rows.
    """
    path = pathlib.Path(path)
    root = pathlib.Path(root) if root is not None else path.parent
    return [
        TranscribedAudio(path=str(root / row["path"].strip()), transcript=" ".join(row[transcript_column].split()),
                         speaker=row.get("speaker") or None, split=row.get("split") or None, source=f"{path}:{line}")
        for line, row in read_manifest_rows(path, ("path", transcript_column))
    ]  # fmt: skip


def select_split(examples: Sequence[TranscribedAudio], split: str) -> list[TranscribedAudio]:
    """The examples of one split; raises DataError naming the splits present when there are none."""
    chosen = [e for e in examples if e.split == split]
    if not chosen:
        raise DataError(f"no examples in split {split!r} (splits present: {sorted({str(e.split) for e in examples})})")
    return chosen


def synthesize_transcripts(
    split_files: Mapping[str, str | os.PathLike],
    out_dir: str | os.PathLike,
    label_field: str = "intent",
    per_label: Mapping[str, int | None] | None = None,
    **options,
) -> list[TranscribedAudio]:
    """Renders text splits with espeak-ng (voice-disjoint by accent) and reads them back as records.

    `voice_ft.data.speech_synthesis.synthesize_text_splits` writes the WAVs and a manifest with
    columns path,label,speaker,split,text,speed,pitch; the spoken `text` is the transcript.
    Already rendered files are reused. Options (split_voices, renditions, seed, workers...) are
    passed on.
    """
    from voice_ft.data.speech_synthesis import synthesize_text_splits

    manifest = synthesize_text_splits(split_files, out_dir, label_field=label_field, per_label=per_label, **options)
    return read_transcript_manifest(manifest, transcript_column="text")


def transcript_token_ids(tokenizer, transcript: str) -> list[int]:
    """Prompt + tokens of ``" " + transcript`` + <|endoftext|>: what teacher forcing trains on."""
    text = " " + " ".join(str(transcript).split())
    ids = [int(i) for i in np.asarray(tokenizer(text)).reshape(-1)]
    return prompt_ids(tokenizer) + ids + [int(tokenizer.eos_token_id)]


@dataclasses.dataclass
class SpeechData:
    """Features and token ids of one split, ready for training and evaluation.

    Attributes:
        features: (N, audio_frames, num_mels) float32 log-mel.
        token_ids: per example, prompt + transcript + end token (`transcript_token_ids`).
        transcripts: the reference texts (for WER).
        prompt_length: how many leading tokens are prompt (no loss on predicting them).
        examples: the records they came from.
    """

    features: np.ndarray
    token_ids: list[list[int]]
    transcripts: list[str]
    prompt_length: int
    examples: list[TranscribedAudio]

    def __len__(self) -> int:
        return len(self.transcripts)


# Noise of the recogniser's multi-condition training copies (`load_speech(..., noisy_copies=...)`): white and
# brown (1/f^2), not pink, which `bench/speech_to_intent.py` tests with; SNRs drawn uniformly from this range.
TRAINING_NOISE_KINDS = ("white", "brown")
TRAINING_NOISE_SNR_DB = (0.0, 20.0)


def load_speech(
    backbone, examples: Sequence[TranscribedAudio], audio_frames: int | None = None, chunk: int = 32,
    noisy_copies: int = 0, noise_snr_db: tuple[float, float] = TRAINING_NOISE_SNR_DB,
    noise_kinds: Sequence[str] = TRAINING_NOISE_KINDS, seed: int = 0,
) -> SpeechData:  # fmt: skip
    """Reads the audio (16 kHz), computes log-mel features and tokenizes the transcripts.

    With `noisy_copies` > 0, every clip also comes that many more times mixed with synthetic noise
    (a kind from `noise_kinds`, an SNR drawn uniformly from `noise_snr_db`, against the speech's
    active samples; seeded), after the clean ones: multi-condition training for a recogniser
    whose encoder is frozen and whose features are therefore computed once, not augmented per epoch.

    Raises:
        AudioFileError: a missing, unreadable, empty or NaN file, naming it and its manifest line.
        DataError: a transcript longer than the decoder's window.
    """
    examples = list(examples)
    if not examples:
        raise DataError("no examples to load")
    if noisy_copies < 0 or not noise_kinds or noise_snr_db[0] > noise_snr_db[1]:
        raise ValueError(f"load_speech: need noisy_copies >= 0, noise kinds and a (low, high) SNR range, got "
                         f"{noisy_copies}, {tuple(noise_kinds)}, {tuple(noise_snr_db)}")  # fmt: skip
    limit = int(backbone.model.max_decoder_sequence_length) + 1  # inputs and labels overlap by one
    token_ids = []
    for e in examples:
        ids = transcript_token_ids(backbone.tokenizer, e.transcript)
        if len(ids) > limit:
            raise DataError(f"transcript of {len(ids) - 3} tokens: the decoder holds {limit - 1} positions, "
                            f"prompt and end token included", e.source or e.path)  # fmt: skip
        token_ids.append(ids)
    # features[k][chunk]: k = 0 the clean clips, k >= 1 the k-th noisy copy; each file is read once
    features = [[] for _ in range(1 + noisy_copies)]
    rng = np.random.default_rng(seed)
    for start in range(0, len(examples), chunk):
        waves = [_read(e) for e in examples[start : start + chunk]]
        features[0].append(log_mel_features(backbone, waves, frames=audio_frames))
        for copy in features[1:]:
            noisy = [_with_noise(w, rng, noise_snr_db, noise_kinds) for w in waves]
            copy.append(log_mel_features(backbone, noisy, frames=audio_frames))
    times = 1 + noisy_copies
    return SpeechData(np.concatenate([f for copy in features for f in copy]), token_ids * times,
                      [e.transcript for e in examples] * times, len(prompt_ids(backbone.tokenizer)),
                      examples * times)  # fmt: skip


def _with_noise(wave: np.ndarray, rng: np.random.Generator, snr_db: tuple[float, float], kinds: Sequence[str]) -> np.ndarray:
    """`wave` plus a fresh synthetic noise clip of a random kind at a random SNR, clipped to [-1, 1]."""
    from voice_ft.data.augment import generated_noise, mix_at_snr

    kind = kinds[int(rng.integers(len(kinds)))]
    noise = generated_noise(len(wave), kind, seed=int(rng.integers(2**31)), num_clips=1)[0]
    noisy = mix_at_snr(wave, noise, float(rng.uniform(*snr_db)))
    return np.clip(np.asarray(noisy), -1.0, 1.0).astype(np.float32)


def _read(example: TranscribedAudio) -> np.ndarray:
    try:
        return read_audio(example.path, sample_rate=SAMPLE_RATE)
    except AudioFileError as e:
        if example.source:
            raise AudioFileError(f"{e.reason} (listed at {example.source})", e.path) from None
        raise


def teacher_forcing_arrays(token_ids: Sequence[Sequence[int]], prompt_length: int, pad_id: int):
    """Padded (inputs, padding mask, labels, sample weights), each (N, longest - 1).

    Labels are the inputs shifted by one; the weight is 1 where the label is a transcript token
    or the end token (label positions `prompt_length - 1` onwards), 0 on the prompt and padding.
    """
    width = max(len(ids) for ids in token_ids) - 1
    n = len(token_ids)
    inputs = np.full((n, width), pad_id, np.int32)
    labels = np.full((n, width), pad_id, np.int32)
    mask = np.zeros((n, width), np.int32)
    weights = np.zeros((n, width), np.float32)
    for row, ids in enumerate(token_ids):
        length = len(ids) - 1
        inputs[row, :length] = ids[:-1]
        labels[row, :length] = ids[1:]
        mask[row, :length] = 1
        weights[row, prompt_length - 1 : length] = 1.0
    return inputs, mask, labels, weights


def make_asr_dataset(
    encoder_inputs: np.ndarray,
    data: SpeechData,
    batch_size: int = 16,
    shuffle: bool = True,
    seed: int = 0,
    input_name: str = "encoder_features",
    pad_id: int = 50256,
):
    """A `tf.data.Dataset` of `(x, labels, sample_weight)` batches for `voice_ft.fit`.

    Args:
        encoder_inputs: per example, what the model's encoder side takes: `data.features` for
            the whole recognizer, or cached encoder outputs for its decoder (frozen encoder).
        data: the split's `SpeechData` (token ids).
        input_name: "encoder_features" (recognizer), "encoder_sequence" (decoder) or "encoder_hidden" (top encoder
            layers + decoder): the `cached_input` of the model trained.
        pad_id: the token id padding uses (any id: padding has weight 0); Whisper's end token.

    Each batch is cut to its longest transcript, so short commands do not pay for long ones.
    """
    import tensorflow as tf

    if len(encoder_inputs) != len(data):
        raise ValueError(f"{len(encoder_inputs)} encoder inputs for {len(data)} examples.")
    inputs, mask, labels, weights = teacher_forcing_arrays(data.token_ids, data.prompt_length, pad_id)
    dataset = tf.data.Dataset.from_tensor_slices((np.asarray(encoder_inputs, np.float32), inputs, mask, labels, weights))
    if shuffle:
        dataset = dataset.shuffle(len(data), seed=seed, reshuffle_each_iteration=True)

    def trim(encoder, ids, padding, y, w):
        width = tf.reduce_max(tf.reduce_sum(padding, axis=1))
        x = {input_name: encoder, "decoder_token_ids": ids[:, :width], "decoder_padding_mask": padding[:, :width]}
        return x, y[:, :width], w[:, :width]

    return dataset.batch(batch_size).map(trim).prefetch(2)
