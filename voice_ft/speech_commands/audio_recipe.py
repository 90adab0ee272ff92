"""The recipe of an audio classifier chosen from its training clips (`voice_ft.choose_recipe`).

The speech-commands and spoken-intent trainers both set their length in optimizer steps from the
number of classes (each class seen a task's number of times, within at most `max_epochs` passes),
validate a few times a run and keep their own measured rate and batch over the rules. What they
share is here: the clips counted per label (augmented copies included), classes not reweighted
(their figures were measured without class weights), and the reasons written in clips.
"""

from __future__ import annotations

import collections

from voice_ft.training.auto_recipe import DataProfile, RecipeChoice, choose_recipe


def clips_profile(train, copies: int = 1) -> DataProfile:
    """The profile of an `AudioSource`'s training clips, each counted `copies` times (augmented repeats)."""
    counts = collections.Counter(e.label for e in train.examples)
    return DataProfile.from_label_counts([copies * counts[label] for label in train.labels], unit="clips")


def choose_audio_recipe(train, overrides: dict, defaults: dict, *, presentations_per_class: int, max_epochs: int,
                        copies: int = 1, replicas: int = 1) -> RecipeChoice:
    """`choose_recipe` for an audio classifier trained on `train` (an `AudioSource`).

    Args:
        train: the training clips.
        overrides: the Recipe fields the user set (`voice_ft.training.recipe_flags.recipe_overrides`).
        defaults: the task's own values, kept over the rules (its measured rate, batch, head speed).
        presentations_per_class: clips of each class seen over the run.
        max_epochs: the most passes over the (augmented) training clips.
        copies: augmented copies of each clip a pass.
        replicas: devices in sync (the global batch, and so the steps, grows with them).
    """
    return choose_recipe(clips_profile(train, copies), overrides, defaults=defaults, balance_classes=False,
                         presentations_per_class=presentations_per_class, max_epochs=max_epochs,
                         replicas=replicas)  # fmt: skip
