"""Generated out-of-scope clips for keyword models: words that sound unlike the keywords, and noise."""

import wave

import numpy as np
import pytest

from voice_ft.data import audio_negatives
from voice_ft.data.audio_negatives import derived_clips, generate_audio_negatives, noise_clip, phonemes, sounds_like, spoken_part
from voice_ft.data.audio_readers import read_audio_clips
from voice_ft.data.speech_synthesis import espeak_binary
from voice_ft.runtime.audio_io import read_audio

from conftest import REPO

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
    with pytest.raises(ValueError, match="not all 0"):
        generate_audio_negatives(["yes"], tmp_path, num_words=0, num_noise_clips=0)
    monkeypatch.setattr(audio_negatives, "MAX_CANDIDATES", 5)
    with pytest.raises(ValueError, match=r"only \d candidate words sound unlike the keywords; asked for 50"):
        generate_audio_negatives(["yes"], tmp_path, num_words=50)


def fsdd_clips(labels=("0", "1"), per_label=2) -> list[tuple[str, str]]:
    clips = []
    for label in labels:
        clips += [(str(p), label) for p in sorted((REPO / "data" / "fsdd" / label).glob("*.wav"))[:per_label]]
    return clips


def test_derived_clips_are_reversed_or_spliced_real_recordings():
    clips = fsdd_clips()
    made = derived_clips(clips, 6, seed=1)
    assert [kind for kind, _ in made] == ["reversed", "spliced"] * 3
    originals = [read_audio(path) for path, _ in clips]
    for kind, samples in made:
        assert samples.dtype == np.float32 and len(samples) > 800 and np.all(np.isfinite(samples))
        if kind == "reversed":
            assert any(len(o) == len(samples) and np.array_equal(o[::-1], samples) for o in originals)
        else:  # half of one label's spoken part, then half of another's: no original holds it
            assert not any(len(o) == len(samples) and np.array_equal(o, samples) for o in originals)
    assert all(kind == "reversed" for kind, _ in derived_clips(fsdd_clips(("0",)), 3))  # one label: nothing to splice
    with pytest.raises(ValueError, match="need keyword clips"):
        derived_clips([], 2)


def test_spoken_part_trims_the_silence_around_speech():
    speech = np.sin(np.arange(3200) / 5.0).astype(np.float32)
    clip = np.concatenate([np.zeros(1600, np.float32), speech, np.zeros(3200, np.float32)])
    assert 3200 <= len(spoken_part(clip)) <= 3200 + 2 * 160


@needs_espeak
def test_derived_clips_join_the_generated_folder(tmp_path):
    made = generate_audio_negatives(["zero", "one"], tmp_path, num_words=2, num_noise_clips=1, seed=0,
                                    keyword_clips=fsdd_clips(), num_derived_clips=3)
    assert made.derived_clips == 3 and made.num_clips == 6
    assert len(read_audio_clips(tmp_path, "oos")) == 6
    assert sorted(p.name for p in (tmp_path / "derived").iterdir()) == ["0000_reversed.wav", "0001_spliced.wav",
                                                                        "0002_reversed.wav"]  # fmt: skip
    # A rerun finds every derived clip in place and does not read the recordings again (these do not exist).
    gone = [(str(tmp_path / f"gone_{i}.wav"), label) for i, (_, label) in enumerate(fsdd_clips())]
    generate_audio_negatives(["zero", "one"], tmp_path, num_words=2, num_noise_clips=1, seed=0,
                             keyword_clips=gone, num_derived_clips=3)
    with pytest.raises(ValueError, match="needs keyword_clips"):
        generate_audio_negatives(["zero"], tmp_path / "x", num_words=1, num_derived_clips=2)
