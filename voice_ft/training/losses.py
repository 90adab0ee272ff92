"""Losses shared by the sequence tasks (response SFT, speech recognition)."""

from __future__ import annotations

import keras


def weighted_token_loss() -> keras.losses.Loss:
    """Cross-entropy averaged over the weighted tokens of a batch (the response, the transcript).

    Keras's default reduction divides by every position of the padded batch, so a batch of long
    prompts (wide, few weighted tokens per position) would count less than a batch of short ones,
    and each token's weight would change with its batch-mates' lengths. Dividing by the sum of the
    sample weights makes every weighted token count the same, which is also what held-out
    perplexity measures (`voice_ft.response.metrics.response_perplexity`).
    """
    return keras.losses.SparseCategoricalCrossentropy(from_logits=True, reduction="mean_with_sample_weight")
