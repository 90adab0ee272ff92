"""The `Recipe` fields a trainer's command line set: what `choose_recipe` keeps over its data-driven rules.

Every trainer that chooses its recipe from the data takes the flags the user actually gave as
overrides (a flag left at its default is not "set", so the rules still choose) and must refuse a bad
value before any data is read or audio rendered. One function, so each trainer says the same.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from voice_ft.training.recipe import STRATEGIES


def recipe_overrides(flag_fields: Sequence[str] | Mapping[str, str], flag_values=None) -> dict:
    """{Recipe field: value} of the recipe flags present on the command line, checked now.

    Args:
        flag_fields: flag names that are also `Recipe` fields ("epochs", "steps", ...), or
            {flag name: Recipe field} where they differ (train_asr's --patience).
        flag_values: absl's `FlagValues` (default: `absl.flags.FLAGS`).

    An early-stopping patience of 0 means no early stopping (None).

    Raises:
        absl.app.UsageError: --epochs with --steps, or a value `Recipe` refuses (naming the flags given).
    """
    from absl import app, flags

    from voice_ft.training.recipe import Recipe

    values = flag_values if flag_values is not None else flags.FLAGS
    fields = dict(flag_fields) if isinstance(flag_fields, Mapping) else {name: name for name in flag_fields}
    given = {name: values[name].value for name in fields if values[name].present}
    overrides = {fields[name]: value for name, value in given.items()}
    if overrides.get("early_stopping_patience") == 0:
        overrides["early_stopping_patience"] = None
    if "epochs" in overrides and "steps" in overrides:
        raise app.UsageError("Give --epochs or --steps, not both (--epochs switches the step rule off).")
    try:
        Recipe(**overrides)
    except ValueError as e:
        shown = " ".join(f"--{name}={value}" for name, value in given.items())
        raise app.UsageError(f"{e} (flags: {shown})") from None
    return overrides


STRATEGY_FLAG_HELP = ("tf.distribute strategy: default (none), mirrored (this machine's GPUs), multi_worker (the "
                      "cluster in TF_CONFIG; run the same command on every worker) or tpu. --batch_size is per "
                      "replica: a step sees batch_size x replicas examples.")


def define_strategy_flag(flag_values=None) -> None:
    """Defines the trainers' `--strategy` flag (one definition, so every trainer says the same)."""
    from absl import flags

    flags.DEFINE_enum("strategy", "default", list(STRATEGIES), STRATEGY_FLAG_HELP,
                      flag_values=flag_values if flag_values is not None else flags.FLAGS)  # fmt: skip
