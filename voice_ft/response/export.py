"""Export a keras-hub decoder to `.tflite` with fixed-size KV-cache signatures.

Two signatures, both builtin TFLite ops only:

- ``prefill(token_ids[1, P] int32) -> {"cache"}``: runs the (right-padded) prompt through
  `CausalLM.call_with_cache` with an all-zero cache of `cache_length` positions;
- ``decode(token_id[1, 1] int32, cache, index[] int32) -> {"logits"[1, V], "cache"}``: one step
  at position `index`, writing that position's keys/values into the cache
  (DYNAMIC_UPDATE_SLICE).

The cache is `[1, layers, 2, cache_length, kv_heads, head_dim]` float32. The runtime loop mirrors
keras-hub's `generate`: prefill, then decode the last prompt token at `len(prompt) - 1` for the
first new token's logits, and so on. Cache positions past the prompt hold keys of padding
tokens, but attention only looks at positions `<= index`, which decode has overwritten.

How (see `../shared/notes/stack.md`): `keras.export.ExportArchive` tracking the backbone, two
endpoints with fixed input signatures, `write_out`, then `TFLiteConverter.from_saved_model`
with both signature keys. A plain `tf.Module` saved with `tf.saved_model.save` converts to a file
whose weights are not frozen (VAR_HANDLE ops, wrong outputs), and `from_concrete_functions`
gives NaNs on TF 2.21.

Verification (`verify_greedy`): greedy ids of the `.tflite` file (through the TF-free
`voice_ft.runtime.Generator`) against keras-hub's greedy `generate`, token for token, per prompt.
Dynamic-range int8 files drift from the float model, so they are verified on their own and the
match fraction is reported rather than asserted.
"""

from __future__ import annotations

import dataclasses
import json
import pathlib
import tempfile
from collections.abc import Sequence

import keras
import numpy as np
import tensorflow as tf

from voice_ft.export.convert import make_converter, run_converter
from voice_ft.export.sidecar import write_sidecar

QUANTIZATIONS = ("float32", "dynamic")
SIGNATURES = ("prefill", "decode")


@dataclasses.dataclass
class DecoderExportResult:
    """What `export_decoder` wrote and how well it matched Keras."""

    tflite_path: pathlib.Path
    sidecar_path: pathlib.Path
    size_bytes: int
    quantization: str
    greedy_match: float | None = None  # fraction of verification prompts with identical greedy ids
    verification: list[dict] = dataclasses.field(default_factory=list)


def cache_shape(lm, cache_length: int) -> tuple[int, ...]:
    """The KV-cache shape `[1, layers, 2, cache_length, kv_heads, head_dim]` of a keras-hub decoder."""
    backbone = lm.backbone
    heads = getattr(backbone, "num_query_heads", None) or backbone.num_heads
    kv_heads = getattr(backbone, "num_key_value_heads", None) or heads
    return (1, backbone.num_layers, 2, cache_length, kv_heads, backbone.hidden_dim // heads)


def decoder_archive(lm, prefill_length: int, cache_length: int) -> keras.export.ExportArchive:
    """A `keras.export.ExportArchive` with the `prefill` and `decode` endpoints."""
    if prefill_length > cache_length:
        raise ValueError(f"prefill_length ({prefill_length}) must be <= cache_length ({cache_length}).")
    max_positions = getattr(lm.backbone, "max_sequence_length", None)
    if max_positions is not None and cache_length > max_positions:
        raise ValueError(f"cache_length {cache_length} exceeds the model's {max_positions} positions.")
    shape = cache_shape(lm, cache_length)
    archive = keras.export.ExportArchive()
    # Track the backbone, not the CausalLM: the CausalLM also holds its preprocessor, whose
    # tokenizer lookup tables would become Flex HashTable ops. The CausalLM's own weights are the
    # backbone's (the output projection is the tied or reverse token embedding).
    archive.track(lm.backbone)

    def prefill(token_ids):
        cache = tf.zeros(shape, dtype=lm.compute_dtype)
        _, _, cache = lm.call_with_cache(token_ids, cache, 0)
        return {"cache": tf.cast(cache, tf.float32)}

    def decode(token_id, cache, index):
        logits, _, cache = lm.call_with_cache(token_id, tf.cast(cache, lm.compute_dtype), index)
        return {"logits": tf.cast(logits[:, -1, :], tf.float32), "cache": tf.cast(cache, tf.float32)}

    archive.add_endpoint("prefill", prefill, input_signature=[tf.TensorSpec((1, prefill_length), tf.int32, name="token_ids")])
    archive.add_endpoint(
        "decode",
        decode,
        input_signature=[
            tf.TensorSpec((1, 1), tf.int32, name="token_id"),
            tf.TensorSpec(shape, tf.float32, name="cache"),
            tf.TensorSpec((), tf.int32, name="index"),
        ],
    )
    return archive


def convert_decoder(lm, quantization: str = "float32", prefill_length: int = 128, cache_length: int = 256) -> bytes:
    """Converts a keras-hub CausalLM to `.tflite` bytes with `prefill`/`decode` signatures.

    Raises:
        ValueError: an unsupported quantization ("float32" or "dynamic").
        voice_ft.export.convert.FlexOpsError: the graph needs non-builtin ops.
    """
    if quantization not in QUANTIZATIONS:
        raise ValueError(f"Decoder quantization must be one of {QUANTIZATIONS}, got {quantization!r}.")
    with tempfile.TemporaryDirectory(prefix="voice_ft_decoder_") as tmp:
        decoder_archive(lm, prefill_length, cache_length).write_out(tmp, verbose=False)
        converter = make_converter(tmp, quantization, signature_keys=list(SIGNATURES))
        return run_converter(converter)


def write_tokenizer_files(tokenizer, stem_path: pathlib.Path) -> dict:
    """Writes the tokenizer's vocabulary and merges beside the `.tflite`; returns the sidecar entry."""
    vocab_path = stem_path.with_name(stem_path.stem + ".vocab.json")
    merges_path = stem_path.with_name(stem_path.stem + ".merges.txt")
    vocabulary = {str(token): int(i) for token, i in dict(tokenizer.vocabulary).items()}
    vocab_path.write_text(json.dumps(vocabulary, ensure_ascii=False), encoding="utf-8")
    merges = [m for m in tokenizer.merges if not m.startswith("#version")]
    merges_path.write_text("#version: 0.2\n" + "\n".join(merges) + "\n", encoding="utf-8")
    special = sorted({str(t) for t in (getattr(tokenizer, "unsplittable_tokens", None) or tokenizer.special_tokens)})
    return {"kind": "byte_level_bpe", "vocabulary": vocab_path.name, "merges": merges_path.name,
            "special_tokens": special}


def export_decoder(
    generator,
    path: str | pathlib.Path,
    quantization: str = "float32",
    prefill_length: int = 128,
    cache_length: int = 256,
    verify_prompts: Sequence[str] | None = None,
    max_new_tokens: int = 32,
    tflite_bytes: bytes | None = None,
) -> DecoderExportResult:
    """Exports a `voice_ft.response.ResponseGenerator` to `<path>` plus its sidecar and tokenizer.

    Args:
        generator: the `ResponseGenerator` (lm, template, stop tokens).
        path: the `.tflite` file to write.
        quantization: "float32" or "dynamic" (int8 weights, float activations).
        prefill_length: the longest prompt (tokens) the `prefill` signature takes; longer prompts
            are cut from the left by the runtime.
        cache_length: KV-cache positions (prompt + response).
        verify_prompts: templated prompts; if given, greedy ids of the file are compared with
            keras-hub's greedy `generate` for each.
        max_new_tokens: tokens generated per verification prompt.
        tflite_bytes: already-converted bytes (skips conversion).
    """
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = tflite_bytes if tflite_bytes is not None else convert_decoder(generator.lm, quantization, prefill_length, cache_length)
    path.write_bytes(data)
    tokenizer = generator.tokenizer
    metadata = {
        "task": "response_generation",
        "model": generator.name,
        "architecture": type(generator.lm).__name__,
        "quantization": quantization,
        "signatures": {
            "prefill": {"inputs": {"token_ids": [1, prefill_length]}, "outputs": ["cache"]},
            "decode": {"inputs": {"token_id": [1, 1], "cache": list(cache_shape(generator.lm, cache_length)), "index": []},
                       "outputs": ["logits", "cache"]},
        },
        "prefill_length": prefill_length,
        "cache_length": cache_length,
        "tokenizer": write_tokenizer_files(tokenizer, path),
        "start_token_id": int(tokenizer.start_token_id) if generator.add_start_token else None,
        "stop_token_ids": [int(t) for t in generator.stop_token_ids],
        "pad_token_id": 0,
        "template": generator.template.to_dict(),
    }
    result = DecoderExportResult(path, write_sidecar(path, metadata), len(data), quantization)
    if verify_prompts:
        result.greedy_match, result.verification = verify_greedy(generator, path, verify_prompts, max_new_tokens)
        metadata["verification"] = {"greedy_match": result.greedy_match, "prompts": len(verify_prompts),
                                    "max_new_tokens": max_new_tokens}
        write_sidecar(path, metadata)
    return result


def verify_greedy(
    generator, tflite_path: str | pathlib.Path, prompts: Sequence[str], max_new_tokens: int = 32, num_threads: int = 2,
    batch_size: int = 10,
) -> tuple[float, list[dict]]:
    """Greedy ids of the `.tflite` file vs keras-hub's greedy `generate`, prompt by prompt.

    Returns `(match fraction, per-prompt records)`; a record has the prompt, both id lists and
    the first position where they differ (None when identical).
    """
    from voice_ft.response.decoding import generate_ids, prompt_token_ids
    from voice_ft.runtime.generator import Generator

    runtime = Generator(tflite_path, num_threads=num_threads)
    prompt_ids = [prompt_token_ids(generator, p, runtime.prefill_length) for p in prompts]
    keras_ids = []
    for b in range(0, len(prompt_ids), batch_size):  # batched: one traced generate per batch
        keras_ids += generate_ids(generator, prompt_ids[b : b + batch_size], max_new_tokens, sampler="greedy")
    records = []
    for prompt, ids, expected in zip(prompts, prompt_ids, keras_ids):
        got = runtime.generate_ids(ids, max_new_tokens=max_new_tokens, sampler="greedy")
        diff = next((i for i, (a, b) in enumerate(zip(expected, got)) if a != b), None)
        if diff is None and len(expected) != len(got):
            diff = min(len(expected), len(got))
        records.append({"prompt": prompt, "keras": expected, "tflite": got, "first_difference": diff})
    match = float(np.mean([r["first_difference"] is None for r in records])) if records else float("nan")
    return match, records
