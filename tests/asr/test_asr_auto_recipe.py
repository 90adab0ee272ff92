"""choose_asr_recipe: the steps follow the number of training clips, within one and 20 epochs; flags win."""

import math

from voice_ft.asr.auto_recipe import ASR_MAX_EPOCHS, ASR_PRESENTATIONS, choose_asr_recipe


def test_the_steps_present_a_set_number_of_clips_within_the_epoch_bounds():
    assert choose_asr_recipe(602).recipe.steps == math.ceil(ASR_PRESENTATIONS / 16)  # 150: the measured spoken-SNIPS run
    few = choose_asr_recipe(40)  # 3 batches a pass: capped
    assert few.recipe.steps == ASR_MAX_EPOCHS * 3 and f"at most {ASR_MAX_EPOCHS} epochs" in few.reasons["steps"]
    many = choose_asr_recipe(20_000)  # more than the presentations: one pass
    assert many.recipe.steps == math.ceil(20_000 / 16) and "at least one epoch" in many.reasons["steps"]
    assert choose_asr_recipe(40).recipe.steps < choose_asr_recipe(602).recipe.steps < many.recipe.steps


def test_validated_a_few_times_with_early_stopping_at_the_measured_rate():
    recipe = choose_asr_recipe(602).recipe
    assert recipe.steps_per_validation == math.ceil(150 / 4) and recipe.early_stopping_patience is not None
    assert recipe.learning_rate == 5e-5 and recipe.batch_size == 16 and recipe.head_learning_rate_multiplier == 1.0


def test_the_flags_and_the_trainer_defaults_win():
    choice = choose_asr_recipe(602, {"epochs": 3, "early_stopping_patience": None}, {"batch_size": 8})
    assert choice.recipe.steps is None and choice.recipe.epochs == 3
    assert choice.recipe.early_stopping_patience is None and "set by you" in choice.reasons["early_stopping_patience"]
    assert choose_asr_recipe(602, None, {"batch_size": 8}).recipe.steps == ASR_PRESENTATIONS // 8
    assert choose_asr_recipe(602, replicas=2).recipe.steps == math.ceil(ASR_PRESENTATIONS / 32)  # global batch
