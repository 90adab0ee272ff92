"""Bad-input suite, audio: the files users really hand to the readers and the tf.data pipeline.

Covers `voice_ft.runtime.audio_io.read_audio` / `audio_info`, the manifest and folder readers and
`check_audio_files` (`voice_ft.data.audio_readers`), and `voice_ft.data.audio.AudioSource`:
every integer/float WAV subtype, stereo, 8 kHz to 48 kHz (resampled to the right length and pitch),
truncated, empty, NaN-filled and non-audio files named `.wav`, a 10-minute clip (trimmed to the
clip length around its centre, as `fix_length` documents), manifests pointing at missing files,
missing columns, empty manifests. A bad file is an `AudioFileError` / `DataError` naming it (and its
manifest line); a usable one gives the right samples.
"""

import pathlib

import numpy as np
import pytest
import soundfile

from voice_ft.data.audio_readers import (AudioExample, check_audio_files, read_audio_clips, read_audio_folder,
                                         read_audio_manifest)  # fmt: skip
from voice_ft.runtime.audio_io import AudioFileError, audio_info, read_audio
from voice_ft.runtime.errors import DataError

RATE = 16000


def tone(seconds: float, rate: int, freq: float = 440.0, amplitude: float = 0.5) -> np.ndarray:
    t = np.arange(int(round(seconds * rate))) / rate
    return (amplitude * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def dominant_hz(samples: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(len(samples))))
    return float(np.fft.rfftfreq(len(samples), 1 / rate)[spectrum.argmax()])


# --- formats that must read correctly ------------------------------------------------------------

SUBTYPES = [  # (soundfile subtype, largest error against the float signal: one quantisation step)
    pytest.param("PCM_U8", 1 / 64, id="8bit-unsigned"),
    pytest.param("PCM_16", 1e-4, id="16bit"),
    pytest.param("PCM_24", 1e-6, id="24bit"),
    pytest.param("PCM_32", 1e-7, id="32bit-int"),
    pytest.param("FLOAT", 1e-7, id="32bit-float"),
    pytest.param("DOUBLE", 1e-7, id="64bit-float"),
]


@pytest.mark.parametrize("subtype, tolerance", SUBTYPES)
def test_every_wav_subtype_reads_as_float_in_range(tmp_path, subtype, tolerance):
    signal = tone(0.5, RATE)
    path = tmp_path / f"{subtype}.wav"
    soundfile.write(path, signal, RATE, subtype=subtype)
    info = audio_info(path)
    assert (info.subtype, info.frames, info.sample_rate) == (subtype, len(signal), RATE)
    assert info.in_graph_wav == (subtype == "PCM_16")
    samples = read_audio(path, RATE)
    assert samples.dtype == np.float32 and samples.shape == signal.shape
    assert np.abs(samples - signal).max() <= tolerance  # 8-bit is centred on 128, not read as 0..1


def test_stereo_is_averaged_to_mono(tmp_path):
    left = tone(0.5, RATE)
    path = tmp_path / "stereo.wav"
    soundfile.write(path, np.stack([left, 0.5 * left], axis=1), RATE, subtype="FLOAT")
    np.testing.assert_allclose(read_audio(path, RATE), 0.75 * left, atol=1e-6)


@pytest.mark.parametrize("native_rate", [8000, 22050, 44100, 48000], ids=lambda r: f"{r}Hz")
def test_other_rates_are_resampled_to_the_same_duration_and_pitch(tmp_path, native_rate):
    path = tmp_path / f"tone_{native_rate}.wav"
    soundfile.write(path, tone(0.75, native_rate), native_rate)
    samples = read_audio(path, RATE)
    assert len(samples) == 12000  # 0.75 s at 16 kHz
    assert dominant_hz(samples, RATE) == pytest.approx(440, abs=3)
    assert np.abs(samples).max() == pytest.approx(0.5, abs=0.02)
    clip = read_audio(path, RATE, clip_samples=RATE)
    assert len(clip) == RATE and np.all(clip[:2000] == 0)  # centred: 0.125 s of silence before


def test_ten_minute_clip_is_trimmed_around_its_centre(tmp_path):
    """`fix_length(pad="center")` (the default) keeps the middle; `pad="end"` keeps the start."""
    samples = np.zeros(600 * RATE, np.float32)
    middle = 300 * RATE
    samples[middle - RATE // 2 : middle + RATE // 2] = 0.25
    samples[:RATE] = -0.25
    path = tmp_path / "ten_minutes.wav"
    soundfile.write(path, samples, RATE, subtype="PCM_16")
    assert len(read_audio(path, RATE)) == 600 * RATE  # no clip length: the whole recording
    np.testing.assert_allclose(read_audio(path, RATE, clip_samples=RATE), 0.25, atol=1e-4)
    np.testing.assert_allclose(read_audio(path, RATE, clip_samples=RATE, pad="end"), -0.25, atol=1e-4)


# --- files that must be refused, naming the file --------------------------------------------------


def _wav_bytes(tmp_path) -> bytes:
    path = tmp_path / "source.wav"
    soundfile.write(path, tone(1.0, RATE), RATE, subtype="PCM_16")
    return path.read_bytes()


BAD_FILES = {
    "zero-length": lambda wav: b"",
    "text-named-wav": lambda wav: b"this is a shopping list, not audio\n" * 20,
    "png-named-wav": lambda wav: b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4,
    "header-only": lambda wav: wav[:30],
    "truncated-half": lambda wav: wav[: len(wav) // 2],
    "truncated-last-byte": lambda wav: wav[:-1],
}
BAD_REASONS = {"zero-length": "unreadable", "text-named-wav": "unreadable", "png-named-wav": "unreadable",
               "header-only": "unreadable", "truncated-half": "truncated", "truncated-last-byte": "truncated"}  # fmt: skip


@pytest.mark.parametrize("kind", list(BAD_FILES))
def test_broken_or_non_audio_file_is_refused_by_name(tmp_path, kind):
    path = tmp_path / f"{kind}.wav"
    path.write_bytes(BAD_FILES[kind](_wav_bytes(tmp_path)))
    with pytest.raises(AudioFileError, match=BAD_REASONS[kind]) as info:
        read_audio(path, RATE)
    assert info.value.path == str(path) and str(path) in str(info.value)


@pytest.mark.parametrize("value", [np.nan, np.inf], ids=["nan", "inf"])
def test_non_finite_samples_are_refused(tmp_path, value):
    samples = tone(0.5, RATE)
    samples[100:] = value
    path = tmp_path / "nonfinite.wav"
    soundfile.write(path, samples, RATE, subtype="FLOAT")
    with pytest.raises(AudioFileError, match=r"7900 NaN/inf samples") as info:
        read_audio(path, RATE)
    assert info.value.path == str(path)


def test_wav_with_no_samples_is_refused(tmp_path):
    path = tmp_path / "empty.wav"
    soundfile.write(path, np.zeros(0, np.float32), RATE)
    with pytest.raises(AudioFileError, match="empty audio"):
        audio_info(path)


def test_too_many_channels_is_refused(tmp_path):
    path = tmp_path / "ten_channels.wav"
    soundfile.write(path, np.zeros((1000, 10), np.float32), RATE)
    with pytest.raises(AudioFileError, match="10 channels"):
        read_audio(path, RATE)


@pytest.mark.parametrize("kind", ["missing", "directory"])
def test_missing_path_or_directory_is_refused(tmp_path, kind):
    path = tmp_path / "nope.wav" if kind == "missing" else tmp_path
    with pytest.raises(AudioFileError, match="does not exist" if kind == "missing" else "unreadable") as info:
        read_audio(path, RATE)
    assert info.value.path == str(path)


# --- manifests and folders ------------------------------------------------------------------------


@pytest.fixture()
def two_wavs(tmp_path):
    for name in ("yes.wav", "no.wav"):
        soundfile.write(tmp_path / name, tone(0.5, RATE), RATE, subtype="PCM_16")
    return tmp_path


def test_manifest_row_pointing_at_a_missing_file_names_the_manifest_line(two_wavs):
    manifest = two_wavs / "manifest.csv"
    manifest.write_text("path,label\nyes.wav,yes\nmissing.wav,no\nno.wav,no\n", encoding="utf-8")
    examples = read_audio_manifest(manifest)
    with pytest.raises(AudioFileError, match=rf"does not exist \(listed at {manifest}:3\)") as info:
        check_audio_files(examples)
    assert info.value.path == str(two_wavs / "missing.wav")
    good, _, skipped = check_audio_files(examples, skip_bad_files=True)
    assert [e.path for e in good] == [str(two_wavs / "yes.wav"), str(two_wavs / "no.wav")]
    assert [s.path for s in skipped] == [str(two_wavs / "missing.wav")]
    assert f"{manifest}:3" in skipped[0].reason


MANIFEST_ERRORS = [
    pytest.param(b"", r"manifest\.csv: empty manifest", id="zero-bytes"),
    pytest.param(b"path,label\n", r"manifest\.csv: no examples found", id="header-only"),
    pytest.param(b"file,label\nyes.wav,yes\n", r"manifest\.csv:1: header has no column 'path'", id="no-path-column"),
    pytest.param(b"path,class\nyes.wav,yes\n", r"manifest\.csv:1: header has no column 'label'", id="no-label-column"),
    pytest.param(b"path,label\nyes.wav,yes\nno.wav,\n", r"manifest\.csv:3: empty 'label'", id="empty-label-cell"),
    pytest.param(b"path,label\nyes.wav\n", r"manifest\.csv:2: empty 'label'", id="short-row"),
    pytest.param(b"path,label\nyes.wav,yes\nn\xe9e.wav,no\n", r"manifest\.csv:3: not UTF-8", id="latin1-bytes"),
]


@pytest.mark.parametrize("content, message", MANIFEST_ERRORS)
def test_bad_manifest_is_a_data_error_naming_file_and_line(two_wavs, content, message):
    manifest = two_wavs / "manifest.csv"
    manifest.write_bytes(content)
    with pytest.raises(DataError, match=message):
        read_audio_manifest(manifest)


def test_manifest_with_bom_and_crlf_reads(two_wavs):
    manifest = two_wavs / "manifest.csv"
    manifest.write_bytes(b"\xef\xbb\xbfpath,label,speaker\r\nyes.wav,yes,ann\r\nno.wav,no,\r\n")
    examples = read_audio_manifest(manifest)
    assert [(e.label, e.speaker) for e in examples] == [("yes", "ann"), ("no", None)]
    assert check_audio_files(examples)[0] == examples


def test_missing_manifest_is_refused(tmp_path):
    with pytest.raises(DataError, match="manifest does not exist"):
        read_audio_manifest(tmp_path / "manifest.csv")


@pytest.mark.parametrize("layout", ["empty-folder", "no-audio-extensions", "files-not-in-label-folders"])
def test_folder_without_labelled_audio_is_refused(tmp_path, layout):
    if layout == "no-audio-extensions":
        (tmp_path / "yes").mkdir()
        (tmp_path / "yes" / "notes.txt").write_text("hi")
    elif layout == "files-not-in-label-folders":
        soundfile.write(tmp_path / "yes.wav", tone(0.5, RATE), RATE)
    with pytest.raises(DataError, match="no audio files"):
        read_audio_folder(tmp_path)


def test_clip_folder_reads_every_audio_file_under_it_with_one_label(tmp_path):
    for name in ("b.wav", "sub/a.flac", "sub/deeper/c.WAV", ".hidden/d.wav", "._e.wav", "notes.txt"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"RIFF")  # not opened here: check_audio_files names bad ones
    examples = read_audio_clips(tmp_path, "oos")
    assert [pathlib.Path(e.path).relative_to(tmp_path).as_posix() for e in examples] == ["b.wav", "sub/a.flac", "sub/deeper/c.WAV"]
    assert {e.label for e in examples} == {"oos"}
    with pytest.raises(AudioFileError, match="b.wav"):
        check_audio_files(examples)


@pytest.mark.parametrize("layout, message", [("missing", "audio folder does not exist"), ("empty", "no audio files")])
def test_clip_folder_that_is_missing_or_holds_no_audio_is_refused(tmp_path, layout, message):
    folder = tmp_path / "negatives"
    if layout == "empty":
        (folder / "sub").mkdir(parents=True)
        (folder / "sub" / "notes.txt").write_text("hi")
    with pytest.raises(DataError, match=f"{folder}: {message}"):
        read_audio_clips(folder, "oos")


def test_all_files_bad_is_an_error_even_when_skipping(tmp_path):
    for name in ("a.wav", "b.wav"):
        (tmp_path / name).write_bytes(b"RIFF")
    examples = [AudioExample(str(tmp_path / "a.wav"), "x"), AudioExample(str(tmp_path / "b.wav"), "y")]
    with pytest.raises(DataError, match="all 2 audio files are bad"):
        check_audio_files(examples, skip_bad_files=True)


# --- the tf.data pipeline -------------------------------------------------------------------------

MIXED = {  # file name -> (rate, subtype, channels)
    "pcm16.wav": (RATE, "PCM_16", 1),
    "pcm8.wav": (RATE, "PCM_U8", 1),
    "pcm24.wav": (RATE, "PCM_24", 1),
    "pcm32.wav": (RATE, "PCM_32", 1),
    "float.wav": (RATE, "FLOAT", 1),
    "stereo16.wav": (RATE, "PCM_16", 2),
    "rate8k.wav": (8000, "PCM_16", 1),
    "rate44k.wav": (44100, "PCM_16", 1),
    "long.wav": (RATE, "PCM_16", 1),
}


def test_audio_source_reads_every_format_like_the_runtime(tmp_path):
    """In-graph decoding (16-bit at 16 kHz) and the host path give the same clips as `read_audio`."""
    from voice_ft.data.audio import AudioSource

    (tmp_path / "go").mkdir()
    for name, (rate, subtype, channels) in MIXED.items():
        samples = tone(5.0 if name == "long.wav" else 0.6, rate)
        soundfile.write(tmp_path / "go" / name, np.stack([samples] * channels, axis=1), rate, subtype=subtype)
    source = AudioSource.from_examples(read_audio_folder(tmp_path), sample_rate=RATE, clip_seconds=1.0)
    names = [e.path.rsplit("/", 1)[1] for e in source.examples]
    assert sorted(names) == sorted(MIXED)
    assert dict(zip(names, source.in_graph)) == {n: n in ("pcm16.wav", "stereo16.wav", "long.wav") for n in names}
    assert source.min_native_rate == 8000
    clips, labels = source.arrays()
    assert clips.shape == (len(MIXED), RATE) and set(labels) == {0}
    for name, clip in zip(names, clips):
        np.testing.assert_allclose(clip, read_audio(tmp_path / "go" / name, RATE, RATE), atol=1e-4, err_msg=name)


def test_audio_source_names_a_truncated_file_or_skips_it(tmp_path):
    from voice_ft.data.audio import AudioSource

    good, bad = tmp_path / "good.wav", tmp_path / "bad.wav"
    soundfile.write(good, tone(1.0, RATE), RATE, subtype="PCM_16")
    bad.write_bytes(good.read_bytes()[:20000])  # decode_wav would read it; the check must not
    examples = [AudioExample(str(good), "a"), AudioExample(str(bad), "a")]
    with pytest.raises(AudioFileError, match=rf"{bad}: truncated WAV"):
        AudioSource.from_examples(examples)
    source = AudioSource.from_examples(examples, skip_bad_files=True)
    assert [e.path for e in source.examples] == [str(good)]
    assert [s.path for s in source.skipped] == [str(bad)]
    assert source.arrays()[0].shape == (1, RATE)
