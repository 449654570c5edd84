"""Rankings: the order of interest and its precision@N and average precision."""

from __future__ import annotations

import numpy as np
import pytest

from galmorph.anomaly.ranking import rank_order, ranking_metrics


def test_ranking_metrics_by_hand() -> None:
    interesting = np.array([True, True, False, True, False, False])
    labelled = np.array([True, False, False, False, True, False])
    order = np.array([0, 2, 1, 4, 3, 5])
    metrics = ranking_metrics(order, interesting, labelled, cutoffs=[2, 4])
    assert metrics["precision_at_2"] == 0.5 and metrics["precision_at_4"] == 0.5
    # unlabelled in order: 2, 1, 3, 5
    assert metrics["precision_at_2_unlabelled"] == 0.5
    assert metrics["precision_at_4_unlabelled"] == 0.5
    # hits at positions 1, 3, 5: (1/1 + 2/3 + 3/5) / 3
    assert metrics["average_precision"] == pytest.approx((1 + 2 / 3 + 3 / 5) / 3)
    assert metrics["n_found"] == 1


def test_rank_order_puts_labelled_first_on_ties() -> None:
    order = rank_order(np.array([3.0, 5.0, 3.0, 1.0]), np.array([False, False, True, False]))
    assert order.tolist() == [1, 2, 0, 3]


def test_rank_order_puts_a_score_of_5_above_predictions_past_the_scale() -> None:
    # a GP's mean may pass 5: such a prediction ties with a given 5 (labelled first), and
    # predictions past 5 keep their own order after it
    values = np.array([6.0, 5.0, 5.5, 3.0, -0.5, 0.0])
    labelled = np.array([False, True, False, False, False, True])
    assert rank_order(values, labelled).tolist() == [1, 0, 2, 3, 5, 4]
