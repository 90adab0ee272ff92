"""Fine-tuning a speech recognizer with the voice_ft recipe: teacher-forced cross-entropy on transcripts.

`voice_ft.fit` does the optimizer (AdamW, warm-up + linear decay, clipping), callbacks and run
directory. This module adds what it does not know:

- the transcript-only loss (`voice_ft.training.losses.weighted_token_loss`, weights from `voice_ft.asr.data`);
- with a frozen encoder, the encoder outputs are computed once and only the decoder model
  trains on them (measured on tiny.en: the encoder is most of a training step); with only the
  top encoder layers training, the outputs of the layers below them are cached the same way
  (`recognizer.frozen_part` / `trainable_part`);
- which weights train is the recognizer's choice (`build_speech_recognizer(train_encoder=...,
  train_decoder=...)`), not the recipe's: `Recipe.freeze_backbone` / `freeze_layers` /
  `lora_rank` act on a whole keras-hub backbone and are refused here.
"""

from __future__ import annotations

import dataclasses
import time

import numpy as np

from voice_ft.asr.data import SpeechData, make_asr_dataset
from voice_ft.training.losses import weighted_token_loss

DEFAULT_RECIPE = dict(epochs=3, batch_size=16, learning_rate=1e-5, warmup_ratio=0.1)


def cacheable(recognizer) -> bool:
    """True when the recognizer has a frozen part whose outputs can be computed once."""
    frozen = getattr(recognizer, "frozen_part", None)
    return frozen is not None and not frozen.trainable_weights


def encode_features(recognizer, features: np.ndarray, batch_size: int = 16, model=None) -> np.ndarray:
    """The outputs (N, positions, hidden) of `model` (default: the whole encoder) on log-mel features, in batches."""
    model = recognizer.encoder if model is None else model
    return np.concatenate([
        np.asarray(model(features[i : i + batch_size], training=False))
        for i in range(0, len(features), batch_size)
    ])  # fmt: skip


@dataclasses.dataclass
class ASRTrainResult:
    """The Keras history dict, training wall time (encoder caching included) and what was trained.

    `cached_encoder`: the frozen part's outputs (the whole encoder, or the layers below the
    training ones) were computed once and the rest trained on them.
    """

    history: dict
    seconds: float
    cached_encoder: bool
    trainable_parameters: int


def fit_speech_recognizer(
    recognizer,
    train: SpeechData,
    validation: SpeechData | None = None,
    recipe=None,
    run_dir=None,
    callbacks: list | None = None,
    verbose="auto",
) -> ASRTrainResult:
    """Fine-tunes a `build_speech_recognizer` model on transcribed audio.

    Args:
        recognizer: from `voice_ft.asr.build_speech_recognizer`.
        train / validation: from `voice_ft.asr.data.load_speech` with the recognizer's `audio_frames`.
        recipe: a `voice_ft.Recipe`; default 3 epochs, batch 16, lr 1e-5 (`DEFAULT_RECIPE`).
        run_dir: checkpoints, resume backup and logs (see `voice_ft.fit`).

    Under the recipe's `strategy` (build the backbone and recognizer inside
    `voice_ft.training.distribution_scope`) a step sees `recipe.batch_size` x replicas clips.

    Returns:
        An `ASRTrainResult`. The fine-tuned weights are in the recognizer and its backbone.
    """
    from voice_ft.training import Recipe, fit
    from voice_ft.training.distribution import batching_for, distribute_batches

    recipe = recipe or Recipe(**DEFAULT_RECIPE)
    if recipe.freeze_backbone or recipe.freeze_layers or recipe.lora_rank:
        raise ValueError(
            "fit_speech_recognizer: choose what trains with build_speech_recognizer(train_encoder=..., "
            "train_decoder=..., lora_rank=...), not with Recipe.freeze_backbone/freeze_layers/lora_rank."
        )
    for name, split in (("train", train), ("validation", validation)):
        if split is not None and split.features.shape[1] != recognizer.audio_frames:
            raise ValueError(f"{name} features have {split.features.shape[1]} frames, the recognizer takes "
                             f"{recognizer.audio_frames}: load them with audio_frames={recognizer.audio_frames}.")  # fmt: skip
    start = time.perf_counter()
    cached = cacheable(recognizer)
    model, input_name = (recognizer.trainable_part, recognizer.cached_input) if cached else (recognizer, "encoder_features")
    strategy, batch_size = batching_for(model, recipe)  # Recipe.batch_size per replica, as voice_ft.fit batches

    def batches(split: SpeechData, shuffle: bool):
        inputs = encode_features(recognizer, split.features, recipe.batch_size, recognizer.frozen_part) if cached else split.features
        dataset = make_asr_dataset(inputs, split, batch_size, shuffle=shuffle, seed=recipe.seed, input_name=input_name)
        return distribute_batches(dataset, strategy)

    import keras

    history = fit(
        model, batches(train, True), batches(validation, False) if validation is not None else None,
        recipe=recipe, run_dir=run_dir, loss=weighted_token_loss(),
        metrics=[keras.metrics.SparseCategoricalAccuracy(name="token_accuracy")],
        callbacks=callbacks, verbose=verbose,
    )
    parameters = int(sum(np.prod(v.shape) for v in recognizer.trainable_weights))
    return ASRTrainResult(history.history, time.perf_counter() - start, cached, parameters)
