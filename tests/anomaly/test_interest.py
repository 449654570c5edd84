"""Active learning: expected improvement, and the GP's fast posterior and exact proposals."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from galmorph.anomaly.interest import InterestModel, expected_improvement


# ----------------------------------------------------- expected improvement
def test_expected_improvement_matches_a_hand_computation() -> None:
    # μ=5, σ=1, best=4, ξ=0.5: gain 0.5, z 0.5; Φ(0.5)=0.691462461, φ(0.5)=0.352065327
    assert expected_improvement(np.array([5.0]), np.array([1.0]), 4.0, 0.5)[0] == pytest.approx(
        0.5 * 0.691462461 + 0.352065327, abs=1e-8)
    # μ=3, σ=2, best=5, ξ=0: gain -2, z -1: -2 Φ(-1) + 2 φ(-1) = -2(0.158655254) + 2(0.241970725)
    assert expected_improvement(np.array([3.0]), np.array([2.0]), 5.0, 0.0)[0] == pytest.approx(
        -2 * 0.158655254 + 2 * 0.241970725, abs=1e-8)
    # σ = 0: the plain improvement, never negative
    assert expected_improvement(np.array([5.0, 3.0]), np.zeros(2), 4.0, 0.5).tolist() == [0.5, 0.0]


def test_expected_improvement_grows_with_mean_and_std() -> None:
    mean, std = np.meshgrid(np.linspace(0, 5, 11), np.linspace(0.01, 3, 11))
    ei = expected_improvement(mean, std, 4.0, 0.5)
    assert (np.diff(ei, axis=1) >= 0).all() and (np.diff(ei, axis=0) >= 0).all()


# ------------------------------------------------------------ the GP model
def test_blockwise_posterior_equals_scikit_learn() -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(size=(500, 6))
    y = np.clip(np.round(2 + x[:, 0] + 0.3 * rng.normal(size=500)), 0, 5)
    model = InterestModel(seed=0).fit(x[:60], y[:60])
    mean, std = model.predict(x, return_std=True)
    ref_mean, ref_std = model.gp.predict(x, return_std=True)
    np.testing.assert_allclose(mean, ref_mean, atol=1e-8)
    np.testing.assert_allclose(std, ref_std, atol=1e-8)


def test_propose_returns_the_exact_top_expected_improvement() -> None:
    rng = np.random.default_rng(2)
    x = rng.normal(size=(6000, 8))
    y = np.clip(np.round(2 + 1.5 * x[:, 0] - x[:, 1]), 0, 5)
    labelled = rng.choice(len(x), 80, replace=False)
    model = InterestModel(seed=0).fit(x[labelled], y[labelled])
    candidates = np.ones(len(x), dtype=bool)
    candidates[labelled] = False
    candidates[::7] = False
    proposal = model.propose(x, 10, candidates=candidates, best=5.0, xi=0.5)
    mean, std = model.predict(x, return_std=True)
    ei = np.where(candidates, expected_improvement(mean, std, 5.0, 0.5), -1.0)
    assert proposal.rows.tolist() == np.argsort(-ei, kind="stable")[:10].tolist()
    np.testing.assert_allclose(proposal.acquisition, ei[proposal.rows], rtol=1e-9)
    assert proposal.n_exact < candidates.sum()  # the bound pruned most galaxies


def test_gp_proposes_the_obvious_high_region(blobs: Callable) -> None:
    x, scores = blobs()
    rng = np.random.default_rng(0)
    labelled = np.concatenate([rng.choice(np.arange(20, 300), 30, replace=False), [0]])
    model = InterestModel(seed=0).fit(x[labelled], scores[labelled])
    candidates = np.ones(len(x), dtype=bool)
    candidates[labelled] = False
    proposal = model.propose(x, 10, candidates=candidates, best=5.0, xi=0.0)
    assert (proposal.rows < 20).all()  # all from the high-scoring blob
    assert (proposal.mean > 2.5).all()


def test_a_few_extreme_scores_still_teach_the_model() -> None:
    # The anomaly tutorial's 20 scores (ten 4-5s, ten 0s) on the demo galaxies' interest
    # features (galmorph embed --pca 40 --stages 2 with the shipped starter), and each
    # labelled galaxy's nearest unlabelled neighbour. From the fixed start alone the fit
    # fell to a length scale of 0.11 (the galaxies are ~10 apart): every neighbour was
    # predicted the prior's 0, and proposals came in catalog order.
    data = np.load(Path(__file__).parent / "data" / "tutorial_hunt.npz")
    model = InterestModel(seed=0).fit(data["labelled"], data["scores"])
    predicted = np.asarray(model.predict(data["neighbours"].astype(np.float64)))
    near_interesting = data["neighbour_of_score"] >= 4
    assert predicted[near_interesting].mean() > 2.0
    assert predicted[near_interesting].mean() > predicted[~near_interesting].mean() + 1.5


# ------------------------------------------------------------ input checks
@pytest.fixture(scope="module")
def fitted() -> tuple[InterestModel, np.ndarray]:
    x = np.random.default_rng(3).normal(size=(30, 3))
    return InterestModel(seed=0).fit(x[:10], np.arange(10) % 6), x


def _nan_row(x: np.ndarray) -> np.ndarray:
    bad = x.copy()
    bad[4, 1] = np.nan
    return bad


@pytest.mark.parametrize(("call", "expected"), [
    (lambda m, x: InterestModel().fit(x[:, 0], np.ones(30)),
     r"x must be a 2-D array of numbers of shape \(n, d\) with at least 1 row, got float64 of "
     r"shape \(30,\)"),
    (lambda m, x: InterestModel().fit(x[:0], np.ones(0)), r"with at least 1 row"),
    (lambda m, x: InterestModel().fit(_nan_row(x), np.ones(30)),
     r"x holds NaN or infinite values in 1 row \(e.g. row 4: \[.*, nan, .*\]\)"),
    (lambda m, x: InterestModel().fit(x, np.ones(29)), r"y must be one score per row of x, "
                                                       r"shape \(30,\), got shape \(29,\)"),
    (lambda m, x: InterestModel().fit(x, np.full(30, np.inf)), r"y holds NaN or infinite"),
    (lambda m, x: m.predict(x[:, :2]), r"x must be .* shape \(n, 3\), got float64 of shape "
                                       r"\(30, 2\)"),
    (lambda m, x: m.predict(_nan_row(x)), r"x holds NaN or infinite values in 1 row"),
    (lambda m, x: m.propose(x, 0, best=5.0), r"k must be a whole number of at least 1, got 0"),
    (lambda m, x: m.propose(x, -1, best=5.0), r"k must be a whole number of at least 1, got -1"),
    (lambda m, x: m.propose(x[:, :2], 3, best=5.0), r"x must be .* shape \(n, 3\)"),
    (lambda m, x: m.propose(x, 3, candidates=np.ones(10, dtype=bool), best=5.0),
     r"candidates must be a boolean mask with one value per row of x, shape \(30,\), got bool "
     r"of shape \(10,\)"),
    (lambda m, x: m.propose(x, 3, candidates=np.arange(30) % 2, best=5.0),
     r"candidates must be a boolean mask .* got int64 of shape \(30,\)"),
    (lambda m, x: m.propose(x, 3, candidates=np.zeros(30, dtype=bool), best=5.0),
     r"candidates is all False: no row may be proposed"),
    (lambda m, x: m.propose(x, 3, best=np.nan), r"best must be a finite number, got nan"),
    (lambda m, x: m.propose(x, 3, best=5.0, xi=-1), r"xi must be a finite number of at least 0"),
])
def test_interest_model_checks_its_inputs(fitted: tuple[InterestModel, np.ndarray],
                                          call: Callable, expected: str) -> None:
    with pytest.raises(ValueError, match=expected):
        call(*fitted)


def test_a_candidate_mask_still_limits_proposals(fitted: tuple[InterestModel, np.ndarray]
                                                 ) -> None:
    model, x = fitted
    candidates = np.zeros(len(x), dtype=bool)
    candidates[[3, 17, 25]] = True
    assert sorted(model.propose(x, 5, candidates=candidates, best=5.0).rows.tolist()) == [
        3, 17, 25]
