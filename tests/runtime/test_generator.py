"""TF-free runtime: byte-level BPE matches keras-hub, the samplers, the generation loop, and no
TensorFlow import (checked in a fresh subprocess)."""

import json
import subprocess
import sys

import numpy as np
import pytest

from voice_ft.runtime.generator import BPETokenizer, Generator, sample_next

TEXTS = [
    "Hello world",
    "I'd like a table for 2 at 11:30 am in San Jose, please!",
    "User: What's the weather on March 3rd?\nAssistant:",
    "Café naïve résumé — 100% über-cool, isn't it? (yes)",
    "<|endoftext|>User: hi<|endoftext|>",
    "snake_case and CamelCase 3.14159 $20.50",
]


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    from voice_ft.response.export import export_decoder
    from voice_ft.response import build_response_generator

    generator = build_response_generator("tiny-gpt2", sequence_length=64)
    path = tmp_path_factory.mktemp("gen") / "tiny.tflite"
    export_decoder(generator, path, prefill_length=32, cache_length=64)
    return generator, path


def test_bpe_matches_keras_hub_gpt2_tokenizer(exported):
    generator, path = exported
    runtime = Generator(path)
    for text in TEXTS:
        expected = np.asarray(generator.tokenizer(text)).tolist()
        assert runtime.tokenizer.encode(text) == expected, text
        assert runtime.tokenizer.decode(expected) == text


def test_bpe_merges_by_rank():
    tok = BPETokenizer({"a": 0, "b": 1, "c": 2, "ab": 3, "bc": 4, "abc": 5}, ["b c", "a b", "a bc"])
    assert tok.encode("abc") == [5]  # "b c" first (rank 0), then "a bc"
    assert tok.encode("ab") == [3]


def test_samplers():
    logits = np.array([0.0, 3.0, 1.0, 2.9])
    assert sample_next(logits) == 1
    rng = np.random.default_rng(0)
    assert sample_next(logits, "top_k", k=1, rng=rng) == 1
    assert sample_next(logits, "top_p", p=0.01, rng=rng) == 1
    draws = {sample_next(logits, "top_k", k=2, rng=rng) for _ in range(200)}
    assert draws == {1, 3}
    draws = {sample_next(logits, "top_p", p=0.5, rng=rng) for _ in range(200)}
    assert draws <= {1, 3} and 1 in draws
    with pytest.raises(ValueError):
        sample_next(logits, "beam")


def test_generate_honours_stop_tokens_and_limits(exported):
    _, path = exported
    runtime = Generator(path)
    ids = runtime.encode_prompt("User: hello\nAssistant:")
    assert ids[0] == 50256  # GPT-2 start token from the sidecar
    free = runtime.generate_ids(ids, max_new_tokens=6, stop_token_ids=())
    assert len(free) == 6
    stop = free[3]
    assert runtime.generate_ids(ids, max_new_tokens=6, stop_token_ids=[stop]) == free[: free.index(stop) + 1]
    sampled = runtime.generate_ids(ids, max_new_tokens=5, sampler="top_p", p=0.9, seed=3, stop_token_ids=())
    assert sampled == runtime.generate_ids(ids, max_new_tokens=5, sampler="top_p", p=0.9, seed=3, stop_token_ids=())
    long_ids = runtime.encode_prompt("word " * 100)
    assert len(long_ids) == 32 and runtime.prompts_truncated == 1
    assert isinstance(runtime.respond(["Set an alarm"], intent="AddAlarm", max_new_tokens=3), str)


def test_missing_sidecar_is_a_clear_error(tmp_path, exported):
    _, path = exported
    lonely = tmp_path / "lonely.tflite"
    lonely.write_bytes(path.read_bytes())
    with pytest.raises(FileNotFoundError, match="Sidecar"):
        Generator(lonely)


def test_runtime_never_imports_tensorflow(exported):
    _, path = exported
    code = (
        "import sys, json\n"
        "from voice_ft.runtime.generator import Generator\n"
        f"g = Generator({str(path)!r})\n"
        "ids = g.generate_ids(g.encode_prompt('User: hi\\nAssistant:'), max_new_tokens=3, stop_token_ids=())\n"
        "print(json.dumps({'ids': ids, 'tf': [m for m in sys.modules if m.split('.')[0] in "
        "('tensorflow', 'keras', 'keras_hub')]}))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["tf"] == [] and len(result["ids"]) == 3
