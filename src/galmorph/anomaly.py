"""Personalised anomaly detection: find the galaxies *a researcher* finds interesting.

The researcher scores galaxies from 0 (boring) to 5 (fascinating); a model learns
their taste from the representation and proposes what to look at next.

Features
--------
:func:`interest_features`: the embeddings' features, reduced to ``pca`` principal
components when they have more (an embeddings file made with ``--pca 40`` is used
as it is), then standardised (each column to zero mean, unit variance).

Active learning (the default method)
------------------------------------
:class:`InterestModel`: a scikit-learn Gaussian process regressor, kernel
``Constant × RationalQuadratic + White`` with ``normalize_y``, fitted to the
scores so far. The next batch is the unlabelled galaxies of highest expected
improvement (:func:`expected_improvement`)::

    EI = (μ − best − ξ) Φ(z) + σ φ(z),   z = (μ − best − ξ) / σ

with ``μ``, ``σ`` the GP's predicted score and its standard deviation, ``best``
the highest score given so far and ``ξ`` (default 0.5) the exploration
trade-off: a larger ``ξ`` favours uncertain galaxies over ones predicted high. The
first batch (no labels yet) is spread over the feature space
(:func:`spread_sample`: the galaxies nearest the k-means centres of a sample).

At survey scale the batch is found without computing ``σ`` for every galaxy
(:meth:`InterestModel.propose`): one cheap pass gives every galaxy its exact
``μ`` and an upper bound on ``σ`` (from its single most correlated labelled
galaxy), hence an upper bound on its EI; ``σ`` is then computed exactly in
order of decreasing bound until the batch's worst EI beats every remaining
bound. The result is the exact top-``k`` by EI (recall 1 against computing
everything; ``benchmarks/bench_anomaly.py`` measures both).

Unsupervised baselines
----------------------
:func:`isolation_forest_scores`, :func:`lof_scores` (higher = more anomalous),
and :func:`reweighted_scores`, the classic human-in-the-loop scheme of
Astronomaly (Lochner & Bassett 2021): a random-forest regressor fitted to the
scores so far predicts every galaxy's score ``u``, which re-weights the
isolation-forest score ``a`` (scaled to 0–5) by how far the galaxy is from the
nearest labelled one (``d``, over its mean ``d̄``)::

    a × tanh(exp(d / d̄) − 1 + artanh(0.1 + 0.85 u / 5))

Near labelled galaxies the predicted score dominates; far from them the
anomaly score does.

Artefacts
---------
Isolation forests mostly surface bad cutouts. :func:`artefact_flags` marks
galaxies whose *predicted* star-or-artefact vote fraction (from ``galmorph
predict``: ``t01_smooth_or_features_a03_star_or_artifact_fraction`` for GZ2
models, ``smooth-or-featured_artifact_fraction`` for DECaLS ones) is at least a
threshold (default 0.5). Flagged galaxies are never proposed and are left out of
rankings unless ``include_artefacts`` is set.

Sessions and rankings
---------------------
:class:`AnomalySession` ties one embeddings file to a session file
(:class:`galmorph.labels.LabelStore`): it proposes batches, stores labels and
ranks every galaxy. A ranking orders galaxies by the score the researcher gave
(labelled galaxies) or the method's prediction (the others), one scale: for
active learning, the GP's predicted score; for the baselines, their anomaly
score (labelled galaxies first, by score).

Simulated-user benchmark
------------------------
:func:`benchmark` replays sessions with a catalog column as the researcher's
answers; see its docs.

Example
-------
>>> session = AnomalySession.start("emb.parquet", "hunt.db")  # doctest: +SKIP
>>> batch = session.next_batch()  # doctest: +SKIP
>>> session.label(batch.ids[0], 4)  # doctest: +SKIP
>>> session.ranking().head()  # doctest: +SKIP
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import ndtr

from galmorph.exceptions import GalmorphError, GalmorphWarning
from galmorph.labels import MAX_SCORE, Batch, LabelRecord, LabelStore, check_score
from galmorph.represent import Embeddings, read_embeddings

#: Ranking and proposal methods: active learning and the baselines.
METHODS = ("active", "isolation-forest", "lof", "reweighted-forest")
DEFAULT_PCA = 40
DEFAULT_XI = 0.5
DEFAULT_BATCH_SIZE = 10
#: Predicted star/artefact fraction at or above which a galaxy is flagged.
DEFAULT_ARTEFACT_THRESHOLD = 0.5
#: Predicted-fraction columns searched for, in order, when none is named.
ARTEFACT_COLUMNS = (
    "t01_smooth_or_features_a03_star_or_artifact_fraction",
    "smooth-or-featured_artifact_fraction",
)
#: Score at or above which the benchmark calls a galaxy interesting by default.
DEFAULT_INTERESTING_SCORE = 4
#: Precision@N cut-offs the benchmark reports.
PRECISION_AT = (50, 100, 200)
#: Rows per block when scanning all galaxies with the GP.
_CHUNK = 16_384
#: Galaxies whose exact σ is computed per step of :meth:`InterestModel.propose`.
_EXACT_BLOCK = 2_048
#: Rows sampled to fit the PCA of raw features and the cold-start k-means.
_SAMPLE = 100_000
_KMEANS_SAMPLE = 20_000


# ------------------------------------------------------------------ features
def interest_features(features: np.ndarray, pca: int = DEFAULT_PCA, *, seed: int = 0) -> np.ndarray:
    """Standardised features for the interest model: ``float32 (n, min(pca, D))``.

    Features with more than ``pca`` columns are first projected on their first
    ``pca`` principal components (fitted on up to 100,000 random rows).

    Example:
        >>> x = interest_features(np.random.default_rng(0).normal(3, 2, (100, 5)), pca=3)
        >>> x.shape, bool(abs(x.mean()) < 1e-6), bool(abs(x.std() - 1) < 1e-3)
        ((100, 3), True, True)
    """
    x = np.asarray(features, dtype=np.float32)
    if x.ndim != 2 or len(x) < 2:
        raise GalmorphError(f"need at least 2 galaxies' features, got shape {x.shape}")
    if x.shape[1] > pca:
        from sklearn.decomposition import PCA

        rng = np.random.default_rng(seed)
        sample = x[np.sort(rng.choice(len(x), min(len(x), _SAMPLE), replace=False))]
        fitted = PCA(n_components=min(pca, len(sample)), random_state=seed).fit(sample)
        x = np.concatenate([fitted.transform(x[s : s + _SAMPLE])
                            for s in range(0, len(x), _SAMPLE)]).astype(np.float32)
    mean = x.mean(axis=0, dtype=np.float64)
    std = x.std(axis=0, dtype=np.float64)
    std[std == 0] = 1.0
    return ((x - mean) / std).astype(np.float32)


# ------------------------------------------------------ expected improvement
def expected_improvement(
    mean: np.ndarray, std: np.ndarray, best: float, xi: float = DEFAULT_XI
) -> np.ndarray:
    """``(μ − best − ξ) Φ(z) + σ φ(z)``, ``z = (μ − best − ξ)/σ``; ``max(μ − best − ξ, 0)`` at σ = 0.

    Example:
        >>> round(float(expected_improvement(np.array([5.0]), np.array([1.0]), 4.0, 0.5)[0]), 4)
        0.6978
    """
    mean = np.asarray(mean, dtype=np.float64)
    std = np.asarray(std, dtype=np.float64)
    gain = mean - best - xi
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(std > 0, gain / np.where(std > 0, std, 1.0), 0.0)
    ei = gain * ndtr(z) + std * np.exp(-0.5 * z**2) / math.sqrt(2 * math.pi)
    return np.where(std > 0, np.maximum(ei, 0.0), np.maximum(gain, 0.0))


# ----------------------------------------------------------------- GP model
@dataclass(frozen=True)
class Proposal:
    """Galaxies proposed for labelling, best first.

    Attributes:
        rows: feature rows.
        acquisition: their expected improvement.
        mean, std: the GP's predicted score and standard deviation.
        n_exact: galaxies whose σ had to be computed exactly to be sure of the batch.
        seconds: time taken.
    """

    rows: np.ndarray
    acquisition: np.ndarray
    mean: np.ndarray
    std: np.ndarray
    n_exact: int
    seconds: float


class InterestModel:
    """A GP regressor of the researcher's score (0–5) on standardised features.

    Wraps :class:`sklearn.gaussian_process.GaussianProcessRegressor` (kernel
    ``Constant × RationalQuadratic + White``, ``normalize_y=True``, hyperparameters
    by maximum marginal likelihood) and evaluates its posterior in blocks, so it
    scales to millions of galaxies (see the module docs).
    """

    def __init__(self, *, seed: int = 0) -> None:
        self.seed = seed
        self.gp: Any = None

    def fit(self, x: np.ndarray, y: np.ndarray) -> InterestModel:
        """Fit to labelled features ``(m, d)`` and scores ``(m,)``."""
        from sklearn.exceptions import ConvergenceWarning
        from sklearn.gaussian_process import GaussianProcessRegressor
        from sklearn.gaussian_process.kernels import ConstantKernel, RationalQuadratic, WhiteKernel

        x = np.asarray(x, dtype=np.float64)
        y = np.asarray(y, dtype=np.float64)
        if len(x) < 1 or len(x) != len(y):
            raise GalmorphError(f"cannot fit to {len(x)} galaxies and {len(y)} scores")
        kernel = (
            ConstantKernel(1.0, (1e-3, 1e3))
            * RationalQuadratic(length_scale=math.sqrt(x.shape[1]), alpha=1.0,
                                length_scale_bounds=(1e-2, 1e3), alpha_bounds=(1e-3, 1e3))
            + WhiteKernel(0.1, (1e-4, 1e1))
        )
        gp = GaussianProcessRegressor(kernel, normalize_y=True, random_state=self.seed)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            gp.fit(x, y)
        self.gp = gp
        product, white = gp.kernel_.k1, gp.kernel_.k2
        self._amplitude = float(product.k1.constant_value)
        self._scale2 = 2.0 * float(product.k2.alpha) * float(product.k2.length_scale) ** 2
        self._power = float(product.k2.alpha)
        self._noise = float(white.noise_level)
        self._train = gp.X_train_
        self._train2 = (self._train**2).sum(axis=1)
        self._weights = gp.alpha_.ravel()
        self._y_mean = float(np.ravel(gp._y_train_mean)[0])
        self._y_std = float(np.ravel(gp._y_train_std)[0])
        # diagonal of the training covariance (with sklearn's jitter), for the σ bound
        self._train_diag = np.einsum("ij,ij->i", gp.L_, gp.L_)
        return self

    @property
    def kernel(self) -> str:
        """The fitted kernel, as scikit-learn prints it."""
        return str(self.gp.kernel_) if self.gp is not None else "unfitted"

    def _cross(self, x: np.ndarray) -> np.ndarray:
        """Kernel between rows ``x`` and the labelled galaxies (no white noise): ``(n, m)``."""
        x = np.asarray(x, dtype=np.float64)
        d2 = (x**2).sum(axis=1)[:, None] + self._train2[None, :] - 2.0 * (x @ self._train.T)
        np.maximum(d2, 0.0, out=d2)
        d2 /= self._scale2
        d2 += 1.0
        np.log(d2, out=d2)
        d2 *= -self._power
        np.exp(d2, out=d2)
        d2 *= self._amplitude
        return d2

    def _check(self) -> None:
        if self.gp is None:
            raise GalmorphError("the interest model is not fitted yet")

    def predict(self, x: np.ndarray, *, return_std: bool = False
                ) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
        """Predicted score (and its standard deviation) for every row, in blocks.

        Equal to ``GaussianProcessRegressor.predict`` (the std includes the fitted
        white noise, as there).
        """
        from scipy.linalg import solve_triangular

        self._check()
        n = len(x)
        mean = np.empty(n)
        std = np.empty(n) if return_std else None
        for start in range(0, n, _CHUNK):
            block = slice(start, start + _CHUNK)
            cross = self._cross(x[block])
            mean[block] = cross @ self._weights
            if std is not None:
                v = solve_triangular(self.gp.L_, cross.T, lower=True, check_finite=False)
                var = self._amplitude + self._noise - np.einsum("ij,ij->j", v, v)
                std[block] = np.sqrt(np.maximum(var, 0.0)) * self._y_std
        mean = mean * self._y_std + self._y_mean
        return (mean, std) if std is not None else mean

    def _scan(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Exact μ and an upper bound on σ for every row (one pass, no triangular solves).

        For any labelled galaxy ``j``, ``k*ᵀ K⁻¹ k* ≥ k*_j² / K_jj`` (Cauchy–Schwarz),
        so ``σ² ≤ k** − max_j k*_j² / K_jj``.
        """
        n = len(x)
        mean = np.empty(n)
        reduction = np.empty(n)
        for start in range(0, n, _CHUNK):
            block = slice(start, start + _CHUNK)
            cross = self._cross(x[block])
            mean[block] = cross @ self._weights
            cross **= 2
            cross /= self._train_diag
            reduction[block] = cross.max(axis=1)
        var = self._amplitude + self._noise - reduction
        bound = np.sqrt(np.maximum(var, 0.0)) * self._y_std * (1 + 1e-9) + 1e-12
        return mean * self._y_std + self._y_mean, bound

    def propose(
        self,
        x: np.ndarray,
        k: int,
        *,
        candidates: np.ndarray | None = None,
        best: float,
        xi: float = DEFAULT_XI,
    ) -> Proposal:
        """The ``k`` candidate rows of highest expected improvement (exact; see the module docs).

        Args:
            x: all galaxies' features.
            k: batch size.
            candidates: boolean mask of rows that may be proposed (None: all).
            best: the highest score given so far.
            xi: exploration trade-off ξ.
        """
        self._check()
        start = time.perf_counter()
        rows = np.arange(len(x)) if candidates is None else np.flatnonzero(candidates)
        k = min(k, len(rows))
        mean, std_bound = self._scan(x[rows])
        bound = expected_improvement(mean, std_bound, best, xi)
        order = np.argsort(-bound, kind="stable")
        found_rows: list[np.ndarray] = []
        found_ei: list[np.ndarray] = []
        found_std: list[np.ndarray] = []
        done = 0
        kth = -np.inf
        while done < len(order) and (done < k or kth < bound[order[done]]):
            chosen = order[done : done + _EXACT_BLOCK]
            _, std = self.predict(x[rows[chosen]], return_std=True)
            found_rows.append(chosen)
            found_std.append(std)
            found_ei.append(expected_improvement(mean[chosen], std, best, xi))
            done += len(chosen)
            all_ei = np.concatenate(found_ei)
            if len(all_ei) >= k:
                kth = np.partition(all_ei, len(all_ei) - k)[len(all_ei) - k]
        all_rows, all_ei, all_std = (np.concatenate(v) for v in (found_rows, found_ei, found_std))
        top = np.lexsort((all_rows, -all_ei))[:k]
        picked = all_rows[top]
        return Proposal(rows=rows[picked], acquisition=all_ei[top], mean=mean[picked],
                        std=all_std[top], n_exact=done, seconds=time.perf_counter() - start)


def spread_sample(
    x: np.ndarray, k: int, *, candidates: np.ndarray | None = None, seed: int = 0
) -> np.ndarray:
    """``k`` rows spread over the feature space: the nearest to the k-means centres of a sample.

    k-means (``k`` clusters) runs on up to 20,000 random candidate rows.
    """
    from sklearn.cluster import KMeans

    rows = np.arange(len(x)) if candidates is None else np.flatnonzero(candidates)
    k = min(k, len(rows))
    if k == 0:
        return rows[:0]
    rng = np.random.default_rng(seed)
    sample = np.sort(rng.choice(rows, size=min(len(rows), _KMEANS_SAMPLE), replace=False))
    kmeans = KMeans(n_clusters=k, n_init=3, random_state=seed).fit(x[sample])
    distances = _sq_distances(x[sample], kmeans.cluster_centers_)
    chosen: list[int] = []
    for centre in range(k):
        for candidate in np.argsort(distances[:, centre]):
            if sample[candidate] not in chosen:
                chosen.append(int(sample[candidate]))
                break
    return np.asarray(chosen, dtype=np.int64)


def _sq_distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Squared Euclidean distances ``(len(a), len(b))``."""
    a = a.astype(np.float64)
    b = b.astype(np.float64)
    return np.maximum((a**2).sum(1)[:, None] + (b**2).sum(1)[None] - 2 * a @ b.T, 0.0)
