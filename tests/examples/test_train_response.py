"""The response trainer runs end to end on a tiny GPT-2 and the user's own JSONL pairs."""

import json

from example_runner import run_example


def test_train_response_end_to_end(tmp_path):
    rows = [{"context": ["Turn on the lights", "Which room?", f"The kitchen {i}"], "response": "Kitchen lights are on.",
             "intent": "LightsOn"} for i in range(12)]
    data = tmp_path / "pairs.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    out = tmp_path / "run"
    run_example("train_response.py", "--model=tiny-gpt2",
                f"--train_file={data}", f"--validation_file={data}", "--train_examples=12", "--eval_examples=4",
                "--bleu_examples=2", "--sequence_length=64", "--epochs=2", "--batch_size=4", "--learning_rate=0.01",
                "--lora_rank=0", "--quantization=float32", "--prefill_length=48", "--cache_length=64",
                "--verify_prompts=2", f"--out_dir={out}")
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["ppl_after"] < metrics["ppl_before"]
    assert metrics["tflite_greedy_match"] == 1.0
    assert (out / "response.tflite").exists() and (out / "response.json").exists()
