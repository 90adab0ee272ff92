"""A `Recipe` chosen from the data set: how long to train, how fast the new head learns, when to stop.

A fixed recipe tuned on one data set underfits another: SNIPS's 7 intents x 1,900 sentences each are
learnt in two epochs, BANKING77's 77 intents x 117 sentences each are at 43% training accuracy after one. What a classifier needs is for every class to be seen often enough, so the length of
training is set in optimizer steps from the number of classes, not in epochs:

    steps = ceil(presentations_per_class * num_classes / batch_size)

at least one epoch (every sentence seen once) and at most `max_epochs` (small data sets are not
memorised). The freshly initialised head trains `head_learning_rate_multiplier` times faster than
the pretrained encoder (a zero-knowledge head at the encoder's fine-tuning rate is what made the
many-intent runs slow), validation runs a few times over the run, early stopping keeps the best
weights, and every value says why it was chosen. Anything the user sets wins.

A task without classes (a speech recogniser: every clip a different transcript) profiles only its
size (`DataProfile.without_classes`) and says how many examples the run should present in all
(`choose_recipe(..., presentations=...)`); the same bounds, validation and early stopping apply.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from voice_ft.training.cpu_features import cpu_bf16_flag
from voice_ft.training.recipe import Recipe

# Sentences of each class the model should see over a run: SNIPS's 1,900 a class get two epochs (one
# epoch reached 97.0-97.3% on its test set, two 98%), BANKING77's 117 a class the cap of ten epochs
# (93.2%, bench/intent_banking77.py).
PRESENTATIONS_PER_CLASS = 3750
MAX_EPOCHS = 10
HEAD_LEARNING_RATE_MULTIPLIER = 10.0
VALIDATIONS_PER_RUN = 4
EARLY_STOPPING_PATIENCE = 3  # a 4-validation run (SNIPS) never ends on mid-run weights
# XLA compiles each batch shape once (training and validation widths, the last partial batch) and then makes
# a step ~1.2x faster: on 2 cores with all-MiniLM-L6-v2 the compiles cost ~95 s of a SNIPS run (821 steps,
# which they made slower) and a step saves ~0.066 s, so XLA pays only from about this many steps.
JIT_COMPILE_MIN_STEPS = 1500
# The speed rules of the length-bucketed text classifiers (intent, sentiment): `choose_recipe(..., **TEXT_CLASSIFIER_RULES)`.
# XLA is left out: even past the break-even a long run gains about a minute, and a data set of longer
# sentences has more widths to compile (BANKING77's run was not measured with it); `--jit_compile` opts in.
# bfloat16 compute where the CPU has bf16 matrix units: a step 1.28-1.45x faster on all-MiniLM-L6-v2
# (`bench/text_training_speed.py --variants=frozen,frozen_bf16`); the model is evaluated and exported in float32.
# A moving average of the weights (Polyak averaging) over the last ~1/(1 - EMA_MOMENTUM) steps is validated and
# shipped instead of the last step's, which damps the run-to-run spread of a short run (SNIPS, one run each in
# bfloat16: 0.9729 without, 0.9757 with); only for runs long enough that the average forgets the start.
EMA_MOMENTUM = 0.99
EMA_MIN_STEPS = 400
# A small encoder (all-MiniLM-L6-v2: 6 layers, 384 wide) fine-tunes best at twice BERT-base's 5e-5: SNIPS,
# one run each, 0.9800 at 1e-4 vs 0.9743-0.9786 at 5e-5 (821 steps), and 1e-4 reaches 0.9771-0.9800 in 613 steps, so the
# text classifiers see each class 2,800 times (SNIPS: 1.5 epochs) instead of PRESENTATIONS_PER_CLASS; many-class
# sets hit the MAX_EPOCHS cap either way (bench/README.md, "SNIPS with the chosen recipe").
TEXT_CLASSIFIER_LEARNING_RATE = 1e-4
TEXT_CLASSIFIER_PRESENTATIONS_PER_CLASS = 2800
TEXT_CLASSIFIER_RULES = {"freeze_token_embedding": True, "bf16_if_cpu_has_it": True, "ema_min_steps": EMA_MIN_STEPS,
                         "presentations_per_class": TEXT_CLASSIFIER_PRESENTATIONS_PER_CLASS,
                         "defaults": {"learning_rate": TEXT_CLASSIFIER_LEARNING_RATE}}  # fmt: skip
# An intent classifier trained with slot supervision (`voice_ft.text_classification.slot_supervision`: a
# training-only head tagging each word) sees each class 1.5x as often: its slot head learns the tags from
# nothing (SNIPS: 72) and their validation loss is still falling at 613 steps. SNIPS, seeds 42 / 1 / 2 on a
# CPU without bf16: 0.9814 / 0.9829 / 0.9843 at 919-920 steps, 0.9771 / 0.9814 / 0.9829 at 613, and the plain
# classifier at 613: 0.9814 / 0.9729 / 0.9743 (bench/README.md, "SNIPS with slot supervision").
SLOT_SUPERVISED_PRESENTATIONS_PER_CLASS = 4200
SLOT_SUPERVISED_TEXT_CLASSIFIER_RULES = {**TEXT_CLASSIFIER_RULES,
                                         "presentations_per_class": SLOT_SUPERVISED_PRESENTATIONS_PER_CLASS}  # fmt: skip


@dataclasses.dataclass(frozen=True)
class DataProfile:
    """What the recipe is chosen from: the training split's size and class balance.

    `unit` names the examples in the reasons ("sentences", "clips"); `num_classes` is 0 for a task
    without classes (`without_classes`).
    """

    num_examples: int
    num_classes: int
    min_per_class: int
    median_per_class: float
    unit: str = "sentences"

    @classmethod
    def from_label_counts(cls, counts, unit: str = "sentences") -> "DataProfile":
        """Profile from per-class training counts (e.g. `voice_ft.data.text_pipeline.label_counts`)."""
        counts = np.asarray(counts, np.int64)
        if counts.ndim != 1 or counts.size < 2:
            raise ValueError(f"A classifier needs at least 2 classes, got label counts {counts.tolist()}")
        if counts.sum() == 0:
            raise ValueError("The training split is empty.")
        return cls(int(counts.sum()), int(counts.size), int(counts.min()), float(np.median(counts)), unit)

    @classmethod
    def without_classes(cls, num_examples: int, unit: str = "clips") -> "DataProfile":
        """Profile of a task without classes (a recogniser's transcribed clips): its size only."""
        if int(num_examples) < 1:
            raise ValueError("The training split is empty.")
        return cls(int(num_examples), 0, 0, 0.0, unit)

    @classmethod
    def from_dataset(cls, dataset, num_classes: int) -> "DataProfile":
        """Profile of a raw `(text, label_id)` or encoded `tf.data` training split."""
        from voice_ft.data.text_pipeline import label_counts  # TensorFlow only when given a dataset

        return cls.from_label_counts(label_counts(dataset, num_classes))


@dataclasses.dataclass(frozen=True)
class RecipeChoice:
    """The chosen recipe and, for each value chosen from the data, the reason."""

    recipe: Recipe
    reasons: dict[str, str]

    def describe(self) -> str:
        return "\n".join(f"  {name} = {value}" for name, value in self.reasons.items())


def choose_recipe(profile: DataProfile, overrides: dict | None = None, *, defaults: dict | None = None,
                  min_epochs: int = 1, balance_classes: bool = True, replicas: int = 1,
                  presentations_per_class: int = PRESENTATIONS_PER_CLASS, presentations: int | None = None,
                  max_epochs: int = MAX_EPOCHS, freeze_token_embedding: bool = False,
                  jit_compile_min_steps: int | None = None, bf16_if_cpu_has_it: bool = False,
                  cpu_bf16: str | None = None, ema_min_steps: int | None = None) -> RecipeChoice:
    """The recipe for a classifier trained on data like `profile`.

    Args:
        profile: the training split's size and classes.
        overrides: `Recipe` fields the user set (flags, arguments); they are kept as given and
            reported as such. Setting `epochs` switches the step rule off.
        defaults: a task's own defaults, kept over the rules (e.g. the joint NLU model's learning
            rate, measured on its benchmark) and reported as such.
        min_epochs: the fewest passes over the data (a slot tagger needs more than a classifier).
        balance_classes: whether very imbalanced data may get balanced class weights.
        replicas: devices training in sync (`strategy.num_replicas_in_sync`): `batch_size` is per
            replica, so a step sees `batch_size * replicas` examples and the rule counts those.
        presentations_per_class: sentences of each class seen over the run.
        presentations: examples seen over the run in all, instead of `presentations_per_class` x
            classes: what a task without classes (`DataProfile.without_classes`) must give.
        max_epochs: the most passes over the training data.
        freeze_token_embedding: the model's backbone is a text encoder with a token-embedding
            table, to be frozen (`Recipe.freeze_embeddings`): about half of a BERT-size encoder's
            weights, updated in full by AdamW at every step for the few rows a batch uses.
        jit_compile_min_steps: XLA-compile (`Recipe.jit_compile`) runs of at least this many steps
            on one device (`JIT_COMPILE_MIN_STEPS` for the length-bucketed text classifiers); None:
            never (models whose steps XLA has not been measured on).
        bf16_if_cpu_has_it: compute in bfloat16 (`Recipe.mixed_precision`) when this CPU multiplies
            bfloat16 matrices natively (models whose accuracy in bfloat16 was measured: the text
            classifiers); the weights stay float32 and the model is evaluated and exported in float32.
        cpu_bf16: the CPU's bf16 flag (default: read from this machine, `cpu_features.cpu_bf16_flag`);
            "" for a CPU without one.
        ema_min_steps: validate and ship a moving average of the weights (`Recipe.ema_momentum` =
            `EMA_MOMENTUM`) in runs of at least this many steps (`EMA_MIN_STEPS` for the text
            classifiers); None: never.
    """
    user = dict(overrides or {})
    task_defaults = {k: v for k, v in (defaults or {}).items() if k not in user}
    fields = {f.name for f in dataclasses.fields(Recipe)}
    for what, given_fields in (("overrides", user), ("defaults", task_defaults)):
        unknown = set(given_fields) - fields
        if unknown:
            raise ValueError(f"choose_recipe: unknown Recipe fields in {what}: {sorted(unknown)}")
    if profile.num_classes == 0 and presentations is None:
        raise ValueError("choose_recipe: a profile without classes needs `presentations` (examples seen over the run)")
    if presentations is not None and presentations < 1:
        raise ValueError(f"choose_recipe: presentations must be >= 1, got {presentations}")
    if not 1 <= min_epochs <= max_epochs:
        raise ValueError(f"choose_recipe: need 1 <= min_epochs <= max_epochs, got {min_epochs} and {max_epochs}")
    overrides = {**task_defaults, **user}
    if replicas < 1:
        raise ValueError(f"choose_recipe: replicas must be >= 1, got {replicas}")
    batch_size = int(overrides.get("batch_size", Recipe.batch_size)) * replicas  # examples per global step
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    steps_per_epoch = math.ceil(profile.num_examples / batch_size)
    chosen: dict = {}
    reasons: dict[str, str] = {}

    def given(name) -> bool:
        if name in user:
            reasons[name] = f"{user[name]} (set by you)"
            return True
        if name in task_defaults:
            reasons[name] = f"{task_defaults[name]} (this task's default)"
            return True
        return False

    if not given("steps") and "epochs" not in overrides:
        wanted_examples = presentations if presentations is not None else presentations_per_class * profile.num_classes
        wanted = math.ceil(wanted_examples / batch_size)
        steps = min(max(wanted, min_epochs * steps_per_epoch), max_epochs * steps_per_epoch)
        chosen["steps"] = steps
        at_least = "at least one epoch" if min_epochs == 1 else f"at least {min_epochs} epochs"
        bound = (at_least if wanted < min_epochs * steps_per_epoch
                 else f"at most {max_epochs} epochs" if wanted > steps else "")
        seen = (f"~{presentations} {profile.unit} presented" if presentations is not None
                else f"each of the {profile.num_classes} classes seen ~{presentations_per_class} times")
        size = f"{profile.num_examples} {profile.unit}" + (
            f", {profile.median_per_class:g} a class" if profile.num_classes else "")
        reasons["steps"] = (
            f"{steps} ({steps / steps_per_epoch:.1f} epochs of {steps_per_epoch} steps): {seen} at batch {batch_size}"
            + (f" ({replicas} replicas)" if replicas > 1 else "")
            + (f", {bound}" if bound else "")
            + f" ({size})"
        )
    elif "epochs" in overrides:
        given("epochs")
    steps = overrides.get("steps", chosen.get("steps"))
    if steps is not None and not given("steps_per_validation"):
        interval = min(steps_per_epoch, math.ceil(steps / VALIDATIONS_PER_RUN))  # and at least once an epoch
        chosen["steps_per_validation"] = interval
        reasons["steps_per_validation"] = f"{interval} (validation {math.ceil(steps / interval)} times over the run)"
    if not given("head_learning_rate_multiplier"):
        chosen["head_learning_rate_multiplier"] = HEAD_LEARNING_RATE_MULTIPLIER
        reasons["head_learning_rate_multiplier"] = (
            f"{HEAD_LEARNING_RATE_MULTIPLIER:g} (the new "
            + (f"{profile.num_classes}-way " if profile.num_classes else "") + "head starts from nothing; "
            "the pretrained encoder moves at the base rate)"
        )
    if not given("early_stopping_patience"):
        chosen["early_stopping_patience"] = EARLY_STOPPING_PATIENCE
        reasons["early_stopping_patience"] = (
            f"{EARLY_STOPPING_PATIENCE} validations without a lower validation loss; the best weights are kept"
        )
    if freeze_token_embedding and not given("freeze_embeddings"):
        chosen["freeze_embeddings"] = True
        reasons["freeze_embeddings"] = (
            "True (the word-embedding table is about half of the encoder's weights and AdamW rewrites all of "
            "it every step for the few rows a batch holds; frozen, a step is ~1.1x faster at the same accuracy)"
        )
    if jit_compile_min_steps is not None and not given("jit_compile"):
        run_steps = steps if steps is not None else overrides.get("epochs", Recipe.epochs) * steps_per_epoch
        worth_it = replicas == 1 and run_steps >= jit_compile_min_steps
        chosen["jit_compile"] = worth_it
        reasons["jit_compile"] = (
            f"{worth_it} (XLA compiles each batch width once, then a step is ~1.2x faster: "
            + (f"worth it for {run_steps} steps)" if worth_it
               else "not under a multi-replica strategy)" if replicas > 1
               else f"not for {run_steps} steps, under {jit_compile_min_steps})")
        )
    if bf16_if_cpu_has_it and not given("mixed_precision"):
        flag = cpu_bf16 if cpu_bf16 is not None else cpu_bf16_flag()
        chosen["mixed_precision"] = bool(flag)
        reasons["mixed_precision"] = (
            f"True (this CPU has {flag}: bfloat16 matrix products make a step 1.3-1.5x faster; the weights stay "
            "float32, and evaluation and the exported file compute in float32)" if flag
            else "False (this CPU has no bfloat16 matrix units, where bfloat16 would be slower)"
        )
    if ema_min_steps is not None and not given("ema_momentum"):
        run_steps = steps if steps is not None else overrides.get("epochs", Recipe.epochs) * steps_per_epoch
        if run_steps >= ema_min_steps:
            chosen["ema_momentum"] = EMA_MOMENTUM
            reasons["ema_momentum"] = (
                f"{EMA_MOMENTUM} (the average of the last ~{round(1 / (1 - EMA_MOMENTUM))} steps' weights is validated "
                f"and shipped: less noisy than the last step's; {run_steps} steps)"
            )
        else:
            reasons["ema_momentum"] = f"None (no weight average for {run_steps} steps, under {ema_min_steps})"
    imbalanced = profile.min_per_class * 10 < profile.median_per_class
    if balance_classes and imbalanced and not given("class_weight"):
        chosen["class_weight"] = "balanced"
        reasons["class_weight"] = (
            f"balanced (the rarest class has {profile.min_per_class} {profile.unit}, the median {profile.median_per_class:g})"
        )
    for name in ("learning_rate", "batch_size"):
        if not given(name):
            reasons[name] = f"{getattr(Recipe, name)} (default)"
    return RecipeChoice(Recipe(**{**chosen, **overrides}), reasons)


def choose_text_classifier_recipe(profile: DataProfile, overrides: dict | None = None, *, slot_supervised: bool = False,
                                  **kwargs) -> tuple[RecipeChoice, bool]:  # fmt: skip
    """The text classifiers' recipe (`TEXT_CLASSIFIER_RULES`), and whether the run trains with slot supervision.

    Asked for (`slot_supervised`), slot supervision gets its own step rule
    (`SLOT_SUPERVISED_TEXT_CLASSIFIER_RULES`) unless the data is imbalanced enough for balanced class
    weights, which the two-output slot-supervised fit cannot take: the weights win, with the plain
    classifier's rules, and the second value is False. `kwargs` go to `choose_recipe` (e.g. `replicas`).
    """
    if slot_supervised:
        choice = choose_recipe(profile, overrides, **kwargs, **SLOT_SUPERVISED_TEXT_CLASSIFIER_RULES)
        if choice.recipe.class_weight is None:
            return choice, True
    return choose_recipe(profile, overrides, **kwargs, **TEXT_CLASSIFIER_RULES), False
