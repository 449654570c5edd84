"""The interest features, and galaxies spread over them (the cold start).

:func:`interest_features`: the embeddings' features, reduced to ``pca`` principal
components when they have more (an embeddings file made with ``--pca 40`` is used
as it is), then standardised (each column to zero mean, unit variance);
:func:`fit_interest_features` also gives the :class:`InterestTransform` that puts other
galaxies' features in the same space.

:func:`spread_sample`: the first batch of active learning (no labels yet), spread
over the feature space: the galaxies nearest the k-means centres of a sample.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from galmorph.anomaly.defaults import DEFAULT_PCA, SAMPLE_ROWS
from galmorph.exceptions import GalmorphError

#: Rows sampled to fit the cold-start k-means.
_KMEANS_SAMPLE = 20_000


@dataclass(frozen=True)
class InterestTransform:
    """How embeddings features become interest features (see :func:`fit_interest_features`),
    to put other galaxies' features in the same space.

    Attributes:
        pca: the fitted scikit-learn PCA, or None when the features were used as they are.
        mean, std: ``(d,)`` of the (projected) features the transform was fitted on.
    """

    pca: Any
    mean: np.ndarray
    std: np.ndarray

    def transform(self, features: np.ndarray) -> np.ndarray:
        """``float32 (n, d)`` interest features of ``(n, D)`` embeddings features."""
        x = np.asarray(features, dtype=np.float32)
        if self.pca is not None:
            x = np.concatenate([self.pca.transform(x[s : s + SAMPLE_ROWS])
                                for s in range(0, max(len(x), 1), SAMPLE_ROWS)]
                               ).astype(np.float32)
        return ((x - self.mean) / self.std).astype(np.float32)


def fit_interest_features(features: np.ndarray, pca: int = DEFAULT_PCA, *, seed: int = 0
                          ) -> tuple[np.ndarray, InterestTransform]:
    """Standardised features for the interest model, ``float32 (n, min(pca, D))``, and
    the transform that made them.

    Features with more than ``pca`` columns are first projected on their first
    ``pca`` principal components (fitted on up to 100,000 random rows).
    """
    x = np.asarray(features, dtype=np.float32)
    if x.ndim != 2 or len(x) < 2:
        raise GalmorphError(f"need at least 2 galaxies' features, got shape {x.shape}")
    fitted = None
    if x.shape[1] > pca:
        from sklearn.decomposition import PCA

        rng = np.random.default_rng(seed)
        sample = x[np.sort(rng.choice(len(x), min(len(x), SAMPLE_ROWS), replace=False))]
        fitted = PCA(n_components=min(pca, len(sample)), random_state=seed).fit(sample)
        x = np.concatenate([fitted.transform(x[s : s + SAMPLE_ROWS])
                            for s in range(0, len(x), SAMPLE_ROWS)]).astype(np.float32)
    mean = x.mean(axis=0, dtype=np.float64)
    std = x.std(axis=0, dtype=np.float64)
    std[std == 0] = 1.0
    return ((x - mean) / std).astype(np.float32), InterestTransform(fitted, mean, std)


def interest_features(features: np.ndarray, pca: int = DEFAULT_PCA, *, seed: int = 0) -> np.ndarray:
    """Standardised features for the interest model: ``float32 (n, min(pca, D))`` (see
    :func:`fit_interest_features`).

    Example:
        >>> x = interest_features(np.random.default_rng(0).normal(3, 2, (100, 5)), pca=3)
        >>> x.shape, bool(abs(x.mean()) < 1e-6), bool(abs(x.std() - 1) < 1e-3)
        ((100, 3), True, True)
    """
    return fit_interest_features(features, pca, seed=seed)[0]


def spread_sample(
    x: np.ndarray, k: int, *, candidates: np.ndarray | None = None, seed: int = 0
) -> np.ndarray:
    """``k`` row numbers ``(k,)`` spread over the feature space of ``x`` ``(n, d)``: the
    nearest to the k-means centres of a sample (of the bool ``(n,)`` ``candidates``).

    k-means (``k`` clusters) runs on up to 20,000 random candidate rows.
    """
    from sklearn.cluster import KMeans
    from threadpoolctl import threadpool_limits

    rows = np.arange(len(x)) if candidates is None else np.flatnonzero(candidates)
    k = min(k, len(rows))
    if k == 0:
        return rows[:0]
    rng = np.random.default_rng(seed)
    sample = np.sort(rng.choice(rows, size=min(len(rows), _KMEANS_SAMPLE), replace=False))
    with threadpool_limits(limits=1):
        kmeans = KMeans(n_clusters=k, n_init=1, random_state=seed).fit(x[sample])
    distances = _sq_distances(x[sample], kmeans.cluster_centers_)
    chosen: list[int] = []
    for centre in range(k):
        for candidate in np.argsort(distances[:, centre]):
            if sample[candidate] not in chosen:
                chosen.append(int(sample[candidate]))
                break
    return np.asarray(chosen, dtype=np.int64)


def _sq_distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Squared Euclidean distances ``(len(a), len(b))``."""
    a = a.astype(np.float64)
    b = b.astype(np.float64)
    return np.maximum((a**2).sum(1)[:, None] + (b**2).sum(1)[None] - 2 * a @ b.T, 0.0)
