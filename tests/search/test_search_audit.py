"""Similarity search: cases found in an audit (large k with an approximate index)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from galmorph.inference.embedding_folder import open_embeddings
from galmorph.inference.embeddings import Embeddings
from galmorph.search.search import SimilaritySearch

MakeEmbeddings = Callable[..., Embeddings]


def test_ivf_returns_every_neighbour_asked_for(random_features: np.ndarray,
                                               make_embeddings: MakeEmbeddings) -> None:
    """A k beyond what the probed IVF lists hold is not cut short."""
    search = SimilaritySearch(make_embeddings(random_features), "euclidean", "ivf")
    assert search.index.params["nprobe"] < search.index.params["nlist"]
    k = len(random_features) - 1
    result = search.by_row(5, k)
    distances = np.linalg.norm(random_features - random_features[5], axis=1)
    distances[5] = np.inf
    assert result.neighbours["row"].tolist() == np.argsort(distances, kind="stable")[:k].tolist()
    assert search.index.params["nprobe"] == search.index.effort  # the setting is unchanged


def test_folder_ivf_returns_every_neighbour_asked_for(
    random_features: np.ndarray, tmp_path: Path, write_partitions: Callable[..., Path],
) -> None:
    """The same for a folder of partitions, whose IVF index is built a partition at a time."""
    folder = write_partitions(random_features, tmp_path / "emb", [150, 250])
    search = SimilaritySearch(open_embeddings(folder), "cosine", "ivf")
    assert search.index.params["nprobe"] < search.index.params["nlist"]
    result = search.by_row(0, 300)
    assert len(result.neighbours) == 300
    assert result.neighbours["distance"].is_monotonic_increasing


def test_cosine_refuses_a_zero_query_vector(random_features: np.ndarray,
                                            make_embeddings: MakeEmbeddings) -> None:
    """A zero vector has no angle to anything: no made-up distance of 0.5 to every galaxy."""
    emb = make_embeddings(random_features)
    with pytest.raises(ValueError, match="all zeros"):
        SimilaritySearch(emb, "cosine").by_vector(np.zeros(random_features.shape[1]))
    result = SimilaritySearch(emb, "euclidean").by_vector(np.zeros(random_features.shape[1]), 1)
    assert len(result.neighbours) == 1


def test_a_search_prints_in_one_line_and_takes_one_id(random_features: np.ndarray,
                                                     make_embeddings: MakeEmbeddings) -> None:
    search = SimilaritySearch(make_embeddings(random_features[:50]))
    assert repr(search) == ("SimilaritySearch(50 galaxies, metric='cosine', index='exact', "
                            "path=None)")
    with pytest.raises(TypeError, match="galaxy_id is one id .a str., not a list; for "
                                        "galaxies like several, use like_examples"):
        search.by_id(["G0"])  # type: ignore[arg-type]
