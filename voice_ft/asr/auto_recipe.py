"""A speech recogniser's fine-tuning recipe chosen from the number of training clips (`voice_ft.choose_recipe`).

A recogniser has no classes: every clip is its own transcript. What it needs is enough teacher-forced
passes for the decoder to learn the commands' words and, in a short-audio window, to stop; too many
and it memorises a small set. So the run is a number of clip presentations, in optimizer steps:

    steps = ceil(ASR_PRESENTATIONS / batch_size), at least one epoch and at most ASR_MAX_EPOCHS

validated four times a run with early stopping keeping the best weights (`choose_recipe`'s rules),
at the rate the spoken-SNIPS figures were measured with. Everything the user sets wins.
"""

from __future__ import annotations

from voice_ft.training.auto_recipe import DataProfile, RecipeChoice, choose_recipe

# Clip presentations over a run: 602 spoken-SNIPS clips, 4 epochs at batch 16 (152 steps) and lr 5e-5 took
# tiny.en from 98.9% to 38.5% WER on held-out voices (bench/README.md); 1e-5 over 6 epochs reached only 46.8%.
ASR_PRESENTATIONS = 2400
ASR_MAX_EPOCHS = 20  # 100 clips get 140 steps, not 150: a handful of recordings is not memorised
# Kept over the rules: the measured rate and batch; no faster head (the output layer is the pretrained
# token embedding, tied to the decoder's input: nothing starts from scratch).
ASR_DEFAULTS = {"learning_rate": 5e-5, "batch_size": 16, "head_learning_rate_multiplier": 1.0}


def choose_asr_recipe(num_clips: int, overrides: dict | None = None, defaults: dict | None = None,
                      replicas: int = 1) -> RecipeChoice:
    """The recipe for fine-tuning a recogniser on `num_clips` transcribed training clips.

    Args:
        num_clips: training clips.
        overrides: Recipe fields the user set (kept, reported as such; `epochs` switches the step rule off).
        defaults: the trainer's own defaults over `ASR_DEFAULTS` (e.g. its --batch_size and --seed).
        replicas: devices in sync (`batch_size` is per replica: the global batch grows with them).
    """
    return choose_recipe(DataProfile.without_classes(num_clips, "clips"), overrides,
                         defaults={**ASR_DEFAULTS, **(defaults or {})}, balance_classes=False,
                         presentations=ASR_PRESENTATIONS, max_epochs=ASR_MAX_EPOCHS, replicas=replicas)  # fmt: skip
