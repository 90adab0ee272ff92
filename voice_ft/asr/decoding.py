"""Greedy Whisper decoding with a keras-hub `WhisperBackbone`, matching faster-whisper.

What it reproduces (faster-whisper 1.2 with beam_size=1, temperature 0, without_timestamps=True
on an English-only model, which feeds CTranslate2 `generate`):

- input, ``features="whisper"`` (the default): OpenAI Whisper's log-mel features of the
  waveform zero-padded (or cut) to 30 s, from the preset's `WhisperAudioConverter`. This is the
  fixed-size input an on-device export takes.
- input, ``features="faster-whisper"``: what faster-whisper 1.x feeds instead. It pads the
  waveform with only 160 zero samples, normalises the log-mel over the clip alone, drops the
  last frame and pads the *log-mel* with 0.0 up to 3000 frames, where OpenAI pads the audio so
  that the tail reads (max - 8 + 4) / 4. The encoder sees different inputs, so transcripts can
  differ (on FSDD "three" one gives " three.", the other " City."); use this mode to compare
  with `faster_whisper.WhisperModel.transcribe`.
- prompt: ``<|startoftranscript|><|notimestamps|>`` (English-only models have no language or
  task token in their start sequence);
- every step: the checkpoint's `suppress_ids` get -inf (faster-whisper's default
  ``suppress_tokens=[-1]`` expands to that same list); at the first step also
  `suppress_ids_begin` (blank and <|endoftext|>: ``suppress_blank=True``);
- argmax until <|endoftext|> or `max_tokens`.

By default the decoder runs with keras-hub's key/value caches (`TransformerDecoder`'s
self- and cross-attention caches): the cross-attention keys/values of the 1500 encoder frames
are projected once instead of at every step, which is most of a step's cost (about 1.1 s ->
a few ms per step for 8 clips on 2 cores). ``use_cache=False`` recomputes the whole prefix at
every step instead: the plainest form, kept as a check on the cached one.
"""

from __future__ import annotations

import dataclasses
import json
import weakref

import numpy as np

from voice_ft.runtime.token_language_model import DEFAULT_FUSION_WEIGHT

SAMPLE_RATE = 16000
GENERATION_CONFIG = "whisper_generation.json"


@dataclasses.dataclass
class Transcription:
    """One greedy transcript: its text and the generated token ids (prompt and
    <|endoftext|> excluded)."""

    text: str
    tokens: list[int]


def prompt_ids(tokenizer) -> list[int]:
    """The start prompt faster-whisper feeds an English-only model without timestamps."""
    return [tokenizer.bos_token_id, tokenizer.no_timestamps_token_id]


def suppression(backbone) -> tuple[list[int], list[int]]:
    """(`suppress_ids`, `suppress_ids_begin`) of the preset, or empty lists when it has none."""
    path = backbone.path / GENERATION_CONFIG if backbone.path is not None else None
    if path is None or not path.exists():
        return [], []
    config = json.loads(path.read_text(encoding="utf-8"))
    return list(config.get("suppress_ids", [])), list(config.get("suppress_ids_begin", []))


FEATURE_MODES = ("whisper", "faster-whisper")


def log_mel_features(
    backbone, waveforms_16k, features: str = "whisper", frames: int | None = None
) -> np.ndarray:
    """(batch, frames, num_mels) log-mel features of 16 kHz mono waveforms.

    Args:
        backbone: a Whisper `voice_ft.Backbone` with its `audio_converter`.
        waveforms_16k: 1-D float arrays at 16 kHz.
        features: "whisper" (audio zero-padded to the window, through the `WhisperAudioConverter`)
            or "faster-whisper" (faster-whisper 1.x's front end, see the module docstring).
        frames: mel frames (100 per second); None is the converter's 30 s (3000). Audio past
            the window is cut. With fewer frames the "whisper" features are computed by a
            converter over a window of whole seconds >= `frames` and then cut to `frames`.
    """
    converter = backbone.audio_converter
    if converter is None:
        raise ValueError(f"Backbone {backbone.name!r} has no audio converter; it is not a speech preset.")
    if features not in FEATURE_MODES:
        raise ValueError(f"features must be one of {FEATURE_MODES}, got {features!r}.")
    full = converter.num_samples // converter.stride
    frames = full if frames is None else int(frames)
    if not 1 <= frames <= full:
        raise ValueError(f"frames must be in [1, {full}], got {frames}.")
    if features == "faster-whisper":
        waves = [np.asarray(w, dtype=np.float32).reshape(-1)[: converter.num_samples] for w in waveforms_16k]
        return np.stack([_faster_whisper_features(converter, w) for w in waves])[:, :frames]
    converter = _window_converter(converter, frames)
    waves = [np.asarray(w, dtype=np.float32).reshape(-1)[: converter.num_samples] for w in waveforms_16k]
    batch = np.zeros((len(waves), converter.num_samples), dtype=np.float32)
    for i, wave in enumerate(waves):
        batch[i, : wave.shape[0]] = wave
    return np.asarray(converter(batch), dtype=np.float32)[:, :frames]


def _window_converter(converter, frames: int):
    """The converter itself for 30 s, else a copy whose window is the whole seconds holding `frames`."""
    seconds = -(-frames * converter.stride // converter.sampling_rate)
    if seconds >= converter.max_audio_length:
        return converter
    copies = _WINDOW_CONVERTERS.setdefault(converter, {})
    if seconds not in copies:
        config = {**converter.get_config(), "max_audio_length": seconds}
        copies[seconds] = type(converter).from_config(config)
    return copies[seconds]


_WINDOW_CONVERTERS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _faster_whisper_features(converter, wave: np.ndarray) -> np.ndarray:
    """faster-whisper 1.2's `FeatureExtractor(wave)[:, :-1]` then `pad_or_trim`, as (3000, mels).

    Same STFT (periodic Hann, centred with reflection), the converter's mel filters and the
    same log/clamp/scale; only the padding differs from the converter's.
    """
    n_fft, hop = converter.num_fft_bins, converter.stride
    frames_total = converter.num_samples // hop
    wave = np.pad(wave, (0, hop))  # faster-whisper's padding=160
    wave = np.pad(wave, (n_fft // 2, n_fft // 2), mode="reflect")
    count = 1 + (len(wave) - n_fft) // hop
    index = np.arange(n_fft)[None, :] + hop * np.arange(count)[:, None]
    window = (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n_fft) / n_fft)).astype(np.float32)
    power = np.abs(np.fft.rfft(wave[index] * window, n=n_fft, axis=-1)[:-1]) ** 2
    log_spec = np.log10(np.maximum(power @ converter.mel_filters, 1e-10))
    log_spec = (np.maximum(log_spec, log_spec.max() - 8.0) + 4.0) / 4.0
    log_spec = log_spec[:-1][:frames_total]  # faster-whisper's content frames
    out = np.zeros((frames_total, log_spec.shape[1]), dtype=np.float32)
    out[: len(log_spec)] = log_spec
    return out


def encode(backbone, features: np.ndarray) -> np.ndarray:
    """The encoder's output (batch, (frames + 1) // 2, hidden) for log-mel features (1500 for 30 s).

    Runs the encoder half of the backbone's own functional graph (a sub-model from
    ``encoder_features`` to ``encoder_sequence_output``), built once per backbone.
    """
    encoder = _ENCODERS.get(backbone.model)
    if encoder is None:
        import keras

        model = backbone.model
        encoder = keras.Model(model.input["encoder_features"], model.output["encoder_sequence_output"])
        _ENCODERS[backbone.model] = encoder
    return np.asarray(encoder(features, training=False))


_ENCODERS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def next_token_logits(backbone, encoder_output: np.ndarray, token_ids: np.ndarray) -> np.ndarray:
    """Logits (batch, vocabulary) for the token after `token_ids` (batch, length)."""
    import keras

    model = backbone.model
    x = model.decoder_embeddings(token_ids)
    mask = np.ones_like(token_ids, dtype="int32")
    for layer in model.decoder_transformer_layers:
        x = layer(decoder_sequence=x, encoder_sequence=encoder_output, decoder_padding_mask=mask)
    x = model.decoder_layer_norm(x[:, -1:, :])
    return np.asarray(keras.ops.convert_to_numpy(model.token_embedding(x, reverse=True)))[:, 0, :]


def _empty_caches(backbone, batch: int, length: int, encoder_length: int) -> list:
    """Zero (self, cross) attention caches per decoder layer, keras-hub's (b, 2, len, heads, dim)."""
    import keras

    model = backbone.model
    head_dim = model.hidden_dim // model.num_heads
    return [
        (
            keras.ops.zeros((batch, 2, length, model.num_heads, head_dim)),
            keras.ops.zeros((batch, 2, encoder_length, model.num_heads, head_dim)),
        )
        for _ in model.decoder_transformer_layers
    ]


def cached_next_token_logits(backbone, encoder_output, token_ids: np.ndarray, index: int, caches: list):
    """Logits for the token after `token_ids`, which sit at positions `index`... of the sequence.

    The first call (index 0, the whole prompt) fills the cross-attention caches; later calls
    feed one token each and reuse them. Returns (logits (batch, vocabulary), updated caches).
    """
    import keras

    model = backbone.model
    x = model.decoder_embeddings(token_ids, start_index=index)
    updated = []
    for layer, (self_cache, cross_cache) in zip(model.decoder_transformer_layers, caches):
        x, self_cache, cross_cache = layer(
            decoder_sequence=x,
            encoder_sequence=encoder_output,
            self_attention_cache=self_cache,
            self_attention_cache_update_index=index,
            cross_attention_cache=cross_cache,
            cross_attention_cache_update_index=0 if index == 0 else None,
        )
        updated.append((self_cache, cross_cache))
    x = model.decoder_layer_norm(x[:, -1:, :])
    logits = keras.ops.convert_to_numpy(model.token_embedding(x, reverse=True))[:, 0, :]
    return np.array(logits), updated


def greedy_transcribe(
    backbone,
    waveforms_16k,
    max_tokens: int = 224,
    return_tokens: bool = False,
    features: str = "whisper",
    use_cache: bool = True,
    audio_frames: int | None = None,
    batch_size: int | None = None,
    allowed_token_ids=None,
) -> list[str] | list[Transcription]:
    """Transcribes 16 kHz waveforms greedily, one 30 s window each.

    Args:
        backbone: a `voice_ft.Backbone` of a Whisper preset (e.g. ``load_backbone("whisper-tiny-en")``),
            with its `audio_converter`.
        waveforms_16k: a list of 1-D float arrays in [-1, 1] at 16 kHz; anything past 30 s is cut.
        max_tokens: the most tokens generated per waveform (Whisper's decoder holds 448
            positions, including the prompt).
        return_tokens: return `Transcription`s (text + token ids) instead of strings.
        features: "whisper" (standard 30 s input) or "faster-whisper" (its 1.x front end, to
            compare with faster-whisper), see `log_mel_features`.
        use_cache: decode with key/value caches (fast) or recompute the prefix every step.
        audio_frames: short-audio mode: the encoder input's mel frames (e.g. 500 for 5 s);
            None is the standard 30 s input.
        batch_size: encode and decode this many waveforms at a time (None: all at once), so that
            a long list does not hold every encoder output and cache in memory together.
        allowed_token_ids: None (every token), or the only ids that may be emitted (<|endoftext|>
            must be one): what a recogniser exported with a domain's `output_token_ids` computes
            (`voice_ft.asr.output_vocabulary`).

    Returns:
        One transcript per waveform: the decoded text (as faster-whisper gives it, with the
        leading space Whisper's tokens carry) or a `Transcription`.
    """
    waveforms_16k = list(waveforms_16k)
    step = batch_size or max(1, len(waveforms_16k))
    out = []
    for start in range(0, len(waveforms_16k), step):
        mels = log_mel_features(backbone, waveforms_16k[start : start + step], features, audio_frames)
        out += _greedy(backbone, encode(backbone, mels), max_tokens, return_tokens, use_cache, allowed_token_ids)
    return out


def outside_mask(vocabulary_size: int, allowed_token_ids, eot: int) -> np.ndarray | None:
    """(vocabulary,) 0 at the allowed ids and -inf elsewhere; None when every token is allowed."""
    if allowed_token_ids is None:
        return None
    allowed = np.unique(np.asarray(list(allowed_token_ids), dtype=np.int64))
    if allowed.size == 0 or allowed.min() < 0 or allowed.max() >= vocabulary_size:
        raise ValueError(f"allowed_token_ids must be non-empty ids in [0, {vocabulary_size}).")
    if eot not in allowed:
        raise ValueError(f"allowed_token_ids must include <|endoftext|> ({eot}), or no transcript could end.")
    mask = np.full(vocabulary_size, -np.inf, dtype=np.float32)
    mask[allowed] = 0.0
    return mask


def _greedy(backbone, encoder_output, max_tokens: int, return_tokens: bool, use_cache: bool = True,
            allowed_token_ids=None):
    """Greedy decoding of encoder outputs (the loop of `greedy_transcribe`)."""
    tokenizer = backbone.tokenizer
    prompt = prompt_ids(tokenizer)
    max_tokens = min(max_tokens, backbone.model.max_decoder_sequence_length - len(prompt))
    suppress, suppress_begin = suppression(backbone)
    eot = tokenizer.eos_token_id
    outside = outside_mask(int(backbone.model.vocabulary_size), allowed_token_ids, eot)
    batch = encoder_output.shape[0]
    tokens = np.tile(np.asarray(prompt, dtype="int32"), (batch, 1))
    done = np.zeros(batch, dtype=bool)
    caches = _empty_caches(backbone, batch, len(prompt) + max_tokens, encoder_output.shape[1]) if use_cache else None
    for step in range(max_tokens):
        if use_cache:
            index = 0 if step == 0 else tokens.shape[1] - 1
            logits, caches = cached_next_token_logits(backbone, encoder_output, tokens[:, index:], index, caches)
        else:
            logits = next_token_logits(backbone, encoder_output, tokens)
        if outside is not None:
            logits = logits + outside
        logits[:, suppress] = -np.inf
        if step == 0:
            logits[:, suppress_begin] = -np.inf
        chosen = np.where(done, eot, logits.argmax(axis=-1)).astype("int32")
        tokens = np.concatenate([tokens, chosen[:, None]], axis=1)
        done |= chosen == eot
        if done.all():
            break
    results = []
    for row in tokens[:, len(prompt) :]:
        ids = [int(t) for t in row]
        ids = ids[: ids.index(eot)] if eot in ids else ids
        results.append(Transcription(text=decode_text(tokenizer, ids), tokens=ids))
    return results if return_tokens else [r.text for r in results]


def decode_text(tokenizer, ids: list[int]) -> str:
    """Text of token ids, dropping special and timestamp tokens (ids from <|endoftext|> up)."""
    text_ids = [i for i in ids if i < tokenizer.eos_token_id]
    if not text_ids:
        return ""
    text = tokenizer.detokenize(np.asarray(text_ids, dtype="int32"))
    return text.numpy().decode("utf-8") if hasattr(text, "numpy") else str(text)


# --- beam search and domain vocabularies -------------------------------------------------------

VOCABULARY_MODES = ("bias", "constrain")
DEFAULT_VOCABULARY_BIAS = 3.0


def transcribe(
    backbone,
    waveforms_16k,
    audio_frames: int | None = None,
    beams: int = 1,
    vocabulary=None,
    vocabulary_mode: str = "bias",
    vocabulary_bias: float = DEFAULT_VOCABULARY_BIAS,
    max_tokens: int = 224,
    return_tokens: bool = False,
    batch_size: int = 16,
    language_model=None,
    lm_weight: float = DEFAULT_FUSION_WEIGHT,
) -> list[str] | list[Transcription]:
    """Transcribes 16 kHz waveforms: greedy or beam search, optionally with a domain vocabulary.

    Args:
        backbone: a Whisper `voice_ft.Backbone` (after `fit_speech_recognizer`, its weights are
            the fine-tuned ones: the recognizer shares them).
        waveforms_16k: 1-D float arrays at 16 kHz.
        audio_frames: short-audio mode, as the model was fine-tuned (e.g. 500); None is 30 s.
        beams: 1 is greedy; N keeps the N best hypotheses (see `beam_transcribe`).
        vocabulary: None, phrases (list of str) or a `PhraseTrie`.
        vocabulary_mode: "bias" (logit bonus to tokens that start or continue a phrase) or
            "constrain" (only sequences of vocabulary phrases and punctuation).
        vocabulary_bias: the bonus in "bias" mode, in logits.
        max_tokens: the most tokens generated per waveform.
        return_tokens: return `Transcription`s instead of strings.
        batch_size: waveforms encoded and decoded together.
        language_model: None or a `TokenNgramModel` of the domain's text, fused into beam search
            (shallow fusion): each token's score is the recogniser's log-probability plus
            ``lm_weight`` times the model's.
    """
    features = log_mel_features(backbone, waveforms_16k, frames=audio_frames) if len(waveforms_16k) else None
    if features is None:
        return []
    return transcribe_features(backbone, features, beams, vocabulary, vocabulary_mode, vocabulary_bias,
                               max_tokens, return_tokens, batch_size, language_model, lm_weight)  # fmt: skip


def transcribe_features(
    backbone,
    features: np.ndarray,
    beams: int = 1,
    vocabulary=None,
    vocabulary_mode: str = "bias",
    vocabulary_bias: float = DEFAULT_VOCABULARY_BIAS,
    max_tokens: int = 224,
    return_tokens: bool = False,
    batch_size: int = 16,
    language_model=None,
    lm_weight: float = DEFAULT_FUSION_WEIGHT,
) -> list[str] | list[Transcription]:
    """`transcribe` on log-mel features (batch, frames, mels) computed already (e.g. by `voice_ft.asr.data`)."""
    if beams < 1:
        raise ValueError(f"beams must be >= 1, got {beams}.")
    if vocabulary_mode not in VOCABULARY_MODES:
        raise ValueError(f"vocabulary_mode must be one of {VOCABULARY_MODES}, got {vocabulary_mode!r}.")
    trie = _as_trie(backbone.tokenizer, vocabulary, vocabulary_mode)
    fusion = _fusion(backbone, language_model, lm_weight)
    results: list[Transcription] = []
    for start in range(0, len(features), batch_size):
        encoder_output = encode(backbone, np.asarray(features[start : start + batch_size], dtype=np.float32))
        if beams == 1 and trie is None and fusion is None:
            results += _greedy(backbone, encoder_output, max_tokens, return_tokens=True)
        else:
            results += _beam_search(backbone, encoder_output, beams, max_tokens, trie, vocabulary_mode, vocabulary_bias,
                                    fusion)
    return results if return_tokens else [r.text for r in results]


def beam_transcribe(
    backbone,
    waveforms_16k,
    beams: int = 4,
    audio_frames: int | None = None,
    vocabulary=None,
    vocabulary_mode: str = "bias",
    vocabulary_bias: float = DEFAULT_VOCABULARY_BIAS,
    max_tokens: int = 224,
    return_tokens: bool = False,
    batch_size: int = 16,
    language_model=None,
    lm_weight: float = DEFAULT_FUSION_WEIGHT,
) -> list[str] | list[Transcription]:
    """Beam search, always through the beam decoder (with ``beams=1`` it equals `greedy_transcribe`).

    Each waveform keeps `beams` hypotheses ranked by total log-probability; a hypothesis that
    emits <|endoftext|> is set aside, and decoding stops once `beams` are set aside (Whisper's
    `BeamSearchDecoder` with patience 1). The result is the finished hypothesis with the best
    log-probability divided by its length in tokens (end token included); when none finished
    within `max_tokens`, the live ones compete. Suppression is the same as greedy's; the other
    arguments are `transcribe`'s.
    """
    if beams < 1:
        raise ValueError(f"beams must be >= 1, got {beams}.")
    if vocabulary_mode not in VOCABULARY_MODES:
        raise ValueError(f"vocabulary_mode must be one of {VOCABULARY_MODES}, got {vocabulary_mode!r}.")
    trie = _as_trie(backbone.tokenizer, vocabulary, vocabulary_mode)
    fusion = _fusion(backbone, language_model, lm_weight)
    features = log_mel_features(backbone, waveforms_16k, frames=audio_frames)
    results = []
    for start in range(0, len(features), batch_size):
        encoder_output = encode(backbone, features[start : start + batch_size])
        results += _beam_search(backbone, encoder_output, beams, max_tokens, trie, vocabulary_mode, vocabulary_bias,
                                fusion)
    return results if return_tokens else [r.text for r in results]


def _as_trie(tokenizer, vocabulary, mode: str):
    from voice_ft.asr.vocabulary import PUNCTUATION, PhraseTrie

    if vocabulary is None or isinstance(vocabulary, PhraseTrie):
        return vocabulary
    if isinstance(vocabulary, str):
        raise TypeError("vocabulary must be a list of phrases, not one string.")
    return PhraseTrie.from_phrases(tokenizer, vocabulary, punctuation=PUNCTUATION if mode == "constrain" else ())


def _fusion(backbone, language_model, weight: float):
    """(model, weight) for `_beam_search`, or None without a model; checked against the backbone once."""
    if language_model is None:
        return None
    if not hasattr(language_model, "log_probs"):
        raise TypeError(f"language_model must be a TokenNgramModel, got {type(language_model).__name__}.")
    if weight < 0:
        raise ValueError(f"lm_weight must be >= 0, got {weight}.")
    if language_model.vocab_size != int(backbone.model.vocabulary_size):
        raise ValueError(f"the language model's vocabulary has {language_model.vocab_size} tokens, the recogniser's "
                         f"{backbone.model.vocabulary_size}: fit it on this backbone (fit_token_language_model).")  # fmt: skip
    return language_model, float(weight)


def _apply_vocabulary(logits: np.ndarray, states: list, trie, mode: str, bias: float, eot: int) -> None:
    """In place: constrain each row to its state's allowed tokens, or add the bias to them."""
    for row, state in enumerate(states):
        allowed = trie.allowed(state)
        if mode == "constrain":
            keep = np.concatenate([allowed, [eot]]) if trie.is_complete(state) else allowed
            masked = np.full(logits.shape[1], -np.inf)
            masked[keep] = logits[row, keep]
            logits[row] = masked
        else:
            logits[row, allowed] += bias


def _log_softmax(logits: np.ndarray) -> np.ndarray:
    top = logits.max(axis=-1, keepdims=True)
    top = np.where(np.isfinite(top), top, 0.0)
    shifted = logits - top
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def _beam_search(backbone, encoder_output, beams: int, max_tokens: int, trie, mode: str, bias: float, fusion=None):
    """Beam search over a batch of encoder outputs with key/value caches; see `beam_transcribe`."""
    import keras

    tokenizer = backbone.tokenizer
    prompt = prompt_ids(tokenizer)
    max_tokens = min(max_tokens, backbone.model.max_decoder_sequence_length - len(prompt))
    suppress, suppress_begin = suppression(backbone)
    eot = tokenizer.eos_token_id
    batch = encoder_output.shape[0]
    rows = batch * beams
    encoder_rows = np.repeat(np.asarray(encoder_output), beams, axis=0)
    tokens = np.tile(np.asarray(prompt, dtype="int32"), (rows, 1))
    # Beams of one utterance start identical: only the first may expand at step 0.
    scores = np.tile(np.r_[0.0, np.full(beams - 1, -np.inf)], batch)
    states = [trie.start if trie is not None else None] * rows
    finished: list[list[tuple[float, list[int]]]] = [[] for _ in range(batch)]
    done = np.zeros(batch, dtype=bool)
    caches = _empty_caches(backbone, rows, len(prompt) + max_tokens, encoder_rows.shape[1])
    for step in range(max_tokens):
        index = 0 if step == 0 else tokens.shape[1] - 1
        logits, caches = cached_next_token_logits(backbone, encoder_rows, tokens[:, index:], index, caches)
        logits = logits.astype(np.float64)
        logits[:, suppress] = -np.inf
        if step == 0:
            logits[:, suppress_begin] = -np.inf
        if trie is not None:
            _apply_vocabulary(logits, states, trie, mode, bias, eot)
        log_probs = _log_softmax(logits)
        if fusion is not None:
            _add_language_model(log_probs, tokens[:, len(prompt) :], fusion, done, beams)
        source = np.arange(rows)
        chosen = np.full(rows, eot, dtype="int32")
        new_scores = scores.copy()
        for b in range(batch):
            if done[b]:
                continue
            block = slice(b * beams, (b + 1) * beams)
            candidates = (scores[block, None] + log_probs[block]).ravel()
            order = np.argsort(-candidates, kind="stable")[: 2 * beams + 1]
            kept = []
            for k in order:
                if not np.isfinite(candidates[k]):
                    break
                beam, token = divmod(int(k), log_probs.shape[1])
                row = b * beams + beam
                if token == eot:
                    if len(finished[b]) < beams:
                        generated = [int(t) for t in tokens[row, len(prompt) :]]
                        finished[b].append((candidates[k] / (len(generated) + 1), generated))
                else:
                    kept.append((row, token, candidates[k]))
                if len(kept) == beams:
                    break
            if len(finished[b]) >= beams or not kept:
                done[b] = True
                continue
            kept += [(kept[0][0], kept[0][1], -np.inf)] * (beams - len(kept))  # pad a short beam
            for i, (row, token, score) in enumerate(kept):
                source[b * beams + i], chosen[b * beams + i], new_scores[b * beams + i] = row, token, score
        if done.all():
            break
        tokens = np.concatenate([tokens[source], chosen[:, None]], axis=1)
        scores = new_scores
        if trie is not None:
            states = [_next_state(trie, states[s], int(t), mode) for s, t in zip(source, chosen)]
        # Rows only move within their utterance, whose cross-attention cache is the same for all beams.
        caches = [(keras.ops.take(self_cache, source, axis=0), cross_cache) for self_cache, cross_cache in caches]
    results = []
    for b in range(batch):
        if not finished[b]:
            for row in range(b * beams, (b + 1) * beams):
                generated = [int(t) for t in tokens[row, len(prompt) :]]
                if np.isfinite(scores[row]):
                    finished[b].append((scores[row] / max(len(generated), 1), generated))
        _, ids = max(finished[b], key=lambda f: f[0])
        results.append(Transcription(text=decode_text(tokenizer, ids), tokens=ids))
    return results


def _add_language_model(log_probs: np.ndarray, generated: np.ndarray, fusion, done, beams: int) -> None:
    """In place: shallow fusion, ``+ weight * log p_lm(token | generated)`` on the rows still decoding."""
    model, weight = fusion
    for row in range(log_probs.shape[0]):
        if done[row // beams]:
            continue
        log_probs[row] += weight * model.log_probs(generated[row])


def _next_state(trie, state, token: int, mode: str):
    if state is None:
        return None
    following = trie.advance(state, token)
    return following if following or mode == "constrain" else trie.start
