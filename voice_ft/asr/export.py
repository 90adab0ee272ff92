"""Export a Whisper backbone to an encoder `.tflite` and a decoder-step `.tflite`, verified.

What is written for `export_speech_recognizer(backbone, "out/asr")`:

- `asr_encoder.tflite`: ``serving_default(features[1, frames, mels]) -> encoder_output[1, frames/2, hidden]``.
  Features, not waveform: the log-mel front end runs in numpy on the phone
  (`voice_ft.runtime.whisper_features`, checked against keras-hub's `WhisperAudioConverter`),
  because a 400-point FFT does not run in TFLite and a DFT-as-matmul would be int8-quantized
  with the weights in the "dynamic" variant.
- `asr_decoder.tflite`, two signatures sharing the weights:
  ``cross_kv(encoder_output) -> cross_cache[1, layers, 2, frames/2, heads, head_dim]`` (each
  layer's cross-attention keys/values, projected once per clip), and
  ``decode(token_id[1, 1], cache[1, layers, 2, cache_length, heads, head_dim], cross_cache,
  index[]) -> logits[1, V], cache`` (one step at position `index`, as keras-hub's cached
  `TransformerDecoder` call: DYNAMIC_UPDATE_SLICE into the self-attention cache).
  With `output_token_ids` (a closed domain's tokens, `voice_ft.asr.output_vocabulary`), only
  those rows of the tied token embedding are kept: `token_id` is then a row of that list and
  `logits` has one score per kept token. The runtime maps rows to token ids with the sidecar's
  `generation.output_token_ids`; Keras's reference decodes with every other token at -inf.
- `asr.json`: the recogniser sidecar (task "speech_recognition", audio settings, frames, prompt
  ids, suppression ids, end token, cache shapes, tokenizer files, verification), plus
  `asr_encoder.json` / `asr_decoder.json` (one sidecar per `.tflite`, naming `asr.json`), and
  `asr.vocab.json` / `asr.merges.txt` for the runtime's byte-level BPE detokenizer.

Short-audio mode: ``audio_frames`` < 3000 (e.g. 300 for 3 s, 500 for 5 s) cuts the encoder's
input; the features are the first `audio_frames` frames of the standard 30 s features, and the
Keras reference (`keras_greedy_tokens`) runs the same cut features through the Keras encoder.
Whisper never saw shorter windows in training, so short mode trades some accuracy for speed;
the verification compares like with like.

How (see `voice_ft.response.export`): `keras.export.ExportArchive` tracking the backbone, fixed
input signatures, `write_out`, `TFLiteConverter.from_saved_model` with the signature keys,
builtin ops only (`FlexOpsError` otherwise).

Verification: greedy token ids of the staged files, run by the TF-free
`voice_ft.runtime.SpeechRecognizer`, against Keras on the given waveforms. float32 files must
match on every clip or nothing is written (`ExportVerificationError`); "dynamic" (int8 weights)
files drift, so their match rate is reported (result and sidecar) rather than required.
"""

from __future__ import annotations

import dataclasses
import json
import os
import pathlib
from collections.abc import Callable, Sequence

import keras
import numpy as np
import tensorflow as tf
from absl import logging

from voice_ft.asr import decoding
from voice_ft.data.files import refuse_overwrite
from voice_ft.export.convert import make_converter, recent_saved_models, run_converter
from voice_ft.export.errors import ExportVerificationError
from voice_ft.export.sidecar import package_versions, write_sidecar
from voice_ft.export.staging import write_verified
from voice_ft.runtime.generator import BPETokenizer
from voice_ft.runtime.speech_recognizer import TASK, SpeechRecognizer
from voice_ft.runtime.whisper_features import FULL_FRAMES, HOP, N_FFT, SAMPLE_RATE

QUANTIZATIONS = ("float32", "dynamic")
DECODER_SIGNATURES = ("cross_kv", "decode")
DEFAULT_NAME = "speech_recognizer"


@dataclasses.dataclass
class SpeechExportResult:
    """What `export_speech_recognizer` wrote (or refused) and how it compared with Keras."""

    sidecar_path: pathlib.Path
    encoder_path: pathlib.Path
    decoder_path: pathlib.Path
    quantization: str
    audio_frames: int
    max_tokens: int
    encoder_bytes: int
    decoder_bytes: int
    greedy_match: float | None = None  # fraction of verification clips with identical greedy ids
    verification: list[dict] = dataclasses.field(default_factory=list)

    @property
    def size_bytes(self) -> int:
        return self.encoder_bytes + self.decoder_bytes


# --- shapes ------------------------------------------------------------------------------------


def encoder_length(audio_frames: int) -> int:
    """Encoder positions for `audio_frames` feature frames (the second conv has stride 2)."""
    return (audio_frames + 1) // 2


def kv_shape(model, length: int) -> tuple[int, ...]:
    """`[1, layers, 2, length, heads, head_dim]`: the self- or cross-attention cache of all layers."""
    return (1, model.num_layers, 2, length, model.num_heads, model.hidden_dim // model.num_heads)


def _check_frames(model, audio_frames: int) -> None:
    full = int(model.max_encoder_sequence_length)
    if not 2 <= audio_frames <= full:
        raise ValueError(f"audio_frames must be in 2..{full} (the model's 30 s window), got {audio_frames}.")


# --- the two graphs ------------------------------------------------------------------------------


def encoder_archive(model, audio_frames: int) -> keras.export.ExportArchive:
    """ExportArchive: ``serving_default(features[1, frames, mels]) -> {"encoder_output"}``."""
    _check_frames(model, audio_frames)
    encoder = keras.Model(model.input["encoder_features"], model.output["encoder_sequence_output"])
    archive = keras.export.ExportArchive()
    archive.track(encoder)

    def serve(features):
        return {"encoder_output": encoder(features, training=False)}

    spec = tf.TensorSpec((1, audio_frames, model.num_mels), tf.float32, name="features")
    archive.add_endpoint("serving_default", serve, input_signature=[spec])
    return archive


def kept_token_ids(tokenizer, output_token_ids) -> list[int] | None:
    """The sorted ids a domain export keeps: `output_token_ids` plus the prompt and <|endoftext|>."""
    if output_token_ids is None:
        return None
    always = {int(t) for t in decoding.prompt_ids(tokenizer)} | {int(tokenizer.eos_token_id)}
    return sorted({int(t) for t in output_token_ids} | always)


def kept_embedding_rows(model, output_token_ids) -> np.ndarray:
    """(kept, hidden) rows of the decoder's token embedding, which the tied output projection reuses."""
    embedding = model.token_embedding
    if not getattr(embedding, "tie_weights", True) or getattr(embedding, "logit_soft_cap", None) is not None:
        raise ValueError("output_token_ids needs the output projection tied to the token embedding (Whisper's), "
                         "without a logit soft cap.")
    ids = np.asarray(output_token_ids, dtype=np.int64)
    if ids.ndim != 1 or not len(ids) or ids.min() < 0 or ids.max() >= model.vocabulary_size or len(set(ids)) != len(ids):
        raise ValueError(f"output_token_ids must be distinct ids in [0, {model.vocabulary_size}), got {len(ids)} ids.")
    return keras.ops.convert_to_numpy(embedding.embeddings)[ids]


def decoder_archive(model, audio_frames: int, cache_length: int, output_token_ids=None) -> keras.export.ExportArchive:
    """ExportArchive with the `cross_kv` and `decode` endpoints (see the module docstring)."""
    _check_frames(model, audio_frames)
    if cache_length > model.max_decoder_sequence_length:
        raise ValueError(f"cache_length {cache_length} exceeds the decoder's {model.max_decoder_sequence_length} positions.")
    length = encoder_length(audio_frames)
    layers = model.decoder_transformer_layers
    kept = None if output_token_ids is None else tf.constant(kept_embedding_rows(model, output_token_ids))
    archive = keras.export.ExportArchive()
    archive.track(model)

    def cross_kv(encoder_output):
        # What keras-hub's CachedMultiHeadAttention computes when cache_update_index is 0.
        per_layer = [
            tf.stack([layer._cross_attention_layer._key_dense(encoder_output),  # noqa: SLF001
                      layer._cross_attention_layer._value_dense(encoder_output)], axis=1)  # noqa: SLF001
            for layer in layers
        ]
        return {"cross_cache": tf.stack(per_layer, axis=1)}

    def embed(token_id, index):
        if kept is None:
            return model.decoder_embeddings(token_id, start_index=index)
        tokens = tf.gather(kept, token_id)  # what TokenAndPositionEmbedding adds, on the kept rows
        return tokens + model.decoder_embeddings.position_embedding(tokens, start_index=index)

    def output_logits(x):
        if kept is None:
            return model.token_embedding(x, reverse=True)[:, 0, :]
        return tf.matmul(x[:, 0, :], kept, transpose_b=True)

    def decode(token_id, cache, cross_cache, index):
        x = embed(token_id, index)
        # Only the caches are read (update index None); encoder_sequence must merely be given.
        placeholder = tf.zeros((1, length, model.hidden_dim), x.dtype)
        updated = []
        for i, layer in enumerate(layers):
            x, self_cache, _ = layer(
                decoder_sequence=x,
                encoder_sequence=placeholder,
                self_attention_cache=cache[:, i],
                self_attention_cache_update_index=index,
                cross_attention_cache=cross_cache[:, i],
                cross_attention_cache_update_index=None,
            )
            updated.append(self_cache)
        logits = output_logits(model.decoder_layer_norm(x))
        return {"logits": tf.cast(logits, tf.float32), "cache": tf.stack(updated, axis=1)}

    archive.add_endpoint("cross_kv", cross_kv, input_signature=[
        tf.TensorSpec((1, length, model.hidden_dim), tf.float32, name="encoder_output")])
    archive.add_endpoint("decode", decode, input_signature=[
        tf.TensorSpec((1, 1), tf.int32, name="token_id"),
        tf.TensorSpec(kv_shape(model, cache_length), tf.float32, name="cache"),
        tf.TensorSpec(kv_shape(model, length), tf.float32, name="cross_cache"),
        tf.TensorSpec((), tf.int32, name="index"),
    ])
    return archive


def _convert(model, key: tuple, archive: Callable[[], keras.export.ExportArchive], quantization: str,
             signature_keys: list[str]) -> bytes:
    """Converts `archive()` of `model`, reusing its SavedModel when the same part of the same model, with
    the same weights and shapes, was converted lately (float32 then int8 weights: one write)."""
    if quantization not in QUANTIZATIONS:
        raise ValueError(f"Speech-recogniser quantization must be one of {QUANTIZATIONS}, got {quantization!r}.")
    with recent_saved_models.use(model, key, lambda d: archive().write_out(d, verbose=False)) as directory:
        return run_converter(make_converter(directory, quantization, signature_keys=signature_keys))


def convert_encoder(model, audio_frames: int = FULL_FRAMES, quantization: str = "float32") -> bytes:
    """The encoder `.tflite` bytes (builtin ops only, else `FlexOpsError`)."""
    return _convert(model, ("whisper_encoder", audio_frames), lambda: encoder_archive(model, audio_frames),
                    quantization, ["serving_default"])  # fmt: skip


def convert_decoder_step(model, audio_frames: int = FULL_FRAMES, cache_length: int = 226,
                         quantization: str = "float32", output_token_ids=None) -> bytes:
    """The decoder `.tflite` bytes with `cross_kv` and `decode` (builtin ops only)."""
    kept = None if output_token_ids is None else tuple(int(i) for i in output_token_ids)
    return _convert(model, ("whisper_decoder_step", audio_frames, cache_length, kept),
                    lambda: decoder_archive(model, audio_frames, cache_length, output_token_ids),
                    quantization, list(DECODER_SIGNATURES))  # fmt: skip


# --- the Keras reference -----------------------------------------------------------------------


def keras_greedy_tokens(backbone, waveforms: Sequence[np.ndarray], audio_frames: int = FULL_FRAMES,
                        max_tokens: int = 224, batch_size: int = 8, output_token_ids=None) -> list[list[int]]:
    """Keras greedy token ids per waveform (`voice_ft.asr.decoding.greedy_transcribe`), with the
    encoder input cut to `audio_frames` and only `output_token_ids` (`kept_token_ids`) emitted
    when given: the reference the exported files must reproduce."""
    frames = None if audio_frames == FULL_FRAMES else audio_frames
    output_token_ids = kept_token_ids(backbone.tokenizer, output_token_ids)
    waves = [np.asarray(w, np.float32).reshape(-1) for w in waveforms]
    return [t.tokens for t in decoding.greedy_transcribe(backbone, waves, max_tokens, return_tokens=True,
                                                         audio_frames=frames, batch_size=batch_size,
                                                         allowed_token_ids=output_token_ids)]  # fmt: skip


# --- files ---------------------------------------------------------------------------------------


def target_paths(path: str | os.PathLike) -> tuple[pathlib.Path, str]:
    """(folder, name) for a prefix `<dir>/<name>` or an existing folder (name "speech_recognizer")."""
    path = pathlib.Path(path)
    if path.is_dir():
        return path, DEFAULT_NAME
    if path.suffix in (".json", ".tflite"):
        raise ValueError(f"Pass a folder or a prefix without suffix (e.g. out/asr), got {path}.")
    return path.parent, path.name


def tokenizer_files(tokenizer) -> tuple[dict[str, int], list[str]]:
    """The byte-level BPE vocabulary (token -> id) and merges of a keras-hub Whisper tokenizer."""
    vocabulary = {str(token): int(i) for token, i in dict(tokenizer.vocabulary).items()}
    merges = [m for m in tokenizer.merges if m and not m.startswith("#version")]
    return vocabulary, merges


def _resolve(backbone_or_model, tokenizer):
    """(keras-hub WhisperBackbone, a `voice_ft.Backbone`-like reference for Keras decoding, tokenizer).

    A bare keras-hub backbone (or a task model holding one as `.backbone`) gets a reference
    with a default `WhisperAudioConverter` and no suppression lists.
    """
    model = getattr(backbone_or_model, "model", backbone_or_model)
    if not hasattr(model, "decoder_transformer_layers") and hasattr(model, "backbone"):
        model = model.backbone  # a task model wrapping the keras-hub backbone
    if not hasattr(model, "decoder_transformer_layers"):
        raise TypeError(f"Expected a Whisper backbone, got {type(model).__name__}.")
    tokenizer = tokenizer if tokenizer is not None else getattr(backbone_or_model, "tokenizer", None)
    if tokenizer is None:
        raise ValueError("A tokenizer is needed: pass a voice_ft Backbone or tokenizer=.")
    reference = backbone_or_model
    if getattr(reference, "model", None) is not model or getattr(reference, "audio_converter", None) is None:
        import types

        import keras_hub

        reference = types.SimpleNamespace(
            name=model.name, model=model, tokenizer=tokenizer, path=getattr(reference, "path", None)
            if isinstance(getattr(reference, "path", None), pathlib.Path) else None,
            audio_converter=keras_hub.layers.WhisperAudioConverter(num_mels=model.num_mels))
    return model, reference, tokenizer


def export_speech_recognizer(
    backbone_or_model,
    path: str | os.PathLike,
    quantization: str = "float32",
    audio_frames: int = FULL_FRAMES,
    max_tokens: int = 224,
    verify_on: Sequence[np.ndarray] | None = None,
    overwrite: bool = False,
    tokenizer=None,
    num_threads: int = 2,
    reference_tokens: Sequence[Sequence[int]] | None = None,
    output_token_ids: Sequence[int] | None = None,
    language_model=None,
    lm_weight: float = decoding.DEFAULT_FUSION_WEIGHT,
) -> SpeechExportResult:
    """Exports a Whisper backbone as encoder + decoder-step `.tflite` files, verified greedily.

    Args:
        backbone_or_model: a Whisper `voice_ft.Backbone` (``load_backbone("whisper-tiny-en")``:
            model, tokenizer, audio converter and the preset's suppression lists), or an object
            with `.model` / a keras-hub `WhisperBackbone` (then pass `tokenizer`).
        path: a prefix `<dir>/<name>` (writes `<name>_encoder.tflite`, `<name>_decoder.tflite`,
            `<name>.json`, ...) or an existing folder (name "speech_recognizer").
        quantization: "float32" or "dynamic" (int8 weights, float activations).
        audio_frames: log-mel frames of the encoder input: 3000 (30 s, standard) or fewer
            (short-audio mode, e.g. 300 for 3 s).
        max_tokens: the most tokens per clip; the self-attention cache holds prompt + max_tokens.
        verify_on: 16 kHz float waveforms. float32 must give Keras's greedy ids on every one or
            nothing is written; for "dynamic" the match rate is reported.
        overwrite: replace existing files.
        tokenizer: the keras-hub Whisper tokenizer, when `backbone_or_model` carries none.
        num_threads: interpreter threads for verification.
        reference_tokens: Keras greedy ids for `verify_on` already computed with
            `keras_greedy_tokens(backbone, verify_on, audio_frames, max_tokens, output_token_ids=...)`
            (when exporting several variants of one window); computed here otherwise.
        output_token_ids: None (the whole vocabulary), or the only tokens the recogniser writes
            (a closed domain's, `voice_ft.asr.output_vocabulary.domain_token_ids`): the decoder
            keeps just those embedding rows. The prompt and <|endoftext|> are always kept; the
            checkpoint's suppressed ids among them stay suppressed.
        language_model: a domain `TokenNgramModel` (`voice_ft.asr.language_model`) shipped beside
            the files as `<name>.lm.json` and named in the sidecar with `lm_weight`, so that the
            runtime fuses it into decoding by default. Verification stays greedy without it.

    Raises:
        ExportVerificationError: a float32 export whose greedy ids differ from Keras's
            (nothing written; `.result` holds the `SpeechExportResult`).
        voice_ft.export.convert.FlexOpsError: the graphs need non-builtin ops.
        voice_ft.data.files.OutputExistsError: files exist and `overwrite` is False.
    """
    model, reference_backbone, tokenizer = _resolve(backbone_or_model, tokenizer)
    if quantization not in QUANTIZATIONS:
        raise ValueError(f"Speech-recogniser quantization must be one of {QUANTIZATIONS}, got {quantization!r}.")
    _check_frames(model, audio_frames)
    prompt = decoding.prompt_ids(tokenizer)
    max_tokens = min(int(max_tokens), model.max_decoder_sequence_length - len(prompt))
    cache_length = len(prompt) + max_tokens
    output_token_ids = kept_token_ids(tokenizer, output_token_ids)
    folder, name = target_paths(path)
    encoder_path, decoder_path = folder / f"{name}_encoder.tflite", folder / f"{name}_decoder.tflite"
    sidecar = folder / f"{name}.json"
    vocab_path, merges_path = folder / f"{name}.vocab.json", folder / f"{name}.merges.txt"
    lm_path = folder / f"{name}.lm.json"
    outputs = [encoder_path, decoder_path, sidecar, encoder_path.with_suffix(".json"),
               decoder_path.with_suffix(".json"), vocab_path, merges_path]
    if language_model is not None:
        if int(language_model.vocab_size) != int(model.vocabulary_size):
            raise ValueError(f"the language model's vocabulary has {language_model.vocab_size} tokens, the "
                             f"recogniser's {model.vocabulary_size}: fit it on this backbone.")  # fmt: skip
        if lm_weight < 0:
            raise ValueError(f"lm_weight must be >= 0, got {lm_weight}.")
        outputs.append(lm_path)
    refuse_overwrite(outputs, overwrite)

    encoder_bytes = convert_encoder(model, audio_frames, quantization)
    decoder_bytes = convert_decoder_step(model, audio_frames, cache_length, quantization, output_token_ids)
    suppress, suppress_begin = decoding.suppression(reference_backbone)
    metadata = _metadata(model, tokenizer, name, quantization, audio_frames, max_tokens, cache_length, prompt,
                         suppress, suppress_begin, output_token_ids)
    result = SpeechExportResult(sidecar, encoder_path, decoder_path, quantization, audio_frames, max_tokens,
                                len(encoder_bytes), len(decoder_bytes))
    vocabulary, merges = tokenizer_files(tokenizer)
    expected = None
    if verify_on is not None and len(verify_on):
        expected = [list(map(int, ids)) for ids in reference_tokens] if reference_tokens is not None else (
            keras_greedy_tokens(reference_backbone, verify_on, audio_frames, max_tokens,
                                output_token_ids=output_token_ids))
        if len(expected) != len(verify_on):
            raise ValueError(f"{len(expected)} reference_tokens for {len(verify_on)} verify_on waveforms.")

    def verify(staged_encoder: pathlib.Path, staged_decoder: pathlib.Path) -> None:
        if expected is None:
            return
        runtime = SpeechRecognizer.from_parts(metadata, staged_encoder, staged_decoder,
                                              BPETokenizer(vocabulary, merges), num_threads=num_threads)
        result.greedy_match, result.verification = compare_greedy(runtime, verify_on, expected, tokenizer)
        if quantization == "float32" and result.greedy_match < 1.0:
            bad = [i for i, r in enumerate(result.verification) if r["first_difference"] is not None]
            raise ExportVerificationError(
                f"float32 export refused: greedy ids differ from Keras on {len(bad)} of {len(expected)} clips "
                f"(first: clip {bad[0]}, {result.verification[bad[0]]}). Nothing was written.", result)

    folder.mkdir(parents=True, exist_ok=True)
    write_verified(encoder_path, encoder_bytes, lambda enc: write_verified(
        decoder_path, decoder_bytes, lambda dec: verify(enc, dec)))
    if result.greedy_match is not None:
        metadata["verification"] = {"greedy_match": result.greedy_match, "clips": len(expected),
                                    "reference": "voice_ft.asr.decoding greedy (Keras)"}
    if language_model is not None:
        language_model.save(lm_path)
        metadata["language_model"] = {"file": lm_path.name, "weight": float(lm_weight), "order": language_model.order,
                                      "kind": "token_ngram_kneser_ney"}  # fmt: skip
    vocab_path.write_text(json.dumps(vocabulary, ensure_ascii=False), encoding="utf-8")
    merges_path.write_text("#version: 0.2\n" + "\n".join(merges) + "\n", encoding="utf-8")
    for role, file in (("encoder", encoder_path), ("decoder", decoder_path)):
        write_sidecar(file, {"task": TASK, "role": role, "recognizer": sidecar.name, "quantization": quantization,
                             "signatures": metadata[role]["signatures"]})
    sidecar.write_text(json.dumps({"sidecar_version": 1, **metadata}, indent=2) + "\n", encoding="utf-8")
    logging.info("Exported speech recogniser %s (%s, %d frames): %.1f + %.1f MB, greedy match %s",
                 sidecar, quantization, audio_frames, len(encoder_bytes) / 1e6, len(decoder_bytes) / 1e6,
                 result.greedy_match)
    return result


def _metadata(model, tokenizer, name, quantization, audio_frames, max_tokens, cache_length, prompt,
              suppress, suppress_begin, output_token_ids=None) -> dict:
    length = encoder_length(audio_frames)
    generation = {"prompt_ids": [int(t) for t in prompt], "end_token_id": int(tokenizer.eos_token_id),
                  "suppress_ids": [int(t) for t in suppress], "suppress_ids_begin": [int(t) for t in suppress_begin],
                  "max_tokens": int(max_tokens), "decoding": "greedy"}
    if output_token_ids is not None:  # decode's token_id and logits index this list
        generation["output_token_ids"] = [int(t) for t in output_token_ids]
    logits_width = int(model.vocabulary_size) if output_token_ids is None else len(output_token_ids)
    return {
        "task": TASK,
        "architecture": type(model).__name__,
        "quantization": quantization,
        "audio": {"sample_rate": SAMPLE_RATE, "n_fft": N_FFT, "hop_length": HOP, "window": "hann_periodic",
                  "num_mels": int(model.num_mels), "frames": int(audio_frames),
                  "full_frames": int(model.max_encoder_sequence_length),
                  "seconds": audio_frames * HOP / SAMPLE_RATE, "features": "whisper_log_mel"},
        "encoder": {"file": f"{name}_encoder.tflite", "signatures": {"serving_default": {
            "inputs": {"features": [1, audio_frames, int(model.num_mels)]},
            "outputs": {"encoder_output": [1, length, int(model.hidden_dim)]}}}},
        "decoder": {"file": f"{name}_decoder.tflite", "cache_length": cache_length,
                    "cache_shape": list(kv_shape(model, cache_length)),
                    "cross_cache_shape": list(kv_shape(model, length)),
                    "signatures": {
                        "cross_kv": {"inputs": {"encoder_output": [1, length, int(model.hidden_dim)]},
                                     "outputs": ["cross_cache"]},
                        "decode": {"inputs": {"token_id": [1, 1], "cache": list(kv_shape(model, cache_length)),
                                              "cross_cache": list(kv_shape(model, length)), "index": []},
                                   "outputs": {"logits": [1, logits_width], "cache": list(kv_shape(model, cache_length))}}}},
        "generation": generation,
        "tokenizer": {"kind": "byte_level_bpe", "vocabulary": f"{name}.vocab.json", "merges": f"{name}.merges.txt",
                      "drop_ids_from": int(tokenizer.eos_token_id)},
        "versions": package_versions(),
    }


def compare_greedy(runtime: SpeechRecognizer, waveforms, expected: list[list[int]], tokenizer=None) -> tuple[float, list[dict]]:
    """(match fraction, per-clip records) of the runtime's greedy ids against `expected`."""
    records = []
    for i, (wave, want) in enumerate(zip(waveforms, expected)):
        got = runtime(wave)["tokens"]
        diff = next((k for k, (a, b) in enumerate(zip(want, got)) if a != b), None)
        if diff is None and len(want) != len(got):
            diff = min(len(want), len(got))
        record = {"clip": i, "keras": want, "tflite": got, "first_difference": diff}
        if tokenizer is not None:
            record["keras_text"] = decoding.decode_text(tokenizer, want)
            record["tflite_text"] = runtime.detokenize(got)
        records.append(record)
    return (float(np.mean([r["first_difference"] is None for r in records])) if records else float("nan")), records
