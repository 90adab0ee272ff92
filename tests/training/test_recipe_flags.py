"""recipe_overrides: only the flags given on the command line become overrides, checked before any data is read."""

import pytest
from absl import app, flags

from voice_ft.training.recipe_flags import recipe_overrides


def parsed(*argv: str) -> flags.FlagValues:
    values = flags.FlagValues()
    for name in ("epochs", "steps", "patience"):
        flags.DEFINE_integer(name, None, name, flag_values=values)
    flags.DEFINE_float("learning_rate", 1e-3, "rate", flag_values=values)
    values(["trainer", *argv])
    return values


FIELDS = {"epochs": "epochs", "steps": "steps", "learning_rate": "learning_rate", "patience": "early_stopping_patience"}


def test_only_the_flags_given_override_and_renamed_flags_reach_their_field():
    assert recipe_overrides(FIELDS, parsed()) == {}  # defaults are not "set": the data-driven rules choose
    assert recipe_overrides(FIELDS, parsed("--steps=40", "--patience=2")) == {"steps": 40, "early_stopping_patience": 2}
    assert recipe_overrides(["learning_rate"], parsed("--learning_rate=0.01")) == {"learning_rate": 0.01}


def test_a_patience_of_zero_switches_early_stopping_off():
    assert recipe_overrides(FIELDS, parsed("--patience=0")) == {"early_stopping_patience": None}


def test_epochs_with_steps_and_bad_values_are_refused_naming_the_flags():
    with pytest.raises(app.UsageError, match="--epochs or --steps"):
        recipe_overrides(FIELDS, parsed("--epochs=2", "--steps=10"))
    with pytest.raises(app.UsageError, match=r"learning_rate must be > 0 \(flags: --learning_rate=-1.0\)"):
        recipe_overrides(FIELDS, parsed("--learning_rate=-1"))
