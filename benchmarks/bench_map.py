"""How long the web map takes: UMAP and PCA maps of synthetic embeddings, by catalog size.

Times :func:`galmorph.inference.maps.compute_map` (the map ``galmorph embed --map``
and ``galmorph serve`` compute) on unit-length features shaped like embeddings:
``--clusters`` groups on a 10-D manifold, mixed into ``--features`` dimensions, plus
noise. numba compiles UMAP once per process first; that warm-up is timed apart. The
figures justify :data:`galmorph.inference.defaults.DEFAULT_UMAP_MAX`, the size above
which ``auto`` draws the PCA map.

Usage::

    python benchmarks/bench_map.py                         # UMAP 1e4 3e4 1e5; PCA 1e6
    python benchmarks/bench_map.py --umap 2000 --pca 100000
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from galmorph.inference.maps import compute_map


def features(n: int, dims: int, clusters: int, seed: int = 0) -> np.ndarray:
    """``(n, dims)`` float32 unit rows: ``clusters`` groups on a 10-D manifold, plus noise."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=3.0, size=(clusters, 10))
    latent = centres[rng.integers(0, clusters, n)] + rng.normal(size=(n, 10))
    x = latent @ rng.normal(size=(10, dims)) + 0.3 * rng.normal(size=(n, dims))
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x.astype(np.float32)


def timed(x: np.ndarray, method: str) -> float:
    start = time.perf_counter()
    xy, used = compute_map(x, method=method)
    assert used == method and xy.shape == (len(x), 2)
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--umap", type=int, nargs="*", default=[10_000, 30_000, 100_000],
                        help="catalog sizes of the UMAP runs")
    parser.add_argument("--pca", type=int, nargs="*", default=[1_000_000],
                        help="catalog sizes of the PCA runs")
    parser.add_argument("--features", type=int, default=40, help="(default: 40)")
    parser.add_argument("--clusters", type=int, default=20, help="(default: 20)")
    args = parser.parse_args(argv)

    print(f"{args.features}-D features, {args.clusters} clusters")
    if args.umap:
        warm = timed(features(300, args.features, args.clusters, seed=1), "umap")
        print(f"UMAP warm-up (numba compiles), 300 galaxies: {warm:.1f} s")
    print(f"{'method':>6} {'galaxies':>10} {'seconds':>8} {'µs/galaxy':>10}")
    for method, sizes in (("umap", args.umap), ("pca", args.pca)):
        for n in sizes:
            seconds = timed(features(n, args.features, args.clusters), method)
            print(f"{method:>6} {n:>10,} {seconds:>8.1f} {1e6 * seconds / n:>10.1f}")


if __name__ == "__main__":
    main()
