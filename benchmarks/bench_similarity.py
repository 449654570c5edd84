"""Approximate nearest-neighbour search at survey scale: build time, memory, latency, recall.

Draws ``--n`` vectors (default 10 million) of ``--dim`` 40 float32 numbers from a
zero-mean Gaussian whose per-axis variances are the PCA spectrum of real galaxy
embeddings (:data:`SPECTRUM`, or ``--spectrum`` from an embeddings file made with
``galmorph embed --pca 40``), builds each galmorph index kind on them with
:func:`galmorph.search.index.build_index` (which calibrates its search effort to
:data:`galmorph.search.index.TARGET_RECALL`), and measures on fresh queries drawn
from the same Gaussian (not in the index):

* build time (training, adding and calibration) and the index's memory (growth of
  the process's resident memory) and file size;
* single-query latency p50/p99, one query at a time on one thread: the faiss
  search for 10 neighbours, and galmorph's full query path (26 candidates, exact
  re-ranking);
* recall@10 against exact search (faiss brute force), and the same at half and
  double the calibrated effort.

The target (issue 5): p50 < 10 ms at recall@10 ≥ 0.95 on a 2-core CPU at 10M.

Usage::

    nice -n 19 .venv/bin/python benchmarks/bench_similarity.py --n 100000 --kinds ivf,hnsw
    .venv/bin/python benchmarks/bench_similarity.py     # 10M, IVF: ~1.6 GB data + 1.6 GB index
    .venv/bin/python benchmarks/bench_similarity.py --spectrum emb_pca40.parquet --json out.json
"""

from __future__ import annotations

import argparse
import json
import resource
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from galmorph.inference.embeddings import read_embeddings
from galmorph.search.defaults import METRICS
from galmorph.search.index import (
    ExactIndex,
    FaissIndex,
    build_index,
    exact_distances,
    search_vectors,
)

#: PCA-40 explained variances of real galaxy embeddings: the shipped gz2-starter model
#: (convnext_atto, 128 px, sha256 f528fbcc1321...) over the 1,237 validation and test
#: galaxies of the GZ2 development set (split seed 1). Its first 10 components hold 97.9%
#: of the variance (Walmsley et al. 2022: 84% for EfficientNet-B0 on 274k galaxies).
SPECTRUM = (
    35.92, 17.19, 6.875, 6.519, 2.157, 1.246, 0.9975, 0.7315, 0.5186, 0.3605,
    0.3159, 0.2128, 0.1545, 0.1269, 0.1124, 0.09941, 0.07931, 0.07017, 0.05334, 0.03862,
    0.03581, 0.03178, 0.02725, 0.02638, 0.01965, 0.01545, 0.01361, 0.01283, 0.01188, 0.00975,
    0.008294, 0.007687, 0.006867, 0.005516, 0.005323, 0.004612, 0.004184, 0.003915, 0.003581,
    0.003373,
)
K = 10
#: Extra candidates galmorph's query path asks for (see SimilaritySearch.by_vector).
EXTRA = 16
GENERATE_CHUNK = 1_000_000


def memory_mb() -> tuple[float, float]:
    """Current and peak resident memory of this process, MB."""
    values = {}
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(("VmRSS:", "VmHWM:")):
                key, amount, _ = line.split()
                values[key] = int(amount) / 1024
    if not values:  # not Linux
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        return peak, peak
    return values["VmRSS:"], values["VmHWM:"]


def load_spectrum(path: Path | None, dim: int) -> np.ndarray:
    """Variances per axis: the built-in spectrum, or an embeddings file's PCA, or a .npy."""
    if path is None:
        variances = np.asarray(SPECTRUM)
    elif path.suffix == ".npy":
        variances = np.load(path)
    else:
        pca = read_embeddings(path).info.pca
        if pca is None:
            raise SystemExit(f"{path} has no PCA: make it with galmorph embed --pca {dim}")
        variances = pca.explained_variance
    if len(variances) < dim:
        raise SystemExit(f"the spectrum has {len(variances)} values; --dim is {dim}")
    return np.asarray(variances[:dim], dtype=np.float64)


def draw(n: int, variances: np.ndarray, metric: str, rng: np.random.Generator) -> np.ndarray:
    """``(n, d)`` search-space vectors drawn in chunks (no full-size temporary)."""
    out = np.empty((n, len(variances)), dtype=np.float32)
    scale = np.sqrt(variances).astype(np.float32)
    for start in range(0, n, GENERATE_CHUNK):
        stop = min(start + GENERATE_CHUNK, n)
        chunk = rng.standard_normal((stop - start, len(variances)), dtype=np.float32) * scale
        out[start:stop] = search_vectors(chunk, metric)
    return out


def recall(found: np.ndarray, truth: np.ndarray) -> float:
    return float(np.mean([len(set(f) & set(t)) / len(t) for f, t in zip(found, truth,
                                                                        strict=True)]))


@contextmanager
def one_thread() -> Iterator[None]:
    """Run faiss on one thread (single-query latency), then restore its thread count."""
    import faiss

    threads = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    try:
        yield
    finally:
        faiss.omp_set_num_threads(threads)


def timed_ms(search: Callable[[np.ndarray], object], queries: np.ndarray) -> np.ndarray:
    """Wall time (ms) of ``search`` on each query ``(d,)``, one at a time."""
    times = np.empty(len(queries))
    for i, query in enumerate(queries):
        start = time.perf_counter()
        search(query)
        times[i] = time.perf_counter() - start
    return times * 1000


def full_query(index: FaissIndex, vectors: np.ndarray, query: np.ndarray, metric: str) -> None:
    """galmorph's query path without the sky checks: candidates, exact re-ranking."""
    rows = index.search(query[None], K + EXTRA)[0]
    rows = rows[rows >= 0]
    distances = exact_distances(query, vectors[rows], metric)
    rows[np.lexsort((rows, distances))][:K]


def bench_kind(kind: str, vectors: np.ndarray, metric: str, recall_queries: np.ndarray,
               truth: np.ndarray, latency_queries: np.ndarray, workdir: Path) -> dict[str, Any]:
    import faiss

    before, _ = memory_mb()
    start = time.perf_counter()
    index = build_index(vectors, metric, kind)
    build_s = time.perf_counter() - start
    after, peak = memory_mb()
    assert isinstance(index, FaissIndex)
    path = workdir / f"{kind}.faiss"
    start = time.perf_counter()
    faiss.write_index(index.index, str(path))
    write_s = time.perf_counter() - start
    start = time.perf_counter()
    faiss.read_index(str(path))
    read_s = time.perf_counter() - start
    size_mb = path.stat().st_size / 2**20
    path.unlink()

    with one_thread():
        search_ms = timed_ms(lambda q: index.search(q[None], K), latency_queries)
        full_ms = timed_ms(lambda q: full_query(index, vectors, q, metric), latency_queries)
        effort = index.effort
        sweep = {}
        for value in sorted({max(1, effort // 2), effort, 2 * effort}):
            index.set_effort(value)
            found = index.search(recall_queries, K)
            ms = timed_ms(lambda q: index.search(q[None], K), latency_queries[:200])
            sweep[value] = {"recall_at_10": recall(found, truth), "p50_ms": float(np.median(ms))}
        index.set_effort(effort)
    return {
        "kind": kind, "params": index.params, "build_s": round(build_s, 2),
        "memory_mb": round(after - before, 1), "peak_rss_mb": round(peak, 1),
        "file_mb": round(size_mb, 1), "write_s": round(write_s, 2), "read_s": round(read_s, 2),
        "search_p50_ms": float(np.percentile(search_ms, 50)),
        "search_p99_ms": float(np.percentile(search_ms, 99)),
        "query_p50_ms": float(np.percentile(full_ms, 50)),
        "query_p99_ms": float(np.percentile(full_ms, 99)),
        "recall_at_10": sweep[effort]["recall_at_10"],
        "effort_sweep": sweep,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10_000_000, help="indexed vectors (10M)")
    parser.add_argument("--dim", type=int, default=40, help="dimensions (40)")
    parser.add_argument("--metric", choices=[m for m in METRICS if m != "manhattan"],
                        default="cosine")
    parser.add_argument("--kinds", default="ivf",
                        help="index kinds, comma-separated: ivf (what auto uses), hnsw")
    parser.add_argument("--recall-queries", type=int, default=1000)
    parser.add_argument("--latency-queries", type=int, default=2000)
    parser.add_argument("--spectrum", type=Path, default=None,
                        help="embeddings parquet with PCA (or .npy of variances)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, default=None, help="also write results here")
    args = parser.parse_args()

    import faiss

    rng = np.random.default_rng(args.seed)
    variances = load_spectrum(args.spectrum, args.dim)
    start = time.perf_counter()
    vectors = draw(args.n, variances, args.metric, rng)
    recall_queries = draw(args.recall_queries, variances, args.metric, rng)
    latency_queries = draw(args.latency_queries, variances, args.metric, rng)
    print(f"{args.n:,} x {args.dim} float32 vectors ({vectors.nbytes / 2**20:,.0f} MB, "
          f"{args.metric}), drawn in {time.perf_counter() - start:.1f} s; "
          f"{faiss.omp_get_max_threads()} faiss threads to build, 1 to query")

    exact = ExactIndex(vectors, args.metric)
    start = time.perf_counter()
    truth = exact.search(recall_queries, K)
    truth_s = time.perf_counter() - start
    with one_thread():
        exact_ms = timed_ms(lambda q: exact.search(q[None], K), latency_queries[:20])
    results: dict[str, Any] = {
        "n": args.n, "dim": args.dim, "metric": args.metric, "seed": args.seed,
        "spectrum": str(args.spectrum or "built-in"),
        "exact": {"batch_truth_s": round(truth_s, 2), "p50_ms": float(np.median(exact_ms))},
        "kinds": [],
    }
    print(f"exact: ground truth for {args.recall_queries} queries in {truth_s:.1f} s; "
          f"single query p50 {np.median(exact_ms):.1f} ms (1 thread)")
    with tempfile.TemporaryDirectory() as workdir:
        for kind in args.kinds.split(","):
            row = bench_kind(kind, vectors, args.metric, recall_queries, truth, latency_queries,
                             Path(workdir))
            results["kinds"].append(row)
            effort = {k: v for k, v in row["params"].items()
                      if k in ("nlist", "nprobe", "M", "ef_search")}
            print(
                f"{kind}: {effort}; build {row['build_s']:.1f} s, +{row['memory_mb']:,.0f} MB "
                f"(peak RSS {row['peak_rss_mb']:,.0f} MB), file {row['file_mb']:,.0f} MB "
                f"(write {row['write_s']:.1f} s, read {row['read_s']:.1f} s)\n"
                f"    search k=10: p50 {row['search_p50_ms']:.3f} ms, p99 "
                f"{row['search_p99_ms']:.3f} ms; full query: p50 {row['query_p50_ms']:.3f} ms, "
                f"p99 {row['query_p99_ms']:.3f} ms; recall@10 {row['recall_at_10']:.4f}\n"
                "    effort sweep: " + "; ".join(
                    f"{value}: recall {s['recall_at_10']:.4f}, p50 {s['p50_ms']:.3f} ms"
                    for value, s in row["effort_sweep"].items())
            )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
        print(f"wrote {args.json}")


if __name__ == "__main__":
    from _cli import run_main

    run_main(main)
