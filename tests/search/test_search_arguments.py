"""Checks of what SimilaritySearch is given (galmorph.search.arguments and its entry points).

Wrong arguments fail with a TypeError/ValueError/IndexError naming the argument (never
an error from numpy, faiss or pathlib), and unknown (NaN) sky positions never give a
wrong answer.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from galmorph.exceptions import GalmorphError
from galmorph.inference.embeddings import METADATA_KEY, Embeddings, feature_columns
from galmorph.search.neighbours import select_neighbours
from galmorph.search.search import SimilaritySearch

ARCSEC = 1 / 3600
N = 20
MakeEmbeddings = Callable[..., Embeddings]


@pytest.fixture
def features() -> np.ndarray:
    return np.random.default_rng(3).normal(size=(N, 4))


@pytest.fixture
def search(features: np.ndarray, make_embeddings: MakeEmbeddings) -> SimilaritySearch:
    """20 galaxies on a line of RA; G3's position is unknown (NaN RA)."""
    ra, dec = np.linspace(10, 20, N), np.zeros(N)
    ra[3] = np.nan
    return SimilaritySearch(make_embeddings(features, ra, dec), "euclidean")


# ------------------------------------------------------------ NaN positions
def test_a_galaxy_without_position_is_never_matched_by_position(
        search: SimilaritySearch) -> None:
    ra = search.embeddings.ra
    assert ra is not None
    for row in (0, 5, 19):
        result = search.by_position(float(ra[row]) + ARCSEC, 0.0, k=3)
        assert result.query["id_str"] == f"G{row}"
        assert len(result.neighbours) == 3


def test_a_galaxy_without_position_has_neighbours_and_is_one(search: SimilaritySearch) -> None:
    result = search.by_id("G3", k=4)
    assert len(result.neighbours) == 4 and 3 not in result.neighbours["row"].tolist()
    assert "ra" not in result.query and "dec" not in result.query  # unknown, not NaN
    everyone = search.by_id("G0", k=N - 1).neighbours["row"].tolist()
    assert sorted(everyone) == list(range(1, N))  # G3 among them: no one's duplicate


def test_unknown_positions_keep_duplicate_removal_of_others(
        make_embeddings: MakeEmbeddings) -> None:
    features = np.array([[0.0, 0], [0.1, 0], [0.2, 0], [0.3, 0], [5, 5]])
    ra = np.array([10.0, 10.0, np.nan, 11.0, 12.0])
    dec = np.array([0.0, ARCSEC, 0.0, 0.0, 0.0])  # G1 is G0 entered twice
    search = SimilaritySearch(make_embeddings(features, ra, dec), "euclidean")
    assert search.by_id("G0", k=3).neighbours["row"].tolist() == [2, 3, 4]
    assert search.by_id("G2", k=4).neighbours["row"].tolist() == [1, 3, 4]  # 0 duplicates 1
    assert select_neighbours(np.array([1, 2, 3]), 3, centre=(np.nan, np.nan), ra=ra,
                             dec=dec) == [1, 2, 3]


def test_embeddings_with_no_known_position_say_so(make_embeddings: MakeEmbeddings,
                                                  features: np.ndarray) -> None:
    search = SimilaritySearch(make_embeddings(features, np.full(N, np.nan), np.zeros(N)))
    with pytest.raises(GalmorphError, match="no galaxy .* has a known position"):
        search.by_position(10.0, 0.0)


@pytest.mark.parametrize(("ra", "dec", "error", "message"), [
    (None, None, TypeError, "ra must be a number, got None"),
    ("abc", 0.0, TypeError, "ra must be a number, got 'abc'"),
    (10.0, "0", TypeError, "dec must be a number"),
    (float("nan"), 0.0, ValueError, "ra must be degrees from 0 up to .* got nan"),
    (360.0, 0.0, ValueError, "ra must be degrees"),
    (-1.0, 0.0, ValueError, "ra must be degrees"),
    (10.0, float("nan"), ValueError, "dec must be degrees from -90 to 90, got nan"),
    (10.0, 90.5, ValueError, "dec must be degrees"),
    (10.0, float("-inf"), ValueError, "dec must be degrees"),
])
def test_query_positions_are_checked(search: SimilaritySearch, ra: Any, dec: Any,
                                     error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        search.by_position(ra, dec)


def test_query_position_accepts_numpy_numbers(search: SimilaritySearch) -> None:
    result = search.by_position(np.float32(15.0), np.int64(0), k=np.int64(2), radius=1e5)
    assert len(result.neighbours) == 2


# ------------------------------------------------------------ the embeddings
def test_search_takes_the_path_of_an_embeddings_file(tmp_path: Path, features: np.ndarray,
                                                     make_embeddings: MakeEmbeddings) -> None:
    from galmorph.inference.outputs import write_table

    emb = make_embeddings(features)
    table = pd.concat([pd.DataFrame({"id_str": emb.ids}),
                       pd.DataFrame(emb.features, columns=feature_columns(4))], axis=1)
    path = write_table(table, tmp_path / "emb.parquet", {METADATA_KEY: emb.info.to_json()})
    expected = SimilaritySearch(emb).by_id("G4", k=5).neighbours["row"].tolist()
    for given in (path, str(path)):
        search = SimilaritySearch(given)
        assert search.embeddings.path == path
        assert search.by_id("G4", k=5).neighbours["row"].tolist() == expected
    with pytest.raises(GalmorphError, match="does not exist"):
        SimilaritySearch(tmp_path / "none.parquet")


@pytest.mark.parametrize("given", [42, None, np.zeros((3, 4))])
def test_search_of_something_else_names_the_argument(given: Any) -> None:
    with pytest.raises(TypeError, match="embeddings must be Embeddings .* or the path"):
        SimilaritySearch(given)


@pytest.mark.parametrize(("radius", "error"), [("x", TypeError), (-1, ValueError),
                                                (float("nan"), ValueError)])
def test_duplicate_radius_is_checked_when_built(features: np.ndarray, radius: Any,
                                                error: type[Exception],
                                                make_embeddings: MakeEmbeddings) -> None:
    with pytest.raises(error, match="duplicate_radius must be"):
        SimilaritySearch(make_embeddings(features), duplicate_radius=radius)


# ------------------------------------------------------------ vectors, k, rows
@pytest.mark.parametrize(("vector", "shape"), [
    (np.zeros(5), r"\(5,\)"), (np.array([]), r"\(0,\)"), (np.zeros((2, 4)), r"\(2, 4\)"),
])
def test_query_vectors_of_another_shape_say_both_shapes(search: SimilaritySearch,
                                                        vector: np.ndarray, shape: str) -> None:
    with pytest.raises(ValueError, match=rf"vector must have shape \(4,\).*got shape {shape}"):
        search.by_vector(vector)


def test_query_vectors_must_be_finite_numbers(search: SimilaritySearch) -> None:
    with pytest.raises(ValueError, match="vector holds 1 NaN"):
        search.by_vector([0.0, np.nan, 1.0, 2.0])
    with pytest.raises(TypeError, match="vector must be an array of 4 numbers"):
        search.by_vector(["a", "b", "c", "d"])
    row = search.embeddings.features[7].tolist()  # type: ignore[union-attr]
    assert search.by_vector(row, k=1).neighbours["row"].tolist() == [7]


@pytest.mark.parametrize(("k", "error"), [(2.5, TypeError), ("3", TypeError),
                                          (None, TypeError), (True, TypeError),
                                          (0, ValueError), (-2, ValueError)])
def test_k_must_be_a_positive_whole_number(search: SimilaritySearch, k: Any,
                                           error: type[Exception]) -> None:
    with pytest.raises(error, match="^k must be"):
        search.by_row(0, k)
    with pytest.raises(error, match="^k must be"):
        search.by_vector(np.ones(4), k)


def test_k_may_be_a_numpy_integer(search: SimilaritySearch) -> None:
    assert len(search.by_row(0, np.int64(3)).neighbours) == 3


@pytest.mark.parametrize("row", [N, 999, -1])
def test_rows_outside_the_embeddings_name_the_range(search: SimilaritySearch, row: int) -> None:
    with pytest.raises(IndexError, match=f"row must be from 0 to {N - 1} .* got {row}"):
        search.by_row(row)


def test_row_must_be_a_whole_number(search: SimilaritySearch) -> None:
    with pytest.raises(TypeError, match="row must be a whole number"):
        search.by_row(1.5)  # type: ignore[arg-type]
    assert search.by_row(np.int32(1), 2).query["row"] == 1


# ------------------------------------------------------------ images
@pytest.mark.parametrize("image", [np.zeros((8, 8)), ["a.jpg"]])
def test_by_image_takes_one_path(search: SimilaritySearch, image: Any) -> None:
    with pytest.raises(TypeError, match="image must be the path .* of one image file"):
        search.by_image(image)


def test_by_image_with_features_of_another_length_says_both(
        search: SimilaritySearch, monkeypatch: pytest.MonkeyPatch) -> None:
    import galmorph.inference.new_images as new_images

    monkeypatch.setattr(new_images, "embed_images",
                        lambda paths, *args, **kwargs: np.zeros((len(paths), 6), np.float32))
    with pytest.raises(GalmorphError, match=r"features of shape \(6,\) .* has \(4,\)"):
        search.by_image("galaxy.jpg")
