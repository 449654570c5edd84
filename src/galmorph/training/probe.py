"""A fast baseline: logistic regression on frozen embeddings, and classification metrics.

:func:`probe` fits a logistic-regression probe on embeddings
(:func:`galmorph.inference.embed.embed_catalog`) and scores it with
:func:`classification_metrics`, which also scores any class probabilities.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

#: Inverse L2 strengths the probe chooses among by cross-validation.
PROBE_REGULARISATION = tuple(float(c) for c in np.logspace(-4, 1, 11))


def probe(
    train_features: np.ndarray,
    train_labels: Sequence[Any] | np.ndarray,
    test_features: np.ndarray,
    test_labels: Sequence[Any] | np.ndarray,
    *,
    regularisation: float | None = None,
) -> dict[str, Any]:
    """Logistic-regression probe: fit on standardised embeddings, score on a test set.

    Args:
        train_features, test_features: ``(n, feature_dim)`` embeddings.
        train_labels, test_labels: class labels.
        regularisation: inverse L2 strength ``C`` of scikit-learn's LogisticRegression;
            None: chosen from :data:`PROBE_REGULARISATION` by stratified
            cross-validation on the training set (log-loss), as many folds as the
            rarest class allows (at most 5).

    Returns:
        ``accuracy``, ``roc_auc`` (binary: of the second class; multi-class:
        one-vs-rest macro average; None when a test class is missing),
        ``n_train``, ``n_test``, ``classes``, ``regularisation`` (the ``C`` used)
        and ``probabilities`` ``(n_test, n_classes)``.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GridSearchCV, StratifiedKFold
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    labels = np.asarray(train_labels)
    folds = min(5, int(np.unique(labels, return_counts=True)[1].min()))
    classifier = make_pipeline(StandardScaler(), LogisticRegression(
        C=1.0 if regularisation is None else regularisation, max_iter=5000))
    if regularisation is None and folds >= 2:
        classifier = GridSearchCV(
            classifier, {"logisticregression__C": list(PROBE_REGULARISATION)},
            cv=StratifiedKFold(folds, shuffle=True, random_state=0), scoring="neg_log_loss",
        )
    classifier.fit(np.asarray(train_features), labels)
    fitted = getattr(classifier, "best_estimator_", classifier)
    chosen = float(fitted[-1].C)
    classes = classifier.classes_
    probabilities = classifier.predict_proba(np.asarray(test_features))
    return {
        **classification_metrics(np.asarray(test_labels), probabilities, list(classes)),
        "n_train": len(labels),
        "classes": list(classes),
        "regularisation": chosen,
        "probabilities": probabilities,
    }


def classification_metrics(
    labels: np.ndarray, probabilities: np.ndarray, classes: Sequence[Any]
) -> dict[str, Any]:
    """``accuracy``, ``n_correct``, ``n_test`` and ``roc_auc`` of class probabilities.

    ``roc_auc`` is that of the second class for two classes, the one-vs-rest
    macro average for more, and None when a class is missing from ``labels``.
    """
    from sklearn.metrics import roc_auc_score

    labels = np.asarray(labels)
    predicted = np.asarray(classes)[np.asarray(probabilities).argmax(axis=1)]
    correct = int((predicted == labels).sum())
    auc = None
    if set(np.unique(labels)) == set(classes):
        if len(classes) == 2:
            auc = float(roc_auc_score(labels == classes[1], probabilities[:, 1]))
        else:
            auc = float(roc_auc_score(labels, probabilities, multi_class="ovr", labels=classes))
    return {"accuracy": correct / len(labels), "n_correct": correct, "n_test": len(labels),
            "roc_auc": auc}
