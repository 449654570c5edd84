"""The PCA an embeddings file may hold: fitted a chunk at a time, stored as plain data.

:func:`fit_pca` fits a :class:`PCAProjection` (sklearn's IncrementalPCA) over the
features of a catalog without holding them all in memory;
:class:`~galmorph.inference.embeddings.EmbeddingInfo` stores it, so that new galaxies'
features project into the same space (:meth:`PCAProjection.transform`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from galmorph.exceptions import GalmorphError


@dataclass(frozen=True)
class PCAProjection:
    """A fitted PCA: ``(features - mean) @ components.T``, as sklearn's IncrementalPCA.

    Attributes:
        components: ``(n_components, feature_dim)`` unit principal axes, by
            decreasing variance.
        mean: ``(feature_dim,)`` mean of the fitted features.
        explained_variance: ``(n_components,)`` variance along each axis.
        explained_variance_ratio: ``(n_components,)`` fraction of the total variance.
        n_samples_seen: galaxies it was fitted on.
    """

    components: np.ndarray
    mean: np.ndarray
    explained_variance: np.ndarray
    explained_variance_ratio: np.ndarray
    n_samples_seen: int

    @property
    def n_components(self) -> int:
        return int(self.components.shape[0])

    def transform(self, features: np.ndarray) -> np.ndarray:
        """Project ``(n, feature_dim)`` features to ``float32 (n, n_components)``."""
        features = np.asarray(features, dtype=np.float64)
        if features.ndim != 2 or features.shape[1] != self.mean.shape[0]:
            raise ValueError(
                f"expected features of shape (n, {self.mean.shape[0]}), got {features.shape}"
            )
        return ((features - self.mean) @ self.components.T).astype(np.float32)

    def to_dict(self) -> dict[str, Any]:
        """Plain-data form (lists of floats; exact: float64 reprs round-trip)."""
        return {
            "n_components": self.n_components, "components": self.components.tolist(),
            "mean": self.mean.tolist(), "explained_variance": self.explained_variance.tolist(),
            "explained_variance_ratio": self.explained_variance_ratio.tolist(),
            "n_samples_seen": self.n_samples_seen,
        }

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> PCAProjection:
        """Inverse of :meth:`to_dict`."""
        arrays = {name: np.asarray(values[name], dtype=np.float64) for name in
                  ("components", "mean", "explained_variance", "explained_variance_ratio")}
        return cls(**arrays, n_samples_seen=int(values["n_samples_seen"]))


def fit_pca(chunks: Iterable[np.ndarray], n_components: int) -> PCAProjection:
    """Fit an IncrementalPCA over chunks of ``(rows, feature_dim)`` features.

    Memory holds at most the chunk being fitted (the first chunks are merged
    until there are ``n_components`` rows, which the first fit needs).

    Raises:
        GalmorphError: when there are fewer galaxies or features than components.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> fit_pca([rng.normal(size=(50, 8)), rng.normal(size=(30, 8))], 3).n_samples_seen
        80
    """
    from sklearn.decomposition import IncrementalPCA

    ipca = IncrementalPCA(n_components=n_components)
    pending: list[np.ndarray] = []
    fitted = False
    for chunk in chunks:
        if chunk.shape[1] < n_components:
            raise GalmorphError(f"cannot keep {n_components} PCA components of "
                                f"{chunk.shape[1]} features")
        pending.append(chunk)
        if fitted or sum(len(c) for c in pending) >= n_components:
            ipca.partial_fit(np.concatenate(pending).astype(np.float64, copy=False))
            pending, fitted = [], True
    if not fitted:
        rows = sum(len(c) for c in pending)
        raise GalmorphError(f"PCA with {n_components} components needs at least that many "
                            f"galaxies; there are {rows}")
    return PCAProjection(ipca.components_, ipca.mean_, ipca.explained_variance_,
                         ipca.explained_variance_ratio_, int(ipca.n_samples_seen_))
