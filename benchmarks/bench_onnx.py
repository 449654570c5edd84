"""Images/s of ``embed`` with the PyTorch and ONNX Runtime backends, in the same run.

Embeds the first ``--n`` galaxies of a catalog with a model (default: the
shipped ``gz2-starter``, tf_efficientnet_lite0 at 128 px) through
:func:`galmorph.inference.embed.embed_catalog`, once per backend per repeat,
alternating backends so that both see the same machine load. Each timing is the
whole call: catalog checks, JPEG decoding in the loader workers (default count),
the evaluation transform and the model; for ONNX also opening the cached
export (the export itself is timed once, separately, and not counted).

Prints per backend the best and median images/s over the repeats, the ratio,
and the largest absolute difference between the two backends' features (the
parity check; the exit status is 1 when it exceeds
:data:`galmorph.models.onnx.ATOL`). Both backends use their default thread counts.

Usage::

    .venv/bin/python benchmarks/bench_onnx.py                     # bundled 630 galaxies
    .venv/bin/python benchmarks/bench_onnx.py --quick             # CI smoke run, < 1 min
    .venv/bin/python benchmarks/bench_onnx.py --catalog ../shared/data/gz2_sdss/catalog.csv --n 2000
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from galmorph.data import bundled
from galmorph.data.catalog import load_catalog
from galmorph.data.views import VIEW_CHOICES
from galmorph.inference.embed import embed_catalog
from galmorph.models.checkpoint import load_model
from galmorph.models.defaults import DEFAULT_MODEL
from galmorph.models.onnx import ATOL
from galmorph.models.onnx_backend import CACHE_ENV, cached_onnx_model

BACKENDS = ("torch", "onnx")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--catalog", type=Path, default=bundled.demo_catalog(),
                        help="catalog with id_str and file_loc (default: the bundled demo)")
    parser.add_argument("--n", type=int, default=None, help="first N galaxies (default: all)")
    parser.add_argument("--model", default=DEFAULT_MODEL, help="model (default: %(default)s)")
    parser.add_argument("--repeats", type=int, default=3, help="runs per backend (default: 3)")
    parser.add_argument("--batch-size", type=int, default=128, help="(default: 128)")
    parser.add_argument("--views", type=int, choices=VIEW_CHOICES, default=1,
                        help="orientations per image (default: 1, the per-image rate; "
                        "`galmorph embed` averages over 8 by default)")
    parser.add_argument("--num-workers", type=int, default=None,
                        help="loader workers (default: galmorph's default)")
    parser.add_argument("--quick", action="store_true",
                        help="CI-sized: 64 galaxies, 1 repeat")
    parser.add_argument("--json", type=Path, default=None, help="also write results here")
    args = parser.parse_args(argv)
    if args.quick:
        args.n, args.repeats = args.n or 64, 1
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    frame = load_catalog(args.catalog, None)
    frame = frame.head(args.n) if args.n else frame
    loaded = load_model(args.model, "cpu")
    config = loaded.image_config
    with tempfile.TemporaryDirectory() as cache:
        os.environ[CACHE_ENV] = cache  # a fresh export, timed; the user's cache is untouched
        start = time.perf_counter()
        cached_onnx_model(loaded, "encoder")
        export_s = time.perf_counter() - start
        rates: dict[str, list[float]] = {b: [] for b in BACKENDS}
        features: dict[str, np.ndarray] = {}
        for _ in range(args.repeats):
            for backend in BACKENDS:
                start = time.perf_counter()
                table = embed_catalog(
                    frame, loaded, backend=backend, batch_size=args.batch_size,
                    num_workers=args.num_workers, progress=False, views=args.views,
                )
                rates[backend].append(len(frame) / (time.perf_counter() - start))
                features[backend] = table.filter(like="feat_").to_numpy()
    diff = float(np.abs(features["torch"] - features["onnx"]).max())
    best = {b: max(r) for b, r in rates.items()}
    print(f"embed, {loaded.name} ({loaded.metadata['encoder']}, {config.size} px, "
          f"{config.channels} channels), {len(frame)} galaxies of {args.catalog}, "
          f"batch {args.batch_size}, {args.views} view(s), {args.repeats} repeat(s), "
          f"{os.cpu_count()} CPUs")
    print(f"ONNX export (encoder, once): {export_s:.1f} s")
    print(f"{'backend':<8} {'best img/s':>11} {'median img/s':>13}")
    for backend in BACKENDS:
        print(f"{backend:<8} {best[backend]:>11.1f} {statistics.median(rates[backend]):>13.1f}")
    print(f"onnx / torch (best): {best['onnx'] / best['torch']:.2f}x")
    print(f"max |onnx - torch| on features: {diff:.2e} (tolerance {ATOL:g})")
    if args.json is not None:
        args.json.write_text(json.dumps({
            "model": loaded.name, "image_size": config.size, "n_galaxies": len(frame),
            "batch_size": args.batch_size, "repeats": args.repeats, "export_s": export_s,
            "images_per_s": rates, "max_abs_diff": diff, "tolerance": ATOL,
        }, indent=2))
    return 0 if diff <= ATOL else 1


if __name__ == "__main__":
    from _cli import run_main

    run_main(main)
