"""Host-side audio reading: real FSDD clips, generated tones, and broken files."""

import pathlib

import numpy as np
import pytest
import soundfile

from voice_ft.runtime.audio_io import AudioFileError, fix_length, read_audio
from voice_ft.data.audio_readers import AudioExample, check_audio_files, read_audio_folder, read_audio_manifest

FSDD = pathlib.Path(__file__).resolve().parents[2] / "data" / "fsdd"


def tone(freq: float, seconds: float, rate: int, amplitude: float = 0.5) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (amplitude * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def test_fsdd_clip_is_resampled_from_8k():
    path = FSDD / "3" / "3_theo_0.wav"
    native, rate = soundfile.read(path, dtype="float32")
    assert rate == 8000
    samples = read_audio(path, 16000)
    assert samples.dtype == np.float32
    assert abs(len(samples) - 2 * len(native)) <= 2
    # Resampling keeps the loudness (soxr is band-limited, not a zero-stuffer).
    assert np.sqrt(np.mean(samples**2)) == pytest.approx(np.sqrt(np.mean(native**2)), rel=0.05)


def test_stereo_flac_is_downmixed_and_resampled(tmp_path):
    left, right = tone(440, 0.5, 22050), tone(440, 0.5, 22050, amplitude=0.1)
    path = tmp_path / "stereo.flac"
    soundfile.write(path, np.stack([left, right], axis=1), 22050)
    samples = read_audio(path, 16000)
    assert len(samples) == 8000
    assert np.abs(samples).max() == pytest.approx(0.3, abs=0.02)  # mean of 0.5 and 0.1


def test_fix_length_center_and_end():
    x = np.arange(1, 5, dtype=np.float32)
    np.testing.assert_array_equal(fix_length(x, 8, "center"), [0, 0, 1, 2, 3, 4, 0, 0])
    np.testing.assert_array_equal(fix_length(x, 6, "end"), [1, 2, 3, 4, 0, 0])
    np.testing.assert_array_equal(fix_length(np.arange(10.0), 4, "center"), [3, 4, 5, 6])
    with pytest.raises(ValueError, match="pad must be"):
        fix_length(x, 8, "start")


@pytest.mark.parametrize(
    "content, reason",
    [(b"", "unreadable"), (b"RIFF\x00\x00\x00\x00WAVEjunkjunk", "unreadable"), (b"not audio at all" * 10, "unreadable")],
)
def test_broken_files_name_the_file(tmp_path, content, reason):
    path = tmp_path / "broken.wav"
    path.write_bytes(content)
    with pytest.raises(AudioFileError, match=f"broken.wav.*{reason}"):
        read_audio(path)


def test_empty_and_nan_audio_are_rejected(tmp_path):
    empty = tmp_path / "empty.wav"
    soundfile.write(empty, np.zeros(0, np.float32), 16000)
    with pytest.raises(AudioFileError, match="empty.wav: empty audio"):
        read_audio(empty)
    nan = tmp_path / "nan.wav"
    samples = tone(300, 0.1, 16000)
    samples[10] = np.nan
    soundfile.write(nan, samples, 16000, subtype="FLOAT")
    with pytest.raises(AudioFileError, match="nan.wav: 1 NaN/inf samples"):
        read_audio(nan)


def test_missing_file(tmp_path):
    with pytest.raises(AudioFileError, match="nope.wav: audio file does not exist"):
        read_audio(tmp_path / "nope.wav")


def test_check_audio_files_skips_and_reports(tmp_path):
    good = tmp_path / "good.wav"
    soundfile.write(good, tone(440, 0.2, 16000), 16000)
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"garbage")
    examples = [AudioExample(str(good), "a"), AudioExample(str(bad), "b")]
    with pytest.raises(AudioFileError, match="bad.wav"):
        check_audio_files(examples)
    kept, infos, skipped = check_audio_files(examples, skip_bad_files=True)
    assert [e.path for e in kept] == [str(good)]
    assert infos[str(good)].in_graph_wav
    assert [s.path for s in skipped] == [str(bad)] and "bad.wav" in skipped[0].reason


def test_fsdd_manifest_and_folder_readers():
    examples = read_audio_manifest(FSDD / "manifest.csv")
    assert len(examples) == 3000
    test_speakers = {e.speaker for e in examples if e.split == "test"}
    train_speakers = {e.speaker for e in examples if e.split == "train"}
    assert test_speakers == {"yweweler"} and not test_speakers & train_speakers
    folder = read_audio_folder(FSDD, speaker_separator="_")
    assert len(folder) == 3000 and {e.label for e in folder} == {str(d) for d in range(10)}
    assert folder[0].speaker in {"george", "jackson", "lucas", "nicolas", "theo", "yweweler"}


def test_manifest_errors_name_the_line(tmp_path):
    manifest = tmp_path / "m.csv"
    manifest.write_text("path,label\na.wav,yes\n,no\n")
    with pytest.raises(Exception, match="m.csv:3: empty 'path'"):
        read_audio_manifest(manifest)
    manifest.write_text("file,label\na.wav,yes\n")
    with pytest.raises(Exception, match="no column 'path'"):
        read_audio_manifest(manifest)
