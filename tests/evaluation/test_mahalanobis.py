"""`ClassGaussians`: the Mahalanobis out-of-scope score, checked against its definition on random data."""

import numpy as np
import pytest

from voice_ft.evaluation.mahalanobis import ClassGaussians
from voice_ft.evaluation.metrics import auroc


def gaussian_classes(rng, n=200, dim=6):
    means = np.array([[4.0] + [0.0] * (dim - 1), [-4.0] + [0.0] * (dim - 1), [0.0, 4.0] + [0.0] * (dim - 2)])
    scale = np.diag(np.linspace(0.5, 2.0, dim))  # unequal variances: a Euclidean distance would rank wrongly
    labels = np.repeat(np.arange(3), n)
    return means[labels] + rng.normal(size=(3 * n, dim)) @ scale, labels, means, scale


def test_distances_follow_the_definition_with_the_pooled_covariance():
    rng = np.random.default_rng(0)
    x, y, _, _ = gaussian_classes(rng)
    x_with_oos, y_with_oos = np.concatenate([x, rng.normal(size=(5, 6)) * 50]), np.concatenate([y, [-1] * 5])
    fitted = ClassGaussians.fit(x_with_oos, y_with_oos, ridge=0.0)  # OOS rows (-1) are left out of the fit
    means = np.stack([x[y == c].mean(0) for c in range(3)])
    np.testing.assert_allclose(fitted.means, means)
    centred = x - means[y]
    sigma = centred.T @ centred / (len(x) - 3)
    probe = rng.normal(size=(7, 6)) * 3
    expected = np.array([[(p - m) @ np.linalg.solve(sigma, p - m) for m in means] for p in probe])
    np.testing.assert_allclose(fitted.distances(probe), expected, rtol=1e-9)
    np.testing.assert_allclose(fitted.score(probe), -expected.min(1), rtol=1e-9)


def test_points_off_every_class_score_below_the_classes_own():
    rng = np.random.default_rng(1)
    x, y, means, scale = gaussian_classes(rng)
    fitted = ClassGaussians.fit(x, y)
    held_out, _, _, _ = gaussian_classes(np.random.default_rng(2), n=50)
    # Off-class inputs where a linear head is still sure: far out along the low-variance last axis.
    off = means[np.arange(150) % 3] + np.eye(6)[5] * 12.0 * scale[5, 5] + rng.normal(size=(150, 6)) @ scale * 0.1
    assert auroc(fitted.score(held_out), fitted.score(off)) > 0.99


def test_bad_fits_are_refused():
    with pytest.raises(ValueError, match=r"\[n, dim\] with one label each"):
        ClassGaussians.fit(np.zeros((4, 2)), [0, 1, 0])
    with pytest.raises(ValueError, match=r"every class 0\.\.2 needs an in-scope embedding, got classes \[0, 2\]"):
        ClassGaussians.fit(np.random.default_rng(0).normal(size=(6, 2)), [0, 2, 0, 2, 0, -1])
    with pytest.raises(ValueError, match="ridge must be >= 0"):
        ClassGaussians.fit(np.zeros((4, 2)), [0, 0, 1, 1], ridge=-1)
