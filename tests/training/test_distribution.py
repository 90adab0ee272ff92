"""tf.distribute: strategy names, the model-built-under-the-strategy check, and real multi-process
training (two workers on 127.0.0.1) against a single process on the same global batch."""

from __future__ import annotations

import json
import os
import pathlib
import socket
import sys

import numpy as np
import pytest

sys.path.insert(0, str(pathlib.Path(__file__).parent))  # tiny_audio
sys.path.insert(0, str(pathlib.Path(__file__).parents[1] / "examples"))  # example_runner
from example_runner import run_script, start_script  # noqa: E402

import voice_ft
from voice_ft.training import distribution

WORKER = pathlib.Path(__file__).with_name("distributed_worker.py")
AUDIO_WORKER = WORKER.with_name("distributed_audio_worker.py")
TIMEOUT_S = 180


def free_ports(n: int) -> list[int]:
    sockets = [socket.socket() for _ in range(n)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def start(args: list[str], env: dict, log: pathlib.Path, script: pathlib.Path = WORKER):
    """One worker process, forked from the suite's pre-imported server (`example_runner.start_script`):
    a `subprocess.Popen`-like handle, its output in `log`."""
    return start_script(script, args, env, log)


def run_processes(specs: list[tuple[list[str], dict, pathlib.Path]], script: pathlib.Path = WORKER) -> list[int]:
    """Starts every process (`script` with each spec's flags), waits for all within TIMEOUT_S, and
    always kills what is left."""
    processes = []
    try:
        for args, env, log in specs:
            processes.append(start(args, env, log, script))
        return [p.wait(timeout=TIMEOUT_S) for p in processes]
    finally:
        for p in processes:
            if p.poll() is None:
                p.kill()
                p.wait()


def worker_envs(tmp_path: pathlib.Path, n: int = 2) -> list[dict]:
    cluster = {"worker": [f"127.0.0.1:{port}" for port in free_ports(n)]}
    base = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONPATH": str(WORKER.parents[2])}
    envs = []
    for i in range(n):
        tmpdir = tmp_path / f"tmp{i}"
        tmpdir.mkdir()
        config = json.dumps({"cluster": cluster, "task": {"type": "worker", "index": i}})
        envs.append({**base, "TF_CONFIG": config, "TMPDIR": str(tmpdir)})
    return envs


def weights(path: pathlib.Path) -> list[np.ndarray]:
    data = np.load(path, allow_pickle=False)
    return [data[k] for k in data.files if k.startswith("arr_")]


def test_strategy_names(monkeypatch):
    import tensorflow as tf

    assert distribution.strategy_from_name("default") is tf.distribute.get_strategy()
    with pytest.raises(ValueError, match="Unknown strategy 'horovod'"):
        distribution.strategy_from_name("horovod")
    with pytest.raises(ValueError, match="strategy must be one of default, mirrored"):
        voice_ft.Recipe(strategy="horovod")
    monkeypatch.delenv("TF_CONFIG", raising=False)
    with pytest.raises(ValueError, match="TF_CONFIG"):
        distribution.strategy_from_name("multi_worker")
    with pytest.raises(RuntimeError, match="strategy 'tpu': no TPU found"):
        distribution.strategy_from_name("tpu")


def test_chief_is_worker_zero_or_the_chief(monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    assert distribution.is_chief()
    cluster = {"worker": ["a:1", "b:2"]}
    monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": cluster, "task": {"type": "worker", "index": 1}}))
    assert not distribution.is_chief()
    monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": cluster, "task": {"type": "worker", "index": 0}}))
    assert distribution.is_chief()
    with_chief = {"chief": ["c:0"], **cluster}
    monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": with_chief, "task": {"type": "worker", "index": 0}}))
    assert not distribution.is_chief()


def test_non_chief_writes_to_a_removed_temporary_dir(monkeypatch, tmp_path):
    run_dir = tmp_path / "run"
    (run_dir / "backup").mkdir(parents=True)
    (run_dir / "backup" / "state").write_text("chief's backup")
    monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": {"worker": ["a:1", "b:2"]}, "task": {"type": "worker", "index": 1}}))
    with distribution.writer_dir(run_dir) as write_dir:
        assert write_dir != run_dir
        assert (write_dir / "backup" / "state").read_text() == "chief's backup"  # resumes from the same state
        (write_dir / "history.csv").write_text("x")
    assert not write_dir.exists() and not (run_dir / "history.csv").exists()
    monkeypatch.delenv("TF_CONFIG")
    with distribution.writer_dir(run_dir) as write_dir:
        assert write_dir == run_dir


def test_fit_refuses_a_model_built_outside_the_strategy(tiny_backbone):
    model = voice_ft.build_intent_classifier(tiny_backbone, 3, sequence_length=16)
    with pytest.raises(ValueError, match="distribution_scope"):
        distribution.model_strategy(model, "mirrored")
    with distribution.distribution_scope("mirrored"):  # the backbone still holds variables made outside
        inside = voice_ft.build_intent_classifier(tiny_backbone, 3, sequence_length=16)
    with pytest.raises(ValueError, match="of its variables .* were not made under that strategy"):
        distribution.model_strategy(inside, "mirrored")


def test_trainer_helpers():
    from absl import flags

    from voice_ft.training.recipe_flags import define_strategy_flag

    flag_values = flags.FlagValues()
    define_strategy_flag(flag_values)
    flag_values(["trainer", "--strategy=mirrored"])
    assert flag_values.strategy == "mirrored" and "per replica" in flag_values["strategy"].help
    with pytest.raises(flags.IllegalFlagValueError):
        flag_values(["trainer", "--strategy=horovod"])

    import keras

    def build():
        return keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])

    trained = build()
    assert distribution.alone_on_chief(trained, build, "mirrored") is trained  # one process: used as it is
    local = distribution.alone_on_chief(trained, build, "multi_worker")
    assert local is not trained and all(np.array_equal(a, b) for a, b in zip(local.get_weights(), trained.get_weights()))

    import tensorflow as tf

    one = tf.distribute.get_strategy()
    data = tf.data.Dataset.range(4).batch(2)
    assert distribution.distribute_batches(data, one) is data and distribution.distribute_batches(None, one) is None
    strategy, batch = distribution.batching_for(trained, voice_ft.Recipe(batch_size=6))
    assert strategy is one and batch == 6


def test_keras_fix_is_guarded_by_version():
    from voice_ft.training.keras_multi_worker import keras_needs_fix

    assert keras_needs_fix("3.15.1") and not keras_needs_fix("3.16.0") and not keras_needs_fix("3.1.5")


def test_two_workers_train_in_sync_and_match_one_process(tiny_preset, tmp_path):
    envs = worker_envs(tmp_path)
    run_dir = tmp_path / "run"  # one directory both workers are given: only the chief writes in it
    common = ["--preset", str(tiny_preset), "--examples", "64", "--epochs", "1"]
    single_env = {**envs[0], "TF_CONFIG": ""}
    codes = run_processes(
        [(common + ["--out", str(tmp_path / f"w{i}.npz"), "--batch_size", "8", "--run_dir", str(run_dir)], env,
          tmp_path / f"w{i}.log") for i, env in enumerate(envs)]
        + [(common + ["--out", str(tmp_path / "one.npz"), "--batch_size", "16", "--strategy", "default"], single_env,
            tmp_path / "one.log")]
    )  # fmt: skip
    logs = {name: (tmp_path / f"{name}.log").read_text()[-3000:] for name in ("w0", "w1", "one")}
    assert codes == [0, 0, 0], logs
    chief, other, one = (weights(tmp_path / f"{name}.npz") for name in ("w0", "w1", "one"))
    assert len(chief) == len(one) > 10
    assert all(np.array_equal(a, b) for a, b in zip(chief, other))  # in sync
    for a, b in zip(chief, one):  # 2 x 8 per replica == one process at 16 (4 steps)
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
    assert (run_dir / "history.csv").read_text().count("\n") == 2  # header + 1 epoch, the chief's alone
    assert (run_dir / "checkpoints" / "best.weights.h5").exists()
    assert not any((tmp_path / "tmp1").iterdir())  # the other worker's files were removed


def test_two_workers_fail_without_the_keras_fix(tiny_preset, tmp_path):
    envs = worker_envs(tmp_path)
    common = ["--preset", str(tiny_preset), "--examples", "32", "--batch_size", "8", "--no_fix"]
    codes = run_processes([(common + ["--out", str(tmp_path / f"w{i}.npz")], env, tmp_path / f"w{i}.log")
                           for i, env in enumerate(envs)])  # fmt: skip
    assert codes != [0, 0]
    assert "unsupported type (<class 'dict'>)" in (tmp_path / "w0.log").read_text()


def test_two_workers_train_an_audio_model_in_sync_and_match_one_process(tmp_path):
    from tiny_audio import fsdd_manifest

    manifest = fsdd_manifest(tmp_path / "fsdd", digits="012", train=8)  # 24 clips: 3 global batches of 8 an epoch
    envs = worker_envs(tmp_path)
    codes = run_processes(
        [([f"--manifest={manifest}", f"--out={tmp_path / f'w{i}.npz'}", "--batch_size=4"], env, tmp_path / f"w{i}.log")
         for i, env in enumerate(envs)]
        + [([f"--manifest={manifest}", f"--out={tmp_path / 'one.npz'}", "--batch_size=8", "--strategy=default"],
            {**envs[0], "TF_CONFIG": ""}, tmp_path / "one.log")],
        script=AUDIO_WORKER,
    )  # fmt: skip
    logs = {name: (tmp_path / f"{name}.log").read_text()[-3000:] for name in ("w0", "w1", "one")}
    assert codes == [0, 0, 0], logs
    chief, other, one = (weights(tmp_path / f"{name}.npz") for name in ("w0", "w1", "one"))
    assert len(chief) == len(one) >= 10  # convolutions, batch-norm scales/offsets and moving statistics, the head
    assert all(np.array_equal(a, b) for a, b in zip(chief, other))  # in sync
    for a, b in zip(chief, one):  # 2 x 4 per replica == one process at 8 (6 steps), batch norm on the global batch
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
    losses = [np.load(tmp_path / f"{name}.npz")["losses"] for name in ("w0", "one")]
    assert len(losses[0]) == 2 and losses[0][1] != losses[0][0]  # two epochs that trained
    np.testing.assert_allclose(losses[0], losses[1], rtol=1e-4)


def test_intent_trainer_under_mirrored_strategy_on_two_cpu_devices(tiny_preset, tmp_path):
    run_dir = tmp_path / "run"
    args = [f"--backbone={tiny_preset}", f"--run_dir={run_dir}", "--epochs=1", "--train_limit=64", "--batch_size=8",
            "--sequence_length=16", "--learning_rate=1e-3", "--quantization=float32", "--tolerance=100",
            "--calibrate=false"]  # fmt: skip
    process = run_script(WORKER.with_name("mirrored_trainer.py"), ["train_intent", "--data=snips", *args], TIMEOUT_S)
    assert process.returncode == 0, process.stderr[-4000:]
    config = json.loads((run_dir / "config.json").read_text())
    assert config["recipe"]["strategy"] == "mirrored" and config["recipe"]["batch_size"] == 8
    history = (run_dir / "history.csv").read_text().splitlines()
    assert len(history) == 2  # 64 examples at 2 x 8 a step: one epoch of 4 steps
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["tflite"]["float32"]["tflite_accuracy"] == pytest.approx(metrics["test"]["accuracy"])
    assert "2 replica(s)" in process.stderr
