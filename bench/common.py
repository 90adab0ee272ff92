"""Shared benchmark helpers: throughput timing, TFLite latency, the final JSON line."""

from __future__ import annotations

import json
import os
import platform
import statistics
import time

import keras
import numpy as np


class ThroughputMeter(keras.callbacks.Callback):
    """Steady-state training examples/s: the time between consecutive batch ends (input pipeline
    included), leaving out the first `skip_batches` of the run (graph tracing) and the first batch
    of each epoch (so validation and callbacks between epochs are not counted)."""

    def __init__(self, batch_size: int, skip_batches: int = 5):
        super().__init__()
        self.batch_size = batch_size
        self.skip_batches = skip_batches
        self.examples = 0
        self.seconds = 0.0
        self._batches = 0
        self._last = None

    def on_epoch_begin(self, epoch, logs=None):
        self._last = None

    def on_train_batch_end(self, batch, logs=None):
        now = time.perf_counter()
        self._batches += 1
        if self._last is not None and self._batches > self.skip_batches:
            self.seconds += now - self._last
            self.examples += self.batch_size
        self._last = now

    @property
    def examples_per_second(self) -> float:
        return self.examples / self.seconds if self.seconds else float("nan")


def tflite_latency_ms(path: str, inputs: list[dict], num_threads: int, warmup: int = 10) -> float:
    """Median batch-1 latency of a .tflite file over `inputs` (list of input dicts)."""
    from voice_ft.runtime.interpreter import TFLiteModel

    model = TFLiteModel(path, num_threads=num_threads)
    for x in inputs[:warmup]:
        model(**x)
    times = []
    for x in inputs:
        start = time.perf_counter()
        model(**x)
        times.append((time.perf_counter() - start) * 1000)
    return float(statistics.median(times))


def median_call_ms(function, inputs: list) -> float:
    """Median wall time of `function(x)` over `inputs`, in ms, after one warm-up call on the first."""
    function(inputs[0])
    times = []
    for x in inputs:
        start = time.perf_counter()
        function(x)
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


def machine() -> dict:
    return {"cpus": os.cpu_count(), "platform": platform.platform(), "processor": platform.processor()}


def print_result(result: dict) -> None:
    """The benchmark contract: one JSON object on the last line of stdout."""
    print(json.dumps({k: (round(v, 5) if isinstance(v, float) else v) for k, v in result.items()}, sort_keys=False), flush=True)


def first_inputs(dataset, count: int) -> list[dict]:
    """`count` single-example input dicts from encoded `(x, y)` batches."""
    out = []
    for x, *_ in dataset.unbatch().batch(1).take(count).as_numpy_iterator():
        out.append({k: np.asarray(v) for k, v in x.items()})
    return out
