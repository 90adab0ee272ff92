"""`SpeechRecognizer`: TF-free Whisper transcription from the exported encoder + decoder `.tflite`.

Reads the recogniser sidecar `<name>.json` written by `voice_ft.asr.export.export_speech_recognizer`
and the files it names beside it:

- `<name>_encoder.tflite`: log-mel features `[1, frames, mels]` -> `encoder_output`;
- `<name>_decoder.tflite`, two signatures: `cross_kv(encoder_output) -> cross_cache` (every
  decoder layer's cross-attention keys/values, projected once per clip) and
  `decode(token_id[1, 1], cache, cross_cache, index[]) -> logits[1, V], cache` (one step at
  position `index`, writing that position into the self-attention cache);
- `<name>.vocab.json` / `<name>.merges.txt`: the byte-level BPE vocabulary, for detokenizing.

A recogniser exported for a closed domain keeps only some tokens' embedding rows (the sidecar's
`generation.output_token_ids`, `voice_ft.asr.output_vocabulary`): `decode` then takes and scores
rows of that list, and this class maps the prompt, suppression and end ids to rows and the argmax
row back to its token id, so `tokens` are Whisper ids either way.

`__call__(waveform)` runs what `voice_ft.asr.decoding.greedy_transcribe` runs in Keras: the numpy
log-mel of `whisper_features` padded to the exported frame count, the encoder, then greedy steps
from the prompt (<|startoftranscript|><|notimestamps|> for English-only models), with the
checkpoint's `suppress_ids` at -inf every step and `suppress_ids_begin` at the first, until
<|endoftext|> or `max_tokens`. Prompt tokens are fed one step each (Keras feeds them at once:
same arithmetic, different summation order). Tokens from <|endoftext|> up (special and
timestamp tokens) are dropped before detokenizing.

With ``beams`` > 1 or a domain language model (`voice_ft.runtime.token_language_model`, the
file the trainer writes; a sidecar may name one under "language_model", which is then used),
`__call__` runs what `voice_ft.asr.decoding.transcribe` runs in Keras instead: beam search with
Whisper's ranking (finished hypotheses by log-probability per token, patience 1), each token
scored ``log p + lm_weight * log p_lm``. Every beam keeps its own self-attention cache, so a step
costs one decoder call per beam.

Only numpy and ai_edge_litert are imported: no TensorFlow.
"""

from __future__ import annotations

import json
import os
import pathlib
import time
from collections.abc import Sequence

import numpy as np
from ai_edge_litert.interpreter import Interpreter

from voice_ft.runtime.audio_io import resample, to_mono
from voice_ft.runtime.errors import DataError
from voice_ft.runtime.generator import BPETokenizer
from voice_ft.runtime.sidecar import companion_file
from voice_ft.runtime.token_language_model import DEFAULT_FUSION_WEIGHT, TokenNgramModel
from voice_ft.runtime.whisper_features import log_mel

TASK = "speech_recognition"


CONSTRAINED_CANDIDATES = 64  # tokens tried per step when decoding inside a language (`scored_tokens`)


def resolve_sidecar(path: str | os.PathLike) -> pathlib.Path:
    """The recogniser sidecar for `path`: the `.json` itself, a prefix `<dir>/<name>`, one of the
    two `.tflite` files, or a folder holding exactly one recogniser sidecar."""
    path = pathlib.Path(path)
    if path.is_dir():
        found = [p for p in sorted(path.glob("*.json")) if _is_recognizer_sidecar(p)]
        if len(found) != 1:
            raise FileNotFoundError(f"{path} holds {len(found)} speech-recogniser sidecars; pass the one to load.")
        return found[0]
    if path.suffix == ".tflite":
        stem = path.stem.removesuffix("_encoder").removesuffix("_decoder")
        path = path.with_name(stem + ".json")
    elif path.suffix != ".json":
        path = path.with_name(path.name + ".json")
    if not path.is_file():
        raise FileNotFoundError(f"Speech-recogniser sidecar {path} not found; export with "
                                "voice_ft.asr.export.export_speech_recognizer.")
    return path


def _is_recognizer_sidecar(path: pathlib.Path) -> bool:
    try:
        content = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(content, dict) and content.get("task") == TASK and "encoder" in content


class SpeechRecognizer:
    """Waveform in, text out, with the exported Whisper encoder and decoder-step files.

    Args:
        path: the recogniser sidecar `<name>.json`, the prefix `<dir>/<name>`, either `.tflite`,
            or the export folder.
        num_threads: CPU threads for each interpreter.
        max_tokens: the most tokens generated per clip (default and cap: the exported cache).
        beams: 1 is greedy; N keeps the N best hypotheses (N decoder calls a step).
        language_model: "auto" (the sidecar's "language_model" file, if it names one), None (off),
            a path to a saved `TokenNgramModel`, or the model itself.
        lm_weight: its weight in shallow fusion; None takes the sidecar's (else 0.3).

    Example:
        >>> asr = SpeechRecognizer("out/whisper_tiny_en", num_threads=2)
        >>> asr(waveform_16k)["text"]
        ' Turn on the kitchen lights.'
    """

    def __init__(self, path: str | os.PathLike, num_threads: int = 1, max_tokens: int | None = None, beams: int = 1,
                 language_model="auto", lm_weight: float | None = None):  # fmt: skip
        sidecar = resolve_sidecar(path)
        metadata = json.loads(sidecar.read_text(encoding="utf-8"))
        if metadata.get("task") != TASK:
            raise ValueError(f"{sidecar} is not a speech-recognition sidecar (task={metadata.get('task')!r}).")
        tok = metadata["tokenizer"]
        tokenizer = BPETokenizer.from_files(companion_file(sidecar, tok.get("vocabulary"), "tokenizer.vocabulary"),
                                            companion_file(sidecar, tok.get("merges"), "tokenizer.merges"))
        self._setup(metadata, companion_file(sidecar, metadata["encoder"].get("file"), "encoder.file"),
                    companion_file(sidecar, metadata["decoder"].get("file"), "decoder.file"), tokenizer, num_threads,
                    max_tokens)  # fmt: skip
        self.path = sidecar
        declared = metadata.get("language_model") or {}
        if isinstance(language_model, str) and language_model == "auto":
            language_model = companion_file(sidecar, declared["file"], "language_model.file") if declared else None
        weight = declared.get("weight", DEFAULT_FUSION_WEIGHT) if lm_weight is None else lm_weight
        self.set_decoding(beams, language_model, weight)

    def set_decoding(self, beams: int = 1, language_model=None, lm_weight: float = DEFAULT_FUSION_WEIGHT) -> None:
        """Greedy, or beam search and/or shallow fusion with a domain `TokenNgramModel` (or its file)."""
        if int(beams) < 1:
            raise ValueError(f"beams must be >= 1, got {beams}.")
        if lm_weight < 0:
            raise ValueError(f"lm_weight must be >= 0, got {lm_weight}.")
        if language_model is not None and not isinstance(language_model, TokenNgramModel):
            language_model = TokenNgramModel.load(language_model)
        if language_model is not None and language_model.vocab_size <= int(np.max(self._row_token_ids)):
            raise ValueError(f"the language model's vocabulary ({language_model.vocab_size} tokens) does not hold "
                             f"this recogniser's tokens (up to {int(np.max(self._row_token_ids))}).")  # fmt: skip
        self.beams, self.language_model, self.lm_weight = int(beams), language_model, float(lm_weight)

    @classmethod
    def from_parts(cls, metadata: dict, encoder_path, decoder_path, tokenizer: BPETokenizer,
                   num_threads: int = 1, max_tokens: int | None = None) -> "SpeechRecognizer":
        """A recogniser from files not (yet) in place: what the exporter verifies before writing."""
        self = cls.__new__(cls)
        self._setup(metadata, pathlib.Path(encoder_path), pathlib.Path(decoder_path), tokenizer, num_threads, max_tokens)
        self.path = None
        self.set_decoding()
        return self

    def _setup(self, metadata, encoder_path, decoder_path, tokenizer, num_threads, max_tokens):
        for file in (encoder_path, decoder_path):
            if not file.is_file():
                raise FileNotFoundError(f"Speech-recogniser model file not found: {file}")
        self.metadata = metadata
        self.tokenizer = tokenizer
        audio = metadata["audio"]
        self.sample_rate = int(audio["sample_rate"])
        self.frames = int(audio["frames"])
        self.full_frames = int(audio["full_frames"])
        self.num_mels = int(audio["num_mels"])
        self.n_fft, self.hop = int(audio["n_fft"]), int(audio["hop_length"])
        self.max_samples = self.frames * self.hop
        generation = metadata["generation"]
        self.prompt_ids = [int(t) for t in generation["prompt_ids"]]
        self.end_token_id = int(generation["end_token_id"])
        self.suppress_ids = np.asarray(generation["suppress_ids"], dtype=np.int64)
        self.suppress_ids_begin = np.asarray(generation["suppress_ids_begin"], dtype=np.int64)
        self._set_output_rows(generation.get("output_token_ids"))
        self.cache_length = int(metadata["decoder"]["cache_length"])
        room = self.cache_length - len(self.prompt_ids)  # as Keras: cache = prompt + max_tokens
        self.max_tokens = room if max_tokens is None else min(int(max_tokens), room)
        self._encoder = Interpreter(model_path=str(encoder_path), num_threads=num_threads)
        self._decoder = Interpreter(model_path=str(decoder_path), num_threads=num_threads)
        self._encode = self._encoder.get_signature_runner(_only_signature(self._encoder, encoder_path))
        signatures = self._decoder.get_signature_list()
        if not {"cross_kv", "decode"} <= set(signatures):
            raise ValueError(f"{decoder_path} lacks the cross_kv/decode signatures (has {sorted(signatures)}).")
        self._cross_kv = self._decoder.get_signature_runner("cross_kv")
        self._decode = self._decoder.get_signature_runner("decode")
        self._cache_shape = tuple(metadata["decoder"]["cache_shape"])

    def _set_output_rows(self, output_token_ids) -> None:
        """Token id <-> decoder row maps: the identity, or the kept rows of a domain export."""
        self.output_token_ids = None if output_token_ids is None else np.asarray(output_token_ids, dtype=np.int64)
        if self.output_token_ids is None:
            rows = {}
        else:
            rows = {int(t): i for i, t in enumerate(self.output_token_ids)}
            missing = [t for t in [*self.prompt_ids, self.end_token_id] if t not in rows]
            if missing:
                raise ValueError(f"The recogniser's output_token_ids lack the prompt/end ids {missing}.")

        def to_rows(ids) -> np.ndarray:
            if self.output_token_ids is None:
                return np.asarray(ids, dtype=np.int64)
            return np.asarray([rows[int(t)] for t in ids if int(t) in rows], dtype=np.int64)

        width = self.metadata["decoder"]["signatures"]["decode"]["outputs"]["logits"][-1]
        self._row_token_ids = self.output_token_ids if self.output_token_ids is not None else np.arange(int(width))
        self._prompt_rows = [int(r) for r in to_rows(self.prompt_ids)]
        self._end_row = int(to_rows([self.end_token_id])[0])
        self._suppress_rows, self._suppress_rows_begin = to_rows(self.suppress_ids), to_rows(self.suppress_ids_begin)

    def _token(self, row: int) -> int:
        return row if self.output_token_ids is None else int(self.output_token_ids[row])

    # --- the three stages --------------------------------------------------------------------

    def features(self, waveform: np.ndarray) -> np.ndarray:
        """(1, frames, mels) Whisper log-mel features of a 16 kHz waveform (cut to the window)."""
        return log_mel(waveform, self.frames, self.num_mels, self.n_fft, self.hop, self.full_frames)[None]

    def encode(self, features: np.ndarray) -> np.ndarray:
        """The encoder output (1, frames / 2, hidden) of log-mel features."""
        return self._encode(features=np.ascontiguousarray(features, dtype=np.float32))["encoder_output"]

    def greedy_tokens(self, encoder_output: np.ndarray, max_tokens: int | None = None) -> list[int]:
        """Greedy token ids after the prompt (<|endoftext|> excluded), with Whisper's suppression."""
        return self._decode_loop(encoder_output, max_tokens, score=False)[0]

    def scored_tokens(self, encoder_output: np.ndarray, max_tokens: int | None = None, allows=None, is_whole=None,
                      candidates: int = CONSTRAINED_CANDIDATES) -> tuple[list[int] | None, float]:
        """Token ids after the prompt and their log-probability (the chosen tokens' and <|endoftext|>'s).

        Without `allows`, greedy. With `allows(text)` / `is_whole(text)` (e.g. `GrammarPrefixes.allows` /
        `.is_saying`), each step takes the likeliest of the `candidates` best tokens whose text so far
        `allows` accepts, and <|endoftext|> only where `is_whole` accepts the text: greedy decoding inside a
        language. None for the tokens where no candidate is allowed (the speech is not in that language).
        """
        return self._decode_loop(encoder_output, max_tokens, allows, is_whole, candidates, score=True)

    def _decode_loop(self, encoder_output, max_tokens, allows=None, is_whole=None, candidates: int = CONSTRAINED_CANDIDATES,
                score: bool = True) -> tuple[list[int] | None, float]:
        """The decoding loop of `greedy_tokens` / `scored_tokens`; the log-softmax only where it is used."""
        limit = self.max_tokens if max_tokens is None else min(max_tokens, self.max_tokens)
        cross = self._cross_kv(encoder_output=np.ascontiguousarray(encoder_output, dtype=np.float32))["cross_cache"]
        cache = np.zeros(self._cache_shape, np.float32)
        logits = None
        for index, row in enumerate(self._prompt_rows):
            logits, cache = self._step(row, cache, cross, index)
        tokens: list[int] = []
        total = 0.0
        index = len(self._prompt_rows)
        while len(tokens) < limit:
            logits[self._suppress_rows] = -np.inf
            if not tokens:
                logits[self._suppress_rows_begin] = -np.inf
            if allows is None:
                row = int(np.argmax(logits))
            else:
                row = self._allowed_row(logits, tokens, allows, is_whole, candidates)
                if row is None:
                    return None, -np.inf
            if score:  # log-softmax of the chosen row
                top = float(logits.max())
                total += float(logits[row]) - top - float(np.log(np.exp(logits - top).sum()))
            if row == self._end_row:
                break
            tokens.append(self._token(row))
            if len(tokens) == limit or index >= self.cache_length:
                break
            logits, cache = self._step(row, cache, cross, index)
            index += 1
        return tokens, total

    def beam_tokens(self, encoder_output: np.ndarray, beams: int | None = None, max_tokens: int | None = None) -> list[int]:
        """Beam search (with the domain language model fused, if set): `voice_ft.asr.decoding`'s
        `_beam_search` step for step, so a float32 export gives Keras's tokens."""
        beams = self.beams if beams is None else int(beams)
        limit = self.max_tokens if max_tokens is None else min(max_tokens, self.max_tokens)
        cross = self._cross_kv(encoder_output=np.ascontiguousarray(encoder_output, dtype=np.float32))["cross_cache"]
        cache = np.zeros(self._cache_shape, np.float32)
        for index, row in enumerate(self._prompt_rows):
            logits, cache = self._step(row, cache, cross, index)
        # live hypotheses: (score, token ids, next-token logits, cache)
        live = [(0.0, [], logits, np.array(cache))]
        finished: list[tuple[float, list[int]]] = []
        index = len(self._prompt_rows)
        for step in range(limit):
            scored = []
            for score, tokens, logits, _ in live:
                log_probs = self._fused_log_probs(logits, tokens, first=step == 0)
                scored.append(score + log_probs)
            candidates = np.concatenate(scored)
            order = np.argsort(-candidates, kind="stable")[: 2 * beams + 1]
            kept = []
            width = len(scored[0])
            for k in order:
                if not np.isfinite(candidates[k]):
                    break
                h, row = divmod(int(k), width)
                tokens = live[h][1]
                if row == self._end_row:
                    if len(finished) < beams:
                        finished.append((float(candidates[k]) / (len(tokens) + 1), tokens))
                else:
                    kept.append((h, row, float(candidates[k])))
                if len(kept) == beams:
                    break
            if len(finished) >= beams or not kept:
                break
            last = step == limit - 1 or index >= self.cache_length
            following = []
            for h, row, score in kept:
                _, parent_tokens, _, parent_cache = live[h]
                tokens = [*parent_tokens, self._token(row)]
                if last:
                    following.append((score, tokens, None, None))
                else:
                    logits, cache = self._step(row, parent_cache, cross, index)
                    following.append((score, tokens, logits, np.array(cache)))
            live = following
            index += 1
            if last:
                break
        if not finished:
            finished = [(score / max(len(tokens), 1), tokens) for score, tokens, *_ in live]
        return max(finished, key=lambda f: f[0])[1]

    def _fused_log_probs(self, logits: np.ndarray, tokens: list[int], first: bool) -> np.ndarray:
        """Log-softmax of one step's logits after suppression, plus the weighted language model."""
        logits = logits.astype(np.float64)
        logits[self._suppress_rows] = -np.inf
        if first:
            logits[self._suppress_rows_begin] = -np.inf
        top = logits.max()
        log_probs = logits - top - np.log(np.exp(logits - top).sum())
        if self.language_model is not None:
            log_probs += self.lm_weight * self.language_model.log_probs(tokens)[self._row_token_ids]
        return log_probs

    def _allowed_row(self, logits: np.ndarray, tokens: list[int], allows, is_whole, candidates: int) -> int | None:
        """The likeliest of the `candidates` best rows that keeps the text inside the language."""
        best = np.argpartition(-logits, candidates - 1)[:candidates] if candidates < len(logits) else np.arange(len(logits))
        best = best[np.argsort(-logits[best], kind="stable")]
        for row in (int(r) for r in best if np.isfinite(logits[r])):
            if row == self._end_row:
                if is_whole(self.detokenize(tokens)):
                    return row
            elif allows(self.detokenize([*tokens, self._token(row)])):
                return row
        return None

    def _step(self, row: int, cache: np.ndarray, cross: np.ndarray, index: int):
        out = self._decode(token_id=np.array([[row]], np.int32), cache=cache, cross_cache=cross,
                           index=np.array(index, np.int32))
        return np.array(out["logits"][0], dtype=np.float32), out["cache"]

    def detokenize(self, tokens: Sequence[int]) -> str:
        """Text of token ids; special and timestamp tokens (ids from <|endoftext|> up) are dropped."""
        return self.tokenizer.decode([t for t in tokens if t < self.end_token_id])

    # --- waveform in, text out -------------------------------------------------------------

    def transcribe(self, waveform, sample_rate: int = 16000, max_tokens: int | None = None) -> dict:
        """{"text", "tokens", "seconds"} for one waveform (float in [-1, 1]; (samples, channels)
        is averaged to mono; another `sample_rate` is resampled to the model's)."""
        start = time.perf_counter()
        wave = np.asarray(waveform, dtype=np.float32)
        if wave.ndim == 2:
            wave = to_mono(wave)
        if wave.ndim != 1:
            raise DataError(f"waveform must be 1-D samples (or samples x channels), got shape {wave.shape}.")
        if sample_rate != self.sample_rate:
            wave = resample(wave, sample_rate, self.sample_rate)
        encoder_output = self.encode(self.features(wave))
        if self.beams == 1 and self.language_model is None:
            tokens = self.greedy_tokens(encoder_output, max_tokens)
        else:
            tokens = self.beam_tokens(encoder_output, self.beams, max_tokens)
        return {"text": self.detokenize(tokens), "tokens": tokens, "seconds": time.perf_counter() - start}

    __call__ = transcribe


def _only_signature(interpreter: Interpreter, path) -> str:
    signatures = list(interpreter.get_signature_list())
    if not signatures:
        raise ValueError(f"{path} has no signature.")
    return "serving_default" if "serving_default" in signatures else signatures[0]
