"""A fast baseline: logistic regression on frozen embeddings.

:func:`probe` fits a logistic-regression probe on embeddings
(:func:`galmorph.inference.embed.embed_catalog`) and scores it with
:func:`galmorph.models.label_metrics.classification_metrics` (importable from here too).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from galmorph.exceptions import GalmorphError
from galmorph.models.label_metrics import classification_metrics
from galmorph.numbers import nonfinite_rows

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

    Raises:
        GalmorphError: naming the argument: features that are not 2-D arrays of finite
            numbers (test features of another width than the training ones), labels of
            another length than their features or with missing values, or fewer than 2
            training classes.
    """
    train, labels = _training_set(train_features, train_labels, "train_features",
                                  "train_labels")
    test = _features(test_features, "test_features", train.shape[1])
    truth = _labels(test_labels, "test_labels", len(test), "test_features")
    classifier = _fit(train, labels, regularisation=regularisation)
    chosen = float(classifier[-1].C)
    classes = classifier.classes_
    probabilities = classifier.predict_proba(test)
    return {
        **classification_metrics(truth, probabilities, list(classes)),
        "n_train": len(train),
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

    Raises:
        GalmorphError: for features that are not a 2-D array of finite numbers, labels
            of another length or with missing values, or fewer than 2 classes.
    """
    features, labels = _training_set(features, labels, "features", "labels")
    return _fit(features, labels, regularisation=regularisation, class_weight=class_weight,
                standardise=standardise)


def _fit(features: np.ndarray, labels: np.ndarray, *, regularisation: float | None,
         class_weight: dict[Any, float] | None = None, standardise: bool = True) -> Pipeline:
    """:func:`fit_probe` on features and labels already checked."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GridSearchCV, StratifiedKFold
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    folds = min(5, int(np.unique(labels, return_counts=True)[1].min()))
    classifier = make_pipeline(StandardScaler(with_std=standardise), LogisticRegression(
        C=1.0 if regularisation is None else regularisation, max_iter=5000,
        class_weight=class_weight))
    if regularisation is None and folds >= 2:
        search = GridSearchCV(
            classifier, {"logisticregression__C": list(PROBE_REGULARISATION)},
            cv=StratifiedKFold(folds, shuffle=True, random_state=0), scoring="neg_log_loss",
        )
        return search.fit(features, labels).best_estimator_
    return classifier.fit(features, labels)


def _training_set(features: Any, labels: Any, features_name: str, labels_name: str
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Training features and labels, checked (see :func:`_features`, :func:`_labels`), of at
    least 2 classes.

    Raises:
        GalmorphError: naming the argument.
    """
    features = _features(features, features_name)
    labels = _labels(labels, labels_name, len(features), features_name)
    names = np.unique(labels).tolist()
    if len(names) < 2:
        raise GalmorphError(
            f"{labels_name} are all {names[0]!r} ({len(labels)} galaxies): a probe needs at "
            "least 2 classes, each with at least 1 galaxy (2 or more to choose the "
            "regularisation)")
    return features, labels


def _features(features: Any, name: str, width: int | None = None) -> np.ndarray:
    """``features`` as a 2-D array of finite numbers (``width`` columns when given).

    Raises:
        GalmorphError: naming ``name``.
    """
    array = np.asarray(features)
    shape = "(n, feature_dim)" if width is None else f"(n, {width}), as the training features"
    if array.dtype.kind not in "biuf" or array.ndim != 2 or (
            width is not None and array.shape[1] != width):
        raise GalmorphError(f"{name} must be a 2-D array of numbers of shape {shape} (one row "
                            f"per galaxy), got {array.dtype} of shape {array.shape}")
    if not len(array):
        raise GalmorphError(f"{name} holds no galaxies (shape {array.shape})")
    bad = np.flatnonzero(nonfinite_rows(array))
    if len(bad):
        raise GalmorphError(f"{name} holds NaN or infinite values in {len(bad)} row"
                            f"{'s' * (len(bad) != 1)} (e.g. row {bad[0]}): drop those galaxies")
    return array


def _labels(labels: Any, name: str, n: int, features: str) -> np.ndarray:
    """``n`` class labels as a 1-D array, none missing.

    Raises:
        GalmorphError: naming ``name`` and the ``features`` they go with.
    """
    array = np.asarray(labels)
    if array.ndim != 1 or len(array) != n:
        raise GalmorphError(f"{name} must be one label per row of {features} ({n}), got "
                            f"shape {array.shape}")
    missing = np.flatnonzero(pd.isna(array))
    if len(missing):
        raise GalmorphError(f"{name} has {len(missing)} missing label"
                            f"{'s' * (len(missing) != 1)} (e.g. row {missing[0]}): drop "
                            "those galaxies")
    return array
