"""Supervised fine-tuning of a response generator with the voice_ft recipe.

`voice_ft.fit` does the optimizer (AdamW, warm-up + linear decay, clipping) and LoRA
(`Recipe.lora_rank`: rank-r adapters on the attention query/value projections, backbone frozen);
this module adds the response-only loss (averaged over response tokens) and detaches keras-hub's preprocessor while
training (a keras-hub `Task` with a preprocessor would try to preprocess the already tokenized
batches).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence

from voice_ft.response.sft import TokenizedPair, make_sft_dataset
from voice_ft.training.losses import weighted_token_loss


@dataclasses.dataclass
class TrainResult:
    """Training outcome: Keras history dict, wall time and training throughput."""

    history: dict
    seconds: float
    train_tokens: int
    tokens_per_second: float


def train_response_generator(
    generator,
    train_examples: Sequence[TokenizedPair],
    validation_examples: Sequence[TokenizedPair] | None = None,
    recipe=None,
    run_dir=None,
    callbacks: list | None = None,
    verbose="auto",
) -> TrainResult:
    """Fine-tunes `generator.lm` on tokenized (prompt, response) pairs, loss on responses only.

    Args:
        generator: a `ResponseGenerator`.
        train_examples / validation_examples: from `voice_ft.response.tokenize_pairs`.
        recipe: a `voice_ft.Recipe`; default LoRA rank 8, lr 1e-3, batch 8, 1 epoch. Under its
            `strategy` (build the generator inside `voice_ft.training.distribution_scope`) a step
            sees batch_size x replicas pairs.
        run_dir: checkpoints and logs (see `voice_ft.fit`).

    Returns:
        A `TrainResult`; tokens/s counts all non-padding input tokens (prompt + response).
    """
    from voice_ft.training import Recipe, fit

    from voice_ft.training.distribution import batching_for, distribute_batches

    recipe = recipe or Recipe(epochs=1, batch_size=8, learning_rate=1e-3, lora_rank=8)
    lm = generator.lm
    strategy, batch_size = batching_for(lm, recipe)  # Recipe.batch_size per replica, as voice_ft.fit batches
    train = distribute_batches(make_sft_dataset(train_examples, batch_size=batch_size, seed=recipe.seed), strategy)
    validation = distribute_batches(
        make_sft_dataset(validation_examples, batch_size=batch_size, shuffle=False) if validation_examples else None,
        strategy,
    )
    preprocessor, lm.preprocessor = lm.preprocessor, None
    start = time.perf_counter()
    try:
        history = fit(
            lm, train, validation, recipe=recipe, run_dir=run_dir,
            loss=weighted_token_loss(),
            metrics=[], callbacks=callbacks, verbose=verbose,
        )
    finally:
        lm.preprocessor = preprocessor
    seconds = time.perf_counter() - start
    tokens = sum(len(e.token_ids) - 1 for e in train_examples) * recipe.epochs
    return TrainResult(history.history, seconds, tokens, tokens / seconds if seconds else float("nan"))
