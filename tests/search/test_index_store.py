"""Approximate indexes saved beside the embeddings file (galmorph.search.index_store)."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from galmorph.inference.embeddings import Embeddings
from galmorph.search import index_store as index_store_module
from galmorph.search.index import TARGET_RECALL
from galmorph.search.index_store import index_files
from galmorph.search.search import SimilaritySearch

MakeEmbeddings = Callable[..., Embeddings]


@pytest.mark.parametrize("kind", ["ivf", "hnsw"])
def test_approximate_index_is_saved_and_reused(kind: str, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch,
                                               make_embeddings: MakeEmbeddings) -> None:
    features = np.random.default_rng(2).normal(size=(3000, 8)).astype(np.float32)
    source = tmp_path / "emb.parquet"
    source.write_bytes(b"stands in for the embeddings file")
    emb = make_embeddings(features, path=source)
    first = SimilaritySearch(emb, "euclidean", kind)
    index_path, json_path = index_files(source, kind, "euclidean")
    assert index_path.is_file() and json_path.is_file()
    assert first.index.params["calibration_recall_at_10"] >= TARGET_RECALL
    exact = SimilaritySearch(make_embeddings(features), "euclidean", "exact")
    hits = [len(set(first.by_row(r, 10).neighbours["row"]) & set(exact.by_row(r, 10)
                                                                  .neighbours["row"]))
            for r in range(0, 3000, 60)]
    assert np.mean(hits) / 10 >= 0.9

    built: list[str] = []
    real_build = index_store_module.build_index
    monkeypatch.setattr(index_store_module, "build_index",
                        lambda *a, **kw: built.append("x") or real_build(*a, **kw))
    again = SimilaritySearch(emb, "euclidean", kind)
    assert built == [] and again.index.params == first.index.params
    assert again.by_row(7).neighbours.equals(first.by_row(7).neighbours)
    os.utime(source, ns=(0, 0))  # the embeddings changed: the saved index is stale
    SimilaritySearch(emb, "euclidean", kind)
    assert built == ["x"]



def test_an_index_saved_without_its_settings_is_built_again(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, make_embeddings: MakeEmbeddings) -> None:
    features = np.random.default_rng(5).normal(size=(200, 4)).astype(np.float32)
    source = tmp_path / "emb.parquet"
    source.write_bytes(b"stands in for the embeddings file")
    emb = make_embeddings(features, path=source)
    SimilaritySearch(emb, "cosine", "ivf")
    index_path, json_path = index_files(source, "ivf", "cosine")
    settings = json_path.read_text()
    SimilaritySearch(emb, "cosine", "ivf", rebuild=True)
    # a --rebuild-index stopped after the index file was replaced, before its JSON was
    json_path.write_text(settings)
    os.utime(index_path, ns=(1, 1))
    built: list[str] = []
    real_build = index_store_module.build_index
    monkeypatch.setattr(index_store_module, "build_index",
                        lambda *a, **kw: built.append("x") or real_build(*a, **kw))
    SimilaritySearch(emb, "cosine", "ivf")
    assert built == ["x"]
