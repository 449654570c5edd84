"""Fixtures shared by the search tests: embeddings of synthetic feature vectors."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from galmorph.inference.embeddings import EmbeddingInfo, Embeddings


def _make_embeddings(features: np.ndarray, ra: np.ndarray | None = None,
                     dec: np.ndarray | None = None, path: Path | None = None) -> Embeddings:
    n, d = features.shape
    info = EmbeddingInfo(model={"spec": "-", "path": "-", "name": "-", "sha256": "-"},
                         encoder="-", feature_dim=d, image={}, n_features=d)
    return Embeddings(ids=np.array([f"G{i}" for i in range(n)], dtype=object),
                      features=features.astype(np.float32), info=info, ra=ra, dec=dec, path=path)


@pytest.fixture
def make_embeddings() -> Callable[..., Embeddings]:
    """Builds :class:`Embeddings` of ``features`` (ids ``G0``, ``G1``, ...), ra/dec and path."""
    return _make_embeddings


@pytest.fixture(scope="module")
def random_features() -> np.ndarray:
    return np.random.default_rng(0).normal(size=(400, 8)) * np.linspace(3, 0.5, 8)
