"""The embeddings file (galmorph.inference.embeddings): PCA fits and projections.

The embeddings files come from ``tests/inference/conftest.py``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from sklearn.decomposition import IncrementalPCA

from galmorph.exceptions import GalmorphError
from galmorph.inference.embeddings import fit_pca, read_embeddings

N_GALAXIES = 12  # galaxies of the catalog fixture


def test_pca_features_are_the_projection_of_the_raw_ones(raw_file: Path, pca_file: Path) -> None:
    raw, reduced = read_embeddings(raw_file), read_embeddings(pca_file)
    pca = reduced.info.pca
    assert pca is not None and reduced.features.shape == (N_GALAXIES, 5)
    assert pca.components.shape == (5, 64) and pca.n_samples_seen == N_GALAXIES
    assert reduced.info.feature_dim == 64 and reduced.info.n_features == 5
    assert np.all(np.diff(pca.explained_variance) <= 0)
    np.testing.assert_allclose(reduced.features, pca.transform(raw.features), atol=1e-5)
    np.testing.assert_allclose(reduced.project(raw.features), reduced.features, atol=1e-5)


def test_fit_pca_over_chunks_matches_sklearn() -> None:
    rng = np.random.default_rng(0)
    data = rng.normal(size=(60, 6)) * np.array([5, 3, 2, 1, 0.5, 0.1])
    chunks = [data[:2], data[2:30], data[30:]]  # the first is smaller than n_components
    mine = fit_pca(chunks, 3)
    reference = IncrementalPCA(n_components=3).partial_fit(data[:30]).partial_fit(data[30:])
    np.testing.assert_allclose(mine.transform(data), reference.transform(data), atol=1e-5)
    np.testing.assert_allclose(mine.explained_variance, reference.explained_variance_)
    with pytest.raises(GalmorphError, match="at least that many galaxies"):
        fit_pca([data[:2]], 3)
