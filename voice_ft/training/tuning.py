"""`tune`: a small, budgeted search over the learning rate and the training length (successive halving).

The data-driven recipe (`choose_recipe`) is a good start; when a user can spend more time, `tune`
tries N variants of it and keeps the one that does best on the validation split:

    rung 0: every candidate trains for 1/2^(R-1) of its steps (its schedule compressed to fit),
    rung k: the better half of rung k-1 trains for twice as long,
    last:   the best candidate trains for all its steps; that model is returned.

Each rung starts from fresh pretrained weights (no state is carried between rungs), so a rung's
score is what that candidate reaches with that much training. With 4 candidates the rungs train
4 x 1/4, 2 x 1/2 and 1 x 1 of a run: about three runs in all. With `budget_seconds`, no rung starts that would not end in the budget
(estimated from the steps/s measured so far); the best candidate so far is then trained in full.
"""

from __future__ import annotations

import dataclasses
import math
import random
import time
from collections.abc import Callable

import keras
import numpy as np
from absl import logging

from voice_ft.training.recipe import Recipe

LEARNING_RATES = (2e-5, 5e-5, 1e-4, 2e-4)
STEP_FACTORS = (0.5, 1.0, 2.0)


@dataclasses.dataclass
class Trial:
    """One candidate at one rung: what it trained with and what it scored on validation."""

    candidate: int
    rung: int
    learning_rate: float
    steps: int
    validation_accuracy: float
    seconds: float

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


@dataclasses.dataclass
class TuneResult:
    recipe: Recipe  # the winner's full recipe
    model: keras.Model  # trained with it
    trials: list[Trial]
    stopped_by_budget: bool
    history: keras.callbacks.History  # of the final run

    def report(self) -> str:
        lines = [f"  rung {t.rung} candidate {t.candidate}: lr {t.learning_rate:g}, {t.steps} steps -> "
                 f"validation accuracy {t.validation_accuracy:.4f} ({t.seconds:.0f} s)" for t in self.trials]  # fmt: skip
        lines.append(f"  chosen: lr {self.recipe.learning_rate:g}, {self.recipe.steps} steps"
                     + (" (budget reached)" if self.stopped_by_budget else ""))  # fmt: skip
        return "\n".join(lines)


def candidates(base: Recipe, steps_per_epoch: int, n: int, seed: int = 0) -> list[Recipe]:
    """`n` variants of `base` (the first is `base` itself) over learning rate x training length."""
    if n < 1:
        raise ValueError(f"tune needs at least 1 candidate, got {n}")
    base_steps = base.steps or base.epochs * steps_per_epoch
    grid = [(lr, f) for lr in LEARNING_RATES for f in STEP_FACTORS if not (lr == base.learning_rate and f == 1.0)]
    random.Random(seed).shuffle(grid)
    chosen = [(base.learning_rate, 1.0)] + grid[: n - 1]
    return [dataclasses.replace(base, learning_rate=lr, steps=max(1, round(base_steps * f)))
            for lr, f in chosen]  # fmt: skip


def tune(build_model: Callable[[], keras.Model], train, validation, base: Recipe, steps_per_epoch: int,
         num_candidates: int = 4, budget_seconds: float | None = None, fit_kwargs: dict | None = None,
         ) -> TuneResult:
    """Successive halving over `candidates(base, ...)`; see the module docstring.

    Args:
        build_model: returns a fresh model with pretrained weights (called once per trial).
        train, validation: what `voice_ft.fit` takes; validation is required.
        base: the recipe to vary (e.g. `choose_recipe(...).recipe`).
        steps_per_epoch: batches in one pass over `train` (for recipes given in epochs).
        num_candidates: N of `--tune=N`.
        budget_seconds: wall-clock budget for the whole search, the final run included.
        fit_kwargs: passed to `voice_ft.fit` for every trial (e.g. verbose); a `run_dir` goes to
            the final run only (the probes keep no checkpoints).
    """
    from voice_ft.training.fitting import fit  # fit imports TensorFlow-heavy modules

    if validation is None:
        raise ValueError("tune chooses on the validation split; give one.")
    pool = list(enumerate(candidates(base, steps_per_epoch, num_candidates)))
    rungs = max(1, math.ceil(math.log2(len(pool)))) + 1 if len(pool) > 1 else 1
    trials: list[Trial] = []
    start = time.perf_counter()
    seconds_per_step = None
    stopped_by_budget = False

    def run(index: int, recipe: Recipe, rung: int, fraction: float):
        nonlocal seconds_per_step
        steps = max(1, round(recipe.steps * fraction))
        final = fraction >= 1
        trial_recipe = dataclasses.replace(
            recipe, steps=steps, steps_per_validation=recipe.steps_per_validation if final else None,
            early_stopping_patience=recipe.early_stopping_patience if final else None)
        model = build_model()
        began = time.perf_counter()
        kwargs = dict(fit_kwargs or {})
        if not final:
            kwargs.pop("run_dir", None)
        history = fit(model, train, validation, recipe=trial_recipe, **kwargs)
        seconds = time.perf_counter() - began
        seconds_per_step = seconds / steps if seconds_per_step is None else min(seconds_per_step, seconds / steps)
        accuracy = float(np.max(history.history["val_accuracy"]))
        trials.append(Trial(index, rung, recipe.learning_rate, steps, accuracy, seconds))
        logging.info("tune: rung %d candidate %d (lr %g, %d steps): validation accuracy %.4f in %.0f s",
                     rung, index, recipe.learning_rate, steps, accuracy, seconds)  # fmt: skip
        return model, accuracy, history

    for rung in range(rungs - 1):
        fraction = 2.0 ** -(rungs - 1 - rung)
        scores = []
        for index, recipe in pool:
            if budget_seconds is not None and seconds_per_step is not None:
                remaining = budget_seconds - (time.perf_counter() - start)
                final = max(r.steps for _, r in pool) * seconds_per_step
                if remaining < recipe.steps * fraction * seconds_per_step + final:
                    stopped_by_budget = True
                    break
            _, accuracy, _ = run(index, recipe, rung, fraction)
            scores.append((accuracy, -index, index, recipe))
        if not scores:
            break
        scores.sort(reverse=True)
        keep = max(1, len(pool) // 2)
        pool = [(index, recipe) for _, _, index, recipe in scores[:keep]]
        if stopped_by_budget:
            pool = pool[:1]
            break
    index, recipe = pool[0]
    model, _, history = run(index, recipe, rungs - 1, 1.0)
    return TuneResult(recipe, model, trials, stopped_by_budget, history)
