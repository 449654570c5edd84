"""A fast baseline: logistic regression on frozen embeddings.

:func:`probe` fits a logistic-regression probe on embeddings
(:func:`galmorph.inference.embed.embed_catalog`) and scores it with
:func:`galmorph.models.label_metrics.classification_metrics` (importable from here too).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from galmorph.models.label_metrics import classification_metrics

if TYPE_CHECKING:
    from sklearn.pipeline import Pipeline

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
    classifier = fit_probe(train_features, train_labels, regularisation=regularisation)
    chosen = float(classifier[-1].C)
    classes = classifier.classes_
    probabilities = classifier.predict_proba(np.asarray(test_features))
    return {
        **classification_metrics(np.asarray(test_labels), probabilities, list(classes)),
        "n_train": len(np.asarray(train_labels)),
        "classes": list(classes),
        "regularisation": chosen,
        "probabilities": probabilities,
    }


def fit_probe(
    features: np.ndarray,
    labels: Sequence[Any] | np.ndarray,
    *,
    regularisation: float | None = None,
    class_weight: dict[Any, float] | None = None,
    standardise: bool = True,
) -> Pipeline:
    """Fit the probe of :func:`probe`: standardisation, then logistic regression.

    Args:
        features: ``(n, feature_dim)`` embeddings.
        labels: ``n`` class labels.
        regularisation: inverse L2 strength ``C``; None: chosen from
            :data:`PROBE_REGULARISATION` by stratified cross-validation (log-loss),
            as many folds as the rarest class allows (at most 5; C=1 below 2).
        class_weight: weight of each class's galaxies in the fit (None: equal).
        standardise: scale each feature to unit variance; False: only centre them
            (features of very different scales are then penalised alike).

    Returns:
        The fitted scikit-learn pipeline (``StandardScaler``, ``LogisticRegression``).
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GridSearchCV, StratifiedKFold
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    labels = np.asarray(labels)
    folds = min(5, int(np.unique(labels, return_counts=True)[1].min()))
    classifier = make_pipeline(StandardScaler(with_std=standardise), LogisticRegression(
        C=1.0 if regularisation is None else regularisation, max_iter=5000,
        class_weight=class_weight))
    if regularisation is None and folds >= 2:
        search = GridSearchCV(
            classifier, {"logisticregression__C": list(PROBE_REGULARISATION)},
            cv=StratifiedKFold(folds, shuffle=True, random_state=0), scoring="neg_log_loss",
        )
        return search.fit(np.asarray(features), labels).best_estimator_
    return classifier.fit(np.asarray(features), labels)
