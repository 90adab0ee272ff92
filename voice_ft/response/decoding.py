"""Greedy, top-k and top-p decoding with stop tokens, on keras-hub's samplers.

keras-hub's `CausalLM.generate` does the KV-cached loop; this wrapper adds what a response
generator needs around it: prompts tokenized here (cut from the left when they would not leave
room for `max_new_tokens`), a per-call sampler, and only the new tokens returned, cut at the
first stop token.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

SAMPLERS = ("greedy", "top_k", "top_p")


def make_sampler(sampler: str = "greedy", k: int = 50, p: float = 0.9, temperature: float = 1.0, seed: int | None = None):
    """A keras-hub sampler: "greedy", "top_k" (k, temperature) or "top_p" (p, temperature)."""
    import keras_hub

    if sampler == "greedy":
        return keras_hub.samplers.GreedySampler()
    if sampler == "top_k":
        return keras_hub.samplers.TopKSampler(k=k, seed=seed, temperature=temperature)
    if sampler == "top_p":
        return keras_hub.samplers.TopPSampler(p=p, seed=seed, temperature=temperature)
    raise ValueError(f"Unknown sampler {sampler!r}; use one of {SAMPLERS}.")


def prompt_token_ids(generator, prompt: str, max_prompt_tokens: int) -> list[int]:
    """The prompt's token ids (with the start token if the model uses one), cut from the left."""
    tokenizer = generator.tokenizer
    ids = [int(i) for i in np.asarray(tokenizer(prompt)).reshape(-1)]
    start = [int(tokenizer.start_token_id)] if generator.add_start_token else []
    room = max_prompt_tokens - len(start)
    return start + ids[max(0, len(ids) - room) :]


def generate_ids(
    generator,
    prompt_ids: Sequence[Sequence[int]],
    max_new_tokens: int = 48,
    sampler: str = "greedy",
    stop_token_ids: Sequence[int] | None = None,
    **sampler_options,
) -> list[list[int]]:
    """Decodes new token ids for each prompt (a batch; prompts may differ in length).

    Returns the generated ids per prompt, ending with the stop token when one was produced.
    """
    lm = generator.lm
    stops = tuple(generator.stop_token_ids if stop_token_ids is None else stop_token_ids)
    lengths = [len(p) for p in prompt_ids]
    # Round the width up so that prompts of similar length share one traced generate function.
    width = -(-(max(lengths) + max_new_tokens) // 32) * 32
    token_ids = np.zeros((len(prompt_ids), width), np.int32)
    mask = np.zeros((len(prompt_ids), width), bool)
    for row, ids in enumerate(prompt_ids):
        token_ids[row, : len(ids)] = ids
        mask[row, : len(ids)] = True
    # `CausalLM.compile(sampler=...)` would also reset the loss and optimizer; set the sampler
    # and drop the cached generate function the way `compile` does.
    lm.sampler = make_sampler(sampler, **sampler_options)
    lm.generate_function = None
    preprocessor, lm.preprocessor = lm.preprocessor, None
    try:
        out = lm.generate({"token_ids": token_ids, "padding_mask": mask}, stop_token_ids=stops or None)
    finally:
        lm.preprocessor = preprocessor
    out_ids = np.asarray(out["token_ids"])
    results = []
    for row, length in enumerate(lengths):
        new = [int(t) for t in out_ids[row, length : length + max_new_tokens]]
        for i, t in enumerate(new):
            if t in stops:
                new = new[: i + 1]
                break
        results.append(new)
    return results


def generate(
    generator,
    prompts: str | Sequence[str],
    max_new_tokens: int = 48,
    sampler: str = "greedy",
    batch_size: int = 8,
    **sampler_options,
) -> list[str]:
    """Generates response text for templated prompt strings (stop tokens removed)."""
    if isinstance(prompts, str):
        prompts = [prompts]
    max_prompt = generator.sequence_length - max_new_tokens
    if max_prompt < 1:
        raise ValueError(f"max_new_tokens={max_new_tokens} leaves no room in the {generator.sequence_length}-token window.")
    texts = []
    for b in range(0, len(prompts), batch_size):
        ids = [prompt_token_ids(generator, p, max_prompt) for p in prompts[b : b + batch_size]]
        for new in generate_ids(generator, ids, max_new_tokens, sampler, **sampler_options):
            new = [t for t in new if t not in generator.stop_token_ids]
            texts.append(detokenize(generator.tokenizer, new))
    return texts


def detokenize(tokenizer, ids: Sequence[int]) -> str:
    if not ids:
        return ""
    text = tokenizer.detokenize(np.asarray(ids, np.int32))
    text = text.numpy() if hasattr(text, "numpy") else text
    if isinstance(text, np.ndarray):
        text = text.item()
    return (text.decode("utf-8", errors="replace") if isinstance(text, bytes) else str(text)).strip()
