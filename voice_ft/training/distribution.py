"""tf.distribute for `fit`: pick a strategy by name, build the model under it, and keep writes on the chief.

Keras needs a model's variables to be created under the strategy it trains with, and the model is
built by the caller, so the pattern is:

    recipe = voice_ft.Recipe(strategy="mirrored", batch_size=32)   # 32 examples per replica
    with voice_ft.training.distribution_scope(recipe):   # the backbone's variables too
        backbone = voice_ft.load_backbone("all-minilm-l6-v2")
        model = voice_ft.build_intent_classifier(backbone, num_labels, sequence_length=32)
    voice_ft.fit(model, train, recipe=recipe)                      # compiles and trains under it

`Recipe.batch_size` is per replica: a step sees `batch_size * num_replicas` examples (the global
batch), the learning-rate schedule counts global steps, and `Recipe.steps` are global steps.
Strategies are made once per process, so the same name returns the same strategy. TensorFlow
wants a multi-worker strategy made before it runs any op: call `strategy_from_name("multi_worker")`
first thing in the program (the trainers do it right after parsing flags).
"""

from __future__ import annotations

import contextlib
import json
import os
import pathlib
import shutil
import tempfile

import tensorflow as tf

from voice_ft.training.recipe import STRATEGIES

_made: dict[str, tf.distribute.Strategy] = {}


def strategy_from_name(name: str) -> tf.distribute.Strategy:
    """The `tf.distribute` strategy called `name` (one of `STRATEGIES`), made once per process.

    - "default": no distribution (`tf.distribute.get_strategy()`);
    - "mirrored": every local GPU (or the CPU), one replica each, in sync;
    - "multi_worker": `MultiWorkerMirroredStrategy` over the cluster in the `TF_CONFIG`
      environment variable (every worker runs the same program; worker 0 is the chief);
    - "tpu": `TPUStrategy` on the TPU found by `TPUClusterResolver`.
    """
    if name not in STRATEGIES:
        raise ValueError(f"Unknown strategy {name!r}; choose one of {', '.join(STRATEGIES)}.")
    if name == "default":
        return tf.distribute.get_strategy()
    if name not in _made:
        _made[name] = _make(name)
    return _made[name]


def _make(name: str) -> tf.distribute.Strategy:
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    if name == "multi_worker":
        if "TF_CONFIG" not in os.environ:
            raise ValueError("strategy 'multi_worker' reads the cluster from the TF_CONFIG environment variable, "
                             "which is not set (see voice_ft.training.distribution).")
        from voice_ft.training.keras_multi_worker import apply_keras_multi_worker_fix

        apply_keras_multi_worker_fix()
        try:
            return tf.distribute.MultiWorkerMirroredStrategy()
        except RuntimeError as e:
            raise RuntimeError(f"strategy 'multi_worker' must be made before TensorFlow runs anything ({e}): call "
                               "voice_ft.training.strategy_from_name('multi_worker') first thing in the program.") from None
    if not tf.config.list_physical_devices("TPU") and not os.environ.get("TPU_NAME"):
        # Checked first: the resolver would otherwise spend ~15 s looking for a cloud metadata server.
        raise RuntimeError("strategy 'tpu': no TPU found here (no local TPU device, TPU_NAME not set).")
    try:
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver(os.environ.get("TPU_NAME") or None)
        tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
    except (ValueError, RuntimeError, tf.errors.OpError) as e:
        raise RuntimeError(f"strategy 'tpu': no TPU found here ({type(e).__name__}: {e}).") from None
    return tf.distribute.TPUStrategy(resolver)


@contextlib.contextmanager
def distribution_scope(recipe_or_name):
    """`with distribution_scope(recipe):` builds the model (its variables) under the recipe's strategy.

    Accepts a `Recipe` or a strategy name; yields the strategy.
    """
    name = getattr(recipe_or_name, "strategy", recipe_or_name)
    strategy = strategy_from_name(name)
    with strategy.scope():
        yield strategy


def model_strategy(model, name: str) -> tf.distribute.Strategy:
    """The strategy `fit` trains `model` with under a recipe asking for `name`.

    Raises a ValueError when the recipe asks for a strategy the model (or one of its variables,
    e.g. a backbone loaded outside the scope) was not made under: Keras would otherwise train it
    without distribution, or fail deep inside its first step.
    """
    built_under = getattr(model, "_distribute_strategy", None)
    strategy = built_under or tf.distribute.get_strategy()
    if name != "default":
        strategy = strategy_from_name(name)
        outside = [v.path for v in model.variables if not strategy.extended.variable_created_in_scope(_tf_variable(v))]
        if built_under is not strategy or outside:
            what = f"{len(outside)} of its variables (e.g. {outside[0]})" if outside and built_under is strategy else "it"
            raise ValueError(
                f"Recipe.strategy is {name!r} but {what} were not made under that strategy: load the backbone and "
                "build the model inside `with voice_ft.training.distribution_scope(recipe):`."
            )
    return strategy


def _tf_variable(variable):
    return getattr(variable, "value", variable)


def global_batch_size(per_replica: int, strategy: tf.distribute.Strategy) -> int:
    """Examples per optimizer step: `per_replica` times the replicas in sync."""
    return per_replica * strategy.num_replicas_in_sync


def shard_by_data(dataset: tf.data.Dataset) -> tf.data.Dataset:
    """Sets `AutoShardPolicy.DATA`: every worker reads the whole (in-memory) dataset and keeps its part
    of each global batch. FILE sharding (the AUTO default's first try) needs a dataset read from
    at least one file per worker; in-memory text has none."""
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return dataset.with_options(options)


def is_chief(strategy: tf.distribute.Strategy | None = None) -> bool:
    """True on the process that writes: outside multi-worker training, or worker 0 / the chief in TF_CONFIG."""
    resolver = getattr(strategy, "cluster_resolver", None) if strategy is not None else None
    if resolver is not None and resolver.task_type is not None:
        task_type, task_id = resolver.task_type, resolver.task_id
        has_chief = "chief" in resolver.cluster_spec().as_dict()
    else:
        config = json.loads(os.environ.get("TF_CONFIG") or "{}")
        task = config.get("task") or {}
        if not task:
            return True
        task_type, task_id = task.get("type"), int(task.get("index", 0))
        has_chief = "chief" in (config.get("cluster") or {})
    if task_type == "chief":
        return True
    return task_type == "worker" and task_id == 0 and not has_chief


@contextlib.contextmanager
def writer_dir(run_dir: str | os.PathLike | None, strategy: tf.distribute.Strategy | None = None):
    """Yields where this process writes a run directory's files: `run_dir` on the chief; on every
    other worker a temporary directory, removed afterwards (Keras's documented multi-worker
    pattern: all workers run the same callbacks, only the chief's output is kept).

    A non-chief worker starts from a copy of the chief's `backup/` when it can see it (a shared
    filesystem), so a resumed run restores the same state on every worker.
    """
    if run_dir is None or is_chief(strategy):
        yield run_dir
        return
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="voice_ft-worker-"))
    try:
        backup = pathlib.Path(run_dir) / "backup"
        if backup.is_dir():
            shutil.copytree(backup, tmp / "backup")
        yield tmp
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


# === Shared by the trainers in examples/ and the task fit functions ===================
# (their --strategy flag: voice_ft.training.recipe_flags.define_strategy_flag, TensorFlow-free)


def start_strategy(name: str) -> tuple[tf.distribute.Strategy, bool]:
    """(the strategy called `name`, whether this process is the chief), made first thing in a trainer:
    a multi-worker strategy must exist before TensorFlow runs any op."""
    strategy = strategy_from_name(name)
    return strategy, is_chief(strategy)


def batching_for(model, recipe) -> tuple[tf.distribute.Strategy, int]:
    """(the strategy `fit` will train `model` with, the global batch size) for a task's own batching.

    A task fit function (NLU, SFT, ASR) batches its data before `fit`, and `fit` takes a batched
    dataset's batch as the global batch: this is `Recipe.batch_size` per replica times the
    replicas, as `fit` does for raw text. Raises (see `model_strategy`) when the model was not
    built under the recipe's strategy.
    """
    strategy = model_strategy(model, recipe.strategy)
    return strategy, global_batch_size(recipe.batch_size, strategy)


def distribute_batches(dataset: tf.data.Dataset | None, strategy: tf.distribute.Strategy):
    """`dataset` ready for `strategy`: sharded by data (`shard_by_data`) when several replicas share
    each global batch; unchanged otherwise (and None stays None)."""
    if dataset is None or strategy.num_replicas_in_sync == 1:
        return dataset
    return shard_by_data(dataset)


def alone_on_chief(model, build, strategy_name: str):
    """The trained `model`, ready for the chief to evaluate, save and export on its own.

    Under "multi_worker", Keras's predict/evaluate on the distributed model would wait for the other
    workers, which have stopped: `build()` makes the same architecture outside any strategy and gets
    the trained weights. Other strategies run in this one process, so `model` is returned as it is.
    """
    if strategy_name != "multi_worker":
        return model
    local = build()
    local.set_weights(model.get_weights())
    return local

