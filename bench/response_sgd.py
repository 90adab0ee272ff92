"""Benchmark: SFT of a decoder on SGD (context -> system response) pairs, then on-device decoding.

Measures held-out response perplexity and greedy BLEU before/after LoRA fine-tuning, training
tokens/s, .tflite greedy parity with Keras (float32; dynamic int8 on its own), file sizes, and
int8 decode speed on 1 and 2 threads. Prints ONE JSON line as its last line.

    nice -n 5 python bench/response_sgd.py --model=smollm2-135m-instruct --train_examples=800
    python bench/response_sgd.py --model=tiny-gpt2 --train_examples=64 --eval_examples=16  # smoke
"""

from __future__ import annotations

import json
import os
import pathlib
import tempfile
import time

from absl import app, flags

FLAGS = flags.FLAGS
flags.DEFINE_string("model", "smollm2-135m-instruct", "build_response_generator spec.")
flags.DEFINE_integer("sequence_length", 256, "Training context window.")
flags.DEFINE_integer("max_turns", 3, "Context turns kept in the prompt.")
flags.DEFINE_integer("train_examples", 800, "SGD train pairs used (random sample).")
flags.DEFINE_integer("eval_examples", 200, "Held-out (validation) pairs for perplexity.")
flags.DEFINE_integer("bleu_examples", 24, "Held-out pairs for greedy BLEU.")
flags.DEFINE_integer("parity_prompts", 20, "Prompts for .tflite vs Keras greedy parity.")
flags.DEFINE_integer("max_new_tokens", 32, "Tokens generated per prompt (BLEU, parity).")
flags.DEFINE_integer("epochs", 1, "Training epochs.")
flags.DEFINE_integer("batch_size", 8, "Training batch size.")
flags.DEFINE_float("learning_rate", 1e-3, "Peak learning rate.")
flags.DEFINE_integer("lora_rank", 8, "LoRA rank (0 = full fine-tuning).")
flags.DEFINE_integer("prefill_length", 192, "Longest prompt the .tflite prefill takes.")
flags.DEFINE_integer("cache_length", 256, "KV-cache positions of the .tflite decoder.")
flags.DEFINE_string("out_dir", None, "Where .tflite files go (default: a temporary folder).")
flags.DEFINE_integer("seed", 0, "Sampling seed.")


def decode_speed(path, prompt: str, threads: int, tokens: int = 48) -> dict:
    """Decode tokens/s (decode steps only) and prefill time of a .tflite decoder."""
    from voice_ft.runtime.generator import Generator

    gen = Generator(path, num_threads=threads)
    ids = gen.encode_prompt(prompt)
    gen.generate_ids(ids, max_new_tokens=2, stop_token_ids=())  # warm-up
    start = time.perf_counter()
    gen.generate_ids(ids, max_new_tokens=1, stop_token_ids=())
    prefill_and_one = time.perf_counter() - start
    start = time.perf_counter()
    out = gen.generate_ids(ids, max_new_tokens=tokens + 1, stop_token_ids=())
    total = time.perf_counter() - start
    return {"tokens_per_s": tokens / max(total - prefill_and_one, 1e-9), "prefill_s": prefill_and_one, "tokens": len(out)}


def main(argv):
    del argv
    import numpy as np

    from voice_ft.response.data import sgd_response_pairs, to_prompt_response
    from voice_ft.response.export import export_decoder
    from voice_ft.response import build_response_generator, evaluate_responses, tokenize_pairs
    from voice_ft.response.train import train_response_generator
    from voice_ft.training import Recipe

    t_start = time.perf_counter()
    generator = build_response_generator(FLAGS.model, sequence_length=FLAGS.sequence_length)
    generator.template = type(generator.template)(**{**generator.template.to_dict(), "max_turns": FLAGS.max_turns})
    # Separate generators: the held-out sample must not change with --train_examples.
    train_rng, held_out_rng = np.random.default_rng(FLAGS.seed), np.random.default_rng([FLAGS.seed, 1])
    train_pairs = sgd_response_pairs("train", max_dialogues=max(50, FLAGS.train_examples // 4))
    train_pairs = [train_pairs[i] for i in train_rng.permutation(len(train_pairs))[: FLAGS.train_examples]]
    held_out = sgd_response_pairs("validation", max_dialogues=400)
    held_out = [held_out[i] for i in held_out_rng.permutation(len(held_out))[: FLAGS.eval_examples + FLAGS.bleu_examples]]
    eval_pairs, bleu_pairs = held_out[: FLAGS.eval_examples], held_out[FLAGS.eval_examples :]
    train_examples, train_stats = tokenize_pairs(generator, to_prompt_response(train_pairs, generator.template))
    eval_examples, _ = tokenize_pairs(generator, to_prompt_response(eval_pairs, generator.template))
    bleu_prompts = [p.prompt(generator.template) for p in bleu_pairs]
    bleu_refs = [p.response for p in bleu_pairs]

    print("== before fine-tuning", flush=True)
    before = evaluate_responses(generator, bleu_prompts, bleu_refs, eval_examples, FLAGS.max_new_tokens)
    recipe = Recipe(epochs=FLAGS.epochs, batch_size=FLAGS.batch_size, learning_rate=FLAGS.learning_rate,
                    lora_rank=FLAGS.lora_rank or None, seed=FLAGS.seed)
    trained = train_response_generator(generator, train_examples, recipe=recipe, verbose=2)
    print("== after fine-tuning", flush=True)
    after = evaluate_responses(generator, bleu_prompts, bleu_refs, eval_examples, FLAGS.max_new_tokens)

    out_dir = pathlib.Path(FLAGS.out_dir or tempfile.mkdtemp(prefix="response_sgd_"))
    parity_prompts = [p.prompt(generator.template) for p in held_out[: FLAGS.parity_prompts]]
    common = dict(prefill_length=FLAGS.prefill_length, cache_length=FLAGS.cache_length,
                  max_new_tokens=FLAGS.max_new_tokens)
    fp32 = export_decoder(generator, out_dir / "response_fp32.tflite", "float32", verify_prompts=parity_prompts, **common)
    int8 = export_decoder(generator, out_dir / "response_int8.tflite", "dynamic", verify_prompts=parity_prompts, **common)
    speed = {t: decode_speed(int8.tflite_path, parity_prompts[0], t) for t in (1, 2)}
    from voice_ft.runtime.generator import Generator

    print("== int8 .tflite samples (TF-free runtime)")
    runtime = Generator(int8.tflite_path, num_threads=2)
    for p, ref in zip(bleu_prompts[:3], bleu_refs[:3]):
        print(f"    model: {runtime.generate(p, max_new_tokens=FLAGS.max_new_tokens)}\n    reference: {ref}")

    result = {
        "model": FLAGS.model,
        "train_examples": len(train_examples), "eval_examples": len(eval_examples), "bleu_examples": len(bleu_pairs),
        "prompts_truncated": train_stats.prompts_truncated,
        "lora_rank": FLAGS.lora_rank, "epochs": FLAGS.epochs, "batch_size": FLAGS.batch_size,
        "learning_rate": FLAGS.learning_rate,
        "ppl_before": before["perplexity"], "ppl_after": after["perplexity"],
        "ppl_relative_reduction": 1 - after["perplexity"] / before["perplexity"],
        "bleu_before": before["bleu"], "bleu_after": after["bleu"],
        "train_seconds": trained.seconds, "train_tokens": trained.train_tokens,
        "train_tokens_per_s": trained.tokens_per_second,
        "tflite_greedy_match": fp32.greedy_match, "tflite_int8_greedy_match": int8.greedy_match,
        "parity_prompts": len(parity_prompts), "parity_max_new_tokens": FLAGS.max_new_tokens,
        "tflite_fp32_bytes": fp32.size_bytes, "tflite_int8_bytes": int8.size_bytes,
        "decode_tokens_per_s_1_thread": speed[1]["tokens_per_s"], "decode_tokens_per_s_2_threads": speed[2]["tokens_per_s"],
        "prefill_s_2_threads": speed[2]["prefill_s"],
        "cpu_count": os.cpu_count(), "load_average_1m": os.getloadavg()[0],
        "wall_seconds": time.perf_counter() - t_start,
    }
    print(json.dumps(result))


if __name__ == "__main__":
    app.run(main)
