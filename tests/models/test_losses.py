"""Dirichlet-multinomial loss: agreement with scipy, zero-vote questions, reductions."""

from __future__ import annotations

import doctest

import numpy as np
import pytest
import torch
from scipy.stats import dirichlet_multinomial

from galmorph.data.schemas import get_schema
from galmorph.models import losses
from galmorph.models.losses import dirichlet_multinomial_nll, vote_loss

GROUPS = get_schema("gz2-no-odd").question_index_groups  # 9 questions, 28 answers
N_ANSWERS = GROUPS[-1][1]


def _random_votes(rng: np.random.Generator, n: int, high: int) -> np.ndarray:
    """Counts up to ``high`` with about a third of the questions unasked (all zero)."""
    counts = rng.integers(0, high, size=(n, N_ANSWERS)).astype(np.float64)
    for start, stop in GROUPS:
        counts[rng.random(n) < 0.3, start:stop] = 0
    return counts


def _scipy_nll(counts: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    out = np.zeros((len(counts), len(GROUPS)))
    for q, (start, stop) in enumerate(GROUPS):
        x, a = counts[:, start:stop], alpha[:, start:stop]
        n = x.sum(1)
        answered = n > 0
        out[answered, q] = -dirichlet_multinomial.logpmf(x[answered], a[answered], n[answered])
    return out


@pytest.mark.parametrize(
    ("dtype", "rtol", "atol"), [(torch.float64, 1e-10, 1e-9), (torch.float32, 1e-5, 2e-3)]
)
@pytest.mark.parametrize("high", [5, 400])
def test_matches_scipy_logpmf(dtype: torch.dtype, rtol: float, atol: float, high: int) -> None:
    rng = np.random.default_rng(high)
    counts = _random_votes(rng, 64, high)
    alpha = rng.uniform(1.0, 101.0, size=counts.shape)
    alpha[:16] = 1.0 + 1e-6  # near the lower bound of the model head
    alpha[16:32] = 101.0 - 1e-6  # near the upper bound

    got = dirichlet_multinomial_nll(
        torch.from_numpy(counts).to(dtype), torch.from_numpy(alpha).to(dtype), GROUPS
    )
    assert got.dtype == dtype
    assert got.shape == (64, len(GROUPS))
    np.testing.assert_allclose(got.double().numpy(), _scipy_nll(counts, alpha),
                               rtol=rtol, atol=atol)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_finite_with_large_counts_at_the_bounds(dtype: torch.dtype) -> None:
    counts = torch.full((4, N_ANSWERS), 900.0, dtype=dtype)
    counts[1] = 0
    counts[2, ::2] = 0
    alpha = torch.tensor([1.0, 101.0], dtype=dtype).repeat(4, N_ANSWERS // 2)
    alpha.requires_grad_(True)
    nll = dirichlet_multinomial_nll(counts, alpha, GROUPS)
    nll.sum().backward()
    assert torch.isfinite(nll).all() and (nll[[0, 2]] > 0).all()
    assert torch.isfinite(alpha.grad).all()


def test_zero_vote_questions_give_exactly_zero_loss_and_gradient() -> None:
    rng = np.random.default_rng(1)
    counts = torch.from_numpy(_random_votes(rng, 32, 50)).float()
    alpha = torch.from_numpy(rng.uniform(1, 101, size=counts.shape)).float().requires_grad_()
    nll = dirichlet_multinomial_nll(counts, alpha, GROUPS)
    vote_loss(counts, alpha, GROUPS).backward()

    for q, (start, stop) in enumerate(GROUPS):
        unasked = counts[:, start:stop].sum(1) == 0
        assert unasked.any() and (~unasked).any()
        assert (nll[unasked, q] == 0).all()
        assert (alpha.grad[unasked, start:stop] == 0).all()
        assert (alpha.grad[~unasked, start:stop] != 0).any(dim=1).all()


def test_vote_loss_sums_questions_and_averages_galaxies() -> None:
    rng = np.random.default_rng(2)
    counts = torch.from_numpy(_random_votes(rng, 8, 30))
    alpha = torch.from_numpy(rng.uniform(1, 101, size=counts.shape))
    nll = dirichlet_multinomial_nll(counts, alpha, GROUPS)
    per_galaxy = [vote_loss(counts[i : i + 1], alpha[i : i + 1], GROUPS) for i in range(8)]
    loss = vote_loss(counts, alpha, GROUPS)
    assert loss.ndim == 0
    torch.testing.assert_close(loss, nll.sum() / 8)
    torch.testing.assert_close(loss, torch.stack(per_galaxy).mean())


def test_integer_counts_and_half_precision_concentrations() -> None:
    counts = torch.tensor([[3, 1, 0, 0]])
    alpha = torch.tensor([[2.0, 1.0, 5.0, 5.0]])
    expected = dirichlet_multinomial_nll(counts.double(), alpha.double(), [(0, 2), (2, 4)])
    got = dirichlet_multinomial_nll(counts, alpha.bfloat16(), [(0, 2), (2, 4)])
    assert got.dtype == torch.float32
    torch.testing.assert_close(got.double(), expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(
    ("counts_shape", "alpha_shape", "groups"),
    [
        ((2, 4), (2, 5), [(0, 2), (2, 4)]),  # counts and concentrations differ
        ((4,), (4,), [(0, 2), (2, 4)]),  # no batch dimension
        ((2, 4), (2, 4), [(0, 2), (2, 3)]),  # groups miss a column
        ((2, 4), (2, 4), [(0, 2), (2, 5)]),  # groups run past the columns
        ((2, 4), (2, 4), [(0, 3), (2, 4)]),  # overlapping groups
        ((2, 4), (2, 4), [(0, 2), (2, 2), (2, 4)]),  # empty group
    ],
)
def test_shape_errors(counts_shape: tuple, alpha_shape: tuple, groups: list) -> None:
    with pytest.raises(ValueError):
        dirichlet_multinomial_nll(torch.ones(counts_shape), torch.ones(alpha_shape), groups)


def test_docstring_examples() -> None:
    assert doctest.testmod(losses).failed == 0


def test_loss_works_in_training_after_inference_mode():
    groups = [(0, 2), (2, 5)]
    counts = torch.tensor([[3.0, 1.0, 0.0, 2.0, 2.0]])
    with torch.inference_mode():
        vote_loss(counts, torch.ones(1, 5) * 2, groups)
    alpha = torch.full((1, 5), 2.0, requires_grad=True)
    vote_loss(counts, alpha, groups).backward()
    assert alpha.grad is not None and torch.isfinite(alpha.grad).all()
