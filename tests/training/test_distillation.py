"""Distiller: the loss against a numpy reference, and that the student follows the teacher, not the labels."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import voice_ft
from voice_ft.training.distillation import Distiller, distillation_loss


def softmax(z):
    e = np.exp(z - z.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def test_distillation_loss_matches_numpy_kl():
    rng = np.random.default_rng(0)
    teacher, student = rng.normal(size=(5, 4)) * 3, rng.normal(size=(5, 4))
    t = 2.5
    p, q = softmax(teacher / t), softmax(student / t)
    expected = np.mean(np.sum(p * (np.log(p) - np.log(q)), -1)) * t**2
    got = float(distillation_loss(teacher.astype("float32"), student.astype("float32"), t))
    assert got == pytest.approx(expected, rel=1e-5)
    assert float(distillation_loss(teacher.astype("float32"), teacher.astype("float32"), t)) == pytest.approx(0.0, abs=1e-6)


def linear_model(seed, features=8, classes=3):
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((features,))
    return keras.Model(inputs, keras.layers.Dense(classes)(inputs))


@pytest.mark.parametrize("alpha, follows", [(0.0, "teacher"), (1.0, "labels")])
def test_student_follows_teacher_or_labels(alpha, follows):
    rng = np.random.default_rng(1)
    x = rng.normal(size=(512, 8)).astype("float32")
    teacher = linear_model(seed=2)
    teacher_classes = teacher.predict(x, verbose=0).argmax(-1)
    wrong_labels = (teacher_classes + 1) % 3  # every label disagrees with the teacher
    teacher_weights = [w.numpy().copy() for w in teacher.weights]

    distiller = Distiller(linear_model(seed=3), teacher, temperature=2.0, alpha=alpha)
    data = tf.data.Dataset.from_tensor_slices((x, wrong_labels)).batch(32)
    voice_ft.fit(distiller, data, recipe=voice_ft.Recipe(epochs=30, learning_rate=5e-2, weight_decay=0.0), verbose=0)

    student_classes = distiller.student.predict(x, verbose=0).argmax(-1)
    target = teacher_classes if follows == "teacher" else wrong_labels
    assert np.mean(student_classes == target) > 0.9
    for before, after in zip(teacher_weights, teacher.weights):  # the teacher never trains
        np.testing.assert_array_equal(before, after.numpy())


def test_distiller_rejects_mismatched_classes_and_bad_settings():
    with pytest.raises(ValueError, match="3 classes but the teacher 4"):
        Distiller(linear_model(0, classes=3), linear_model(1, classes=4))
    with pytest.raises(ValueError, match="temperature"):
        Distiller(linear_model(0), linear_model(1), temperature=0)
    with pytest.raises(ValueError, match="alpha"):
        Distiller(linear_model(0), linear_model(1), alpha=1.5)
