"""Generated out-of-scope clips for keyword models: words that sound unlike the keywords, and noise."""

import wave

import numpy as np
import pytest

from voice_ft.data import audio_negatives
from voice_ft.data.audio_negatives import generate_audio_negatives, noise_clip, phonemes, sounds_like
from voice_ft.data.audio_readers import read_audio_clips
from voice_ft.data.speech_synthesis import espeak_binary

needs_espeak = pytest.mark.skipif(espeak_binary() is None, reason="espeak-ng is not installed (apt-get install -y espeak-ng)")
DIGITS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]


@needs_espeak
def test_homophones_and_near_rhymes_of_a_keyword_are_dropped_and_other_words_kept():
    keywords = phonemes(["two", "four", "nine"])
    for word in ("too", "to", "tool", "for", "fore"):
        assert any(sounds_like(phonemes([word])[0], k) for k in keywords), word
    for word in ("weather", "playlist", "restaurant", "album"):
        assert not any(sounds_like(phonemes([word])[0], k) for k in keywords), word


def test_sounds_like_allows_about_a_third_of_the_longer_string_in_edits():
    assert sounds_like("tu:", "tu:") and sounds_like("tu:l", "tu:")  # one edit
    assert not sounds_like("wED3", "tu:") and not sounds_like("pleIlIst", "faIv")
    assert sounds_like("abcdef", "abcxyf", max_phoneme_edits=0.34) and not sounds_like("abcdef", "axyzef")


@pytest.mark.parametrize("kind", ["white", "pink", "brown", "silence"])
def test_noise_clips_are_in_range_and_silence_is_quiet(kind):
    clip = noise_clip(kind, 16000, np.random.default_rng(0))
    assert clip.shape == (16000,) and clip.dtype == np.float32 and np.all(np.isfinite(clip))
    peak = np.max(np.abs(clip))
    assert (peak < 1e-2) if kind == "silence" else (10 ** (-31 / 20) <= peak <= 10 ** (-5.9 / 20))
    with pytest.raises(ValueError, match="noise kind 'hum'"):
        noise_clip("hum", 10, np.random.default_rng(0))


@needs_espeak
def test_generated_clips_are_readable_seeded_and_never_a_keyword(tmp_path):
    made = generate_audio_negatives(DIGITS, tmp_path / "a", num_words=12, num_noise_clips=4, seed=3)
    assert len(made.words) == 12 and made.noise_clips == 4 and made.num_clips == 16
    assert not set(made.words) & {"to", "too", "for", "won", "ate", *DIGITS}  # homophones of digits
    assert {"to", "for"} <= set(made.dropped)
    clips = read_audio_clips(made.folder, "oos")
    assert len(clips) == 16 and all(c.label == "oos" for c in clips)
    for clip in clips:
        with wave.open(clip.path) as f:
            assert f.getnframes() > 1000 and f.getnchannels() == 1 and f.getsampwidth() == 2
    assert not list(made.folder.rglob(".partial-*"))
    again = generate_audio_negatives(DIGITS, tmp_path / "b", num_words=12, num_noise_clips=4, seed=3)
    assert again.words == made.words
    for a, b in zip(sorted((tmp_path / "a" / "noise").iterdir()), sorted((tmp_path / "b" / "noise").iterdir())):
        assert a.read_bytes() == b.read_bytes()
    other = generate_audio_negatives(DIGITS, tmp_path / "c", num_words=12, num_noise_clips=0, seed=4)
    assert other.words != made.words and not (tmp_path / "c" / "noise").exists()


@needs_espeak
def test_existing_files_are_reused_not_rewritten(tmp_path):
    made = generate_audio_negatives(["yes", "no"], tmp_path, num_words=3, num_noise_clips=1, seed=0)
    first = sorted(made.folder.rglob("*.wav"))
    stamps = [p.stat().st_mtime_ns for p in first]
    generate_audio_negatives(["yes", "no"], tmp_path, num_words=3, num_noise_clips=1, seed=0)
    assert [p.stat().st_mtime_ns for p in sorted(made.folder.rglob("*.wav"))] == stamps


@needs_espeak
def test_bad_requests_are_refused(tmp_path, monkeypatch):
    with pytest.raises(ValueError, match="needs the keywords"):
        generate_audio_negatives([" ", "_"], tmp_path)
    with pytest.raises(ValueError, match="not both 0"):
        generate_audio_negatives(["yes"], tmp_path, num_words=0, num_noise_clips=0)
    monkeypatch.setattr(audio_negatives, "MAX_CANDIDATES", 5)
    with pytest.raises(ValueError, match=r"only \d candidate words sound unlike the keywords; asked for 50"):
        generate_audio_negatives(["yes"], tmp_path, num_words=50)
