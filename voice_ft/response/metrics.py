"""Evaluation of a response generator: held-out response perplexity, BLEU and printed samples.

Perplexity is `exp(mean negative log-likelihood)` over the response tokens only (the same
tokens and weights the SFT loss uses), so before/after numbers are directly comparable.
BLEU is sacrebleu's corpus BLEU of greedy responses against the references.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from voice_ft.response.sft import TokenizedPair, collate


def response_perplexity(generator, examples: Sequence[TokenizedPair], batch_size: int = 8) -> float:
    """Perplexity of the response tokens of tokenized held-out pairs."""
    import keras
    import tensorflow as tf

    lm = generator.lm

    @tf.function(reduce_retracing=True)
    def batch_nll(x, y, w):
        logits = tf.cast(lm(x, training=False), tf.float32)
        nll = keras.losses.sparse_categorical_crossentropy(y, logits, from_logits=True)
        return tf.reduce_sum(nll * w), tf.reduce_sum(w)

    order = sorted(range(len(examples)), key=lambda i: len(examples[i].token_ids))
    total, count = 0.0, 0.0
    for b in range(0, len(order), batch_size):
        x, y, w = collate([examples[i] for i in order[b : b + batch_size]])
        s, c = batch_nll(x, y, w)
        total, count = total + float(s), count + float(c)
    return math.exp(total / max(count, 1.0))


def bleu(hypotheses: Sequence[str], references: Sequence[str]) -> float:
    """sacrebleu corpus BLEU (0-100) of hypotheses against one reference each."""
    import sacrebleu

    return float(sacrebleu.corpus_bleu(list(hypotheses), [list(references)]).score)


def evaluate_responses(
    generator,
    prompts: Sequence[str],
    references: Sequence[str],
    examples: Sequence[TokenizedPair] | None = None,
    max_new_tokens: int = 48,
    num_samples: int = 3,
    print_samples: bool = True,
) -> dict:
    """Greedy BLEU on `prompts` (and perplexity on `examples` if given), with printed samples."""
    hypotheses = generator.generate(list(prompts), max_new_tokens=max_new_tokens, sampler="greedy")
    result = {"bleu": bleu(hypotheses, references), "samples": []}
    if examples is not None:
        result["perplexity"] = response_perplexity(generator, examples)
    for prompt, hyp, ref in list(zip(prompts, hypotheses, references))[:num_samples]:
        result["samples"].append({"prompt": prompt, "response": hyp, "reference": ref})
        if print_samples:
            last = prompt.strip().splitlines()[-2:] if "\n" in prompt else [prompt]
            print(f"--- context: ...{' | '.join(last)[-160:]}\n    model:     {hyp}\n    reference: {ref}")
    return result

