"""Which galaxies a query is (galmorph.search.matching) and searches with nothing to match.

An image stored twice (its features identical) is found whatever its path; a position
matching no galaxy says how far the nearest is and spots a right ascension in hours.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from galmorph.exceptions import GalmorphError
from galmorph.inference.embeddings import Embeddings
from galmorph.search.index import ExactIndex, search_vectors
from galmorph.search.matching import identical_rows
from galmorph.search.search import SimilaritySearch

ARCSEC = 1 / 3600
MakeEmbeddings = Callable[..., Embeddings]


@pytest.mark.parametrize("metric", ["cosine", "euclidean", "manhattan"])
def test_identical_rows_are_the_same_features_within_round_off(
        random_features: np.ndarray, metric: str) -> None:
    vectors = search_vectors(random_features, metric)
    index = ExactIndex(vectors, metric)
    copy = random_features[[7]] * (1 + 1e-6)  # float32 round-off of a second run
    assert identical_rows(index, vectors, search_vectors(copy, metric)) == [7]
    look_alike = random_features[[7]] + 0.05 * np.abs(random_features[7]).mean()
    assert identical_rows(index, vectors, search_vectors(look_alike, metric)) == []


def test_empty_embeddings_are_refused_when_the_search_is_built(
        make_embeddings: MakeEmbeddings) -> None:
    empty = make_embeddings(np.zeros((0, 4)), ra=np.zeros(0), dec=np.zeros(0))
    with pytest.raises(GalmorphError, match="holds no galaxies: embed a catalog"):
        SimilaritySearch(empty)  # before: by_position raised numpy's ValueError (argmin)


@pytest.fixture
def on_the_sky(random_features: np.ndarray, make_embeddings: MakeEmbeddings) -> SimilaritySearch:
    """400 galaxies 1 arcmin apart along Dec 59 from RA 135."""
    n = len(random_features)
    ra, dec = 135 + np.arange(n) / 60, np.full(n, 59.0)
    return SimilaritySearch(make_embeddings(random_features, ra, dec))


def test_a_right_ascension_in_hours_is_spotted(on_the_sky: SimilaritySearch) -> None:
    with pytest.raises(GalmorphError) as error:
        on_the_sky.by_position(9.0 + 2 / 60 / 15, 59.0)  # G2's RA in hours
    message = str(error.value)
    assert "the nearest is G0 at 54.63 deg" in message  # on the sphere, at Dec 59
    assert "read as hours (135.033333 deg) matches G2: give RA in degrees" in message


def test_a_near_miss_suggests_a_wider_radius(on_the_sky: SimilaritySearch) -> None:
    with pytest.raises(GalmorphError, match="nearest is G3 at 10.0 arcsec: widen the match "
                                            r"radius \(--match-radius\)"):
        on_the_sky.by_position(135 + 3 / 60, 59.0 + 10 * ARCSEC)
    with pytest.raises(GalmorphError, match=r"at 1.00 deg \(3600 arcsec\): check the position"):
        on_the_sky.by_position(135.0, 58.0)


@pytest.mark.parametrize("kind", ["ivf", "hnsw"])
def test_an_approximate_index_of_one_galaxy_says_so(make_embeddings: MakeEmbeddings,
                                                    kind: str) -> None:
    one = make_embeddings(np.ones((1, 4)))
    with pytest.raises(GalmorphError, match=f"approximate {kind} index needs at least 2 "
                                            r"galaxies, got 1: use index='exact' \(--index"):
        SimilaritySearch(one, "cosine", kind)  # before: faiss's AssertionError (k > 0)
    assert len(SimilaritySearch(one).by_id("G0").neighbours) == 0
