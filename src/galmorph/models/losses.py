"""Dirichlet-multinomial loss on Galaxy Zoo vote counts (Walmsley et al. 2022).

The model predicts a Dirichlet concentration per answer. For each question the
volunteers' votes are a draw from a Dirichlet-multinomial with the concentrations
of that question's answers; questions are treated as independent. A question
nobody was asked has no votes and contributes exactly zero, so no mask is needed.

The log-PMF is the full one, multinomial coefficient included, so the loss is a
true negative log-likelihood in nats and can be compared across models and with
:func:`galmorph.models.metrics.fit_vote_baseline`.

Examples
--------
>>> import torch
>>> from galmorph.models.losses import dirichlet_multinomial_nll, vote_loss
>>> counts = torch.tensor([[3.0, 1.0, 0.0, 0.0]])        # question 2 unasked
>>> alpha = torch.tensor([[2.0, 1.0, 5.0, 5.0]])
>>> dirichlet_multinomial_nll(counts, alpha, [(0, 2), (2, 4)])
tensor([[1.3218, 0.0000]])
>>> vote_loss(counts, alpha, [(0, 2), (2, 4)])
tensor(1.3218)
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import torch
from torch import Tensor


@lru_cache(maxsize=32)
def _question_of_answer(groups: tuple[tuple[int, int], ...], n_answers: int) -> tuple[int, ...]:
    """Index of the question each answer belongs to, ``n_answers`` long.

    Cached as plain integers: a cached tensor made under ``torch.inference_mode``
    could not be used later in training.
    """
    expected_start = 0
    for start, stop in groups:
        if start != expected_start or stop <= start:
            raise ValueError(
                "question_index_groups must be consecutive, non-empty (start, stop) "
                f"ranges starting at 0, got {list(groups)}"
            )
        expected_start = stop
    if expected_start != n_answers:
        raise ValueError(
            f"question_index_groups cover {expected_start} answers but the tensors have "
            f"{n_answers} columns"
        )
    return tuple(q for q, (start, stop) in enumerate(groups) for _ in range(stop - start))


def dirichlet_multinomial_nll(
    counts: Tensor, concentrations: Tensor, question_index_groups: Sequence[tuple[int, int]]
) -> Tensor:
    """Negative log-likelihood of each question's votes, in nats.

    For a question with counts ``x`` (``n = Σx``) and concentrations ``α``
    (``A = Σα``) the value is ``-[lgamma(n+1) - Σ lgamma(x_i+1) + lgamma(A)
    - lgamma(n+A) + Σ (lgamma(x_i+α_i) - lgamma(α_i))]``. Questions with no votes
    give exactly 0 with exactly zero gradient.

    Args:
        counts: ``(batch, n_answers)`` vote counts (any numeric dtype, ≥ 0).
        concentrations: ``(batch, n_answers)`` Dirichlet concentrations (> 0).
            Computed in their dtype, or float32 if that is a half-precision type.
        question_index_groups: per question ``(start, stop)`` answer columns, as
            :attr:`galmorph.data.tree.Schema.question_index_groups`; consecutive and
            covering every column.

    Returns:
        ``(batch, n_questions)`` NLL per galaxy and question.

    Raises:
        ValueError: if the shapes disagree with each other or with the groups.

    Example:
        >>> dirichlet_multinomial_nll(torch.tensor([[1, 0]]), torch.ones(1, 2), [(0, 2)])
        tensor([[0.6931]])
    """
    if concentrations.ndim != 2 or counts.shape != concentrations.shape:
        raise ValueError(
            "counts and concentrations must both be (batch, n_answers), got "
            f"{tuple(counts.shape)} and {tuple(concentrations.shape)}"
        )
    groups = tuple((int(start), int(stop)) for start, stop in question_index_groups)
    question = torch.tensor(
        _question_of_answer(groups, concentrations.shape[1]), device=concentrations.device
    )

    dtype = torch.promote_types(concentrations.dtype, torch.float32)
    alpha = concentrations.to(dtype)
    x = counts.to(dtype)
    per_answer = torch.lgamma(x + alpha) - torch.lgamma(alpha) - torch.lgamma(x + 1)

    zeros = alpha.new_zeros(alpha.shape[0], len(groups))
    n = zeros.index_add(1, question, x)
    total_alpha = zeros.index_add(1, question, alpha)
    log_pmf = (
        torch.lgamma(n + 1)
        + torch.lgamma(total_alpha)
        - torch.lgamma(n + total_alpha)
        + zeros.index_add(1, question, per_answer)
    )
    return torch.where(n > 0, -log_pmf, torch.zeros_like(log_pmf))


def vote_loss(
    counts: Tensor, concentrations: Tensor, question_index_groups: Sequence[tuple[int, int]]
) -> Tensor:
    """Summed NLL per galaxy: sum over questions, mean over the batch (a scalar, nats).

    Same arguments as :func:`dirichlet_multinomial_nll`; this is the training loss
    and the ``mean_nll`` reported by :func:`galmorph.models.metrics.evaluate_votes`.

    Example:
        >>> vote_loss(torch.tensor([[1, 0], [0, 0]]), torch.ones(2, 2), [(0, 2)])
        tensor(0.3466)
    """
    return dirichlet_multinomial_nll(counts, concentrations, question_index_groups).sum(1).mean()
