"""The 2-D map of embeddings (galmorph.inference.maps): PCA and UMAP layouts, the cache
beside an embeddings file or folder, and a folder's map made a partition at a time.

The embeddings are those of ``tests/inference/conftest.py`` (12 galaxies, 64 raw
features or 5 PCA components); one test runs UMAP (numba compiles it first, ~15 s).
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from galmorph.exceptions import GalmorphError, GalmorphWarning
from galmorph.inference import maps
from galmorph.inference.embedding_folder import open_embeddings
from galmorph.inference.embeddings import read_embeddings
from galmorph.inference.maps import (
    compute_map,
    ensure_map,
    map_path,
    principal_axes,
    read_map,
)

Split = Callable[[Path, Path, list[int]], Path]


class Calls(list):
    """Records ``on_compute(method, n)`` calls."""

    def __call__(self, method: str, n: int) -> None:
        self.append((method, n))


def test_the_pca_map_is_the_first_two_principal_components() -> None:
    from sklearn.decomposition import PCA

    rng = np.random.default_rng(1)
    features = (rng.normal(size=(50, 6)) * [5, 3, 1, 0.5, 0.2, 0.1] + 10).astype(np.float32)
    xy, used = compute_map(features, method="pca")
    assert used == "pca" and xy.shape == (50, 2) and xy.dtype == np.float32
    expected = PCA(2).fit_transform(features.astype(np.float64))
    signs = np.sign(np.sum(xy * expected, axis=0))
    np.testing.assert_allclose(xy * signs, expected, atol=1e-4)
    # blocks of rows, empty ones included, give the same axes as all rows at once
    whole = principal_axes([features], 2)
    parts = principal_axes([features[:20], features[20:20], features[20:]], 2)
    for a, b in zip(whole, parts, strict=True):
        np.testing.assert_allclose(a, b, atol=1e-9)
    np.testing.assert_array_equal(compute_map(features, method="pca")[0], xy)


def test_auto_uses_pca_above_umap_max_and_for_few_galaxies() -> None:
    features = np.random.default_rng(2).normal(size=(30, 5))
    assert compute_map(features, umap_max=29)[1] == "pca"
    assert compute_map(features[:16], method="umap")[1] == "pca"  # too few for 15 neighbours

    one, used = compute_map(features[:1], method="umap")
    assert used == "pca" and one.tolist() == [[0.0, 0.0]]
    two, _ = compute_map(features[:2])
    distance = np.linalg.norm(features[0] - features[1])
    np.testing.assert_allclose(np.abs(two[:, 0]), [distance / 2] * 2, rtol=1e-5)
    assert two[0, 0] == pytest.approx(-two[1, 0]) and two[:, 1].tolist() == [0.0, 0.0]
    line, _ = compute_map(features[:, :1], method="pca")  # one feature: nothing on the second axis
    assert np.all(line[:, 1] == 0) and np.ptp(line[:, 0]) > 0


def test_bad_methods_and_shapes_are_clear_errors() -> None:
    with pytest.raises(GalmorphError, match="unknown map method 'tsne': use one of auto, umap"):
        compute_map(np.ones((5, 3)), method="tsne")
    with pytest.raises(GalmorphError, match=r"must be \(galaxies, features\), got \(5,\)"):
        compute_map(np.ones(5))
    with pytest.raises(GalmorphError, match="no galaxies to map"):
        compute_map(np.ones((0, 3)), method="pca")


def test_umap_separates_two_clusters_and_repeats_with_its_seed() -> None:
    rng = np.random.default_rng(3)
    centres = np.zeros((2, 20))
    centres[0, :5] = centres[1, 5:10] = 4.0
    labels = np.repeat([0, 1], 30)
    features = rng.normal(size=(60, 20)) + centres[labels]
    xy, used = compute_map(features, seed=7)
    assert used == "umap" and xy.shape == (60, 2) and xy.dtype == np.float32
    assert np.isfinite(xy).all()
    centroids = np.stack([xy[labels == k].mean(axis=0) for k in (0, 1)])
    nearest = np.argmin(np.linalg.norm(xy[:, None] - centroids[None], axis=2), axis=1)
    assert (nearest == labels).all()
    gap = np.linalg.norm(centroids[0] - centroids[1])
    spread = max(np.linalg.norm(xy[labels == k] - centroids[k], axis=1).mean() for k in (0, 1))
    assert gap > 3 * spread
    np.testing.assert_array_equal(compute_map(features, seed=7)[0], xy)


def test_the_map_is_cached_beside_the_file_and_reused(raw_file: Path, tmp_path: Path) -> None:
    emb = shutil.copyfile(raw_file, tmp_path / "emb.parquet")
    calls = Calls()
    made = ensure_map(emb, on_compute=calls)
    assert calls == [("pca", 12)] and map_path(emb) == tmp_path / "emb.map.parquet"
    whole = read_embeddings(emb)
    assert made.ids.tolist() == whole.ids.tolist() and made.method == "pca"
    np.testing.assert_array_equal(made.xy, compute_map(whole.features)[0])
    assert made.info["n"] == 12 and made.info["model_sha256"] == whole.info.model["sha256"]

    again = ensure_map(emb, method="pca", on_compute=calls)
    assert len(calls) == 1
    assert again.ids.tolist() == made.ids.tolist() and again.info == made.info
    np.testing.assert_array_equal(again.xy, made.xy)
    cached = read_map(map_path(emb), whole.ids)
    assert cached is not None and cached.xy.dtype == np.float32
    assert pq.read_table(map_path(emb)).column_names == ["id_str", "x", "y"]
    assert read_map(tmp_path / "none.map.parquet") is None

    ensure_map(emb, recompute=True, on_compute=calls)
    assert len(calls) == 2


@pytest.mark.parametrize("change", ["reorder", "drop"])
def test_a_map_of_other_galaxies_is_made_again(raw_file: Path, tmp_path: Path,
                                               change: str) -> None:
    emb = shutil.copyfile(raw_file, tmp_path / "emb.parquet")
    ensure_map(emb)
    table = pq.read_table(emb)
    rows = np.arange(11, -1, -1) if change == "reorder" else np.arange(1, 12)
    pq.write_table(table.take(pa.array(rows)), emb)
    assert read_map(map_path(emb), read_embeddings(emb).ids) is None
    calls = Calls()
    made = ensure_map(emb, on_compute=calls)
    assert calls == [("pca", len(rows))]
    assert made.ids.tolist() == read_embeddings(emb).ids.tolist()


def test_a_map_of_embeddings_made_otherwise_is_made_again(raw_file: Path, pca_file: Path,
                                                           tmp_path: Path) -> None:
    raw = shutil.copyfile(raw_file, tmp_path / "raw.parquet")
    reduced = shutil.copyfile(pca_file, tmp_path / "pca.parquet")
    ensure_map(raw)
    shutil.copyfile(map_path(raw), map_path(reduced))  # same galaxies, other features
    calls = Calls()
    ensure_map(reduced, on_compute=calls)
    assert calls == [("pca", 12)]


def test_a_damaged_map_is_a_clear_error(raw_file: Path, tmp_path: Path) -> None:
    emb = shutil.copyfile(raw_file, tmp_path / "emb.parquet")
    map_path(emb).write_bytes(b"PAR1 not really")
    with pytest.raises(GalmorphError, match="emb.map.parquet is not a readable galmorph map"):
        ensure_map(emb)
    pq.write_table(pa.table({"id_str": ["a"], "x": [1.0], "y": [2.0]}), map_path(emb))
    with pytest.raises(GalmorphError, match="emb.map.parquet is not a readable galmorph map"):
        read_map(map_path(emb))
    ensure_map(emb, recompute=True)
    table = pq.read_table(map_path(emb))
    pq.write_table(table.slice(1).replace_schema_metadata(table.schema.metadata), map_path(emb))
    with pytest.raises(GalmorphError, match="emb.map.parquet is damaged"):
        ensure_map(emb)


def test_the_cache_is_written_atomically(raw_file: Path, tmp_path: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    emb = shutil.copyfile(raw_file, tmp_path / "emb.parquet")
    before = ensure_map(emb)
    kept = map_path(emb).read_bytes()

    def fails(table: pa.Table, where: Path) -> None:
        Path(where).write_bytes(b"half a file")
        raise RuntimeError("disk full")

    monkeypatch.setattr(pq, "write_table", fails)
    with pytest.raises(RuntimeError, match="disk full"):
        ensure_map(emb, recompute=True)
    assert map_path(emb).read_bytes() == kept
    assert sorted(p.name for p in tmp_path.iterdir()) == ["emb.map.parquet", "emb.parquet"]
    monkeypatch.undo()
    np.testing.assert_array_equal(ensure_map(emb).xy, before.xy)


def test_a_map_that_cannot_be_cached_is_returned_with_a_warning(
    raw_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    emb = shutil.copyfile(raw_file, tmp_path / "emb.parquet")

    def read_only(galaxy_map: maps.GalaxyMap, path: Path) -> Path:
        raise PermissionError(f"cannot write {path}")

    monkeypatch.setattr(maps, "write_map", read_only)
    with pytest.warns(GalmorphWarning, match="could not be cached in .*emb.map.parquet"):
        made = ensure_map(emb)
    assert made.xy.shape == (12, 2) and not map_path(emb).exists()


def test_a_folder_is_mapped_a_partition_at_a_time(raw_file: Path, tmp_path: Path,
                                                  split_embeddings: Split) -> None:
    folder = split_embeddings(raw_file, tmp_path / "emb", [5, 0, 7])
    made = ensure_map(folder)
    whole = read_embeddings(raw_file)
    assert map_path(folder) == folder / "_map.parquet" and map_path(folder).is_file()
    assert made.ids.tolist() == whole.ids.tolist() and len(set(made.ids)) == 12
    np.testing.assert_allclose(made.xy, compute_map(whole.features)[0], atol=1e-5)
    parts = open_embeddings(folder)  # the map is not read as a partition
    assert len(parts) == 12 and len(parts.partitions) == 3
    calls = Calls()
    assert read_map(map_path(folder), parts.ids) is not None
    ensure_map(folder, on_compute=calls)
    assert calls == []


def test_a_forced_umap_of_a_large_folder_is_fitted_on_a_sample(
    raw_file: Path, tmp_path: Path, split_embeddings: Split, monkeypatch: pytest.MonkeyPatch,
) -> None:
    table = pq.read_table(raw_file)
    ids = table.column("id_str").to_pylist()
    twice = pa.concat_tables([table, table])
    twice = twice.set_column(twice.schema.get_field_index("id_str"), "id_str",
                             pa.array(ids + [f"{i}b" for i in ids]))
    pq.write_table(twice, tmp_path / "twice.parquet")
    folder = split_embeddings(tmp_path / "twice.parquet", tmp_path / "emb", [10, 14])
    fitted = []

    class FirstTwoFeatures:
        """Stands in for UMAP: a galaxy's first two features are its place."""

        def __init__(self, sample: np.ndarray, seed: int) -> None:
            fitted.append(len(sample))
            self.xy = sample[:, :2]

        def transform(self, features: np.ndarray) -> np.ndarray:
            return features[:, :2]

    monkeypatch.setattr(maps, "_Umap", FirstTwoFeatures)
    made = ensure_map(folder, method="umap", umap_max=17)
    assert fitted == [17] and made.method == "umap"
    assert made.info["parameters"]["fitted_on"] == 17
    np.testing.assert_array_equal(made.xy, open_embeddings(folder).read_features()[:, :2])
    assert made.ids.tolist() == ids + [f"{i}b" for i in ids]
