"""Throughput of image decoding and augmentation, against the model's training rate.

Prints images/s for: decoding alone; decoding + training augmentation at 96 and
128 px; the same from a cache of decoded uint8 arrays; decoding + the evaluation
transform (prediction) at 96 and 224 px, and at 224 px the GPU's worker share
(decoding + the ``uint8`` centre crop, finished on the GPU); and the same through a
DataLoader with one worker per core (batching included). Single-process rows use
one core (one torch thread). The last column
compares each rate with the model's measured speed on a 2-core CPU (training
77 img/s at 96 px and 47 img/s at 128 px, prediction 336 img/s at 96 px);
decoding keeps up when it is at least 3x.

Usage::

    .venv/bin/python benchmarks/bench_data.py [--catalog PATH] [--n N]

The default catalog is the bundled GZ2 demo (630 galaxies). Files are read once
before timing, so figures are for a warm file-system cache.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Iterable
from importlib.resources import files
from pathlib import Path

import torch
from torch.utils.data import DataLoader

from galmorph.data.catalog import load_catalog
from galmorph.data.galaxy_dataset import GalaxyDataset, decode_images, usable_cores
from galmorph.data.image_config import ImageConfig
from galmorph.data.images import load_image
from galmorph.data.transforms import eval_preparation, eval_transform, train_transform

#: Model throughput (images/s) on this project's 2-core CPU, convnext_atto.
MODEL_RATE = {("train", 96): 77.0, ("train", 128): 47.0, ("predict", 96): 336.0}
DEMO_CATALOG = Path(str(files("galmorph") / "demo_data" / "gz2_demo" / "catalog.csv"))


def rate(run: Callable[[], Iterable[int]]) -> float:
    """Images per second of ``run``, which yields how many images each step handled."""
    start = time.perf_counter()
    count = sum(run())
    return count / (time.perf_counter() - start)


def loader_rate(dataset: GalaxyDataset, workers: int, batch_size: int) -> float:
    """Images/s through a DataLoader, timed from its first batch (after worker start-up)."""
    loader = DataLoader(
        dataset, batch_size=batch_size, num_workers=workers, prefetch_factor=4, shuffle=True
    )
    batches = iter(loader)
    next(batches)
    return rate(lambda: (len(b["index"]) for b in batches))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--catalog", type=Path, default=DEMO_CATALOG)
    parser.add_argument("--n", type=int, default=600, help="images to use (default 600)")
    parser.add_argument("--batch-size", type=int, default=64)
    args = parser.parse_args()

    cores = usable_cores()
    catalog = load_catalog(args.catalog).head(args.n).reset_index(drop=True)
    paths = catalog["file_loc"].tolist()
    torch.set_num_threads(1)
    for path in paths:  # warm the file-system cache
        Path(path).read_bytes()
    first = load_image(paths[0])
    print(f"catalog {args.catalog}: {len(paths)} images of {first.shape[1]}x{first.shape[0]} "
          f"px, {first.shape[2]} channels; {cores} cores; torch {torch.__version__}")

    start = time.perf_counter()
    cache = decode_images(paths, 3)
    print(f"decoded-image cache: {cache.nbytes / 2**20:.0f} MiB in "
          f"{time.perf_counter() - start:.1f} s\n")

    rows: list[tuple[str, str, float, tuple[str, int] | None]] = []
    rows.append(("decode only", "1 core", rate(lambda: (load_image(p).size > 0 for p in paths)),
                 None))
    for size in (96, 128):
        config = ImageConfig.for_sdss_gz2(size=size)
        decoded = GalaxyDataset(catalog, None, train_transform(config))
        cached = GalaxyDataset(catalog, None, train_transform(config), cache=cache)
        for name, dataset in (("decode + train augment", decoded),
                              ("cached uint8 + train augment", cached)):
            rows.append((f"{name}, {size} px", "1 core",
                         rate(lambda d=dataset: (1 for i in range(len(d)) if d[i])),
                         ("train", size)))
            rows.append((f"{name}, {size} px", f"DataLoader, {cores} workers",
                         loader_rate(dataset, cores, args.batch_size), ("train", size)))
    for name, size, make in (("decode + eval transform", 96, eval_transform),
                             ("decode + eval transform", 224, eval_transform),
                             ("decode + uint8 crop (GPU finishes)", 224, eval_preparation)):
        predict = GalaxyDataset(catalog, None, make(ImageConfig.for_sdss_gz2(size=size)))
        model = ("predict", size) if ("predict", size) in MODEL_RATE else None
        rows.append((f"{name}, {size} px", "1 core",
                     rate(lambda d=predict: (1 for i in range(len(d)) if d[i])), model))
        rows.append((f"{name}, {size} px", f"DataLoader, {cores} workers",
                     loader_rate(predict, cores, args.batch_size), model))

    print(f"{'pipeline':<44} {'where':<24} {'img/s':>8}  {'x model rate':>22}")
    for name, where, value, model in rows:
        ratio = ""
        if model is not None:
            ratio = f"{value / MODEL_RATE[model]:.1f}x {model[0]} {MODEL_RATE[model]:.0f}/s"
        print(f"{name:<44} {where:<24} {value:8.0f}  {ratio:>22}")


if __name__ == "__main__":
    from _cli import run_main

    run_main(main)
