"""`build_speech_recognizer(backbone)`: a Whisper backbone as a trainable log-mel -> logits model.

The model's layers *are* the backbone's (nothing is copied), so after training,
`voice_ft.asr.decoding` decoding the same `Backbone` uses the fine-tuned weights, and saving the
backbone (`backbone.model.save_to_preset`) saves them (LoRA adapters merged into the kernels).

Three functional models share those layers:

- ``recognizer`` (returned): ``{"encoder_features" (batch, audio_frames, mels),
  "decoder_token_ids", "decoder_padding_mask"}`` -> next-token logits (batch, length, vocabulary);
- ``recognizer.encoder``: log-mel -> encoder output (batch, (audio_frames + 1) // 2, hidden),
  the backbone's own encoder graph;
- ``recognizer.decoder``: ``{"encoder_sequence", "decoder_token_ids", "decoder_padding_mask"}``
  -> logits.
- ``recognizer.frozen_part`` / ``recognizer.trainable_part`` / ``recognizer.cached_input``: where
  the weights that train begin. With a frozen encoder, `fit_speech_recognizer` computes the frozen
  part's outputs once and trains only the rest on them (the encoder is most of the compute): the
  encoder and the decoder ("encoder_sequence"); with the top encoder layers training, the encoder
  up to them and those layers + the decoder ("encoder_hidden"). None for LoRA / full encoders.

Short-audio mode (``audio_frames=500`` for 5 s): keras-hub's `WhisperBackbone` takes any number
of mel frames up to its 3000: the two convolutions give ``(frames + 1) // 2`` positions, and its
encoder `PositionEmbedding` slices the first that many rows of its fixed sinusoid table (it
trims itself to the input length). The encoder has no padding mask, so a 30 s input is mostly
silence the decoder attends over; a 5 s window is 6x less encoder work. The pretrained decoder
was only trained on 1500 encoder positions and fails to stop on 250; fine-tuning in that mode
fixes it.

What trains (`train_encoder`, `train_decoder`):

- encoder "frozen" (default): conv front end, transformer layers and final norm frozen;
  "top": the last `encoder_top_layers` transformer layers and the final norm train, the rest is
  frozen (the acoustic adaptation of the layers nearest the decoder, at a fraction of a full
  encoder step: the frozen part's outputs are cached);
  "lora": rank-`lora_rank` adapters on the encoder self-attention query/value projections
  (their biases train too, as keras-hub's `enable_lora` does), the rest frozen; "full": all of it.
  The sinusoidal position table never trains (it is not a learned weight in Whisper).
- decoder "full" (default): token and position embeddings (the output projection is tied to the
  token embedding), layers and norm; "layers": the layers and norm, the embeddings frozen (the
  51,864 x 384 table that scores every token stays pretrained: a few thousand commands move only
  their own tokens' rows otherwise); "lora": adapters on the self- and cross-attention
  query/value projections only.
"""

from __future__ import annotations

import keras

ENCODER_MODES = ("frozen", "top", "lora", "full")
DECODER_MODES = ("full", "layers", "lora")
DEFAULT_LORA_RANK = 8
SHORT_AUDIO_FRAMES = 500  # 5 s at Whisper's 100 frames per second


def build_speech_recognizer(
    backbone,
    audio_frames: int | None = None,
    train_encoder: str = "frozen",
    train_decoder: str = "full",
    lora_rank: int = DEFAULT_LORA_RANK,
    encoder_top_layers: int = 1,
) -> keras.Model:
    """A Keras model over the backbone's layers, trainable as asked; see the module docstring.

    Args:
        backbone: a Whisper `voice_ft.Backbone` (``load_backbone("whisper-tiny-en")``) or a
            `keras_hub.models.WhisperBackbone`.
        audio_frames: mel frames of the encoder input; None is Whisper's 30 s (3000), 500 is the
            5 s short-audio mode (`SHORT_AUDIO_FRAMES`).
        train_encoder: "frozen", "top", "lora" or "full".
        train_decoder: "full", "layers" or "lora".
        lora_rank: rank of the LoRA adapters, where LoRA is chosen.
        encoder_top_layers: with train_encoder="top", how many of the last encoder layers train.

    Returns:
        The recognizer; it also carries `.encoder`, `.decoder`, `.whisper` (the keras-hub
        backbone), `.audio_frames`, `.train_encoder` and `.train_decoder`.
    """
    whisper = getattr(backbone, "model", backbone)
    if train_encoder not in ENCODER_MODES:
        raise ValueError(f"train_encoder must be one of {ENCODER_MODES}, got {train_encoder!r}.")
    if train_decoder not in DECODER_MODES:
        raise ValueError(f"train_decoder must be one of {DECODER_MODES}, got {train_decoder!r}.")
    if "lora" in (train_encoder, train_decoder) and lora_rank < 1:
        raise ValueError(f"lora_rank must be >= 1, got {lora_rank}.")
    num_layers = len(whisper.encoder_transformer_layers)
    top = int(encoder_top_layers) if train_encoder == "top" else 0
    if train_encoder == "top" and not 1 <= top <= num_layers:
        raise ValueError(f"encoder_top_layers must be in [1, {num_layers}] (the encoder's layers), got {encoder_top_layers}.")
    full_frames = int(whisper.max_encoder_sequence_length)
    frames = full_frames if audio_frames is None else int(audio_frames)
    if not 2 <= frames <= full_frames:
        raise ValueError(f"audio_frames must be in [2, {full_frames}], got {audio_frames}.")

    set_trainability(whisper, train_encoder, train_decoder, lora_rank, top)
    encoder = keras.Model(whisper.input["encoder_features"], whisper.output["encoder_sequence_output"],
                          name="whisper_encoder")  # fmt: skip
    decoder = _decoder_model(whisper, encoder_length=(frames + 1) // 2)
    features = keras.Input((frames, whisper.num_mels), dtype="float32", name="encoder_features")
    token_ids = keras.Input((None,), dtype="int32", name="decoder_token_ids")
    padding_mask = keras.Input((None,), dtype="int32", name="decoder_padding_mask")
    logits = decoder({"encoder_sequence": encoder(features), "decoder_token_ids": token_ids,
                      "decoder_padding_mask": padding_mask})  # fmt: skip
    recognizer = keras.Model(
        {"encoder_features": features, "decoder_token_ids": token_ids, "decoder_padding_mask": padding_mask},
        logits, name="speech_recognizer",
    )
    recognizer.encoder, recognizer.decoder, recognizer.whisper = encoder, decoder, whisper
    recognizer.audio_frames, recognizer.train_encoder, recognizer.train_decoder = frames, train_encoder, train_decoder
    recognizer.frozen_part = recognizer.trainable_part = recognizer.cached_input = None
    if train_encoder == "frozen":
        recognizer.frozen_part, recognizer.trainable_part, recognizer.cached_input = encoder, decoder, "encoder_sequence"
    elif train_encoder == "top":
        lower, upper = _split_encoder(whisper, frames, num_layers - top, decoder)
        recognizer.frozen_part, recognizer.trainable_part, recognizer.cached_input = lower, upper, "encoder_hidden"
    return recognizer


def _split_encoder(whisper, frames: int, frozen_layers: int, decoder: keras.Model) -> tuple[keras.Model, keras.Model]:
    """(log-mel -> the output of the first `frozen_layers` encoder layers, that -> logits).

    The lower model is wired from the backbone's layers as keras-hub 0.32's `WhisperBackbone` wires
    its encoder (conv, GELU, pad, strided conv, GELU, + sinusoid positions, dropout, layers), so the
    two together compute the backbone's encoder (checked by `test_top_encoder_split_computes_the_encoder`).
    """
    features = keras.Input((frames, whisper.num_mels), dtype="float32", name="encoder_features")
    x = keras.activations.gelu(whisper.encoder_conv_layer_1(features), approximate=False)
    x = keras.activations.gelu(whisper.encoder_conv_layer_2(whisper.encoder_padder(x)), approximate=False)
    x = whisper.encoder_embeddings_dropout(whisper.encoder_embeddings_add((x, whisper.encoder_position_embedding(x))))
    for layer in whisper.encoder_transformer_layers[:frozen_layers]:
        x = layer(x)
    lower = keras.Model(features, x, name="whisper_encoder_frozen_layers")
    hidden = keras.Input(((frames + 1) // 2, whisper.hidden_dim), dtype="float32", name="encoder_hidden")
    y = hidden
    for layer in whisper.encoder_transformer_layers[frozen_layers:]:
        y = layer(y)
    token_ids = keras.Input((None,), dtype="int32", name="decoder_token_ids")
    padding_mask = keras.Input((None,), dtype="int32", name="decoder_padding_mask")
    logits = decoder({"encoder_sequence": whisper.encoder_layer_norm(y), "decoder_token_ids": token_ids,
                      "decoder_padding_mask": padding_mask})  # fmt: skip
    upper = keras.Model({"encoder_hidden": hidden, "decoder_token_ids": token_ids, "decoder_padding_mask": padding_mask},
                        logits, name="whisper_top_encoder_layers_and_decoder")  # fmt: skip
    return lower, upper


def _decoder_model(whisper, encoder_length: int) -> keras.Model:
    """Encoder output + decoder tokens -> logits, wired from the backbone's decoder layers."""
    encoder_sequence = keras.Input((encoder_length, whisper.hidden_dim), dtype="float32", name="encoder_sequence")
    token_ids = keras.Input((None,), dtype="int32", name="decoder_token_ids")
    padding_mask = keras.Input((None,), dtype="int32", name="decoder_padding_mask")
    x = whisper.decoder_embeddings_dropout(whisper.decoder_embeddings(token_ids))
    for layer in whisper.decoder_transformer_layers:
        x = layer(decoder_sequence=x, encoder_sequence=encoder_sequence, decoder_padding_mask=padding_mask)
    x = whisper.decoder_layer_norm(x)
    logits = whisper.token_embedding(x, reverse=True)
    inputs = {"encoder_sequence": encoder_sequence, "decoder_token_ids": token_ids, "decoder_padding_mask": padding_mask}
    return keras.Model(inputs, logits, name="whisper_decoder")


def encoder_layers(whisper) -> list:
    """The encoder's weighted layers (the position table excluded: it never trains)."""
    return [whisper.encoder_conv_layer_1, whisper.encoder_conv_layer_2, *whisper.encoder_transformer_layers,
            whisper.encoder_layer_norm]  # fmt: skip


def decoder_layers(whisper) -> list:
    """The decoder's weighted layers (token + position embeddings, which the output reuses)."""
    return [whisper.decoder_embeddings, *whisper.decoder_transformer_layers, whisper.decoder_layer_norm]


def set_trainability(whisper, train_encoder: str, train_decoder: str, lora_rank: int = DEFAULT_LORA_RANK,
                     encoder_top_layers: int = 0) -> None:
    """Sets which variables train; see the module docstring. Variable flags are what Keras reads."""
    lora_on = [layer for layer in whisper._flatten_layers(include_self=False) if getattr(layer, "lora_enabled", False)]
    wanted_lora = set()
    if train_encoder == "lora":
        wanted_lora |= {id(layer) for layer in _attention_projections(encoder_layers(whisper))}
    if train_decoder == "lora":
        wanted_lora |= {id(layer) for layer in _attention_projections(decoder_layers(whisper))}
    stray = [layer.path for layer in lora_on if id(layer) not in wanted_lora]
    if stray:
        raise ValueError(f"LoRA is already enabled on {stray[:3]}...; build the recognizer on a freshly loaded backbone.")
    whisper.trainable = True
    for layers, mode in ((encoder_layers(whisper), train_encoder), (decoder_layers(whisper), train_decoder)):
        for layer in layers:
            layer.trainable = mode == "full"
        if mode == "layers":
            for layer in [*whisper.decoder_transformer_layers, whisper.decoder_layer_norm]:
                layer.trainable = True
        if mode == "top":
            for layer in [*whisper.encoder_transformer_layers[-encoder_top_layers:], whisper.encoder_layer_norm]:
                layer.trainable = True
        if mode == "lora":
            for projection in _attention_projections(layers):
                projection.trainable = True
                if not projection.lora_enabled:
                    projection.enable_lora(lora_rank)
                projection._kernel.trainable = False  # what enable_lora sets; `trainable = True` undid it
    whisper.encoder_position_embedding.trainable = False


def _attention_projections(layers) -> list:
    """The query and value `EinsumDense` layers of the attention blocks inside `layers`."""
    found = []
    for layer in layers:
        for sub in layer._flatten_layers(include_self=False):
            if sub.name in ("query", "value") and hasattr(sub, "enable_lora"):
                found.append(sub)
    return found
