"""Supervised fine-tuning data: (prompt, response) pairs -> `(x, y, sample_weight)` batches.

Each example is `prompt + response + stop token`, shifted by one for next-token prediction. The
loss counts response tokens (and the stop token, so the model learns to stop) only: prompt and
padding positions get sample weight 0. A prompt that does not fit in the context window is cut
from the left (the oldest turns go first) and counted; a response that alone does not fit is cut
from the right and counted. Batches are padded to the longest example rounded up to
`pad_to_multiple` (not to the full window): on a CPU this is most of the speed.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterable, Sequence

import numpy as np

logger = logging.getLogger(__name__)


class EmptyResponseError(ValueError):
    """A training pair whose response is empty: there would be nothing to learn from it."""


@dataclasses.dataclass
class SFTStats:
    """What `tokenize_pairs` did to fit examples into the context window."""

    examples: int = 0
    prompts_truncated: int = 0
    responses_truncated: int = 0
    response_tokens: int = 0
    total_tokens: int = 0

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


@dataclasses.dataclass
class TokenizedPair:
    token_ids: np.ndarray  # prompt + response + stop, int32
    prompt_length: int


def _ids(tokenizer, text: str) -> list[int]:
    return [int(i) for i in np.asarray(tokenizer(text)).reshape(-1)]


def tokenize_pairs(
    generator,
    pairs: Iterable[tuple[str, str]],
    sequence_length: int | None = None,
) -> tuple[list[TokenizedPair], SFTStats]:
    """Tokenizes `(prompt, response)` pairs, where the prompt is already templated.

    Args:
        generator: a `ResponseGenerator` (tokenizer, template, stop token, start token rule).
        pairs: `(prompt_text, response_text)`; the response is the raw answer (the template
            adds its leading space and the stop token).
        sequence_length: the window; defaults to the generator's.

    Raises:
        EmptyResponseError: a response is empty or whitespace, naming its index.
    """
    window = (sequence_length or generator.sequence_length) + 1  # inputs and labels overlap by one
    tokenizer, stop = generator.tokenizer, generator.stop_token_ids[0]
    start = [int(tokenizer.start_token_id)] if generator.add_start_token else []
    examples, stats = [], SFTStats()
    for index, (prompt, response) in enumerate(pairs):
        if not str(response).strip():
            raise EmptyResponseError(f"Training pair {index} has an empty response (prompt: {str(prompt)[:80]!r}).")
        prompt_ids = _ids(tokenizer, prompt)
        response_ids = _ids(tokenizer, generator.template.format_response(response)) + [stop]
        budget = window - len(start) - 1  # keep at least one prompt token
        if len(response_ids) > budget:
            response_ids = response_ids[:budget]
            stats.responses_truncated += 1
        room = window - len(start) - len(response_ids)
        if len(prompt_ids) > room:
            prompt_ids = prompt_ids[len(prompt_ids) - room :]
            stats.prompts_truncated += 1
        ids = np.asarray(start + prompt_ids + response_ids, dtype=np.int32)
        examples.append(TokenizedPair(ids, len(start) + len(prompt_ids)))
        stats.examples += 1
        stats.response_tokens += len(response_ids)
        stats.total_tokens += len(ids) - 1
    if stats.prompts_truncated or stats.responses_truncated:
        logger.warning(
            "SFT data: %d of %d prompts cut from the left and %d responses cut from the right to fit %d tokens.",
            stats.prompts_truncated, stats.examples, stats.responses_truncated, window - 1,
        )
    return examples, stats


def collate(examples: Sequence[TokenizedPair], pad_id: int = 0, pad_to_multiple: int = 16):
    """Pads a batch: returns `({"token_ids", "padding_mask"}, labels, sample_weight)` numpy arrays.

    The padding mask is int32 1/0, the dtype of keras-hub's `padding_mask` input: Keras averages the
    first batch across replicas to build a model under `MirroredStrategy`, which a bool cannot be.
    """
    longest = max(len(e.token_ids) - 1 for e in examples)
    width = int(np.ceil(longest / pad_to_multiple) * pad_to_multiple)
    n = len(examples)
    x = np.full((n, width), pad_id, np.int32)
    y = np.full((n, width), pad_id, np.int32)
    mask = np.zeros((n, width), np.int32)
    weight = np.zeros((n, width), np.float32)
    for row, e in enumerate(examples):
        length = len(e.token_ids) - 1
        x[row, :length] = e.token_ids[:-1]
        y[row, :length] = e.token_ids[1:]
        mask[row, :length] = 1
        weight[row, e.prompt_length - 1 : length] = 1.0  # label positions that are response tokens
    return {"token_ids": x, "padding_mask": mask}, y, weight


def make_sft_dataset(
    examples: Sequence[TokenizedPair],
    batch_size: int = 8,
    shuffle: bool = True,
    seed: int = 0,
    pad_to_multiple: int = 16,
    pad_id: int = 0,
):
    """A `tf.data.Dataset` of padded `(x, y, sample_weight)` batches from tokenized pairs.

    Examples of similar length are batched together (sorted within shuffled chunks of 50
    batches) so little compute goes to padding; batch order is shuffled each epoch.
    """
    import tensorflow as tf

    examples = list(examples)
    if not examples:
        raise ValueError("make_sft_dataset: no examples.")

    def batches(epoch_seed: int):
        rng = np.random.default_rng(epoch_seed)
        order = rng.permutation(len(examples)) if shuffle else np.arange(len(examples))
        chunk = batch_size * 50
        groups = []
        for c in range(0, len(order), chunk):
            part = sorted(order[c : c + chunk], key=lambda i: len(examples[i].token_ids))
            groups += [part[b : b + batch_size] for b in range(0, len(part), batch_size)]
        if shuffle:
            rng.shuffle(groups)
        for group in groups:
            yield collate([examples[i] for i in group], pad_id, pad_to_multiple)

    counter = iter(range(seed, seed + 10**9))

    def generator():
        yield from batches(next(counter))

    spec = (
        {"token_ids": tf.TensorSpec((None, None), tf.int32), "padding_mask": tf.TensorSpec((None, None), tf.int32)},
        tf.TensorSpec((None, None), tf.int32),
        tf.TensorSpec((None, None), tf.float32),
    )
    dataset = tf.data.Dataset.from_generator(generator, output_signature=spec)
    num_batches = -(-len(examples) // batch_size)
    return dataset.apply(tf.data.experimental.assert_cardinality(num_batches)).prefetch(2)
