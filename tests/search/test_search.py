"""Similarity search queries (galmorph.search.search).

Search is checked on synthetic vectors against brute-force numpy.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
from astropy.coordinates import SkyCoord

from galmorph.exceptions import GalmorphError, GalmorphWarning
from galmorph.inference.embeddings import Embeddings
from galmorph.search.neighbours import angular_separation, select_neighbours
from galmorph.search.search import SimilaritySearch

ARCSEC = 1 / 3600
MakeEmbeddings = Callable[..., Embeddings]


def brute_force(features: np.ndarray, row: int, k: int, metric: str) -> tuple[np.ndarray,
                                                                              np.ndarray]:
    x = features.astype(np.float64)
    q = x[row]
    if metric == "cosine":
        d = 1 - (x @ q) / (np.linalg.norm(x, axis=1) * np.linalg.norm(q))
    elif metric == "euclidean":
        d = np.sqrt(((x - q) ** 2).sum(axis=1))
    else:
        d = np.abs(x - q).sum(axis=1)
    d[row] = np.inf
    order = np.argsort(d, kind="stable")[:k]
    return order, d[order]


@pytest.mark.parametrize("metric", ["cosine", "euclidean", "manhattan"])
def test_exact_search_matches_brute_force(random_features: np.ndarray, metric: str,
                                          make_embeddings: MakeEmbeddings) -> None:
    search = SimilaritySearch(make_embeddings(random_features), metric)
    assert search.index.kind == "exact"
    for row in (0, 17, 399):
        result = search.by_row(row, k=7)
        rows, distances = brute_force(random_features, row, 7, metric)
        assert result.neighbours["row"].tolist() == rows.tolist()
        np.testing.assert_allclose(result.neighbours["distance"], distances, rtol=1e-5, atol=1e-6)
        assert result.neighbours["rank"].tolist() == list(range(1, 8))


def test_excludes_the_query_and_same_object_entries(make_embeddings: MakeEmbeddings) -> None:
    rng = np.random.default_rng(1)
    features = rng.normal(size=(40, 4))
    ra = rng.uniform(100, 200, 40)
    dec = rng.uniform(-10, 10, 40)
    features[1] = features[0] + 1e-4  # the query entered twice, 1 arcsec apart
    ra[1], dec[1] = ra[0], dec[0] + ARCSEC
    features[2] = features[0] + 2e-4  # a look-alike 10 arcsec away: a different object
    ra[2], dec[2] = ra[0], dec[0] + 10 * ARCSEC
    features[3] = features[0] + 3e-4  # another object entered twice (3 and 4, 0.5 arcsec apart)
    features[4] = features[0] + 4e-4
    ra[4], dec[4] = ra[3], dec[3] + 0.5 * ARCSEC
    search = SimilaritySearch(make_embeddings(features, ra, dec), "euclidean")
    rows = search.by_id("G0", k=5).neighbours["row"].tolist()
    assert rows[:2] == [2, 3] and not {0, 1, 4} & set(rows) and len(rows) == 5
    no_sky = SimilaritySearch(make_embeddings(features), "euclidean")
    assert no_sky.by_id("G0", k=4).neighbours["row"].tolist() == [1, 2, 3, 4]


def test_select_neighbours_and_separation() -> None:
    a, b = SkyCoord(150.0, 2.0, unit="deg"), SkyCoord(150.001, 2.0005, unit="deg")
    assert angular_separation(150.0, 2.0, 150.001, 2.0005) == pytest.approx(
        a.separation(b).arcsec, rel=1e-9)
    ra = np.array([10.0, 10.0, 10.0, 10.0])
    dec = np.array([0.0, 5 * ARCSEC, 5.5 * ARCSEC, 20 * ARCSEC])
    picked = select_neighbours(np.array([1, 2, -1, 3]), 3, exclude={0}, centre=(10.0, 0.0),
                               ra=ra, dec=dec)
    assert picked == [1, 3]  # 2 duplicates 1; -1 is padding


def test_query_by_position_and_bad_queries(random_features: np.ndarray,
                                           make_embeddings: MakeEmbeddings) -> None:
    n = len(random_features)
    ra, dec = np.linspace(10, 50, n), np.zeros(n)
    search = SimilaritySearch(make_embeddings(random_features, ra, dec), "cosine")
    result = search.by_position(ra[5] + 2 * ARCSEC, 0.0, k=3)
    assert result.query["id_str"] == "G5"
    assert result.query["separation_arcsec"] == pytest.approx(2.0, rel=1e-3)
    assert 5 not in result.neighbours["row"].tolist()
    with pytest.raises(GalmorphError, match="no galaxy within 5 arcsec.*nearest is G5"):
        search.by_position(ra[5] + 30 * ARCSEC, 0.0)
    with pytest.raises(GalmorphError, match="no galaxy with id 'J1'"):
        search.by_id("J1")
    with pytest.raises(GalmorphError, match="similar ids: G0, G1, G2"):
        search.by_id("G")
    with pytest.raises(GalmorphError, match="no ra/dec"):
        SimilaritySearch(make_embeddings(random_features)).by_position(10.0, 0.0)



def test_all_zero_features_have_no_cosine_direction(make_embeddings: MakeEmbeddings) -> None:
    rng = np.random.default_rng(3)
    features = rng.normal(size=(30, 5))
    features[features[:, 0] < 0, 0] *= -1  # every galaxy on one side: cosine distances < 1
    features[[4, 9]] = 0.0
    with pytest.warns(GalmorphWarning, match=r"2 galaxies .* all-zero features \(e\.g\. 'G4', "
                                             r"'G9'\).*never returned as neighbours"):
        search = SimilaritySearch(make_embeddings(features), "cosine")
    # asked for every other galaxy, it returns the 27 that have a direction, nearest first
    rows = search.by_row(0, k=29).neighbours["row"].tolist()
    expected, _ = brute_force(np.delete(features, [4, 9], axis=0), 0, 27, "cosine")
    assert rows == [r + (r >= 4) + (r >= 8) for r in expected.tolist()]
    with pytest.raises(GalmorphError, match="galaxy 'G9' has all-zero features.*use "
                                            "metric='euclidean'"):
        search.by_id("G9")
    # other metrics measure them as any other point
    assert 4 in SimilaritySearch(make_embeddings(features), "euclidean").by_row(0, k=29) \
        .neighbours["row"].tolist()
