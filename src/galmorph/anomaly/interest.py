"""Active learning (the default method): a Gaussian process learns the researcher's taste.

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
(:func:`~galmorph.anomaly.features.spread_sample`: the galaxies nearest the k-means
centres of a sample).

At survey scale the batch is found without computing ``σ`` for every galaxy
(:meth:`InterestModel.propose`): one cheap float32 pass gives every galaxy
upper bounds on ``μ`` (allowing for rounding) and on ``σ`` (from its single most
correlated labelled galaxy), hence on its EI; ``μ`` and ``σ`` are then computed
exactly (float64) in order of decreasing bound until the batch's worst EI beats
every remaining bound. The result is the exact top-``k`` by EI (recall 1 against
computing everything; ``benchmarks/bench_anomaly.py`` measures both).
"""

from __future__ import annotations

import math
import time
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.special import ndtr

from galmorph.anomaly.checks import check_candidates, check_features, check_scores
from galmorph.anomaly.defaults import DEFAULT_XI
from galmorph.exceptions import GalmorphError
from galmorph.numbers import real_number, whole_number

#: Rows per block when computing the GP's posterior for many galaxies.
_CHUNK = 16_384
#: Rows per block of the float32 bound pass (small enough to stay in cache).
_SCAN_CHUNK = 4_096
#: Galaxies whose exact σ is computed per step of :meth:`InterestModel.propose`.
_EXACT_BLOCK = 2_048


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
def _data_scaled_start(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """A second starting point for the kernel's hyperparameters, in the labels' own units:
    the length scale is the median distance between labelled galaxies and the amplitude
    the mean squared score (both within the kernel's bounds).

    From the fixed start alone, a few extreme scores (only 0s and 5s) can lead the
    optimiser to a length scale far below the galaxies' spacing, where every galaxy is
    predicted the prior's 0 and proposals are in catalog order; the fit keeps whichever
    start reaches the higher marginal likelihood.
    """
    from scipy.spatial.distance import pdist

    length = float(np.median(pdist(x)))
    return float(np.clip(length, 0.2, 500.0)), float(np.clip(np.mean(y**2), 0.02, 500.0))


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
        """Fit to labelled features ``(m, d)`` and scores ``(m,)``, ``m ≥ 1``.

        Raises:
            ValueError: for other shapes, or NaN or infinite values.
        """
        from sklearn.exceptions import ConvergenceWarning
        from sklearn.gaussian_process import GaussianProcessRegressor
        from sklearn.gaussian_process.kernels import ConstantKernel, RationalQuadratic, WhiteKernel
        from threadpoolctl import threadpool_limits

        x = check_features(x, "x", min_rows=1).astype(np.float64)
        y = check_scores(y, len(x))

        def kernel(length_scale: float, amplitude: float) -> Any:
            return (
                ConstantKernel(amplitude, (1e-2, 1e3))
                * RationalQuadratic(length_scale=length_scale, alpha=1.0,
                                    length_scale_bounds=(1e-1, 1e3), alpha_bounds=(1e-3, 1e3))
                + WhiteKernel(0.1, (1e-2, 1e1))
            )

        starts = [kernel(math.sqrt(x.shape[1]), 1.0)]
        if len(x) > 1:  # also from the labels' own scale (see _data_scaled_start)
            starts.append(kernel(*_data_scaled_start(x, y)))
        fits = []
        # small matrices: one BLAS thread is fastest, and far faster on a busy machine
        with warnings.catch_warnings(), threadpool_limits(limits=1, user_api="blas"):
            warnings.simplefilter("ignore", ConvergenceWarning)
            for start in starts:
                fits.append(GaussianProcessRegressor(start, random_state=self.seed).fit(x, y))
        gp = max(fits, key=lambda fit: fit.log_marginal_likelihood_value_)
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

        Raises:
            ValueError: unless ``x`` is ``(n, d)`` finite features, ``d`` as fitted.
        """
        self._check()
        return self._posterior(check_features(x, "x", self._train.shape[1]), return_std)

    def _posterior(self, x: np.ndarray, return_std: bool
                   ) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
        """:meth:`predict` of checked features."""
        from scipy.linalg import solve_triangular
        from threadpoolctl import threadpool_limits

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

        Raises:
            ValueError: unless ``x`` is ``(n, d)`` finite features (``d`` as fitted), ``k``
                a whole number ≥ 1, ``candidates`` a boolean mask of ``n`` rows with at
                least one True, ``best`` a finite number and ``xi`` a finite number ≥ 0.
        """
        self._check()
        x = check_features(x, "x", self._train.shape[1], min_rows=1)
        k = whole_number(k, "k", 1)
        candidates = check_candidates(candidates, len(x))
        best, xi = real_number(best, "best"), real_number(xi, "xi", 0.0)
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
            mean, std = self._posterior(x[chosen], return_std=True)
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
