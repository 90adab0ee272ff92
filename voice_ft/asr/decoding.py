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


def log_mel_features(backbone, waveforms_16k, features: str = "whisper") -> np.ndarray:
    """(batch, 3000, num_mels) log-mel features of 16 kHz mono waveforms (cut to 30 s).

    Args:
        backbone: a Whisper `voice_ft.Backbone` with its `audio_converter`.
        waveforms_16k: 1-D float arrays at 16 kHz.
        features: "whisper" (audio zero-padded to 30 s, through the `WhisperAudioConverter`)
            or "faster-whisper" (faster-whisper 1.x's front end, see the module docstring).
    """
    converter = backbone.audio_converter
    if converter is None:
        raise ValueError(f"Backbone {backbone.name!r} has no audio converter; it is not a speech preset.")
    if features not in FEATURE_MODES:
        raise ValueError(f"features must be one of {FEATURE_MODES}, got {features!r}.")
    waves = [np.asarray(w, dtype=np.float32).reshape(-1)[: converter.num_samples] for w in waveforms_16k]
    if features == "faster-whisper":
        return np.stack([_faster_whisper_features(converter, w) for w in waves])
    batch = np.zeros((len(waves), converter.num_samples), dtype=np.float32)
    for i, wave in enumerate(waves):
        batch[i, : wave.shape[0]] = wave
    return np.asarray(converter(batch), dtype=np.float32)


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
    """The encoder's output (batch, 1500, hidden) for log-mel features.

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

    Returns:
        One transcript per waveform: the decoded text (as faster-whisper gives it, with the
        leading space Whisper's tokens carry) or a `Transcription`.
    """
    tokenizer = backbone.tokenizer
    prompt = prompt_ids(tokenizer)
    max_tokens = min(max_tokens, backbone.model.max_decoder_sequence_length - len(prompt))
    suppress, suppress_begin = suppression(backbone)
    eot = tokenizer.eos_token_id
    encoder_output = encode(backbone, log_mel_features(backbone, waveforms_16k, features))
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
