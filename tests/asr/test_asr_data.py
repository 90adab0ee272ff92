"""Transcript manifests: errors name the file and line; labels put the loss on transcript tokens."""

from __future__ import annotations

import numpy as np
import pytest

from voice_ft.asr import data
from voice_ft.runtime.audio_io import AudioFileError, write_wav
from voice_ft.runtime.errors import DataError


class CharTokenizer:
    """Stand-in tokenizer: one id per character, Whisper's special ids."""

    bos_token_id, no_timestamps_token_id, eos_token_id = 50257, 50362, 50256

    def __call__(self, text):
        return np.asarray([ord(c) for c in text])


def write(path, text):
    path.write_text(text, encoding="utf-8")
    return path


def test_manifest_reads_rows_and_resolves_paths(tmp_path):
    manifest = write(tmp_path / "m.csv", "path,transcript,speaker,split\na.wav,Turn  on the lights,s1,train\n")
    (example,) = data.read_transcript_manifest(manifest)
    assert example.path == str(tmp_path / "a.wav") and example.transcript == "Turn on the lights"
    assert (example.speaker, example.split, example.source) == ("s1", "train", f"{manifest}:2")


@pytest.mark.parametrize(
    "text, where, message",
    [
        ("path,text\na.wav,hi\n", ":1:", "no column 'transcript'"),
        ("path,transcript\na.wav,hello\nb.wav,  \n", ":3:", "empty 'transcript'"),
        ("path,transcript\na.wav,hello\n,hello\n", ":3:", "empty 'path'"),
        ("path,transcript\n", "", "no examples"),
    ],
)
def test_manifest_errors_name_file_and_line(tmp_path, text, where, message):
    manifest = write(tmp_path / "bad.csv", text)
    with pytest.raises(DataError, match=message) as error:
        data.read_transcript_manifest(manifest)
    assert f"{manifest}{where}" in str(error.value)


def test_missing_manifest_and_split(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        data.read_transcript_manifest(tmp_path / "nope.csv")
    examples = data.read_transcript_manifest(write(tmp_path / "m.csv", "path,transcript,split\na.wav,x,train\n"))
    with pytest.raises(DataError, match=r"no examples in split 'test' \(splits present: \['train'\]\)"):
        data.select_split(examples, "test")


def test_bad_audio_names_its_manifest_line(tmp_path):
    write_wav(tmp_path / "good.wav", np.zeros(1600, np.float32), 16000)
    (tmp_path / "broken.wav").write_bytes(b"RIFF not really")
    manifest = write(tmp_path / "m.csv", "path,transcript\ngood.wav,fine\nbroken.wav,oops\n")
    examples = data.read_transcript_manifest(manifest)
    with pytest.raises(AudioFileError, match=f"listed at {manifest}:3") as error:
        data._read(examples[1])
    assert "broken.wav" in str(error.value)
    assert data._read(examples[0]).shape == (1600,)


def test_labels_weight_transcript_and_end_tokens_only():
    tokenizer = CharTokenizer()
    ids = [data.transcript_token_ids(tokenizer, t) for t in ("hi", "hello")]
    assert ids[0] == [50257, 50362, ord(" "), ord("h"), ord("i"), 50256]
    inputs, mask, labels, weights = data.teacher_forcing_arrays(ids, prompt_length=2, pad_id=50256)
    assert inputs.shape == (2, 8)  # the longest: 2 prompt + 6 + end, minus the shift
    np.testing.assert_array_equal(inputs[0, :5], ids[0][:-1])
    np.testing.assert_array_equal(labels[0, :5], ids[0][1:])
    # Label 0 is <|notimestamps|> (prompt): no loss; then " hi" and the end token; padding none.
    np.testing.assert_array_equal(weights[0], [0, 1, 1, 1, 1, 0, 0, 0])
    np.testing.assert_array_equal(mask[0], [1, 1, 1, 1, 1, 0, 0, 0])
    assert weights[1].sum() == len(" hello") + 1


def fsdd_examples(count: int) -> list:
    """Real FSDD clips (the bundled spoken digits) as transcribed records."""
    import csv
    import pathlib

    folder = pathlib.Path(__file__).resolve().parents[2] / "data" / "fsdd"
    with (folder / "manifest.csv").open() as f:
        rows = [r for _, r in zip(range(count), csv.DictReader(f))]
    words = "zero one two three four five six seven eight nine".split()
    return [data.TranscribedAudio(str(folder / r["path"]), words[int(r["label"])]) for r in rows]


def test_noisy_copies_follow_the_clean_clips_at_the_chosen_snrs():
    from voice_ft.asr.tiny import tiny_whisper_backbone

    backbone, examples = tiny_whisper_backbone(num_layers=1, seed=0), fsdd_examples(3)
    clean = data.load_speech(backbone, examples, audio_frames=100)
    noisy = data.load_speech(backbone, examples, audio_frames=100, noisy_copies=2, seed=5)
    assert len(noisy) == 9 and noisy.transcripts == clean.transcripts * 3 and noisy.token_ids == clean.token_ids * 3
    np.testing.assert_array_equal(noisy.features[:3], clean.features)  # the clean clips come first, unchanged
    for copy in (1, 2):
        assert np.abs(noisy.features[3 * copy : 3 * copy + 3] - clean.features).mean() > 0.05
    np.testing.assert_array_equal(data.load_speech(backbone, examples, 100, noisy_copies=2, seed=5).features, noisy.features)
    assert not np.array_equal(data.load_speech(backbone, examples, 100, noisy_copies=2, seed=6).features, noisy.features)
    # the noise is mixed at an SNR inside the range, against the speech's active samples
    wave, rng = data._read(examples[0]), np.random.default_rng(0)
    for _ in range(5):
        added = data._with_noise(wave, rng, (6.0, 12.0), ("white", "brown")) - wave
        active = np.abs(wave) > 1e-4
        snr = 10 * np.log10((wave[active] ** 2).mean() / (added**2).mean())
        assert 5.5 < snr < 12.5, snr  # clipping to [-1, 1] can only lower the added power a little
    with pytest.raises(ValueError, match="noisy_copies >= 0"):
        data.load_speech(backbone, examples, 100, noisy_copies=-1)
