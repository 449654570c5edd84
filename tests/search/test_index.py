"""Distance metrics, index kinds and calibration (galmorph.search.index)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from galmorph.exceptions import GalmorphError, GalmorphWarning
from galmorph.inference.embeddings import Embeddings
from galmorph.search import index as index_module
from galmorph.search.index import build_index, search_vectors
from galmorph.search.search import SimilaritySearch

MakeEmbeddings = Callable[..., Embeddings]


def test_manhattan_is_exact_only(random_features: np.ndarray,
                                 monkeypatch: pytest.MonkeyPatch,
                                 make_embeddings: MakeEmbeddings) -> None:
    emb = make_embeddings(random_features)
    for kind in ("ivf", "hnsw"):
        with pytest.raises(GalmorphError, match="manhattan metric is searched exactly only"):
            SimilaritySearch(emb, "manhattan", kind)
    monkeypatch.setattr(index_module, "EXACT_MAX_ROWS", 100)
    with pytest.warns(GalmorphWarning, match="manhattan distances are searched exactly"):
        search = SimilaritySearch(emb, "manhattan", "auto")
    assert search.index.kind == "exact"
    assert SimilaritySearch(emb, "cosine", "auto").index.kind == "ivf"


def test_calibration_reaches_its_target() -> None:
    vectors = search_vectors(np.random.default_rng(3).normal(size=(4000, 6)), "cosine")
    index = build_index(vectors, "cosine", "ivf", target_recall=0.99)
    assert index.params["calibration_recall_at_10"] >= 0.99
    assert 1 <= index.params["nprobe"] <= index.params["nlist"]



def test_ivf_index_of_few_galaxies_is_built_silently(capfd: pytest.CaptureFixture[str]) -> None:
    vectors = search_vectors(np.random.default_rng(4).normal(size=(12, 5)), "cosine")
    index = build_index(vectors, "cosine", "ivf")
    assert index.params["nlist"] == 1
    assert sorted(index.search(vectors[:1], 12)[0]) == list(range(12))
    assert "WARNING" not in capfd.readouterr().err  # faiss's k-means warning on stderr
