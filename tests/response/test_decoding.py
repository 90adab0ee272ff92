"""Decoding on keras-hub samplers: new tokens only, stop tokens honoured, samplers selectable."""

import pytest

from voice_ft.response import build_response_generator
from voice_ft.response.decoding import generate_ids, make_sampler, prompt_token_ids


@pytest.fixture(scope="module")
def generator():
    return build_response_generator("tiny-gpt2", sequence_length=48)


def test_greedy_is_deterministic_and_returns_only_new_tokens(generator):
    prompt = generator.template.format(["Book a table for two."])
    ids = prompt_token_ids(generator, prompt, 40)
    first = generate_ids(generator, [ids], max_new_tokens=6)[0]
    assert len(first) == 6 and first == generate_ids(generator, [ids], max_new_tokens=6)[0]
    texts = generator.generate([prompt, "User: hi\nAssistant:"], max_new_tokens=6)
    assert len(texts) == 2 and all(isinstance(t, str) for t in texts)


def test_generation_stops_at_a_stop_token(generator):
    ids = prompt_token_ids(generator, generator.template.format(["Play some music."]), 40)
    free = generate_ids(generator, [ids], max_new_tokens=6, stop_token_ids=())[0]
    stopped = generate_ids(generator, [ids], max_new_tokens=6, stop_token_ids=(free[2],))[0]
    assert stopped == free[: free.index(free[2]) + 1]


@pytest.mark.parametrize("sampler,options", [("top_k", {"k": 5, "seed": 1}), ("top_p", {"p": 0.9, "seed": 1})])
def test_sampling_samplers_run(generator, sampler, options):
    ids = prompt_token_ids(generator, "User: hi\nAssistant:", 40)
    out = generate_ids(generator, [ids], max_new_tokens=4, sampler=sampler, stop_token_ids=(), **options)[0]
    assert len(out) == 4


def test_unknown_sampler_is_an_error():
    with pytest.raises(ValueError, match="Unknown sampler"):
        make_sampler("beam")
