"""tune: successive halving over learning rate x steps, chosen on validation, within a budget."""

import importlib

import pytest

import voice_ft
from voice_ft.data.labels import LabelVocabulary
from voice_ft.data.readers import TextExample
from voice_ft.data.text_pipeline import examples_to_dataset
from voice_ft.training.recipe import Recipe
from voice_ft.training.tuning import LEARNING_RATES, candidates, tune


@pytest.fixture()
def snips_small(snips_rows):
    labels = LabelVocabulary.from_records(r["intent"] for r in snips_rows)
    examples = [TextExample(r["text"], r["intent"], "train.jsonl", i + 1) for i, r in enumerate(snips_rows)]
    return examples_to_dataset(examples[:160], labels), examples_to_dataset(examples[320:], labels), list(labels)


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


def test_tune_scores_candidates_and_trains_the_winner_in_full(tiny_preset, snips_small):
    train, validation, labels = snips_small  # 160 sentences: 10 batches of 16

    def build():
        return voice_ft.build_intent_classifier(voice_ft.load_backbone(tiny_preset), len(labels), sequence_length=16)

    base = Recipe(steps=8, learning_rate=1e-4, batch_size=16)
    result = tune(build, train, validation, base, steps_per_epoch=10, num_candidates=2, fit_kwargs={"verbose": 0})
    assert [(t.rung, t.steps) for t in result.trials][:2] == [(0, 4), (0, result.trials[1].steps)]
    probes = sorted(result.trials[:2], key=lambda t: (-t.validation_accuracy, t.candidate))
    final = result.trials[-1]
    assert final.rung == 1 and final.candidate == probes[0].candidate and final.steps == result.recipe.steps
    assert int(result.model.optimizer.iterations) >= result.recipe.steps  # the returned model is the full run
    assert "chosen: lr" in result.report() and not result.stopped_by_budget


class _FakeHistory:
    def __init__(self, accuracy):
        self.history = {"val_accuracy": [accuracy]}


def test_halving_and_budget_schedule(monkeypatch):
    """The schedule itself (which candidate trains how long), with the trainer replaced by a scorer:
    candidates with a higher learning rate score higher here."""
    calls = []

    def fake_fit(model, train, validation, recipe, **kwargs):
        calls.append((recipe.learning_rate, recipe.steps))
        return _FakeHistory(recipe.learning_rate)

    # the module, not the lazily exported function of the same name
    monkeypatch.setattr(importlib.import_module("voice_ft.training.fitting"), "fit", fake_fit)
    base = Recipe(steps=80, learning_rate=5e-5)
    result = tune(lambda: None, "train", "validation", base, steps_per_epoch=40, num_candidates=4)
    assert [t.rung for t in result.trials] == [0, 0, 0, 0, 1, 1, 2]
    first = sorted((t for t in result.trials if t.rung == 0), key=lambda t: -t.learning_rate)
    assert {t.candidate for t in result.trials if t.rung == 1} == {t.candidate for t in first[:2]}
    assert result.recipe.learning_rate == first[0].learning_rate and calls[-1][1] == result.recipe.steps
    rung0 = [t for t in result.trials if t.rung == 0]
    assert all(t.steps == round(c.steps / 4) for t, c in zip(rung0, candidates(base, 40, 4)))

    spent = tune(lambda: None, "train", "validation", base, steps_per_epoch=40, num_candidates=4, budget_seconds=0.0)
    assert spent.stopped_by_budget and [t.rung for t in spent.trials] == [0, 2]
    with pytest.raises(ValueError, match="validation"):
        tune(lambda: None, "train", None, base, steps_per_epoch=40)
