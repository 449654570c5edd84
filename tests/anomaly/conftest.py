"""Fixtures of the anomaly tests: tiny embeddings files and 2-D point clouds.

- ``write_embeddings(path, features, ids=None, model="none", **info)``: writes a minimal
  embeddings parquet file (no model needed; ``model`` names the one it records, with
  a sha256 of its own; ``info``: other :class:`EmbeddingInfo` fields, such as
  ``stages=(2,)``) and returns its path.
- ``blobs(n=300, seed=0)``: 2-D points, a broad cloud plus a small far blob whose
  galaxies score 5 (others 0-1); returns the points and the scores.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from galmorph.inference.embeddings import METADATA_KEY, EmbeddingInfo, feature_columns
from galmorph.inference.outputs import write_table


def write_embeddings(path: Path, features: np.ndarray, ids: list[str] | None = None,
                     model: str = "none", **info: Any) -> Path:
    """A minimal embeddings parquet file (no model needed), said to be made by ``model``
    (and as ``info`` says: other :class:`EmbeddingInfo` fields)."""
    ids = ids or [f"G{i:03d}" for i in range(len(features))]
    sha256 = "0" if model == "none" else hashlib.sha256(model.encode()).hexdigest()
    made = EmbeddingInfo(**{
        "model": {"spec": model, "path": model, "name": model, "sha256": sha256},
        "encoder": "none", "feature_dim": features.shape[1], "image": {},
        "n_features": features.shape[1], **info})
    frame = pd.DataFrame(features.astype(np.float32), columns=feature_columns(features.shape[1]))
    frame.insert(0, "id_str", ids)
    return write_table(frame, path, {METADATA_KEY: made.to_json()})


def blobs(n: int = 300, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """2-D points: a broad cloud plus a small far blob whose galaxies score 5 (others 0-1)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 2))
    special = np.arange(n) < n // 15
    x[special] = rng.normal(loc=(4.0, 4.0), scale=0.3, size=(int(special.sum()), 2))
    scores = np.where(special, 5.0, rng.integers(0, 2, n).astype(float))
    return x, scores


@pytest.fixture(name="write_embeddings")
def write_embeddings_fixture() -> Callable[..., Path]:
    """:func:`write_embeddings`, for the tests."""
    return write_embeddings


@pytest.fixture(name="blobs")
def blobs_fixture() -> Callable[..., tuple[np.ndarray, np.ndarray]]:
    """:func:`blobs`, for the tests."""
    return blobs
