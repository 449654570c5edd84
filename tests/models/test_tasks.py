"""Output columns of each model task (galmorph.models.tasks): vote fractions with
mixture intervals, class probabilities and regression means."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy import stats
from scipy.special import betainc

from galmorph.data.schemas import get_schema
from galmorph.models.checkpoint import LoadedModel
from galmorph.models.tasks import (
    beta_mixture_quantile,
    classification_columns,
    regression_columns,
    vote_columns,
)

SCHEMA = get_schema("gz2")


@pytest.fixture(scope="module")
def loaded() -> LoadedModel:
    """A loaded GZ2 vote model's description, without the network the column makers never use."""
    metadata = {"task": "votes", "name": "tiny", "schema": SCHEMA.to_dict()}
    return LoadedModel(None, metadata, Path("tiny.pt"))  # type: ignore[arg-type]


# ------------------------------------------------------- mixture intervals
def test_quantile_of_one_beta_is_scipys() -> None:
    a = np.array([[1.0], [2.5], [40.0], [100.0]])
    b = np.array([[1.0], [90.0], [3.0], [100.0]])
    for q in (0.05, 0.5, 0.95):
        np.testing.assert_allclose(
            beta_mixture_quantile(a, b, q), stats.beta.ppf(q, a[:, 0], b[:, 0]), rtol=1e-10
        )


def test_quantile_of_identical_components_is_the_component() -> None:
    a, b = np.full((3, 5), 7.0), np.full((3, 5), 19.0)
    np.testing.assert_allclose(
        beta_mixture_quantile(a, b, 0.95), stats.beta.ppf(0.95, 7.0, 19.0), atol=1e-8
    )


def test_quantile_of_disagreeing_samples_is_the_mixtures() -> None:
    a = np.array([[2.0, 40.0], [5.0, 8.0]])
    b = np.array([[40.0, 2.0], [30.0, 9.0]])
    rng = np.random.default_rng(1)
    for q in (0.05, 0.95):
        x = beta_mixture_quantile(a, b, q)
        np.testing.assert_allclose(betainc(a, b, x[:, None]).mean(1), q, atol=1e-9)
        for row in range(2):
            draws = np.concatenate([rng.beta(a[row, s], b[row, s], 200_000) for s in range(2)])
            assert x[row] == pytest.approx(np.quantile(draws, q), abs=3e-3)
    # two confident samples that disagree: the interval spans both, unlike the
    # interval of the Beta with the mean concentrations (21, 21)
    lo, hi = beta_mixture_quantile(a, b, 0.05)[0], beta_mixture_quantile(a, b, 0.95)[0]
    mean_lo, mean_hi = stats.beta.ppf([0.05, 0.95], 21.0, 21.0)
    assert lo < 0.02 and hi > 0.98
    assert mean_lo > 0.3 and mean_hi < 0.7


def test_quantiles_vectorised_over_many_shapes() -> None:
    rng = np.random.default_rng(2)
    a, b = rng.uniform(1, 101, (50, 7, 4)), rng.uniform(1, 300, (50, 7, 4))
    x = beta_mixture_quantile(a, b, 0.05)
    assert x.shape == (50, 7)
    np.testing.assert_allclose(betainc(a, b, x[..., None]).mean(-1), 0.05, atol=1e-9)


def test_vote_columns_use_the_mixture(loaded: LoadedModel) -> None:
    # galaxy 0's two samples disagree about t01; galaxy 1's agree
    raw = np.full((2, SCHEMA.n_answers, 2), 2.0)
    raw[0, 0:3, 0] = [60.0, 2.0, 1.0]
    raw[0, 0:3, 1] = [2.0, 60.0, 1.0]
    columns = vote_columns(raw, loaded)
    smooth = "t01_smooth_or_features_a01_smooth"
    assert columns[f"{smooth}_fraction"][0] == pytest.approx((60 / 63 + 2 / 63) / 2)
    assert columns[f"{smooth}_concentration"][0] == pytest.approx(31.0)
    lower = columns[f"{smooth}_lower90"][0]
    upper = columns[f"{smooth}_upper90"][0]
    assert lower == pytest.approx(
        beta_mixture_quantile(np.array([60.0, 2.0]), np.array([3.0, 61.0]), 0.05), abs=1e-6
    )
    mean_interval = stats.beta.ppf([0.05, 0.95], 31.0, 32.0)
    assert lower < mean_interval[0] - 0.3 and upper > mean_interval[1] + 0.3
    # agreeing samples: the interval of the single Beta(2, 4) (three answers of 2)
    assert columns[f"{smooth}_lower90"][1] == pytest.approx(stats.beta.ppf(0.05, 2, 4), abs=1e-6)


# ------------------------------------------------------------ other tasks
def test_classification_columns_average_probabilities_over_samples() -> None:
    class Loaded:
        metadata = {"classes": ["a", "b"]}

    raw = np.array([[[0.0, 0.0], [np.log(3), -50.0]]])  # (1 galaxy, 2 classes, 2 samples)
    columns = classification_columns(raw, Loaded())  # type: ignore[arg-type]
    np.testing.assert_allclose(columns["prob_b"], [(0.75 + 0.0) / 2], atol=1e-6)
    np.testing.assert_allclose(columns["prob_a"], [0.625], atol=1e-6)
    assert columns["predicted_label"].tolist() == ["a"]
    values = regression_columns(np.array([[[1.0, 3.0]]]), Loaded())  # type: ignore[arg-type]
    np.testing.assert_allclose(values["prediction"], [2.0])
