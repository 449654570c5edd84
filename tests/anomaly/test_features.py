"""The interest features: PCA and standardisation; the cold start's spread sample."""

from __future__ import annotations

import numpy as np

from galmorph.anomaly.features import interest_features, spread_sample


def test_spread_sample_covers_separate_clusters() -> None:
    rng = np.random.default_rng(3)
    centres = np.array([[0, 0], [10, 0], [0, 10]])
    x = np.concatenate([rng.normal(c, 0.5, size=(100, 2)) for c in centres])
    rows = spread_sample(x, 3, seed=0)
    assert sorted(rows // 100) == [0, 1, 2]
    allowed = np.arange(300) >= 100
    assert (spread_sample(x, 5, candidates=allowed, seed=0) >= 100).all()


def test_interest_features_reduce_and_standardise() -> None:
    x = np.random.default_rng(4).normal(size=(200, 12)) * np.arange(1, 13)
    features = interest_features(x, pca=5)
    assert features.shape == (200, 5) and features.dtype == np.float32
    np.testing.assert_allclose(features.std(axis=0), 1, atol=1e-4)
    assert interest_features(x[:, :3], pca=5).shape == (200, 3)
