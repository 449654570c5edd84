"""The embeddings file (galmorph.inference.embeddings): PCA fits and projections, and the
checks of its rows (ids, feature values and types) when it is read.

The embeddings files come from ``tests/inference/conftest.py``, or are tiny ones made here.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sklearn.decomposition import IncrementalPCA

from galmorph.exceptions import GalmorphError
from galmorph.inference.embedding_folder import read_embedding_folder
from galmorph.inference.embeddings import METADATA_KEY, EmbeddingInfo, read_embeddings
from galmorph.inference.pca import fit_pca

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


# --------------------------------------------------------- checks of the rows
def _tiny_file(path: Path, edit: Callable[[dict[str, list[Any]]], None] | None = None) -> Path:
    """A 4-galaxy embeddings file (2 features), its columns changed by ``edit`` first."""
    columns: dict[str, list[Any]] = {"id_str": ["a", "b", "c", "d"],
                                     "feat_0": [0.0, 1.0, 2.0, 3.0],
                                     "feat_1": [1.0, 1.0, 0.0, 0.0]}
    if edit is not None:
        edit(columns)
    info = EmbeddingInfo(model={"spec": "m", "path": "m", "name": "m", "sha256": "1"},
                         encoder="none", feature_dim=2, image={}, n_features=2)
    table = pa.table(columns).replace_schema_metadata({METADATA_KEY: info.to_json()})
    pq.write_table(table, path)
    return path


def _set(column: str, row: int, value: Any) -> Callable[[dict[str, list[Any]]], None]:
    return lambda columns: columns[column].__setitem__(row, value)


@pytest.mark.parametrize(("edit", "expected"), [
    (_set("feat_1", 2, float("nan")), "features must be finite numbers (within float32's "
                                      "range), but are NaN, infinite or empty in 1 row: "
                                      "row 2 (c): feat_1 = nan"),
    (_set("feat_0", 3, float("-inf")), "row 3 (d): feat_0 = -inf"),
    (_set("feat_0", 1, None), "row 1 (b): feat_0 = nan"),  # an empty cell
    (_set("feat_0", 0, 1e300), "row 0 (a): feat_0 = inf"),  # beyond float32
    (_set("id_str", 3, "b"), "id_str must be unique; 1 id repeated: b (rows 1, 3)"),
    (_set("id_str", 2, None), "column 'id_str' is empty in 1 row: row 2"),
    (_set("id_str", 0, "  "), "column 'id_str' is empty in 1 row: row 0"),
    (lambda c: c.update(feat_1=["1", "x", "0", "0"]),
     "feature columns must hold numbers; not numeric: feat_1 (string)"),
])
def test_read_embeddings_refuses_bad_rows_naming_them(tmp_path: Path, edit: Callable,
                                                      expected: str) -> None:
    path = _tiny_file(tmp_path / "emb.parquet", edit)
    with pytest.raises(GalmorphError) as raised:
        read_embeddings(path)
    assert str(path) in str(raised.value) and expected in str(raised.value)


def test_read_embeddings_reads_number_ids_as_text(tmp_path: Path) -> None:
    emb = read_embeddings(_tiny_file(tmp_path / "emb.parquet",
                                     lambda c: c.update(id_str=[10, 11, 12, 13])))
    assert emb.ids.tolist() == ["10", "11", "12", "13"] and emb.row_of("12") == 2


def test_a_folder_partition_with_bad_rows_is_named(tmp_path: Path) -> None:
    folder = tmp_path / "emb"
    folder.mkdir()
    _tiny_file(folder / "p0.parquet")
    bad = _tiny_file(folder / "p1.parquet", lambda c: c.update(
        id_str=["e", "f", "g", "h"], feat_0=[0.0, float("inf"), 0.0, 0.0]))
    emb = read_embedding_folder(folder)
    with pytest.raises(GalmorphError, match=r"p1.parquet: features must be finite .* row 1: "):
        emb.read_features()
    _tiny_file(bad, _set("id_str", 1, "a"))  # ids are checked as each partition is opened
    _tiny_file(folder / "p0.parquet", _set("id_str", 2, "a"))
    with pytest.raises(GalmorphError, match=r"p0.parquet: id_str must be unique; .*a \(rows 0, 2"):
        read_embedding_folder(folder)


def test_embeddings_and_models_show_as_one_line_in_a_notebook(
    raw_file: Path, pca_file: Path, model_path: Path
) -> None:
    from galmorph.models.checkpoint import load_model

    raw, reduced = read_embeddings(raw_file), read_embeddings(pca_file)
    n_raw = raw.features.shape[1]
    assert repr(raw) == (f"Embeddings({N_GALAXIES} galaxies x {n_raw} features, "
                         f"model='tiny', path={str(raw_file)!r})")
    assert repr(reduced).startswith(
        f"Embeddings({N_GALAXIES} galaxies x {reduced.features.shape[1]} features, "
        f"PCA of {n_raw}, model=")
    loaded = load_model(model_path)
    assert repr(loaded) == (f"LoadedModel(name='tiny', task='votes', "
                            f"encoder='test_convnext', path={str(model_path)!r})")
