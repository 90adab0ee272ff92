"""Data-parallel scaling on one machine: one process vs two local MultiWorkerMirroredStrategy workers
on the same global batch, and a single process's peak memory at 1x and 100x the training data.

    PYTHONPATH=. .venv/bin/python bench/scaling.py [--backbone=all-minilm-l6-v2 --steps=20 --global_batch=32]

Each run is a fresh process training the intent classifier for `--steps` optimizer steps on SNIPS
(one process at `--global_batch`; two workers at half of it each, on 127.0.0.1). Throughput counts
the examples of the timed `fit` call only (imports and loading excluded, the first step's tracing
included: give a few hundred steps for a throughput figure, a few for a smoke run). The 100x run repeats the
training sentences 100 times (same steps): `fit` caches the encoded examples in memory, so this
shows what the in-memory pipeline costs before sharded TFRecords (`voice_ft.data.tfrecords`) pay.
Last line (JSON): `examples_per_s_1`, `examples_per_s_2workers`, `ratio`, `peak_rss_mb_1x`,
`peak_rss_mb_100x`. On a machine with fewer cores than workers x threads, expect a ratio below 1.
"""

from __future__ import annotations

import json
import os
import pathlib
import resource
import socket
import subprocess
import sys
import tempfile
import time

from absl import app, flags

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench"))
from common import print_result  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_string("backbone", "all-minilm-l6-v2", "Backbone (packaged name, preset dir, HF folder).")
flags.DEFINE_integer("steps", 20, "Optimizer steps per run.")
flags.DEFINE_integer("global_batch", 32, "Examples per step, all workers together.")
flags.DEFINE_integer("examples", 640, "Training sentences (the 100x run repeats them 100 times).")
flags.DEFINE_integer("sequence_length", 32, "Tokens per sentence.")
flags.DEFINE_integer("repeat", 1, "Internal: repeat the training data this many times.")
flags.DEFINE_bool("worker", False, "Internal: run one training process and print its JSON.")
flags.DEFINE_integer("timeout", 600, "Seconds per run.")


def train_once() -> dict:
    """One process: train `--steps` steps under Recipe.strategy from TF_CONFIG; its timing and peak RSS."""
    import voice_ft

    strategy_name = "multi_worker" if os.environ.get("TF_CONFIG") else "default"
    strategy = voice_ft.training.strategy_from_name(strategy_name)
    replicas = strategy.num_replicas_in_sync
    train, _, _, labels = voice_ft.datasets.load("snips", task="intent")
    train = train.take(FLAGS.examples).repeat(FLAGS.repeat)
    recipe = voice_ft.Recipe(steps=FLAGS.steps, batch_size=FLAGS.global_batch // replicas, strategy=strategy_name)
    with voice_ft.training.distribution_scope(recipe):
        backbone = voice_ft.load_backbone(FLAGS.backbone)
        model = voice_ft.build_intent_classifier(backbone, len(labels), sequence_length=FLAGS.sequence_length)
    start = time.perf_counter()
    voice_ft.fit(model, train, recipe=recipe, verbose=0)
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "examples": FLAGS.steps * FLAGS.global_batch,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}  # fmt: skip


def launch(n_workers: int, repeat: int = 1) -> list[dict]:
    """Runs this script's worker mode in `n_workers` processes (a local cluster when > 1); their JSON lines."""
    ports = []
    for _ in range(n_workers):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            ports.append(s.getsockname()[1])
    args = [sys.executable, __file__, "--worker", f"--repeat={repeat}", f"--backbone={FLAGS.backbone}",
            f"--steps={FLAGS.steps}", f"--global_batch={FLAGS.global_batch}", f"--examples={FLAGS.examples}",
            f"--sequence_length={FLAGS.sequence_length}"]  # fmt: skip
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONPATH": str(REPO)}
    env.pop("TF_CONFIG", None)
    processes = []
    with tempfile.TemporaryDirectory() as logs:
        try:
            for i in range(n_workers):
                worker_env = dict(env)
                if n_workers > 1:
                    cluster = {"worker": [f"127.0.0.1:{p}" for p in ports]}
                    worker_env["TF_CONFIG"] = json.dumps({"cluster": cluster, "task": {"type": "worker", "index": i}})
                log = open(pathlib.Path(logs) / f"{i}.log", "w")
                processes.append((subprocess.Popen(args, env=worker_env, stdout=log, stderr=subprocess.STDOUT), log))
            codes = [p.wait(timeout=FLAGS.timeout) for p, _ in processes]
        finally:
            for p, log in processes:
                if p.poll() is None:
                    p.kill()
                    p.wait()
                log.close()
        outputs = [(pathlib.Path(logs) / f"{i}.log").read_text() for i in range(n_workers)]
    if any(codes):
        raise RuntimeError(f"a run failed (exit codes {codes}):\n{outputs[codes.index(next(c for c in codes if c))][-3000:]}")
    return [json.loads([line for line in out.splitlines() if line.startswith("{")][-1]) for out in outputs]


def main(argv):
    del argv
    if FLAGS.worker:
        print(json.dumps(train_once()), flush=True)
        return
    one = launch(1)[0]
    two = launch(2)
    big = launch(1, repeat=100)[0]
    per_s_1 = one["examples"] / one["seconds"]
    per_s_2 = two[0]["examples"] / max(w["seconds"] for w in two)
    print_result({
        "bench": "scaling", "backbone": FLAGS.backbone, "steps": FLAGS.steps, "global_batch": FLAGS.global_batch,
        "cpu_count": os.cpu_count(), "examples_per_s_1": per_s_1, "examples_per_s_2workers": per_s_2,
        "ratio": per_s_2 / per_s_1, "peak_rss_mb_1x": one["peak_rss_mb"], "peak_rss_mb_100x": big["peak_rss_mb"],
    })  # fmt: skip


if __name__ == "__main__":
    app.run(main)
