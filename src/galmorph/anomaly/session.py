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
``Constant × RationalQuadratic + White`` (hyperparameters by maximum marginal
likelihood), fitted to the scores so far. Its prior mean is 0: a galaxy far from
everything labelled is presumed boring, with the prior's full uncertainty (in a
simulated-user comparison on GZ2 this found more interesting galaxies than
standardising the scores, ``normalize_y``). The next batch is the unlabelled
galaxies of highest expected improvement (:func:`expected_improvement`)::

    EI = (μ − best − ξ) Φ(z) + σ φ(z),   z = (μ − best − ξ) / σ

with ``μ``, ``σ`` the GP's predicted score and its standard deviation, ``best``
the highest score given so far and ``ξ`` (default 0.5) the exploration
trade-off: a larger ``ξ`` favours uncertain galaxies over ones predicted high. The
first batch (no labels yet) is spread over the feature space
(:func:`spread_sample`: the galaxies nearest the k-means centres of a sample).

At survey scale the batch is found without computing ``σ`` for every galaxy
(:meth:`InterestModel.propose`): one cheap float32 pass gives every galaxy
upper bounds on ``μ`` (allowing for rounding) and on ``σ`` (from its single most
correlated labelled galaxy), hence on its EI; ``μ`` and ``σ`` are then computed
exactly (float64) in order of decreasing bound until the batch's worst EI beats
every remaining bound. The result is the exact top-``k`` by EI (recall 1 against
computing everything; ``benchmarks/bench_anomaly.py`` measures both).

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
(:class:`galmorph.anomaly.labels.LabelStore`): it proposes batches, stores labels and
ranks every galaxy. A ranking orders galaxies on one 0–5 scale: labelled
galaxies by the score the researcher gave, the others by the method's
prediction (active learning: the GP's mean; baselines: their score mapped onto
0–5, :func:`scale_scores`); on a tie the labelled galaxy comes first.

Simulated-user benchmark
------------------------
:func:`benchmark` replays sessions in which a catalog column answers for the
researcher (:func:`simulate`) and scores the rankings (:func:`ranking_metrics`).
Beside the methods it reports a *supervised ceiling* (:func:`supervised_scores`):
a logistic regression that knows which of the other galaxies are interesting,
out of fold. It is not something a researcher can run; it measures how well the
features separate what is interesting at all, so that a low figure for every
method can be told apart from a weak method.

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
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import ndtr

from galmorph.anomaly.labels import MAX_SCORE, Batch, LabelRecord, LabelStore, check_score
from galmorph.exceptions import GalmorphError, GalmorphWarning
from galmorph.inference.embed import Embeddings, read_embeddings
from galmorph.inference.resumable import ids_digest

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
#: Rows per block when computing the GP's posterior for many galaxies.
_CHUNK = 16_384
#: Rows per block of the float32 bound pass (small enough to stay in cache).
_SCAN_CHUNK = 4_096
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
    """Expected improvement ``(μ − best − ξ) Φ(z) + σ φ(z)``, ``z = (μ − best − ξ)/σ``.

    Where ``σ = 0`` it is ``max(μ − best − ξ, 0)``.

    Example:
        >>> round(float(expected_improvement(np.array([5.0]), np.array([1.0]), 4.0, 0.5)[0]), 4)
        0.6978
    """
    mean = np.asarray(mean, dtype=np.float64)
    std = np.asarray(std, dtype=np.float64)
    gain = mean - best - xi
    positive = std > 0
    z = gain / np.where(positive, std, 1.0)
    ei = gain * ndtr(z) + std * np.exp(-0.5 * z**2) / math.sqrt(2 * math.pi)
    return np.where(positive, np.maximum(ei, 0.0), np.maximum(gain, 0.0))


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
    ``Constant × RationalQuadratic + White``, prior mean 0, hyperparameters by
    maximum marginal likelihood) and evaluates its posterior in blocks, so it
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
        from threadpoolctl import threadpool_limits

        x = np.asarray(x, dtype=np.float64)
        y = np.asarray(y, dtype=np.float64)
        if len(x) < 1 or len(x) != len(y):
            raise GalmorphError(f"cannot fit to {len(x)} galaxies and {len(y)} scores")
        kernel = (
            ConstantKernel(1.0, (1e-2, 1e3))
            * RationalQuadratic(length_scale=math.sqrt(x.shape[1]), alpha=1.0,
                                length_scale_bounds=(1e-1, 1e3), alpha_bounds=(1e-3, 1e3))
            + WhiteKernel(0.1, (1e-2, 1e1))
        )
        gp = GaussianProcessRegressor(kernel, random_state=self.seed)
        # small matrices: one BLAS thread is fastest, and far faster on a busy machine
        with warnings.catch_warnings(), threadpool_limits(limits=1, user_api="blas"):
            warnings.simplefilter("ignore", ConvergenceWarning)
            gp.fit(x, y)
        self.gp = gp
        product, white = gp.kernel_.k1, gp.kernel_.k2
        self._amplitude = float(product.k1.constant_value)
        self._length2 = float(product.k2.length_scale) ** 2
        self._power = float(product.k2.alpha)
        self._scale2 = 2.0 * self._power * self._length2
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
        from threadpoolctl import threadpool_limits

        self._check()
        n = len(x)
        mean = np.empty(n)
        std = np.empty(n) if return_std else None
        for start in range(0, n, _CHUNK):
            block = slice(start, start + _CHUNK)
            with threadpool_limits(limits=1, user_api="blas"):
                cross = self._cross(x[block])
                mean[block] = cross @ self._weights
                if std is not None:
                    v = solve_triangular(self.gp.L_, cross.T, lower=True, check_finite=False)
                    var = self._amplitude + self._noise - np.einsum("ij,ij->j", v, v)
                    std[block] = np.sqrt(np.maximum(var, 0.0)) * self._y_std
        mean = mean * self._y_std + self._y_mean
        return (mean, std) if std is not None else mean

    def _scan(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Upper bounds on μ and σ for every row: one float32 pass, no triangular solves.

        For any labelled galaxy ``j``, ``k*ᵀ K⁻¹ k* ≥ k*_j² / K_jj`` (Cauchy–Schwarz),
        so ``σ² ≤ k** − max_j k*_j² / max_j K_jj``. The kernel is computed in
        float32 (torch; ``1 + d²/2αl²`` as one matrix product of augmented rows);
        μ and that bound are widened by a worst-case float32 error allowance, so
        the bounds hold exactly.
        """
        import torch

        eps = float(np.finfo(np.float32).eps)
        amplitude, power, scale = self._amplitude, self._power, self._scale2
        m, d = self._train.shape
        # rows [x, |x|², 1] @ this = 1 + |x − t|² / (2 α l²)
        augmented_train = np.concatenate([
            -2.0 * self._train / scale, np.full((m, 1), 1.0 / scale),
            (self._train2 / scale + 1.0)[:, None],
        ], axis=1)
        train = torch.from_numpy(np.ascontiguousarray(augmented_train.T, dtype=np.float32))
        weights = torch.from_numpy((self._weights * amplitude).astype(np.float32))
        n = len(x)
        mean = np.empty(n)
        nearest = np.empty(n)
        norms = np.empty(n)
        threads = torch.get_num_threads()
        torch.set_num_threads(1)  # small blocks; several threads crawl on a busy machine
        try:
            for start in range(0, n, _SCAN_CHUNK):
                block = slice(start, start + _SCAN_CHUNK)
                rows = torch.from_numpy(np.ascontiguousarray(x[block], dtype=np.float32))
                squared = (rows * rows).sum(dim=1)
                augmented = torch.cat([rows, squared[:, None], torch.ones_like(squared)[:, None]],
                                      dim=1)
                base = (augmented @ train).clamp_(min=1.0)
                nearest[block] = base.amin(dim=1).numpy()
                mean[block] = (base.pow_(-power) @ weights).numpy()
                norms[block] = squared.sqrt().numpy()
        finally:
            torch.set_num_threads(threads)
        # float32 errors: the base (sums over d + 2 terms of up to (|x| + |t|)² / s), the
        # kernel (|dk/dbase| ≤ α × amplitude for base ≥ 1; pow), then the sums over m labels
        base_error = (4 * (d + 2) * eps * (norms + math.sqrt(self._train2.max())) ** 2 / scale
                      + 2 * eps)
        k_error = amplitude * (power * base_error + 16 * eps)
        mean_error = (k_error + 2 * m * eps * amplitude) * np.abs(self._weights).sum()
        k_low = np.maximum(amplitude * nearest ** -power - k_error, 0.0)
        var = amplitude + self._noise - k_low**2 / self._train_diag.max()
        mean_bound = (mean + mean_error) * self._y_std + self._y_mean
        return mean_bound, np.sqrt(np.maximum(var, 0.0)) * self._y_std

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
        mean_bound, std_bound = self._scan(x)
        bound = expected_improvement(mean_bound, std_bound, best, xi)
        pool = np.arange(len(x)) if candidates is None else np.flatnonzero(candidates)
        k = min(k, len(pool))
        order = pool[np.argsort(-bound[pool], kind="stable")]
        found_rows: list[np.ndarray] = []
        found_ei: list[np.ndarray] = []
        found_mean: list[np.ndarray] = []
        found_std: list[np.ndarray] = []
        done = 0
        kth = -np.inf
        while done < len(order) and (done < k or kth < bound[order[done]]):
            chosen = order[done : done + _EXACT_BLOCK]
            mean, std = self.predict(x[chosen], return_std=True)
            found_rows.append(chosen)
            found_mean.append(mean)
            found_std.append(std)
            found_ei.append(expected_improvement(mean, std, best, xi))
            done += len(chosen)
            all_ei = np.concatenate(found_ei)
            if len(all_ei) >= k:
                kth = np.partition(all_ei, len(all_ei) - k)[len(all_ei) - k]
        all_rows, all_ei, all_mean, all_std = (
            np.concatenate(v) for v in (found_rows, found_ei, found_mean, found_std))
        top = np.lexsort((all_rows, -all_ei))[:k]
        return Proposal(rows=all_rows[top], acquisition=all_ei[top], mean=all_mean[top],
                        std=all_std[top], n_exact=done, seconds=time.perf_counter() - start)


def spread_sample(
    x: np.ndarray, k: int, *, candidates: np.ndarray | None = None, seed: int = 0
) -> np.ndarray:
    """``k`` rows spread over the feature space: the nearest to the k-means centres of a sample.

    k-means (``k`` clusters) runs on up to 20,000 random candidate rows.
    """
    from sklearn.cluster import KMeans
    from threadpoolctl import threadpool_limits

    rows = np.arange(len(x)) if candidates is None else np.flatnonzero(candidates)
    k = min(k, len(rows))
    if k == 0:
        return rows[:0]
    rng = np.random.default_rng(seed)
    sample = np.sort(rng.choice(rows, size=min(len(rows), _KMEANS_SAMPLE), replace=False))
    with threadpool_limits(limits=1):
        kmeans = KMeans(n_clusters=k, n_init=1, random_state=seed).fit(x[sample])
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


# ------------------------------------------------------ unsupervised scores
def isolation_forest_scores(x: np.ndarray, *, seed: int = 0, n_estimators: int = 100
                            ) -> np.ndarray:
    """Isolation-forest anomaly score of every row, higher = more anomalous (0 to 1).

    scikit-learn's :class:`~sklearn.ensemble.IsolationForest` (256 rows per tree),
    negated ``score_samples``.
    """
    from sklearn.ensemble import IsolationForest

    forest = IsolationForest(n_estimators=n_estimators, random_state=seed).fit(x)
    return -forest.score_samples(x)


def lof_scores(x: np.ndarray, *, n_neighbors: int = 20, reference: int = 20_000,
               seed: int = 0) -> np.ndarray:
    """Local outlier factor of every row (higher = more anomalous; about 1 for inliers).

    Neighbours are searched exactly (faiss) among up to ``reference`` random rows;
    with all rows as the reference this equals scikit-learn's
    :class:`~sklearn.neighbors.LocalOutlierFactor` (``novelty=False``).
    """
    import faiss

    x = np.ascontiguousarray(x, dtype=np.float32)
    n = len(x)
    if n < 3:
        return np.ones(n)
    if n > reference:
        ref_rows = np.sort(np.random.default_rng(seed).choice(n, reference, replace=False))
    else:
        ref_rows = np.arange(n)
    k = min(n_neighbors, len(ref_rows) - 1)
    ref = np.ascontiguousarray(x[ref_rows])
    position = np.full(n, -1)
    position[ref_rows] = np.arange(len(ref_rows))

    def neighbours(queries: np.ndarray, own: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``k`` nearest reference rows of each query, not counting the query itself."""
        squared, found = faiss.knn(queries, ref, k + 1)
        keep = found != own[:, None]
        keep[keep.all(axis=1), -1] = False  # the query is not in the reference
        return (np.sqrt(np.maximum(squared[keep].reshape(-1, k), 0)),
                found[keep].reshape(-1, k))

    ref_dist, ref_found = neighbours(ref, np.arange(len(ref_rows)))
    k_distance = ref_dist[:, -1]
    ref_lrd = 1.0 / (np.maximum(ref_dist, k_distance[ref_found]).mean(axis=1) + 1e-10)
    scores = np.empty(n)
    for start in range(0, n, _SAMPLE):
        block = slice(start, start + _SAMPLE)
        dist, found = neighbours(x[block], position[block])
        lrd = 1.0 / (np.maximum(dist, k_distance[found]).mean(axis=1) + 1e-10)
        scores[block] = ref_lrd[found].mean(axis=1) / lrd
    return scores


def scale_scores(values: np.ndarray) -> np.ndarray:
    """Anomaly scores mapped linearly onto 0 (least) – 5 (most anomalous)."""
    values = np.asarray(values, dtype=np.float64)
    low, high = float(np.min(values)), float(np.max(values))
    if high <= low:
        return np.zeros_like(values)
    return (values - low) / (high - low) * MAX_SCORE


def reweighted_scores(
    anomaly: np.ndarray,
    x: np.ndarray,
    labelled_rows: np.ndarray,
    scores: np.ndarray,
    *,
    seed: int = 0,
    alpha: float = 1.0,
) -> np.ndarray:
    """Anomaly scores re-weighted by a random forest fitted to the researcher's scores.

    See the module docs for the formula; ``alpha`` scales the distances. Without
    labels this is the anomaly score scaled to 0–5.
    """
    import faiss
    from sklearn.ensemble import RandomForestRegressor

    scaled = scale_scores(anomaly)
    labelled_rows = np.asarray(labelled_rows, dtype=np.int64)
    if not len(labelled_rows):
        return scaled
    forest = RandomForestRegressor(n_estimators=100, random_state=seed)
    forest.fit(x[labelled_rows], np.asarray(scores, dtype=np.float64))
    predicted = np.concatenate([forest.predict(x[s : s + _SAMPLE])
                                for s in range(0, len(x), _SAMPLE)])
    squared, _ = faiss.knn(np.ascontiguousarray(x, dtype=np.float32),
                           np.ascontiguousarray(x[labelled_rows], dtype=np.float32), 1)
    distance = np.sqrt(np.maximum(squared[:, 0].astype(np.float64), 0.0))
    mean_distance = float(distance.mean()) or 1.0
    belief = 0.1 + 0.85 * np.clip(predicted, 0.0, MAX_SCORE) / MAX_SCORE
    return scaled * np.tanh(np.exp(distance / mean_distance / alpha) - 1 + np.arctanh(belief))


# ---------------------------------------------------------------- artefacts
def artefact_flags(
    predictions: pd.DataFrame,
    ids: Sequence[str],
    *,
    column: str | None = None,
    threshold: float = DEFAULT_ARTEFACT_THRESHOLD,
) -> tuple[np.ndarray, np.ndarray, str]:
    """Flag likely artefacts: predicted star/artefact fraction ≥ ``threshold``.

    Args:
        predictions: a table with ``id_str`` and the fraction column (e.g. from
            ``galmorph predict``).
        ids: the galaxies to flag, in order.
        column: the fraction column; None: the first of :data:`ARTEFACT_COLUMNS` present.

    Returns:
        Flags ``(n,)``, the fractions ``(n,)`` (NaN where a galaxy has no prediction,
        which is not flagged) and the column used.

    Raises:
        GalmorphError: when the column or ``id_str`` is missing.
    """
    if "id_str" not in predictions:
        raise GalmorphError("the predictions table has no id_str column")
    if column is None:
        column = next((c for c in ARTEFACT_COLUMNS if c in predictions), None)
        if column is None:
            raise GalmorphError("the predictions table has none of the artefact columns "
                                f"{', '.join(ARTEFACT_COLUMNS)}; name one with --artefact-column")
    elif column not in predictions:
        raise GalmorphError(f"the predictions table has no column {column!r}")
    by_id = pd.Series(pd.to_numeric(predictions[column], errors="coerce").to_numpy(),
                      index=predictions["id_str"].astype(str))
    by_id = by_id[~by_id.index.duplicated()]
    values = by_id.reindex([str(i) for i in ids]).to_numpy(dtype=np.float64)
    missing = int(np.isnan(values).sum())
    if missing:
        warnings.warn(f"{missing} of {len(values)} galaxies have no {column} prediction: "
                      "not flagged as artefacts", GalmorphWarning, stacklevel=2)
    with np.errstate(invalid="ignore"):
        return values >= threshold, values, column


# ------------------------------------------------------------------ ranking
def rank_order(values: np.ndarray, labelled: np.ndarray) -> np.ndarray:
    """Rows by decreasing value; on ties labelled galaxies first, then by row."""
    rows = np.arange(len(values))
    return np.lexsort((rows, ~np.asarray(labelled, dtype=bool), -np.asarray(values)))


def ranking_metrics(
    order: np.ndarray, interesting: np.ndarray, labelled: np.ndarray,
    cutoffs: Sequence[int] = PRECISION_AT,
) -> dict[str, float]:
    """Precision@N counting and excluding labelled galaxies, and average precision.

    Args:
        order: ranked rows (best first); rows not in it are left out.
        interesting: per row, whether the galaxy is interesting.
        labelled: per row, whether the researcher labelled it.

    Returns:
        ``precision_at_N``, ``precision_at_N_unlabelled`` per cut-off,
        ``average_precision`` (of the whole ranking) and ``n_found`` (interesting
        galaxies among the labelled).

    Example:
        >>> truth = np.array([True, False, True, False])
        >>> m = ranking_metrics(np.array([0, 1, 2, 3]), truth, np.zeros(4, bool), [2])
        >>> m["precision_at_2"], round(m["average_precision"], 4)
        (0.5, 0.8333)
    """
    interesting = np.asarray(interesting, dtype=bool)
    labelled = np.asarray(labelled, dtype=bool)
    ranked = interesting[order]
    unlabelled = interesting[order[~labelled[order]]]
    result: dict[str, float] = {}
    for n in cutoffs:
        result[f"precision_at_{n}"] = float(ranked[:n].mean()) if len(ranked) else math.nan
        result[f"precision_at_{n}_unlabelled"] = (float(unlabelled[:n].mean())
                                                  if len(unlabelled) else math.nan)
    hits = np.flatnonzero(ranked)
    result["average_precision"] = (float(np.mean(np.arange(1, len(hits) + 1) / (hits + 1)))
                                   if len(hits) else math.nan)
    result["n_found"] = float((interesting & labelled).sum())
    return result


# ---------------------------------------------------- one step of a method
@dataclass(frozen=True)
class Step:
    """A method's view of the galaxies given the labels so far.

    Attributes:
        predicted: ``(n,)`` each galaxy's predicted interest on the 0–5 scale (the
            GP's mean; a baseline's score scaled to 0–5).
    """

    predicted: np.ndarray


def predict_interest(
    method: str,
    x: np.ndarray,
    labelled_rows: np.ndarray,
    scores: np.ndarray,
    *,
    anomaly: np.ndarray | None = None,
    seed: int = 0,
) -> Step:
    """Every galaxy's predicted interest (0–5) under ``method`` (see :data:`METHODS`).

    Args:
        x: standardised features of all galaxies.
        labelled_rows, scores: the labels so far.
        anomaly: the unsupervised score the baseline uses (isolation forest for
            ``reweighted-forest``; LOF for ``lof``).

    Raises:
        GalmorphError: for active learning without labels, or a baseline without scores.
    """
    _check_method(method)
    if method == "active":
        if not len(labelled_rows):
            raise GalmorphError("no labels yet: label the galaxies `galmorph anomaly next` "
                                "shows, or rank with a baseline method")
        model = InterestModel(seed=seed).fit(x[labelled_rows], scores)
        return Step(np.asarray(model.predict(x)))
    if anomaly is None:
        raise GalmorphError(f"{method} needs anomaly scores")
    if method == "reweighted-forest":
        return Step(reweighted_scores(anomaly, x, labelled_rows, scores, seed=seed))
    return Step(scale_scores(anomaly))


def propose(
    method: str,
    x: np.ndarray,
    labelled_rows: np.ndarray,
    scores: np.ndarray,
    *,
    candidates: np.ndarray,
    batch_size: int = DEFAULT_BATCH_SIZE,
    xi: float = DEFAULT_XI,
    anomaly: np.ndarray | None = None,
    seed: int = 0,
) -> tuple[np.ndarray, pd.DataFrame, dict[str, Any]]:
    """The next batch under ``method``: rows, their numbers and how they were chosen.

    Active learning starts with :func:`spread_sample` and then takes the top
    expected improvement; the baselines take their highest scores. ``candidates``
    (boolean per row) excludes labelled galaxies and artefacts.

    Returns:
        Rows, a table (``acquisition``, ``predicted``, ``std``; NaN where not
        applicable) and details for the session log (``how``, ``seconds``...).
    """
    start = time.perf_counter()
    empty = pd.DataFrame(columns=["acquisition", "predicted", "std"], dtype=float)
    if method == "active" and not len(labelled_rows):
        rows = spread_sample(x, batch_size, candidates=candidates, seed=seed)
        return rows, empty.reindex(range(len(rows))), {
            "how": "cold start: nearest galaxies to k-means centres",
            "seconds": time.perf_counter() - start}
    if method == "active":
        model = InterestModel(seed=seed).fit(x[labelled_rows], scores)
        fitted = time.perf_counter()
        chosen = model.propose(x, batch_size, candidates=candidates, best=float(np.max(scores)),
                               xi=xi)
        table = pd.DataFrame({"acquisition": chosen.acquisition, "predicted": chosen.mean,
                              "std": chosen.std})
        return chosen.rows, table, {
            "how": "expected improvement", "kernel": model.kernel, "xi": xi,
            "fit_seconds": fitted - start, "acquisition_seconds": chosen.seconds,
            "n_exact": chosen.n_exact, "seconds": time.perf_counter() - start}
    predicted = predict_interest(method, x, labelled_rows, scores, anomaly=anomaly,
                                 seed=seed).predicted
    pool = np.flatnonzero(candidates)
    rows = pool[np.lexsort((pool, -predicted[pool]))[:batch_size]]
    table = pd.DataFrame({"acquisition": predicted[rows], "predicted": predicted[rows],
                          "std": np.nan})
    return rows, table, {"how": f"highest {method} score", "seconds": time.perf_counter() - start}


def _check_method(method: str) -> None:
    if method not in METHODS:
        raise GalmorphError(f"unknown method {method!r}: use one of {', '.join(METHODS)}")


# --------------------------------------------------------------- benchmark
def user_scores(values: np.ndarray) -> np.ndarray:
    """A truth column as the simulated researcher's 0–5 scores.

    Values all within [0, 1] are fractions (e.g. of volunteers answering "odd"),
    mapped to ``round(5 × value)`` (halves rounded up); values within [0, 5]
    are scores already.

    Raises:
        GalmorphError: for values outside [0, 5].

    Example:
        >>> user_scores(np.array([0.0, 0.1, 0.7, 1.0])).tolist()
        [0.0, 1.0, 4.0, 5.0]
    """
    values = np.asarray(values, dtype=np.float64)
    if values.size and (values.min() < 0 or values.max() > MAX_SCORE):
        raise GalmorphError("the truth column must hold fractions in [0, 1] or scores in "
                            f"[0, 5]; its values run from {values.min():g} to {values.max():g}")
    if values.size and values.max() <= 1:
        return np.floor(MAX_SCORE * values + 0.5)
    return values


@dataclass
class BenchmarkSetup:
    """The benchmark's galaxies: features, the simulated answers and the truth.

    Attributes:
        ids: galaxies kept (in both the embeddings and the truth, with a value).
        x: their standardised features.
        scores: the researcher's answer for each (0–5).
        interesting: whether each is interesting.
        candidates: galaxies that may be proposed and ranked (not artefacts).
        notes: what was dropped or flagged.
    """

    ids: np.ndarray
    x: np.ndarray
    scores: np.ndarray
    interesting: np.ndarray
    candidates: np.ndarray
    notes: dict[str, Any] = field(default_factory=dict)


def benchmark_setup(
    embeddings: Embeddings | str | Path,
    truth: pd.DataFrame | str | Path,
    score_column: str,
    *,
    threshold: float | None = None,
    pca: int = DEFAULT_PCA,
    seed: int = 0,
    artefacts: np.ndarray | None = None,
) -> BenchmarkSetup:
    """Join the embeddings to the truth catalog on ``id_str`` (see :func:`benchmark`).

    Raises:
        GalmorphError: when the column is missing or nothing matches.
    """
    from galmorph.data.catalog import read_table

    emb = embeddings if isinstance(embeddings, Embeddings) else read_embeddings(embeddings)
    table = truth if isinstance(truth, pd.DataFrame) else read_table(truth)
    for needed in ("id_str", score_column):
        if needed not in table:
            raise GalmorphError(f"the truth catalog has no column {needed!r}")
    by_id = pd.Series(pd.to_numeric(table[score_column], errors="coerce").to_numpy(),
                      index=table["id_str"].astype(str))
    by_id = by_id[~by_id.index.duplicated()]
    values = by_id.reindex([str(i) for i in emb.ids]).to_numpy(dtype=np.float64)
    keep = ~np.isnan(values)
    if not keep.any():
        raise GalmorphError(f"no galaxy of {emb.path or 'the embeddings'} has a "
                            f"{score_column} value in the truth catalog (joined on id_str)")
    if not keep.all():
        warnings.warn(f"{int((~keep).sum())} of {len(keep)} galaxies have no {score_column} "
                      "value: left out of the benchmark", GalmorphWarning, stacklevel=2)
    scores = user_scores(values[keep])
    interesting = (values[keep] >= threshold if threshold is not None
                   else scores >= DEFAULT_INTERESTING_SCORE)
    candidates = np.ones(int(keep.sum()), dtype=bool)
    if artefacts is not None:
        candidates = ~np.asarray(artefacts, dtype=bool)[keep]
    x = interest_features(emb.features, pca, seed=seed)[keep]
    return BenchmarkSetup(
        ids=emb.ids[keep], x=x, scores=scores, interesting=interesting, candidates=candidates,
        notes={"n_galaxies": int(keep.sum()), "n_dropped": int((~keep).sum()),
               "n_interesting": int(interesting[candidates].sum()),
               "n_artefacts": int((~candidates).sum()), "n_features": int(x.shape[1])},
    )


def supervised_scores(
    x: np.ndarray, interesting: np.ndarray, *, folds: int = 5, seed: int = 0
) -> np.ndarray:
    """Out-of-fold P(interesting) ``(n,)`` from logistic regressions told the truth.

    Each of ``folds`` stratified folds is scored by an L2-regularised logistic
    regression fitted to every other fold's ``interesting`` flags: the ceiling of
    what a linear read-out of the features ``x`` ``(n, d)`` can rank, with every
    other galaxy's answer known.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold

    interesting = np.asarray(interesting, dtype=bool)
    scores = np.zeros(len(x))
    splits = min(folds, int(interesting.sum()), int((~interesting).sum()))
    if splits < 2:
        return scores
    for fit, held in StratifiedKFold(splits, shuffle=True, random_state=seed).split(
            x, interesting):
        classifier = LogisticRegression(C=0.1, max_iter=2000).fit(x[fit], interesting[fit])
        scores[held] = classifier.predict_proba(x[held])[:, 1]
    return scores


def simulate(
    method: str,
    setup: BenchmarkSetup,
    *,
    n_labels: int,
    batch_size: int = DEFAULT_BATCH_SIZE,
    xi: float = DEFAULT_XI,
    seed: int = 0,
) -> dict[str, float]:
    """One simulated session of ``method`` (``random``, ``supervised``): label, rank, score.

    ``active`` and ``reweighted-forest`` label ``n_labels`` galaxies in batches, the
    researcher answering with the true score; ``isolation-forest``, ``lof``,
    ``random`` and the ``supervised`` ceiling (:func:`supervised_scores`) label
    nothing. Labelled galaxies rank by the score given, the rest by the method's
    prediction (see :func:`ranking_metrics`).
    """
    x, truth_scores, candidates = setup.x, setup.scores, setup.candidates
    labelled = np.zeros(len(x), dtype=bool)
    rows: list[int] = []
    anomaly = None
    if method in ("isolation-forest", "reweighted-forest"):
        anomaly = isolation_forest_scores(x, seed=seed)
    elif method == "lof":
        anomaly = lof_scores(x, seed=seed)
    if method == "random":
        values = np.random.default_rng(seed).random(len(x))
    elif method == "supervised":
        values = np.zeros(len(x))
        pool = np.flatnonzero(candidates)
        values[pool] = supervised_scores(x[pool], setup.interesting[pool], seed=seed)
    else:
        if method in ("active", "reweighted-forest"):
            while len(rows) < min(n_labels, int(candidates.sum())):
                chosen, _, _ = propose(
                    method, x, np.asarray(rows, dtype=np.int64), truth_scores[rows],
                    candidates=candidates & ~labelled,
                    batch_size=min(batch_size, n_labels - len(rows)), xi=xi,
                    anomaly=anomaly, seed=seed,
                )
                rows.extend(int(r) for r in chosen)
                labelled[chosen] = True
        values = predict_interest(method, x, np.asarray(rows, dtype=np.int64),
                                  truth_scores[rows], anomaly=anomaly, seed=seed).predicted
        values[labelled] = truth_scores[labelled]
    pool = np.flatnonzero(candidates)
    order = pool[rank_order(values[pool], labelled[pool])]
    return ranking_metrics(order, setup.interesting, labelled)


#: Methods compared by :func:`benchmark`, by JSON key.
BENCHMARK_METHODS = {
    "active": "active",
    "isolation_forest": "isolation-forest",
    "reweighted_forest": "reweighted-forest",
    "random": "random",
    "supervised_ceiling": "supervised",
}


def benchmark(
    setup: BenchmarkSetup,
    *,
    n_labels: int = 200,
    repeats: int = 15,
    batch_size: int = DEFAULT_BATCH_SIZE,
    xi: float = DEFAULT_XI,
    seed: int = 0,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Simulated-researcher benchmark: active learning against the baselines.

    Each method runs ``repeats`` times (seeds ``seed``, ``seed + 1``, ...; they
    change the cold start, the forests and the random ranking) with
    ``n_labels`` labels where it takes labels (:func:`simulate`).

    Returns:
        Per method key (:data:`BENCHMARK_METHODS`), each metric of
        :func:`ranking_metrics` as its mean over repeats, ``<metric>_std`` its
        standard deviation, ``seconds`` the mean time of a run and ``repeats`` the
        per-run values; ``settings``: the run's settings and the data's counts.
    """
    result: dict[str, Any] = {}
    for key, method in BENCHMARK_METHODS.items():
        runs = []
        start = time.perf_counter()
        for repeat in range(repeats):
            if progress is not None:
                progress(f"{key}: run {repeat + 1}/{repeats}")
            runs.append(simulate(method, setup, n_labels=n_labels, batch_size=batch_size,
                                 xi=xi, seed=seed + repeat))
        summary: dict[str, Any] = {}
        for metric in runs[0]:
            values = np.array([r[metric] for r in runs])
            summary[metric] = float(values.mean())
            summary[f"{metric}_std"] = float(values.std())
        summary["seconds"] = (time.perf_counter() - start) / repeats
        summary["repeats"] = runs
        result[key] = summary
    result["settings"] = {"n_labels": n_labels, "repeats": repeats, "batch_size": batch_size,
                          "xi": xi, "seed": seed, **setup.notes}
    return result


# ----------------------------------------------------------------- sessions
@dataclass(frozen=True)
class SessionSettings:
    """How a session proposes and ranks; stored in its file (see :class:`AnomalySession`).

    Attributes:
        embeddings: absolute path of the embeddings file.
        method: one of :data:`METHODS`.
        pca: principal components of the interest features.
        xi: exploration trade-off ξ of the expected improvement.
        batch_size: galaxies per proposed batch.
        seed: seed of the cold start, the forests and the PCA.
        include_artefacts: propose and rank flagged galaxies too.
        artefact_source: the predictions file the flags came from, if any.
        artefact_column: its fraction column.
        artefact_threshold: the fraction at or above which a galaxy is flagged.
        model: the embeddings' model (name and sha256), for the record.
        ids_sha256: checksum of the embeddings' ids, to notice a changed file.
    """

    embeddings: str
    method: str = "active"
    pca: int = DEFAULT_PCA
    xi: float = DEFAULT_XI
    batch_size: int = DEFAULT_BATCH_SIZE
    seed: int = 0
    include_artefacts: bool = False
    artefact_source: str | None = None
    artefact_column: str | None = None
    artefact_threshold: float = DEFAULT_ARTEFACT_THRESHOLD
    model: dict[str, str] = field(default_factory=dict)
    ids_sha256: str = ""

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> SessionSettings:
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in values.items() if k in known})


class AnomalySession:
    """An embeddings file and a session file (:class:`~galmorph.anomaly.labels.LabelStore`) together.

    Make one with :meth:`start`, continue one with :meth:`open`. Labels are
    written through immediately; nothing else needs saving.
    """

    def __init__(self, store: LabelStore, embeddings: Embeddings,
                 settings: SessionSettings) -> None:
        self.store = store
        self.embeddings = embeddings
        self.settings = settings
        self._features: np.ndarray | None = None
        self._galaxies: pd.DataFrame | None = None

    # --------------------------------------------------------- lifecycle
    @classmethod
    def start(
        cls,
        embeddings: str | Path,
        session: str | Path,
        *,
        method: str = "active",
        pca: int = DEFAULT_PCA,
        xi: float = DEFAULT_XI,
        batch_size: int = DEFAULT_BATCH_SIZE,
        seed: int = 0,
        predictions: pd.DataFrame | str | Path | None = None,
        artefact_column: str | None = None,
        artefact_threshold: float = DEFAULT_ARTEFACT_THRESHOLD,
        include_artefacts: bool = False,
        overwrite: bool = False,
    ) -> AnomalySession:
        """Start a session: settings, galaxies, their isolation-forest scores and artefact flags.

        Args:
            embeddings: parquet file from ``galmorph embed``.
            session: the session file to create.
            predictions: table (or file) from ``galmorph predict`` to flag artefacts
                with (:func:`artefact_flags`); None: no flags.
            overwrite: replace an existing session file.

        Raises:
            GalmorphError: for bad settings, or an existing session without ``overwrite``.
        """
        from galmorph.data.catalog import read_table

        _check_method(method)
        if pca < 1 or batch_size < 1:
            raise GalmorphError("--pca and --batch-size must be at least 1")
        if Path(session).exists() and not overwrite:
            raise GalmorphError(f"session file {session} already exists: continue it, or pass "
                                "--force to start again (its labels would be lost)")
        emb = read_embeddings(embeddings)
        values: dict[str, np.ndarray] = {}
        source = column = None
        if predictions is not None:
            table = (predictions if isinstance(predictions, pd.DataFrame)
                     else read_table(predictions))
            flags, fractions, column = artefact_flags(table, emb.ids, column=artefact_column,
                                                      threshold=artefact_threshold)
            values.update(artefact=flags, artefact_value=fractions)
            source = None if isinstance(predictions, pd.DataFrame) else str(
                Path(predictions).resolve())
        settings = SessionSettings(
            embeddings=str(Path(embeddings).resolve()), method=method, pca=pca, xi=xi,
            batch_size=batch_size, seed=seed, include_artefacts=include_artefacts,
            artefact_source=source, artefact_column=column, artefact_threshold=artefact_threshold,
            model={k: emb.info.model.get(k, "") for k in ("name", "sha256")},
            ids_sha256=ids_digest(emb.ids),
        )
        features = interest_features(emb.features, pca, seed=seed)
        values["isolation_forest"] = isolation_forest_scores(features, seed=seed)
        if method == "lof":
            values["lof"] = lof_scores(features, seed=seed)
        store = LabelStore.create(session, asdict(settings), emb.ids, values=values,
                                  overwrite=overwrite)
        session_ = cls(store, emb, settings)
        session_._features = features
        return session_

    @classmethod
    def open(cls, session: str | Path, *, embeddings: str | Path | None = None
             ) -> AnomalySession:
        """Continue a session; ``embeddings`` gives the embeddings' new path (a moved file).

        The new path is recorded in the session once its galaxies are checked.

        Raises:
            GalmorphError: when the embeddings' galaxies differ from the session's.
        """
        store = LabelStore.open(session)
        settings = SessionSettings.from_dict(store.settings())
        path = embeddings if embeddings is not None else settings.embeddings
        if not Path(path).is_file():
            store.close()
            raise GalmorphError(f"the session's embeddings file {path} is missing; pass its new "
                                "location with --embeddings")
        emb = read_embeddings(path)
        if ids_digest(emb.ids) != settings.ids_sha256:
            store.close()
            raise GalmorphError(f"{path} does not hold the galaxies this session was started "
                                "with (its ids differ)")
        moved = str(Path(path).resolve())
        if moved != settings.embeddings:
            store.update_settings({"embeddings": moved})
            settings = replace(settings, embeddings=moved)
        return cls(store, emb, settings)

    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> AnomalySession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------- state
    @property
    def features(self) -> np.ndarray:
        """Standardised interest features of every galaxy (computed once)."""
        if self._features is None:
            self._features = interest_features(self.embeddings.features, self.settings.pca,
                                               seed=self.settings.seed)
        return self._features

    @property
    def galaxies(self) -> pd.DataFrame:
        """The session's galaxy table (see :meth:`LabelStore.galaxies`)."""
        if self._galaxies is None:
            self._galaxies = self.store.galaxies()
        return self._galaxies

    def labelled(self) -> tuple[np.ndarray, np.ndarray]:
        """Rows and current scores of the labelled galaxies."""
        labels = self.store.labels()
        rows = pd.Index(self.embeddings.ids).get_indexer(list(labels))
        return rows.astype(np.int64), np.fromiter(labels.values(), dtype=np.float64,
                                                  count=len(labels))

    def _anomaly(self, method: str) -> np.ndarray | None:
        if method == "lof":
            lof = self.galaxies["lof"].to_numpy(dtype=np.float64)
            if np.isnan(lof).all():
                lof = lof_scores(self.features, seed=self.settings.seed)
                self.store.set_galaxy_values({"lof": lof})
                self._galaxies = None
            return lof
        if method in ("isolation-forest", "reweighted-forest"):
            return self.galaxies["isolation_forest"].to_numpy(dtype=np.float64)
        return None

    def _eligible(self, include_artefacts: bool | None) -> np.ndarray:
        if include_artefacts is None:
            include_artefacts = self.settings.include_artefacts
        if include_artefacts:
            return np.ones(len(self.embeddings), dtype=bool)
        return ~self.galaxies["artefact"].to_numpy(dtype=bool)

    # ----------------------------------------------------------- actions
    def label(self, galaxy_id: str, score: float) -> LabelRecord:
        """Store a score (0–5) durably; see :meth:`LabelStore.label`."""
        return self.store.label(galaxy_id, check_score(score))

    def next_batch(self, *, new: bool = False) -> Batch:
        """The galaxies to label next: the unlabelled rest of the latest batch, or a new batch.

        A new batch is proposed (and recorded) when the latest one is fully
        labelled, when there is none, or with ``new``.

        Raises:
            GalmorphError: when every eligible galaxy is labelled.
        """
        labels = self.store.labels()
        latest = self.store.latest_batch()
        if latest is not None and not new:
            waiting = [i for i, g in enumerate(latest.ids) if g not in labels]
            if waiting:
                return Batch(latest.batch_id, latest.created_at, latest.method, latest.n_labels,
                             [latest.ids[i] for i in waiting],
                             latest.values.iloc[waiting].reset_index(drop=True), latest.details)
        settings = self.settings
        rows, scores = self.labelled()
        candidates = self._eligible(None)
        candidates[rows] = False
        if not candidates.any():
            raise GalmorphError("every galaxy that can be proposed is labelled already")
        chosen, table, details = propose(
            settings.method, self.features, rows, scores, candidates=candidates,
            batch_size=settings.batch_size, xi=settings.xi,
            anomaly=self._anomaly(settings.method), seed=settings.seed,
        )
        method = "cold-start" if settings.method == "active" and not len(rows) else settings.method
        return self.store.record_batch(self.embeddings.ids[chosen].tolist(), method, table,
                                       details)

    def ranking(self, *, method: str | None = None, include_artefacts: bool | None = None
                ) -> pd.DataFrame:
        """Every eligible galaxy, most interesting first.

        Columns: ``rank``, ``id_str``, ``interest`` (the score given if labelled,
        else the prediction, 0–5), ``labelled``, ``score`` (given; NaN if not),
        ``predicted`` (the method's), ``isolation_forest``, ``artefact``, then
        ``ra``, ``dec``, ``file_loc`` when the embeddings have them.

        Args:
            method: rank with another method than the session's.
            include_artefacts: override the session's setting.
        """
        method = method or self.settings.method
        _check_method(method)
        rows, scores = self.labelled()
        predicted = predict_interest(method, self.features, rows, scores,
                                     anomaly=self._anomaly(method),
                                     seed=self.settings.seed).predicted
        n = len(self.embeddings)
        labelled = np.zeros(n, dtype=bool)
        labelled[rows] = True
        given = np.full(n, np.nan)
        given[rows] = scores
        interest = np.where(labelled, given, predicted)
        pool = np.flatnonzero(self._eligible(include_artefacts) | labelled)
        order = pool[rank_order(interest[pool], labelled[pool])]
        frame = pd.DataFrame({
            "rank": np.arange(1, len(order) + 1),
            "id_str": self.embeddings.ids[order],
            "interest": interest[order],
            "labelled": labelled[order],
            "score": given[order],
            "predicted": predicted[order],
            "isolation_forest": self.galaxies["isolation_forest"].to_numpy()[order],
            "artefact": self.galaxies["artefact"].to_numpy()[order],
        })
        emb = self.embeddings
        for name, column in (("ra", emb.ra), ("dec", emb.dec), ("file_loc", emb.file_loc)):
            if column is not None:
                frame[name] = np.asarray(column)[order]
        frame.attrs["galmorph"] = {"galmorph_anomaly_method": method,
                                   "galmorph_anomaly_labels": str(len(rows)),
                                   "galmorph_anomaly_session": str(self.store.path)}
        return frame
