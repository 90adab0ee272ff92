"""SFT data: the loss sees response tokens (and the stop token) only; truncation is counted."""

import numpy as np
import pytest
import tensorflow as tf

from voice_ft.response import build_response_generator
from voice_ft.response.sft import EmptyResponseError, collate, make_sft_dataset, tokenize_pairs
from voice_ft.training.losses import weighted_token_loss


@pytest.fixture(scope="module")
def generator():
    return build_response_generator("tiny-gpt2", sequence_length=32)


def test_only_response_and_stop_tokens_carry_weight(generator):
    prompt = generator.template.format([("user", "Hello there")])
    (example,), stats = tokenize_pairs(generator, [(prompt, "Hi, how can I help?")])
    tok = generator.tokenizer
    prompt_ids = [50256] + [int(i) for i in np.asarray(tok(prompt))]
    response_ids = [int(i) for i in np.asarray(tok(" Hi, how can I help?"))] + [50256]
    assert example.token_ids.tolist() == prompt_ids + response_ids
    x, y, w = collate([example])
    n = len(example.token_ids) - 1
    assert x["token_ids"][0, :n].tolist() == example.token_ids[:-1].tolist()
    assert y[0, :n].tolist() == example.token_ids[1:].tolist()
    weighted_labels = y[0][w[0] > 0].tolist()
    assert weighted_labels == response_ids  # exactly the response and its stop token
    assert not x["padding_mask"][0, n:].any() and w[0, n:].sum() == 0
    assert stats.response_tokens == len(response_ids) and stats.prompts_truncated == 0


def test_long_prompt_is_cut_from_the_left_and_counted(generator):
    long_prompt = generator.template.format([("user", " ".join(f"word{i}" for i in range(60)))])
    examples, stats = tokenize_pairs(generator, [(long_prompt, "Okay.")])
    ids = examples[0].token_ids
    assert len(ids) == 33 and ids[0] == 50256  # window + 1, start token kept
    assert generator.tokenizer.detokenize(ids[-4:-1]).endswith("Okay.")  # response intact
    assert "Assistant:" in generator.tokenizer.detokenize(ids[1 : examples[0].prompt_length])  # newest turn kept
    assert stats.prompts_truncated == 1


def test_empty_response_is_an_error(generator):
    with pytest.raises(EmptyResponseError, match="pair 1"):
        tokenize_pairs(generator, [("User: a\nAssistant:", "fine"), ("User: b\nAssistant:", "   ")])


def test_dataset_batches_pad_to_the_batch_not_the_window(generator):
    pairs = [(generator.template.format([f"hi {i}"]), "ok " * (1 + i % 3)) for i in range(10)]
    examples, _ = tokenize_pairs(generator, pairs)
    dataset = make_sft_dataset(examples, batch_size=4, pad_to_multiple=8)
    batches = list(dataset)
    assert len(batches) == 3 == int(dataset.cardinality())
    assert sum(int(b[0]["token_ids"].shape[0]) for b in batches) == 10
    assert all(int(b[0]["token_ids"].shape[1]) <= 24 for b in batches)


def test_training_loss_is_the_mean_over_response_tokens(generator):
    pairs = [(generator.template.format(["hello"]), "Hi there."), (generator.template.format(["a longer question here"]), "Sure.")]
    examples, _ = tokenize_pairs(generator, pairs)
    loss = weighted_token_loss()
    values = []
    for width in (8, 32):  # the same examples padded to different widths
        x, y, w = collate(examples, pad_to_multiple=width)
        logits = generator.lm(x)
        nll = np.asarray(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=logits))
        values.append(float(loss(y, logits, sample_weight=w)))
        assert values[-1] == pytest.approx((nll * w).sum() / w.sum(), rel=1e-4)
    assert values[0] == pytest.approx(values[1], rel=1e-4)  # padding does not dilute the loss
