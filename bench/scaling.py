"""Data-parallel scaling on one machine: one process vs two local MultiWorkerMirroredStrategy workers
on the same global batch, and a single process's peak memory at 1x and 100x the training data.

    PYTHONPATH=. .venv/bin/python bench/scaling.py [--backbone=all-minilm-l6-v2 --steps=20 --global_batch=32]

Each run is a fresh process training the intent classifier for `--steps` optimizer steps on SNIPS
(one process at `--global_batch`; two workers at half of it each, on 127.0.0.1). Throughput counts
the examples of the timed `fit` call only (imports and loading excluded, the first step's tracing
included: give a few hundred steps for a throughput figure, a few for a smoke run). The 100x run repeats the
training sentences 100 times (same steps): `fit` caches the encoded examples in memory, so this
shows what the in-memory pipeline costs. With `--shards_100x` (the default) the 100x data is also
written to `--num_shards` TFRecord shards (`voice_ft.data.tfrecords.write_text_shards`, before the
timed call) and `fit` streams them (`fit(model, "<dir>/train-*.tfrecord")`: read, tokenised on the
fly, never cached, shuffled through a bounded buffer).
Last line (JSON): `examples_per_s_1`, `examples_per_s_2workers`, `ratio`, `peak_rss_mb_1x`,
`peak_rss_mb_100x`, `peak_rss_mb_100x_shards`, the examples/s of the 100x runs, and the load
average (1 min) before and after. On a machine with fewer cores than workers x threads, expect a
ratio below 1.

On a machine with GPUs (or with `--mirrored`), one more process trains under MirroredStrategy
across all its local devices at the same global batch: `examples_per_s_mirrored`,
`mirrored_replicas`, `ratio_mirrored` (against `examples_per_s_1`, which then runs on one GPU).
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
flags.DEFINE_bool("shards_100x", True, "Also run the 100x data from TFRecord shards (streamed, not cached).")
flags.DEFINE_integer("num_shards", 8, "Shards the 100x data is written to.")
flags.DEFINE_integer("repeat", 1, "Internal: repeat the training data this many times.")
flags.DEFINE_string("shards_dir", None, "Internal: write the training data to shards here and train from them.")
flags.DEFINE_bool("mirrored", None, "Also time MirroredStrategy over the local devices (default: when a GPU is visible).")
flags.DEFINE_bool("worker", False, "Internal: run one training process and print its JSON.")
flags.DEFINE_bool("worker_mirrored", False, "Internal: the worker trains under MirroredStrategy.")
flags.DEFINE_integer("timeout", 600, "Seconds per run.")


def train_once() -> dict:
    """One process: train `--steps` steps under Recipe.strategy from TF_CONFIG; its timing and peak RSS."""
    import voice_ft

    strategy_name = "multi_worker" if os.environ.get("TF_CONFIG") else ("mirrored" if FLAGS.worker_mirrored else "default")
    strategy = voice_ft.training.strategy_from_name(strategy_name)
    replicas = strategy.num_replicas_in_sync
    train, _, _, labels = voice_ft.datasets.load("snips", task="intent")
    train = train.take(FLAGS.examples).repeat(FLAGS.repeat)
    if FLAGS.shards_dir:  # written before the timed call: fit then streams the files
        from voice_ft.data.tfrecords import write_text_shards

        write_text_shards(train, FLAGS.shards_dir, FLAGS.num_shards)
        train = str(pathlib.Path(FLAGS.shards_dir) / "train-*.tfrecord")
    recipe = voice_ft.Recipe(steps=FLAGS.steps, batch_size=FLAGS.global_batch // replicas, strategy=strategy_name)
    with voice_ft.training.distribution_scope(recipe):
        backbone = voice_ft.load_backbone(FLAGS.backbone)
        model = voice_ft.build_intent_classifier(backbone, len(labels), sequence_length=FLAGS.sequence_length)
    start = time.perf_counter()
    voice_ft.fit(model, train, recipe=recipe, verbose=0)
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "examples": FLAGS.steps * FLAGS.global_batch, "replicas": replicas,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}  # fmt: skip


def launch(n_workers: int, repeat: int = 1, shards: bool = False, mirrored: bool = False) -> list[dict]:
    """Runs this script's worker mode in `n_workers` processes (a local cluster when > 1); their JSON lines.
    With `shards`, the (single) worker trains from TFRecord shards it writes to a temporary folder;
    with `mirrored`, under MirroredStrategy over its local devices."""
    ports = []
    for _ in range(n_workers):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            ports.append(s.getsockname()[1])
    args = [sys.executable, __file__, "--worker", f"--repeat={repeat}", f"--backbone={FLAGS.backbone}",
            f"--steps={FLAGS.steps}", f"--global_batch={FLAGS.global_batch}", f"--examples={FLAGS.examples}",
            f"--sequence_length={FLAGS.sequence_length}", f"--num_shards={FLAGS.num_shards}"]  # fmt: skip
    if mirrored:
        args.append("--worker_mirrored")
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONPATH": str(REPO)}
    env.pop("TF_CONFIG", None)
    processes = []
    with tempfile.TemporaryDirectory() as logs:
        if shards:
            args.append(f"--shards_dir={pathlib.Path(logs) / 'shards'}")
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
    load_before = os.getloadavg()[0]
    one = launch(1)[0]
    two = launch(2)
    big = launch(1, repeat=100)[0]
    streamed = launch(1, repeat=100, shards=True)[0] if FLAGS.shards_100x else None
    mirrored = launch(1, mirrored=True)[0] if (FLAGS.mirrored if FLAGS.mirrored is not None else _has_gpu()) else None
    per_s_1 = one["examples"] / one["seconds"]
    per_s_2 = two[0]["examples"] / max(w["seconds"] for w in two)
    result = {
        "bench": "scaling", "backbone": FLAGS.backbone, "steps": FLAGS.steps, "global_batch": FLAGS.global_batch,
        "cpu_count": os.cpu_count(), "examples_per_s_1": per_s_1, "examples_per_s_2workers": per_s_2,
        "ratio": per_s_2 / per_s_1, "peak_rss_mb_1x": one["peak_rss_mb"], "peak_rss_mb_100x": big["peak_rss_mb"],
        "examples_per_s_100x": big["examples"] / big["seconds"],
    }  # fmt: skip
    if streamed is not None:
        result.update(peak_rss_mb_100x_shards=streamed["peak_rss_mb"], num_shards=FLAGS.num_shards,
                      examples_per_s_100x_shards=streamed["examples"] / streamed["seconds"])  # fmt: skip
    if mirrored is not None:
        per_s_mirrored = mirrored["examples"] / mirrored["seconds"]
        result.update(examples_per_s_mirrored=per_s_mirrored, mirrored_replicas=mirrored["replicas"],
                      ratio_mirrored=per_s_mirrored / per_s_1)  # fmt: skip
    print_result({**result, "loadavg_1min_before": load_before, "loadavg_1min_after": os.getloadavg()[0]})


def _has_gpu() -> bool:
    """Whether TensorFlow sees a GPU, asked in a child process (this one stays TensorFlow-free)."""
    probe = "import tensorflow as tf; print(len(tf.config.list_physical_devices('GPU')))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}, timeout=FLAGS.timeout)  # fmt: skip
    lines = out.stdout.split()
    return out.returncode == 0 and bool(lines) and lines[-1].isdigit() and int(lines[-1]) > 0


if __name__ == "__main__":
    app.run(main)
