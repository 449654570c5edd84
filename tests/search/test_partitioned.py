"""Search over a folder of embeddings partitions (galmorph.search.partitioned).

Every search of a folder is checked against the same features as one embeddings
file in memory; the IVF build is watched through a faiss index that records what it
is trained on and given.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import faiss
import numpy as np
import pandas as pd
import pytest

from galmorph.exceptions import GalmorphError
from galmorph.inference.embedding_folder import PartitionedEmbeddings, open_embeddings
from galmorph.inference.embeddings import Embeddings
from galmorph.search import index as index_module
from galmorph.search import partitioned as partitioned_module
from galmorph.search.index import TARGET_RECALL
from galmorph.search.index_store import index_files
from galmorph.search.search import SimilaritySearch

MakeEmbeddings = Callable[..., Embeddings]
WritePartitions = Callable[..., Path]
SIZES = [700, 1300, 0, 1000]  # 3000 galaxies; an empty partition too


def _sky(n: int) -> tuple[np.ndarray, np.ndarray]:
    return np.linspace(10, 50, n), np.linspace(-5, 5, n)


def _same_results(a: SimilaritySearch, b: SimilaritySearch, rows: range, k: int = 8) -> None:
    for row in rows:
        pd.testing.assert_frame_equal(a.by_row(row, k).neighbours, b.by_row(row, k).neighbours)


@pytest.fixture(scope="module")
def features() -> np.ndarray:
    return (np.random.default_rng(5).normal(size=(sum(SIZES), 8))
            * np.linspace(3, 0.5, 8)).astype(np.float32)


@pytest.mark.parametrize("metric", ["cosine", "euclidean", "manhattan"])
def test_small_folders_are_searched_exactly_like_their_file(
        metric: str, random_features: np.ndarray, tmp_path: Path,
        make_embeddings: MakeEmbeddings, write_partitions: WritePartitions) -> None:
    ra, dec = _sky(len(random_features))
    folder = write_partitions(random_features, tmp_path / "emb", [150, 100, 150], ra, dec)
    emb = open_embeddings(folder)
    assert isinstance(emb, PartitionedEmbeddings)
    parts = SimilaritySearch(emb, metric)
    whole = SimilaritySearch(make_embeddings(random_features, ra, dec), metric)
    assert parts.index.kind == "exact"
    _same_results(parts, whole, range(0, 400, 37))
    by_position = parts.by_position(ra[170], dec[170], k=5)
    assert by_position.query["id_str"] == "G170"
    assert by_position.neighbours.equals(whole.by_id("G170", k=5).neighbours)


class _Recording(faiss.IndexIVFFlat):
    """An IVF-Flat index that records the vectors it is trained on and given."""

    trained: list[int] = []
    added: list[int] = []

    def train(self, x: np.ndarray) -> None:
        self.trained.append(len(x))
        super().train(x)

    def add(self, x: np.ndarray) -> None:
        self.added.append(len(x))
        super().add(x)


@pytest.mark.parametrize("metric", ["cosine", "euclidean"])
def test_ivf_is_built_a_partition_at_a_time_and_finds_the_exact_neighbours(
        metric: str, features: np.ndarray, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        make_embeddings: MakeEmbeddings, write_partitions: WritePartitions) -> None:
    ra, dec = _sky(len(features))
    folder = write_partitions(features, tmp_path / "emb", SIZES, ra, dec)
    monkeypatch.setattr(index_module, "TRAIN_PER_LIST", 5)
    monkeypatch.setattr(faiss, "IndexIVFFlat", _Recording)
    monkeypatch.setattr(_Recording, "trained", [])
    monkeypatch.setattr(_Recording, "added", [])

    def whole_matrix(self: PartitionedEmbeddings) -> np.ndarray:
        raise AssertionError("the IVF build read every feature at once")

    monkeypatch.setattr(PartitionedEmbeddings, "read_features", whole_matrix)
    parts = SimilaritySearch(open_embeddings(folder), metric, "ivf")
    params = parts.index.params
    assert params["nlist"] == 64 and params["partitions"] == 4
    assert _Recording.trained == [5 * 64] == [params["train_vectors"]]
    assert _Recording.added == [700, 1300, 1000]  # one partition at a time, in row order
    assert params["calibration_recall_at_10"] >= TARGET_RECALL

    whole = SimilaritySearch(make_embeddings(features, ra, dec), metric, "exact")
    found = [len(set(parts.by_row(r, 10).neighbours["row"])
                 & set(whole.by_row(r, 10).neighbours["row"])) for r in range(0, 3000, 50)]
    assert np.mean(found) / 10 >= 0.9
    parts.index.set_effort(params["nlist"])  # every list probed: IVF finds what exact does
    _same_results(parts, whole, range(3, 3000, 211))
    assert parts.by_id("G2999", k=3).neighbours.equals(whole.by_id("G2999", k=3).neighbours)


def test_the_folder_index_is_saved_in_it_and_reused(
        features: np.ndarray, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        make_embeddings: MakeEmbeddings, write_partitions: WritePartitions) -> None:
    folder = write_partitions(features, tmp_path / "emb", SIZES)
    monkeypatch.setattr(index_module, "EXACT_MAX_ROWS", 1000)  # auto: IVF above it
    messages: list[str] = []
    first = SimilaritySearch(open_embeddings(folder), "euclidean", notify=messages.append)
    index_path, json_path = index_files(folder, "ivf", "euclidean")
    assert index_path == folder / "_index.ivf-euclidean.faiss" and json_path.is_file()
    assert first.index.kind == "ivf" and "building the ivf index of 3,000 galaxies" in messages[0]

    built: list[str] = []
    real_build = partitioned_module.build_partitioned_index
    monkeypatch.setattr(partitioned_module, "build_partitioned_index",
                        lambda *a, **kw: built.append("x") or real_build(*a, **kw))
    again = SimilaritySearch(open_embeddings(folder), "euclidean")
    assert built == [] and again.index.params == first.index.params
    _same_results(again, first, range(0, 3000, 499))  # vectors read back from the saved index
    os.utime(folder / "Norder=1/Dir=0/Npix=1.parquet", ns=(0, 0))  # a partition changed
    SimilaritySearch(open_embeddings(folder), "euclidean")
    assert built == ["x"]


def test_index_kinds_a_folder_refuses(features: np.ndarray, tmp_path: Path,
                                      monkeypatch: pytest.MonkeyPatch,
                                      write_partitions: WritePartitions) -> None:
    emb = open_embeddings(write_partitions(features[:300], tmp_path / "emb", [100, 200]))
    with pytest.raises(GalmorphError,
                       match=r"folder of partitions.*use index='ivf' \(--index ivf\)"):
        SimilaritySearch(emb, "cosine", "hnsw")
    with pytest.raises(GalmorphError, match="manhattan metric is searched exactly only"):
        SimilaritySearch(emb, "manhattan", "ivf")
    monkeypatch.setattr(index_module, "EXACT_MAX_ROWS", 100)
    with pytest.raises(GalmorphError, match="would hold the features of all 300 galaxies"):
        SimilaritySearch(emb, "manhattan")
    assert SimilaritySearch(emb, "manhattan", "exact").index.kind == "exact"
    single = open_embeddings(write_partitions(features[:1], tmp_path / "one", [1]))
    with pytest.raises(GalmorphError, match="needs at least 2 galaxies"):
        SimilaritySearch(single, "cosine", "ivf")


def test_a_folder_ivf_of_few_galaxies_is_built_silently(
        features: np.ndarray, tmp_path: Path, capfd: pytest.CaptureFixture[str],
        write_partitions: WritePartitions) -> None:
    folder = write_partitions(features[:30], tmp_path / "emb", [12, 18])
    search = SimilaritySearch(open_embeddings(folder), "cosine", "ivf")
    assert len(search.by_row(0, 29).neighbours) == 29
    assert "WARNING" not in capfd.readouterr().err  # faiss's k-means warning on stderr
