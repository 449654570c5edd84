"""Browse paging at survey scale: ``GET /api/galaxies`` with filters and sorts.

Writes ``--rows`` synthetic galaxies (default one million): an embeddings parquet
file of 8 features with sky positions (the format ``galmorph embed`` writes, read
by :class:`galmorph.web.gallery.Gallery`), and a ``galmorph predict``-shaped
table of the ``gz2-no-odd`` schema (per question ``_asked``, per answer
``_fraction``, ``_lower90`` and ``_upper90``, float32; fractions drawn from a
Dirichlet per question). It loads them in a :class:`Gallery` and times requests
through FastAPI's test client (the whole HTTP path: routing, validation, JSON):
the first page of each query (the filter evaluated, the sort computed) and the
median of the ``--pages`` next pages (served from the caches), after the server's
first request (timed alone), for

* no filter;
* ``where=bar > 0.6 and spiral > 0.8``;
* ``sort=-bar``;
* ``where=bar > 0.6 and spiral > 0.8`` with ``sort=spiral.uncertainty``;
* ``q=999``: id contains (the first such request also lower-cases every id, once).

The target (issue 24): < 100 ms a page at 10^6 galaxies.

Usage::

    nice -n 19 .venv/bin/python benchmarks/bench_web_paging.py
    .venv/bin/python benchmarks/bench_web_paging.py --rows 100000 --pages 20
"""

from __future__ import annotations

import argparse
import resource
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from galmorph.data.schemas import get_schema
from galmorph.inference.embeddings import METADATA_KEY, EmbeddingInfo, feature_columns
from galmorph.inference.outputs import write_table

N_FEATURES = 8
FILTER = "bar > 0.6 and spiral > 0.8"
QUERIES = {
    "no filter": {},
    f"where={FILTER}": {"where": FILTER},
    "sort=-bar": {"sort": "-bar"},
    "where + sort=spiral.uncertainty": {"where": FILTER, "sort": "spiral.uncertainty"},
    "q=999 (id contains)": {"q": "999"},
}


def write_embeddings(path: Path, ids: np.ndarray, rng: np.random.Generator) -> None:
    """An embeddings file of ``N_FEATURES`` random features, ra and dec."""
    info = EmbeddingInfo(model={"spec": "synthetic", "path": "-", "name": "synthetic",
                                "sha256": "-"}, encoder="none", feature_dim=N_FEATURES,
                         image={}, n_features=N_FEATURES)
    frame = pd.DataFrame(rng.normal(size=(len(ids), N_FEATURES)).astype(np.float32),
                         columns=feature_columns(N_FEATURES))
    frame.insert(0, "id_str", ids)
    frame.insert(1, "ra", rng.uniform(0, 360, len(ids)))
    frame.insert(2, "dec", np.degrees(np.arcsin(rng.uniform(-1, 1, len(ids)))))
    write_table(frame, path, {METADATA_KEY: info.to_json()})


def write_predictions(path: Path, ids: np.ndarray, rng: np.random.Generator) -> None:
    """A gz2-no-odd predictions table: Dirichlet fractions and 90% intervals around them."""
    columns: dict[str, np.ndarray] = {"id_str": ids}
    for question in get_schema("gz2-no-odd").questions:
        draws = rng.gamma(0.5, size=(len(ids), len(question.answers)))
        fractions = draws / draws.sum(axis=1, keepdims=True)
        columns[f"{question.name}_asked"] = rng.random(len(ids)).astype(np.float32)
        for j, answer in enumerate(question.answers):
            fraction = fractions[:, j]
            stem = answer.full_name
            columns[f"{stem}_fraction"] = fraction.astype(np.float32)
            columns[f"{stem}_lower90"] = (fraction * rng.uniform(0.5, 0.95, len(ids))
                                          ).astype(np.float32)
            columns[f"{stem}_upper90"] = np.minimum(
                1, fraction + rng.uniform(0.02, 0.3, len(ids))).astype(np.float32)
    write_table(pd.DataFrame(columns), path)


def time_query(client: object, params: dict[str, str], per_page: int, pages: int
               ) -> tuple[float, float, int]:
    """ms of the first page, median ms of the next ``pages`` pages, and the total."""

    def get(page: int) -> tuple[float, dict]:
        start = time.perf_counter()
        answer = client.get("/api/galaxies", params={**params, "page": page,
                                                     "per_page": per_page})
        elapsed = (time.perf_counter() - start) * 1000
        if answer.status_code != 200:
            raise SystemExit(f"{params}: {answer.status_code} {answer.text}")
        return elapsed, answer.json()

    first, data = get(1)
    later = [get(page)[0] for page in range(2, min(pages + 1, data["pages"]) + 1)]
    return first, statistics.median(later) if later else float("nan"), data["total"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="galaxies (1000000)")
    parser.add_argument("--pages", type=int, default=10, help="later pages timed (10)")
    parser.add_argument("--per-page", type=int, default=48, help="galaxies a page (48)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    from fastapi.testclient import TestClient

    from galmorph.web.app import create_app
    from galmorph.web.gallery import Gallery

    rng = np.random.default_rng(args.seed)
    ids = np.array([f"{1237645879551066262 + 7919 * i}" for i in range(args.rows)])
    with tempfile.TemporaryDirectory(prefix="galmorph-bench-web-") as folder:
        start = time.perf_counter()
        write_embeddings(Path(folder) / "emb.parquet", ids, rng)
        write_predictions(Path(folder) / "predictions.parquet", ids, rng)
        write_s = time.perf_counter() - start
        start = time.perf_counter()
        gallery = Gallery(Path(folder) / "emb.parquet",
                          predictions=Path(folder) / "predictions.parquet")
        load_s = time.perf_counter() - start
    client = TestClient(create_app(gallery))
    start = time.perf_counter()
    client.get("/api/galaxies", params={"per_page": 1})
    first_s = time.perf_counter() - start
    print(f"{args.rows:,} galaxies: files written in {write_s:.1f} s, Gallery loaded in "
          f"{load_s:.1f} s, the server's first request {first_s * 1000:.0f} ms (pandas "
          f"indexes the ids on first use); pages of {args.per_page}")
    print(f"{'query':<34} {'matches':>9} {'first page ms':>14} {'next pages ms':>14}")
    for name, params in QUERIES.items():
        first, later, total = time_query(client, params, args.per_page, args.pages)
        print(f"{name:<34} {total:>9,} {first:>14.1f} {later:>14.1f}")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak memory {peak:,.0f} MB")


if __name__ == "__main__":
    main()
