"""Tests of galmorph.training.probe: the logistic-regression probe and classification metrics."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import log_loss

from galmorph.training.probe import classification_metrics, probe


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
