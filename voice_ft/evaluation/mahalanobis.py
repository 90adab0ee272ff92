"""Mahalanobis distance on a classifier's sentence embedding, as an out-of-scope score, in numpy.

Why: the max softmax and the logit energy (`voice_ft.runtime.rejection`) look only at the logits;
Lee et al. (2018) score an input by how far its embedding (the head's input) lies from the nearest
class, with class-conditional Gaussians of one shared covariance fitted on the training split.
Issue 14 asks for such distance scores where they measure better; `bench/oos.py` measures this one
against the logit scores on the same validation rows (the rule that picks a shipped score,
`calibrate_logits(score="auto")`, compares AUROCs the same way).

Definitions: mu_c the mean embedding of class c, Sigma the covariance of the training embeddings
around their class means (pooled over classes) plus `ridge` times its mean variance on the
diagonal (the embedding has hundreds of dimensions and a class only a few hundred examples);
distance d(x) = min_c (x - mu_c)^T Sigma^-1 (x - mu_c); score -d(x), so that, as for the other
scores, a higher score means more in scope.
"""

from __future__ import annotations

import dataclasses

import numpy as np

DEFAULT_RIDGE = 1e-3


@dataclasses.dataclass(frozen=True)
class ClassGaussians:
    """Class means [classes, dim] and the whitening matrix W (Sigma^-1 = W W^T) of their shared covariance."""

    means: np.ndarray
    whitening: np.ndarray

    @classmethod
    def fit(cls, embeddings, labels, ridge: float = DEFAULT_RIDGE) -> ClassGaussians:
        """Fits the means and the shared covariance on labelled embeddings (label ids 0..classes-1;
        negative ids, out-of-scope rows, are left out)."""
        x, y = np.asarray(embeddings, np.float64), np.asarray(labels).astype(np.int64)
        if x.ndim != 2 or len(x) != len(y):
            raise ValueError(f"embeddings must be [n, dim] with one label each, got {x.shape} and {y.shape}")
        if ridge < 0:
            raise ValueError(f"ridge must be >= 0, got {ridge}")
        x, y = x[y >= 0], y[y >= 0]
        classes = np.unique(y)
        if len(classes) == 0 or not np.array_equal(classes, np.arange(classes.max() + 1)):
            raise ValueError(f"every class 0..{int(y.max()) if len(y) else -1} needs an in-scope embedding, "
                             f"got classes {classes.tolist()}")  # fmt: skip
        means = np.stack([x[y == c].mean(axis=0) for c in classes])
        centred = x - means[y]
        covariance = centred.T @ centred / max(len(x) - len(classes), 1)
        covariance += ridge * np.trace(covariance) / len(covariance) * np.eye(len(covariance))
        whitening = np.linalg.cholesky(np.linalg.inv(covariance))  # Sigma^-1 = W W^T
        return cls(means, whitening)

    def distances(self, embeddings) -> np.ndarray:
        """Squared Mahalanobis distance of each embedding to each class mean, [n, classes]."""
        z = np.asarray(embeddings, np.float64) @ self.whitening
        m = self.means @ self.whitening
        return np.maximum((z * z).sum(1, keepdims=True) - 2.0 * z @ m.T + (m * m).sum(1), 0.0)

    def score(self, embeddings) -> np.ndarray:
        """-min_c distance: higher means nearer a class (more in scope)."""
        return -self.distances(embeddings).min(axis=1)
