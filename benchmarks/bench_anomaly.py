"""Active-learning speed at survey scale: one iteration (GP fit + expected improvement).

Draws ``--n`` galaxies (default 1,000,000) of ``--dim`` 40 standardised features
from a mixture of Gaussian clusters, three of them small (0.3% of the galaxies)
and interesting (score 5, the rest 0–2). The labelled set mimics a session
under way: ``--hot`` (default 30%) of the labels come from the interesting
clusters, as active learning concentrates there, the rest are random.

For each labelled-set size (``--labels``, default 200 and 500) it times, with
:class:`galmorph.anomaly.interest.InterestModel`:

* ``fit``: the GP's hyperparameter fit on the labels;
* ``propose``: the exact top-10 expected improvement over all galaxies (one
  blockwise pass for μ and a σ bound, then exact σ in bound order), with how
  many galaxies needed an exact σ;
* ``brute``: μ and σ of every galaxy and the top 10 from that (the reference),
  and the recall of ``propose``'s top 10 against it.

Wall seconds are printed, wall and CPU seconds written (``--json``; the machine may be
shared). The target (issue 6): fit + propose < 2 s at 200 labels on the 2-core
development machine.

Usage::

    nice -n 19 .venv/bin/python benchmarks/bench_anomaly.py --n 100000
    .venv/bin/python benchmarks/bench_anomaly.py --json anomaly_speed.json   # 1M, ~1 GB
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from galmorph.anomaly.defaults import DEFAULT_XI
from galmorph.anomaly.interest import InterestModel, expected_improvement

K = 10


def synthetic(n: int, dim: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Standardised features, true scores and the interesting mask of ``n`` galaxies."""
    rng = np.random.default_rng(seed)
    n_clusters = 50
    centres = rng.normal(scale=1.5, size=(n_clusters, dim)).astype(np.float32)
    weights = rng.dirichlet(np.ones(n_clusters))
    weights[:3] = 0.001  # three rare, interesting clusters
    weights /= weights.sum()
    cluster = rng.choice(n_clusters, size=n, p=weights)
    x = centres[cluster] + rng.normal(size=(n, dim)).astype(np.float32)
    x = (x - x.mean(axis=0)) / x.std(axis=0)
    interesting = cluster < 3
    scores = np.where(interesting, 5.0, rng.integers(0, 3, size=n).astype(float))
    return x.astype(np.float32), scores, interesting


def timed(fn: Callable[[], Any]) -> tuple[Any, float, float]:
    """``fn()``, its wall and CPU seconds."""
    wall, cpu = time.perf_counter(), time.process_time()
    value = fn()
    return value, time.perf_counter() - wall, time.process_time() - cpu


def run(n: int, dim: int, labels: list[int], hot: float, seed: int, brute: bool
        ) -> dict[str, Any]:
    import torch  # noqa: F401  (imported by any galmorph session already; not timed)

    x, scores, interesting = synthetic(n, dim, seed)
    rng = np.random.default_rng(seed + 1)
    results: dict[str, Any] = {"n": n, "dim": dim, "hot": hot, "k": K, "xi": DEFAULT_XI,
                               "runs": []}
    for m in labels:
        n_hot = int(round(hot * m))
        rows = np.concatenate([
            rng.choice(np.flatnonzero(interesting), n_hot, replace=False),
            rng.choice(np.flatnonzero(~interesting), m - n_hot, replace=False),
        ])
        candidates = np.ones(n, dtype=bool)
        candidates[rows] = False
        model = InterestModel(seed=seed)
        _, fit_wall, fit_cpu = timed(lambda: model.fit(x[rows], scores[rows]))  # noqa: B023
        best = float(scores[rows].max())
        proposal, prop_wall, prop_cpu = timed(
            lambda: model.propose(x, K, candidates=candidates, best=best)  # noqa: B023
        )
        run_result: dict[str, Any] = {
            "labels": m, "kernel": model.kernel,
            "fit_s": fit_wall, "fit_cpu_s": fit_cpu,
            "propose_s": prop_wall, "propose_cpu_s": prop_cpu,
            "iteration_s": fit_wall + prop_wall, "n_exact": proposal.n_exact,
        }
        if brute:
            def everything() -> np.ndarray:
                mean, std = model.predict(x, return_std=True)  # noqa: B023
                ei = np.where(candidates, expected_improvement(mean, std, best),  # noqa: B023
                              -np.inf)
                return np.argsort(-ei, kind="stable")[:K]

            top, brute_wall, brute_cpu = timed(everything)
            run_result.update(brute_s=brute_wall, brute_cpu_s=brute_cpu,
                              recall_at_10=len(set(top) & set(proposal.rows)) / K)
        results["runs"].append(run_result)
        print(summary_line(run_result), flush=True)
    return results


def summary_line(result: dict[str, Any]) -> str:
    """One run as a line: wall seconds of the iteration, its parts and the reference."""
    line = (f"{result['labels']:>5} labels: iteration {result['iteration_s']:.2f} s "
            f"(fit {result['fit_s']:.2f} s, proposal {result['propose_s']:.2f} s, "
            f"{result['n_exact']:,} exact sigma)")
    if "brute_s" in result:
        line += (f"; every galaxy {result['brute_s']:.2f} s, "
                 f"recall@10 {result['recall_at_10']:.2f}")
    return line


def label_sizes(text: str) -> list[int]:
    """``--labels``: comma-separated positive sizes."""
    try:
        sizes = [int(v) for v in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"not comma-separated integers: {text!r}") from None
    if min(sizes) < 1:
        raise argparse.ArgumentTypeError(f"sizes must be positive: {text!r}")
    return sizes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=1_000_000, help="galaxies (default: 1M)")
    parser.add_argument("--dim", type=int, default=40, help="features (default: 40)")
    parser.add_argument("--labels", type=label_sizes, default=[200, 500],
                        help="labelled-set sizes (default: 200,500)")
    parser.add_argument("--hot", type=float, default=0.3,
                        help="fraction of labels from the interesting clusters (default: 0.3)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-brute", action="store_true",
                        help="skip the full computation (and the recall)")
    parser.add_argument("--json", metavar="OUT.json", help="also write the results here")
    args = parser.parse_args()
    print(f"{args.n:,} galaxies x {args.dim} features; wall seconds (CPU seconds in --json)")
    results = run(args.n, args.dim, args.labels, args.hot, args.seed, not args.no_brute)
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(results, handle, indent=2)


if __name__ == "__main__":
    main()
