"""``galmorph reduce``: one PCA over every galaxy of an embeddings folder (or file), fitted a
partition at a time; the projected folder reads and searches as ``embed``'s output does."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from galmorph.cli import main
from galmorph.exceptions import GalmorphError
from galmorph.inference.embedding_folder import open_embeddings
from galmorph.inference.embedding_reduce import reduce_embeddings
from galmorph.inference.embeddings import read_embeddings
from galmorph.inference.pca import fit_pca
from galmorph.search import SimilaritySearch

Split = Callable[[Path, Path, list[int]], Path]


def test_a_folder_is_projected_by_one_pca_of_all_its_galaxies(
    tmp_path: Path, raw_file: Path, split_embeddings: Split
) -> None:
    folder = split_embeddings(raw_file, tmp_path / "emb", [5, 7])
    raw = read_embeddings(raw_file)
    info = reduce_embeddings(folder, tmp_path / "emb3", 3)
    reduced = open_embeddings(tmp_path / "emb3")
    assert info.n_features == 3 and reduced.info.pca is not None
    assert list(reduced.ids) == list(raw.ids)
    expected = fit_pca([raw.features[:5], raw.features[5:]], 3).transform(raw.features)
    np.testing.assert_allclose(reduced.read_features(), expected, atol=1e-4)
    def files(root: Path) -> list[str]:
        return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())

    assert files(tmp_path / "emb3") == files(folder) == ["part=0/emb.parquet",
                                                          "part=1/emb.parquet"]
    search = SimilaritySearch(reduced)  # as embed's output is searched
    assert search.by_id(str(raw.ids[0]), k=2).neighbours["id_str"].iloc[0] != raw.ids[0]


def test_a_file_gives_a_file(tmp_path: Path, raw_file: Path) -> None:
    reduce_embeddings(raw_file, tmp_path / "emb3.parquet", 3)
    reduced = read_embeddings(tmp_path / "emb3.parquet")
    raw = read_embeddings(raw_file)
    np.testing.assert_allclose(reduced.features, fit_pca([raw.features], 3).transform(
        raw.features), atol=1e-4)
    assert reduced.info.model == raw.info.model and reduced.info.feature_dim == 64


def test_what_cannot_be_reduced_is_refused_and_nothing_is_left(
    tmp_path: Path, raw_file: Path, pca_file: Path, split_embeddings: Split
) -> None:
    folder = split_embeddings(raw_file, tmp_path / "emb", [6, 6])
    with pytest.raises(GalmorphError, match="holds 5 PCA components already"):
        reduce_embeddings(pca_file, tmp_path / "x.parquet", 3)
    with pytest.raises(GalmorphError, match="between 1 and 12 .* got 13"):
        reduce_embeddings(folder, tmp_path / "out", 13)
    with pytest.raises(GalmorphError, match="is inside .*emb"):
        reduce_embeddings(folder, folder / "out", 3)
    with pytest.raises(GalmorphError, match="name the output .parquet"):
        reduce_embeddings(raw_file, tmp_path / "x.csv", 3)
    (folder / "part=1" / "emb.parquet").write_bytes(b"PAR1 broken")
    with pytest.raises(GalmorphError):
        reduce_embeddings(folder, tmp_path / "out", 3)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["emb"]  # no half-made folder


def test_the_command_line_says_what_it_kept(tmp_path: Path, raw_file: Path,
                                            split_embeddings: Split,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    folder = split_embeddings(raw_file, tmp_path / "emb", [4, 8])
    assert main(["reduce", str(folder), "-o", str(tmp_path / "emb2"), "--pca", "2"]) == 0
    out = capsys.readouterr().out
    assert "Wrote 2 PCA components of 64 features (" in out and "fitted on 12 galaxies" in out
    assert main(["reduce", str(folder), "-o", str(tmp_path / "emb2"), "--pca", "2"]) == 2
    assert "exists: give a new folder" in capsys.readouterr().err
