"""Tests of galmorph.training.probe: the logistic-regression probe and classification metrics."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import log_loss

from galmorph.exceptions import GalmorphError
from galmorph.training.probe import classification_metrics, fit_probe, probe


def test_probe_on_separable_and_uninformative_features() -> None:
    rng = np.random.default_rng(0)
    labels = np.repeat([0, 1], 40)
    features = rng.normal(size=(80, 5))
    separable = features + labels[:, None] * 10
    result = probe(separable[::2], labels[::2], separable[1::2], labels[1::2])
    assert result["accuracy"] == 1.0 and result["roc_auc"] == 1.0
    assert result["n_train"] == 40 and result["n_test"] == 40
    noise = probe(features[::2], labels[::2], features[1::2], labels[1::2])
    assert 0.2 < noise["accuracy"] < 0.8


def test_probe_chooses_its_regularisation_on_the_training_set() -> None:
    rng = np.random.default_rng(1)
    labels = np.repeat([0, 1], 100)
    features = rng.normal(size=(200, 300))  # many noise features, few galaxies
    features[:, 0] += 2.0 * labels  # one weakly informative feature
    train, test = slice(0, None, 2), slice(1, None, 2)
    chosen = probe(features[train], labels[train], features[test], labels[test])
    fixed = probe(features[train], labels[train], features[test], labels[test],
                  regularisation=1.0)
    assert chosen["regularisation"] < 0.1 and fixed["regularisation"] == 1.0
    truth = labels[test]
    assert log_loss(truth, chosen["probabilities"]) < 0.8 * log_loss(truth, fixed["probabilities"])
    one_each = probe(features[[0, 100]], labels[[0, 100]], features[test], labels[test])
    assert one_each["regularisation"] == 1.0  # too few to cross-validate


def test_classification_metrics() -> None:
    probabilities = np.array([[0.9, 0.1], [0.4, 0.6], [0.7, 0.3], [0.2, 0.8]])
    metrics = classification_metrics(np.array([0, 1, 1, 1]), probabilities, [0, 1])
    assert metrics["accuracy"] == 0.75 and metrics["n_correct"] == 3
    assert metrics["roc_auc"] == pytest.approx(1.0)
    three = np.array([[0.8, 0.1, 0.1], [0.1, 0.8, 0.1], [0.1, 0.1, 0.8]])
    assert classification_metrics(np.array(["a", "b", "c"]), three, ["a", "b", "c"])[
        "roc_auc"] == 1.0
    assert classification_metrics(np.array(["a", "a", "b"]), three, ["a", "b", "c"])[
        "roc_auc"] is None


def test_probe_names_bad_inputs_before_scikit_learn() -> None:
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=(12, 3)), np.repeat([0, 1], 6)
    with pytest.raises(GalmorphError, match="train_labels are all 0.0 .*at least 2 classes"):
        probe(x, np.zeros(12), x, y)
    with pytest.raises(GalmorphError, match=r"train_features must be a 2-D .*shape \(12,\)"):
        probe(x[:, 0], y, x, y)
    with pytest.raises(GalmorphError, match=r"test_features .*\(n, 3\).*shape \(12, 2\)"):
        probe(x, y, x[:, :2], y)
    with pytest.raises(GalmorphError, match=r"train_labels must be one label per row of "
                                            r"train_features \(12\), got shape \(10,\)"):
        probe(x, y[:10], x, y)
    with pytest.raises(GalmorphError, match=r"test_labels must be one label per row"):
        probe(x, y, x, y[:5])
    bad = x.copy()
    bad[4, 1] = np.nan
    with pytest.raises(GalmorphError, match="features holds NaN .* 1 row .*row 4"):
        fit_probe(bad, y)
    with pytest.raises(GalmorphError, match="labels has 1 missing label .*row 3"):
        fit_probe(x, np.where(np.arange(12) == 3, np.nan, y))
    with pytest.raises(GalmorphError, match="2-D array of numbers"):
        fit_probe(np.array([["a", "b"]] * 12), y)
