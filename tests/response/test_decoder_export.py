"""Decoder export: builtin-op .tflite with prefill/decode signatures whose greedy output equals
keras-hub's greedy `generate` token for token (tiny GPT-2 and tiny Llama, 20 prompts each)."""

import json
import os

import numpy as np
import pytest

from voice_ft.response.data import sgd_response_pairs
from voice_ft.response.export import cache_shape, convert_decoder, export_decoder, verify_greedy
from voice_ft.response import build_response_generator

large = pytest.mark.skipif(os.environ.get("VOICE_FT_LARGE_TESTS") != "1", reason="set VOICE_FT_LARGE_TESTS=1")


def sgd_prompts(template, n=20):
    pairs = sgd_response_pairs("validation", max_dialogues=30)
    return [p.prompt(template) for p in pairs[:: max(1, len(pairs) // n)][:n]]


@pytest.mark.parametrize("spec", ["tiny-gpt2", "tiny-llama"])
def test_float32_export_matches_keras_greedy_on_20_prompts(tmp_path, spec):
    generator = build_response_generator(spec, sequence_length=64)
    prompts = sgd_prompts(generator.template)
    result = export_decoder(generator, tmp_path / "d.tflite", prefill_length=48, cache_length=64,
                            verify_prompts=prompts, max_new_tokens=8)
    assert len(result.verification) == 20
    mismatches = [r for r in result.verification if r["first_difference"] is not None]
    assert result.greedy_match == 1.0, mismatches[:2]
    assert len({tuple(r["keras"]) for r in result.verification}) > 1  # outputs are not degenerate
    sidecar = json.loads(result.sidecar_path.read_text())
    assert sidecar["task"] == "response_generation" and sidecar["cache_length"] == 64
    assert sidecar["stop_token_ids"] == [50256] and sidecar["template"]["style"] == "plain"
    assert sidecar["verification"]["greedy_match"] == 1.0
    assert (tmp_path / sidecar["tokenizer"]["vocabulary"]).exists() and (tmp_path / sidecar["tokenizer"]["merges"]).exists()
    assert sidecar["signatures"]["decode"]["inputs"]["cache"] == list(cache_shape(generator.lm, 64))


def test_dynamic_int8_export_is_smaller_and_verified_on_its_own(tmp_path):
    generator = build_response_generator("tiny-gpt2", sequence_length=64)
    float_bytes = 4 * generator.lm.backbone.count_params()
    result = export_decoder(generator, tmp_path / "q.tflite", quantization="dynamic", prefill_length=32,
                            cache_length=64)
    assert result.size_bytes < 0.7 * float_bytes  # the embedding gather table stays float
    match, records = verify_greedy(generator, result.tflite_path, sgd_prompts(generator.template, 5)[:5], 6)
    assert 0.0 <= match <= 1.0 and len(records) == 5  # int8 drifts: measured, not asserted equal
    assert json.loads(result.sidecar_path.read_text())["quantization"] == "dynamic"


def test_bad_arguments_are_errors():
    generator = build_response_generator("tiny-gpt2", sequence_length=64)
    with pytest.raises(ValueError, match="quantization"):
        convert_decoder(generator.lm, "float16")
    with pytest.raises(ValueError, match="prefill_length"):
        convert_decoder(generator.lm, prefill_length=80, cache_length=64)
    with pytest.raises(ValueError, match="positions"):
        convert_decoder(generator.lm, prefill_length=8, cache_length=4096)


@large
def test_smollm2_float32_export_matches_keras_greedy(tmp_path):
    generator = build_response_generator("smollm2-135m-instruct", sequence_length=256)
    result = export_decoder(generator, tmp_path / "smollm2.tflite", prefill_length=192, cache_length=256,
                            verify_prompts=sgd_prompts(generator.template), max_new_tokens=16)
    assert result.greedy_match == 1.0, [r for r in result.verification if r["first_difference"] is not None][:1]
    assert np.isfinite(result.size_bytes)
