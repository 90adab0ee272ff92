"""tune: successive halving over learning rate x steps, chosen on validation, within a budget."""

import importlib

import pytest

from voice_ft.training.recipe import Recipe
from voice_ft.training.tuning import LEARNING_RATES, candidates, tune


def test_candidates_start_from_the_base_and_differ():
    base = Recipe(steps=100, learning_rate=5e-5)
    found = candidates(base, steps_per_epoch=50, n=5)
    assert found[0] == base
    pairs = {(r.learning_rate, r.steps) for r in found}
    assert len(pairs) == 5
    assert all(r.learning_rate in LEARNING_RATES and r.steps in (50, 100, 200) for r in found)
    assert candidates(Recipe(epochs=2), steps_per_epoch=30, n=1)[0].steps == 60
    with pytest.raises(ValueError, match="at least 1"):
        candidates(base, 50, 0)


# tune with real training (a tiny BERT, two candidates, the winner trained in full) runs through the
# trainer: tests/examples/test_text_examples.py::test_train_sentiment_on_poems_with_the_chosen_recipe_and_tuning.


class _FakeHistory:
    def __init__(self, accuracy):
        self.history = {"val_accuracy": [accuracy]}


def test_halving_and_budget_schedule(monkeypatch):
    """The schedule itself (which candidate trains how long), with the trainer replaced by a scorer:
    candidates with a higher learning rate score higher here."""
    calls, models = [], []

    def fake_fit(model, train, validation, recipe, **kwargs):
        calls.append((recipe.learning_rate, recipe.steps))
        models.append(model)
        return _FakeHistory(recipe.learning_rate)

    # the module, not the lazily exported function of the same name
    monkeypatch.setattr(importlib.import_module("voice_ft.training.fitting"), "fit", fake_fit)
    base = Recipe(steps=80, learning_rate=5e-5)
    result = tune(object, "train", "validation", base, steps_per_epoch=40, num_candidates=4)  # a new "model" each build
    assert [t.rung for t in result.trials] == [0, 0, 0, 0, 1, 1, 2]
    assert result.model is models[-1] and len({id(m) for m in models}) == len(models)  # the winner's full run, built anew
    first = sorted((t for t in result.trials if t.rung == 0), key=lambda t: -t.learning_rate)
    assert {t.candidate for t in result.trials if t.rung == 1} == {t.candidate for t in first[:2]}
    assert result.recipe.learning_rate == first[0].learning_rate and calls[-1][1] == result.recipe.steps
    rung0 = [t for t in result.trials if t.rung == 0]
    assert all(t.steps == round(c.steps / 4) for t, c in zip(rung0, candidates(base, 40, 4)))

    spent = tune(lambda: None, "train", "validation", base, steps_per_epoch=40, num_candidates=4, budget_seconds=0.0)
    assert spent.stopped_by_budget and [t.rung for t in spent.trials] == [0, 2]
    with pytest.raises(ValueError, match="validation"):
        tune(lambda: None, "train", None, base, steps_per_epoch=40)
