"""choose_audio_recipe on real FSDD clips: steps follow the number of classes, copies count, the flags win."""

import math
import pathlib

from voice_ft.data.audio import AudioSource
from voice_ft.data.audio_readers import read_audio_manifest, select_split
from voice_ft.speech_commands.audio_recipe import choose_audio_recipe, clips_profile

FSDD = pathlib.Path(__file__).resolve().parents[2] / "data" / "fsdd" / "manifest.csv"
DEFAULTS = {"batch_size": 8, "learning_rate": 3e-3, "head_learning_rate_multiplier": 1.0}


def fsdd_train(digits: str, per_digit: int = 4) -> AudioSource:
    examples, counts = [], {}
    for e in select_split(read_audio_manifest(FSDD), "train"):
        if e.label in digits and counts.get(e.label, 0) < per_digit:
            counts[e.label] = counts.get(e.label, 0) + 1
            examples.append(e)
    return AudioSource.from_examples(examples)


def test_more_classes_train_more_steps():
    three, six = fsdd_train("012"), fsdd_train("012345")
    steps = [choose_audio_recipe(t, {}, DEFAULTS, presentations_per_class=64, max_epochs=60).recipe.steps
             for t in (three, six)]  # fmt: skip
    assert steps == [math.ceil(64 * 3 / 8), math.ceil(64 * 6 / 8)]  # 24, 48: under the 60-epoch cap


def test_augmented_copies_count_as_clips_and_the_cap_bounds_tiny_data():
    train = fsdd_train("01")
    assert clips_profile(train, copies=2).num_examples == 2 * len(train.examples) == 16
    choice = choose_audio_recipe(train, {}, DEFAULTS, presentations_per_class=10_000, max_epochs=5, copies=2)
    assert choice.recipe.steps == 5 * math.ceil(16 / 8) and "at most 5 epochs" in choice.reasons["steps"]
    assert "(16 clips, 8 a class)" in choice.reasons["steps"]
    assert choice.recipe.class_weight is None  # never reweighted


def test_the_task_defaults_are_kept_and_the_flags_win():
    train = fsdd_train("012")
    choice = choose_audio_recipe(train, {"epochs": 2, "learning_rate": 1e-2}, DEFAULTS, presentations_per_class=64,
                                 max_epochs=60)  # fmt: skip
    assert choice.recipe.steps is None and choice.recipe.epochs == 2  # --epochs switches the step rule off
    assert choice.recipe.learning_rate == 1e-2 and "set by you" in choice.reasons["learning_rate"]
    assert choice.recipe.batch_size == 8 and "this task's default" in choice.reasons["batch_size"]
    assert choice.recipe.head_learning_rate_multiplier == 1.0
