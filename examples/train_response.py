"""Fine-tune a decoder to answer as a voice assistant, then export it for on-device decoding.

Data: the bundled SGD dialogues (context -> system response), or your own JSON Lines pairs
(`{"prompt": ..., "response": ...}` or `{"context": [...], "response": ..., "intent": ...}`).
The loss covers response tokens only; LoRA on the attention projections by default.

    python examples/train_response.py --model=smollm2-135m-instruct --train_examples=2000 \
        --out_dir=runs/response
    python examples/train_response.py --model=tiny-gpt2 --train_examples=64 --out_dir=/tmp/r  # smoke
    python examples/train_response.py --train_file=my_pairs.jsonl --validation_file=my_val.jsonl

--strategy trains on several devices (--batch_size pairs per replica); only the chief (worker 0)
evaluates, writes --out_dir and exports.
"""

from __future__ import annotations

import json
import pathlib

from absl import app, flags, logging

from voice_ft.training.distribution import alone_on_chief, distribution_scope, start_strategy
from voice_ft.training.interrupt import exit_on_interrupt
from voice_ft.training.recipe_flags import define_strategy_flag

FLAGS = flags.FLAGS
flags.DEFINE_string("model", "smollm2-135m-instruct", "Decoder: smollm2-135m-instruct, tiny-gpt2, tiny-llama, "
                    "a local HF GPT-2/Llama folder, or a keras-hub preset name.")
flags.DEFINE_string("train_file", None, "Your own (prompt, response) JSONL; default: SGD train.")
flags.DEFINE_string("validation_file", None, "Your own held-out JSONL; default: SGD validation.")
flags.DEFINE_integer("train_examples", 2000, "Use at most this many training pairs (0 = all).")
flags.DEFINE_integer("eval_examples", 200, "Held-out pairs for perplexity and BLEU.")
flags.DEFINE_integer("bleu_examples", 32, "Of those, how many get greedy responses for BLEU.")
flags.DEFINE_integer("sequence_length", 256, "Context window for training (prompt + response tokens).")
flags.DEFINE_integer("max_turns", 3, "Dialogue turns kept in the prompt.")
flags.DEFINE_integer("epochs", 1, "Training epochs.")
flags.DEFINE_integer("batch_size", 8, "Batch size (per replica under --strategy).")
flags.DEFINE_float("learning_rate", 1e-3, "Peak learning rate (AdamW, warm-up + linear decay).")
flags.DEFINE_integer("lora_rank", 8, "LoRA rank on attention query/value; 0 = full fine-tuning.")
flags.DEFINE_enum("quantization", "dynamic", ["float32", "dynamic"], ".tflite weights.")
flags.DEFINE_integer("prefill_length", 192, "Longest prompt the .tflite takes (cut from the left beyond).")
flags.DEFINE_integer("cache_length", 256, "KV-cache positions of the .tflite decoder.")
flags.DEFINE_integer("verify_prompts", 20, "Held-out prompts for .tflite vs Keras greedy parity (0 = skip).")
flags.DEFINE_string("out_dir", "runs/response", "Run directory (checkpoints, logs, .tflite, metrics.json).")
flags.DEFINE_integer("seed", 42, "Seed.")
define_strategy_flag()


def load_pairs(split: str, path: str | None, limit: int, seed: int):
    import numpy as np

    from voice_ft.response.data import read_response_jsonl, sgd_response_pairs

    pairs = read_response_jsonl(path) if path else sgd_response_pairs(split, max_dialogues=max(50, limit // 4) if limit else None)
    if limit and len(pairs) > limit:
        pairs = [pairs[i] for i in np.random.default_rng(seed).permutation(len(pairs))[:limit]]
    return pairs


def build_generator():
    """The --model decoder with the --max_turns prompt template."""
    from voice_ft.response import build_response_generator

    generator = build_response_generator(FLAGS.model, sequence_length=FLAGS.sequence_length)
    generator.template = type(generator.template)(**{**generator.template.to_dict(), "max_turns": FLAGS.max_turns})
    return generator


def alone(generator):
    """`generator` as the chief evaluates and exports it by itself: under multi_worker a copy built
    outside the strategy (LoRA adapters included) with its weights; otherwise `generator` itself."""
    if FLAGS.strategy != "multi_worker":
        return generator
    local = build_generator()

    def build():
        trained = generator.lm.backbone
        if getattr(trained, "_lora_enabled_layers", None):  # voice_ft.fit added adapters: the copy needs them too
            local.lm.backbone.enable_lora(trained._lora_rank)
        return local.lm

    local.lm = alone_on_chief(generator.lm, build, FLAGS.strategy)
    return local


def main(argv):
    del argv
    strategy, chief = start_strategy(FLAGS.strategy)  # before TensorFlow runs anything
    import voice_ft
    from voice_ft.response import evaluate_responses, tokenize_pairs
    from voice_ft.response.data import to_prompt_response
    from voice_ft.response.export import export_decoder
    from voice_ft.response.train import train_response_generator

    out_dir = pathlib.Path(FLAGS.out_dir)
    if chief:  # other workers write nothing into it (voice_ft.fit gives them temporary run directories)
        out_dir.mkdir(parents=True, exist_ok=True)
    with distribution_scope(FLAGS.strategy):
        generator = build_generator()

    train_pairs = load_pairs("train", FLAGS.train_file, FLAGS.train_examples, FLAGS.seed)
    held_out = load_pairs("validation", FLAGS.validation_file, FLAGS.eval_examples, FLAGS.seed)
    train, train_stats = tokenize_pairs(generator, to_prompt_response(train_pairs, generator.template))
    held, _ = tokenize_pairs(generator, to_prompt_response(held_out, generator.template))
    logging.info("%d training pairs (%d prompts cut from the left), %d held out.", len(train),
                 train_stats.prompts_truncated, len(held))
    bleu_pairs = held_out[: FLAGS.bleu_examples]
    prompts = [p.prompt(generator.template) for p in bleu_pairs]
    refs = [p.response for p in bleu_pairs]

    before = evaluate_responses(alone(generator), prompts, refs, held) if chief else None
    recipe = voice_ft.Recipe(epochs=FLAGS.epochs, batch_size=FLAGS.batch_size, learning_rate=FLAGS.learning_rate,
                             lora_rank=FLAGS.lora_rank or None, seed=FLAGS.seed, strategy=FLAGS.strategy)  # fmt: skip
    trained = train_response_generator(generator, train, held, recipe=recipe, run_dir=out_dir / "run")
    if not chief:
        return  # the chief evaluates, writes and exports
    generator = alone(generator)
    after = evaluate_responses(generator, prompts, refs, held)

    verify = [p.prompt(generator.template) for p in held_out[: FLAGS.verify_prompts]]
    exported = export_decoder(generator, out_dir / "response.tflite", FLAGS.quantization,
                              prefill_length=FLAGS.prefill_length, cache_length=FLAGS.cache_length,
                              verify_prompts=verify or None, max_new_tokens=24)
    metrics = {
        "ppl_before": before["perplexity"], "ppl_after": after["perplexity"],
        "bleu_before": before["bleu"], "bleu_after": after["bleu"],
        "train_tokens_per_s": trained.tokens_per_second, "train_seconds": trained.seconds,
        "prompts_truncated": train_stats.prompts_truncated,
        "tflite": str(exported.tflite_path), "tflite_bytes": exported.size_bytes,
        "tflite_greedy_match": exported.greedy_match, "samples": after["samples"],
    }
    (out_dir / "metrics.json").write_text(json.dumps(metrics, indent=2), encoding="utf-8")
    print(json.dumps({k: v for k, v in metrics.items() if k != "samples"}))


if __name__ == "__main__":
    app.run(exit_on_interrupt(main))
