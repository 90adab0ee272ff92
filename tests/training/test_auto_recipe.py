"""choose_recipe: the recipe follows the data (classes, sizes) and never overrides what the user set."""

import dataclasses
import math

import pytest

from voice_ft.training.auto_recipe import (
    EMA_MIN_STEPS,
    EMA_MOMENTUM,
    JIT_COMPILE_MIN_STEPS,
    MAX_EPOCHS,
    PRESENTATIONS_PER_CLASS,
    VALIDATIONS_PER_RUN,
    DataProfile,
    choose_recipe,
)
from voice_ft.training.recipe import Recipe

SNIPS_LIKE = DataProfile.from_label_counts([1870] * 7)  # 13,090 sentences, 7 intents
BANKING77_LIKE = DataProfile.from_label_counts([117] * 77)  # 9,009 sentences, 77 intents


def test_profile_counts_examples_and_classes():
    profile = DataProfile.from_label_counts([5, 10, 30])
    assert (profile.num_examples, profile.num_classes, profile.min_per_class, profile.median_per_class) == (45, 3, 5, 10)


@pytest.mark.parametrize("counts", [[], [12], [0, 0]])
def test_profile_refuses_data_a_classifier_cannot_learn(counts):
    with pytest.raises(ValueError):
        DataProfile.from_label_counts(counts)


def test_few_classes_with_many_sentences_train_one_epoch():
    choice = choose_recipe(DataProfile.from_label_counts([5000] * 3))
    steps_per_epoch = math.ceil(15000 / 32)
    assert choice.recipe.steps == steps_per_epoch
    assert "at least one epoch" in choice.reasons["steps"]
    assert choice.recipe.schedule(steps_per_epoch)[0] == VALIDATIONS_PER_RUN  # validated within the epoch


def test_snips_sized_data_trains_about_two_epochs():
    choice = choose_recipe(SNIPS_LIKE)
    assert choice.recipe.steps == math.ceil(PRESENTATIONS_PER_CLASS * 7 / 32)
    assert 1.9 < choice.recipe.steps / math.ceil(13090 / 32) < 2.1


def test_many_classes_with_few_sentences_train_many_epochs():
    choice = choose_recipe(BANKING77_LIKE)
    steps_per_epoch = math.ceil(9009 / 32)
    wanted = math.ceil(PRESENTATIONS_PER_CLASS * 77 / 32)
    assert choice.recipe.steps == min(wanted, MAX_EPOCHS * steps_per_epoch)
    assert choice.recipe.steps >= 5 * steps_per_epoch
    assert choice.recipe.steps_per_validation <= steps_per_epoch  # validated (and backed up) every epoch at least
    epochs, interval = choice.recipe.schedule(steps_per_epoch)
    assert epochs * interval >= choice.recipe.steps and epochs >= VALIDATIONS_PER_RUN


def test_tiny_data_is_capped_at_max_epochs():
    choice = choose_recipe(DataProfile.from_label_counts([4, 4]))
    assert choice.recipe.steps == MAX_EPOCHS * 1
    assert f"at most {MAX_EPOCHS} epochs" in choice.reasons["steps"]


def test_the_head_trains_faster_and_early_stopping_keeps_the_best():
    recipe = choose_recipe(BANKING77_LIKE).recipe
    assert recipe.head_learning_rate_multiplier > 1
    assert recipe.early_stopping_patience is not None


def test_what_the_user_sets_wins_and_is_reported():
    choice = choose_recipe(BANKING77_LIKE, {"learning_rate": 1e-4, "head_learning_rate_multiplier": 1.0, "batch_size": 16})
    assert choice.recipe.learning_rate == 1e-4
    assert choice.recipe.head_learning_rate_multiplier == 1.0
    assert choice.recipe.steps == min(math.ceil(PRESENTATIONS_PER_CLASS * 77 / 16), MAX_EPOCHS * math.ceil(9009 / 16))
    assert "set by you" in choice.reasons["learning_rate"]
    assert "learning_rate" in choice.describe()


def test_setting_epochs_switches_the_step_rule_off():
    choice = choose_recipe(BANKING77_LIKE, {"epochs": 2})
    assert choice.recipe.steps is None and choice.recipe.epochs == 2
    assert choice.recipe.schedule(100) == (2, 100)


def test_imbalanced_data_gets_balanced_class_weights():
    assert choose_recipe(DataProfile.from_label_counts([500, 480, 20])).recipe.class_weight == "balanced"
    assert choose_recipe(SNIPS_LIKE).recipe.class_weight is None


def test_unknown_override_is_named():
    with pytest.raises(ValueError, match="learnin_rate"):
        choose_recipe(SNIPS_LIKE, {"learnin_rate": 1e-4})


def test_schedule_rounds_steps_to_whole_validation_intervals():
    recipe = Recipe(steps=1000, steps_per_validation=300)
    assert recipe.schedule(steps_per_epoch=250) == (4, 300)
    assert Recipe(steps=50).schedule(steps_per_epoch=250) == (1, 50)
    with pytest.raises(ValueError, match="steps"):
        Recipe(steps=0)


def test_task_defaults_beat_the_rules_but_not_the_user():
    defaults = {"learning_rate": 1e-4, "head_learning_rate_multiplier": 1.0}
    choice = choose_recipe(SNIPS_LIKE, {"learning_rate": 3e-5}, defaults=defaults, min_epochs=3)
    assert choice.recipe.learning_rate == 3e-5 and "set by you" in choice.reasons["learning_rate"]
    assert choice.recipe.head_learning_rate_multiplier == 1.0
    assert "this task's default" in choice.reasons["head_learning_rate_multiplier"]
    assert choice.recipe.steps == 3 * math.ceil(13090 / 32) and "at least 3 epochs" in choice.reasons["steps"]


def test_class_balancing_can_be_left_to_the_task():
    profile = DataProfile.from_label_counts([500, 480, 20])
    assert choose_recipe(profile, balance_classes=False).recipe.class_weight is None
    with pytest.raises(ValueError, match="min_epochs"):
        choose_recipe(profile, min_epochs=MAX_EPOCHS + 1)


def test_profile_from_a_raw_text_dataset():
    import tensorflow as tf

    dataset = tf.data.Dataset.from_tensor_slices((["a", "b", "c", "d"], [0, 1, 1, 2]))
    profile = DataProfile.from_dataset(dataset, num_classes=4)
    assert (profile.num_examples, profile.num_classes, profile.min_per_class) == (4, 4, 0)


def test_replicas_count_the_global_batch():
    one = choose_recipe(BANKING77_LIKE, {"batch_size": 16}).recipe
    two = choose_recipe(BANKING77_LIKE, {"batch_size": 16}, replicas=2).recipe
    assert two.steps == choose_recipe(BANKING77_LIKE, {"batch_size": 32}).recipe.steps < one.steps
    assert two.batch_size == 16  # still per replica


def test_text_encoders_freeze_the_token_embedding_unless_told_not_to():
    assert choose_recipe(SNIPS_LIKE).recipe.freeze_embeddings is False  # audio models have no token table
    chosen = choose_recipe(SNIPS_LIKE, freeze_token_embedding=True)
    assert chosen.recipe.freeze_embeddings is True and "word-embedding table" in chosen.reasons["freeze_embeddings"]
    kept = choose_recipe(SNIPS_LIKE, {"freeze_embeddings": False}, freeze_token_embedding=True)
    assert kept.recipe.freeze_embeddings is False and "set by you" in kept.reasons["freeze_embeddings"]


def test_xla_only_for_runs_long_enough_to_repay_its_compiles():
    long_run = choose_recipe(SNIPS_LIKE, jit_compile_min_steps=500)  # 821 steps
    assert long_run.recipe.jit_compile is True and "worth it for 821 steps" in long_run.reasons["jit_compile"]
    short_run = choose_recipe(SNIPS_LIKE, {"steps": 100}, jit_compile_min_steps=500)
    assert short_run.recipe.jit_compile is False and "under 500" in short_run.reasons["jit_compile"]
    assert choose_recipe(SNIPS_LIKE, jit_compile_min_steps=JIT_COMPILE_MIN_STEPS).recipe.jit_compile is False
    assert choose_recipe(BANKING77_LIKE, jit_compile_min_steps=JIT_COMPILE_MIN_STEPS).recipe.jit_compile is True
    by_epochs = choose_recipe(SNIPS_LIKE, {"epochs": 2}, jit_compile_min_steps=500)  # 2 x 410 steps
    assert by_epochs.recipe.jit_compile is True
    replicated = choose_recipe(SNIPS_LIKE, jit_compile_min_steps=500, replicas=2)
    assert replicated.recipe.jit_compile is False and "multi-replica" in replicated.reasons["jit_compile"]
    assert choose_recipe(SNIPS_LIKE).recipe.jit_compile is False and "jit_compile" not in choose_recipe(SNIPS_LIKE).reasons


def test_bfloat16_where_the_cpu_multiplies_it_natively_unless_told_otherwise():
    fast = choose_recipe(SNIPS_LIKE, bf16_if_cpu_has_it=True, cpu_bf16="avx512_bf16")
    assert fast.recipe.mixed_precision is True and "avx512_bf16" in fast.reasons["mixed_precision"]
    slow = choose_recipe(SNIPS_LIKE, bf16_if_cpu_has_it=True, cpu_bf16="")
    assert slow.recipe.mixed_precision is False and "no bfloat16" in slow.reasons["mixed_precision"]
    kept = choose_recipe(SNIPS_LIKE, {"mixed_precision": False}, bf16_if_cpu_has_it=True, cpu_bf16="avx512_bf16")
    assert kept.recipe.mixed_precision is False and kept.reasons["mixed_precision"] == "False (set by you)"
    assert "mixed_precision" not in choose_recipe(SNIPS_LIKE, cpu_bf16="avx512_bf16").reasons  # other tasks: not measured


def test_a_weight_average_only_for_runs_long_enough_to_forget_their_start():
    snips = choose_recipe(SNIPS_LIKE, ema_min_steps=EMA_MIN_STEPS)  # 821 steps
    assert snips.recipe.ema_momentum == EMA_MOMENTUM and "821 steps" in snips.reasons["ema_momentum"]
    short = choose_recipe(SNIPS_LIKE, {"steps": 100}, ema_min_steps=EMA_MIN_STEPS)
    assert short.recipe.ema_momentum is None and "under 400" in short.reasons["ema_momentum"]
    mine = choose_recipe(SNIPS_LIKE, {"ema_momentum": 0.9}, ema_min_steps=EMA_MIN_STEPS)
    assert mine.recipe.ema_momentum == 0.9 and mine.reasons["ema_momentum"] == "0.9 (set by you)"
    assert choose_recipe(SNIPS_LIKE).recipe.ema_momentum is None  # tasks without the rule


def test_a_task_without_classes_presents_a_number_of_examples():
    choice = choose_recipe(DataProfile.without_classes(602, "clips"), presentations=2400, defaults={"batch_size": 16})
    assert choice.recipe.steps == 150  # 2400 / 16, about 4 epochs of 38 steps
    assert "~2400 clips presented at batch 16" in choice.reasons["steps"] and "(602 clips)" in choice.reasons["steps"]
    many = choose_recipe(DataProfile.without_classes(10_000, "clips"), presentations=2400, defaults={"batch_size": 16})
    assert many.recipe.steps == math.ceil(10_000 / 16) and "at least one epoch" in many.reasons["steps"]


def test_a_profile_without_classes_needs_the_presentations():
    with pytest.raises(ValueError, match="presentations"):
        choose_recipe(DataProfile.without_classes(100))
    with pytest.raises(ValueError, match="empty"):
        DataProfile.without_classes(0)


def test_the_reasons_name_the_examples_in_their_unit():
    choice = choose_recipe(DataProfile.from_label_counts([100, 3, 50], unit="clips"))
    assert "(153 clips, 50 a class)" in choice.reasons["steps"]
    assert "the rarest class has 3 clips" in choice.reasons["class_weight"]


def test_text_classifier_rules_give_a_small_encoder_its_rate_and_fewer_steps():
    from voice_ft.training.auto_recipe import (TEXT_CLASSIFIER_LEARNING_RATE, TEXT_CLASSIFIER_PRESENTATIONS_PER_CLASS,
                                               TEXT_CLASSIFIER_RULES)  # fmt: skip

    snips = choose_recipe(SNIPS_LIKE, cpu_bf16="", **TEXT_CLASSIFIER_RULES)
    assert snips.recipe.steps == math.ceil(TEXT_CLASSIFIER_PRESENTATIONS_PER_CLASS * 7 / 32) == 613
    assert snips.recipe.learning_rate == TEXT_CLASSIFIER_LEARNING_RATE == 1e-4
    assert snips.reasons["learning_rate"] == "0.0001 (this task's default)"
    assert snips.recipe.freeze_embeddings and snips.recipe.ema_momentum == EMA_MOMENTUM
    banking = choose_recipe(BANKING77_LIKE, cpu_bf16="", **TEXT_CLASSIFIER_RULES)
    assert banking.recipe.steps == MAX_EPOCHS * math.ceil(9009 / 32)  # many classes: still the cap
    mine = choose_recipe(SNIPS_LIKE, {"learning_rate": 3e-5}, cpu_bf16="", **TEXT_CLASSIFIER_RULES)
    assert mine.recipe.learning_rate == 3e-5 and mine.reasons["learning_rate"] == "3e-05 (set by you)"


def test_slot_supervised_intent_classifiers_see_each_class_longer():
    from voice_ft.training.auto_recipe import (SLOT_SUPERVISED_PRESENTATIONS_PER_CLASS,
                                               SLOT_SUPERVISED_TEXT_CLASSIFIER_RULES, TEXT_CLASSIFIER_RULES)  # fmt: skip

    plain = choose_recipe(SNIPS_LIKE, cpu_bf16="", **TEXT_CLASSIFIER_RULES)
    slots = choose_recipe(SNIPS_LIKE, cpu_bf16="", **SLOT_SUPERVISED_TEXT_CLASSIFIER_RULES)
    assert slots.recipe.steps == math.ceil(SLOT_SUPERVISED_PRESENTATIONS_PER_CLASS * 7 / 32) == 919
    assert "seen ~4200 times" in slots.reasons["steps"]
    # Everything else is the text classifiers' recipe.
    assert dataclasses.replace(slots.recipe, steps=plain.recipe.steps, steps_per_validation=plain.recipe.steps_per_validation) == plain.recipe
    banking = choose_recipe(BANKING77_LIKE, cpu_bf16="", **SLOT_SUPERVISED_TEXT_CLASSIFIER_RULES)
    assert banking.recipe.steps == MAX_EPOCHS * math.ceil(9009 / 32)  # still the cap


def test_text_classifier_recipe_gives_slot_supervision_its_steps_unless_class_weights_win():
    from voice_ft.training.auto_recipe import SLOT_SUPERVISED_TEXT_CLASSIFIER_RULES, choose_text_classifier_recipe

    slots, supervised = choose_text_classifier_recipe(SNIPS_LIKE, slot_supervised=True, cpu_bf16="")
    assert supervised and slots.recipe == choose_recipe(SNIPS_LIKE, cpu_bf16="", **SLOT_SUPERVISED_TEXT_CLASSIFIER_RULES).recipe
    plain, supervised = choose_text_classifier_recipe(SNIPS_LIKE, cpu_bf16="")
    assert not supervised and (plain.recipe.steps, slots.recipe.steps) == (613, 919)
    # Data imbalanced enough for balanced class weights: the two-output fit cannot take them, so they win.
    skewed = DataProfile.from_label_counts([1000, 1000, 3])
    weighted, supervised = choose_text_classifier_recipe(skewed, slot_supervised=True, cpu_bf16="")
    assert not supervised and weighted.recipe.class_weight == "balanced"
    assert weighted.recipe == choose_text_classifier_recipe(skewed, cpu_bf16="")[0].recipe
    # A user's flags hold either way.
    mine, supervised = choose_text_classifier_recipe(SNIPS_LIKE, {"steps": 100}, slot_supervised=True, cpu_bf16="")
    assert supervised and mine.recipe.steps == 100
