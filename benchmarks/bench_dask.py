"""Partitioned predict on Dask: throughput per core, overhead per partition, memory per worker.

All figures come from one run, on catalogs whose ``file_loc`` cycles over a small
set of images (64 synthetic 40 x 40 px JPEGs, or the 630 bundled GZ2 images with
``--images demo``), with an untrained ``--encoder`` vote model at ``--image-size``
px (or ``--model``). Clusters are galmorph's local ones
(:func:`galmorph.inference.dask_run.dask_client`: worker processes of one thread,
where Dask's nanny sets ``OMP_NUM_THREADS=1``). It prints:

1. **Throughput**: the same ``--throughput-rows`` rows predicted by plain
   ``galmorph predict`` (:func:`galmorph.inference.predict.predict_to_file` on one
   parquet file, in this process, with its default loader workers and PyTorch
   threads), by plain predict on one PyTorch thread decoding images in this
   process (``--num-workers 0``, as a Dask worker does), by
   :func:`~galmorph.inference.dask_run.run_partitions` in this process (no Dask),
   and on Dask with each of ``--workers`` (the catalog cut into
   ``--throughput-partitions`` files). Workers load the model before the clock
   starts, as plain predict does. Images/s per core is images/s divided by
   workers x threads per worker on Dask, by ``os.cpu_count()`` for plain predict,
   and by 1 on one thread. The last columns are that over plain predict's and
   over one thread's (target: at least 0.9); the one-thread runs are taken in
   turns with the Dask runs, so that both meet the same load from other programs,
   and a Dask run is compared with those beside it. Best of ``--repeats``. On a
   machine whose cores are busy with other work, PyTorch on several threads can
   be far slower than on one (its threads wait for each other): the one-thread
   row tells that apart from Dask's own cost.
2. **Overhead per partition**: ``--tiny-partitions`` one-row partitions run with a
   task that does nothing (scheduling, results and manifest only) on Dask and in
   this process, and with the real task (read, check, predict one image, write);
   per partition, in seconds of worker time (wall x workers / partitions), and as
   a share of one partition of ``--partition-rows`` rows at the measured rate.
3. **Memory per worker**: for each ``--rows`` size, the catalog cut into
   partitions of ``--partition-rows`` rows, run on a fresh cluster of the largest
   ``--workers``; each worker's peak RSS (``VmHWM`` of ``/proc/self/status``, its
   own high-water mark since it started) after loading the model and after the
   run. It should not grow with the catalog: a worker holds one partition.

Usage::

    .venv/bin/python benchmarks/bench_dask.py                  # 10^5 and 10^6 rows
    .venv/bin/python benchmarks/bench_dask.py --quick --rows 2000 20000
    .venv/bin/python benchmarks/bench_dask.py --model gz2-starter --images demo
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from PIL import Image

from galmorph.data.bundled import demo_dir
from galmorph.data.image_config import ImageConfig
from galmorph.data.schemas import get_schema
from galmorph.inference.dask_run import dask_client, run_partitions
from galmorph.inference.partition_task import PartitionJob, PartitionResult, job_model
from galmorph.inference.partitions import Partition, find_partitions
from galmorph.inference.predict import predict_to_file
from galmorph.models.checkpoint import build_model, save_model
from galmorph.training.train import model_metadata

MB = 1024 * 1024


def make_model(folder: Path, encoder: str, size: int) -> Path:
    """An untrained gz2-no-odd vote model (no image-size convention to check)."""
    schema = get_schema("gz2-no-odd")
    config = ImageConfig.for_sdss_gz2(size=size, pixel_scale=None, field_of_view=None)
    metadata = model_metadata(schema, config, encoder, 0.2, {}, np.full(schema.n_answers, 3.0),
                              "bench")
    torch.manual_seed(0)
    return save_model(build_model(metadata), metadata, folder / "bench.pt")


def make_images(folder: Path, kind: str) -> list[str]:
    if kind == "demo":
        return [str(p) for p in sorted((demo_dir() / "images").glob("*.jpg"))]
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    paths = []
    for i in range(64):
        path = folder / f"synthetic-{i:02d}.jpg"
        Image.fromarray(rng.integers(0, 256, (40, 40, 3), dtype=np.uint8)).save(path, quality=90)
        paths.append(str(path))
    return paths


def catalog(rows: int, images: list[str]) -> pd.DataFrame:
    index = np.arange(rows)
    return pd.DataFrame({
        "id_str": [f"J{i:09d}" for i in index],
        "ra": (index * 0.001) % 360.0,
        "dec": ((index * 0.0007) % 180.0) - 90.0,
        "file_loc": np.asarray(images, dtype=object)[index % len(images)],
    })


def write_partitions(frame: pd.DataFrame, root: Path, per_partition: int) -> list[Partition]:
    """``frame`` cut into HATS-like files ``root/Norder=0/Dir=0/Npix=i.parquet``."""
    folder = root / "Norder=0" / "Dir=0"
    folder.mkdir(parents=True, exist_ok=True)
    for i, start in enumerate(range(0, len(frame), per_partition)):
        frame.iloc[start:start + per_partition].to_parquet(folder / f"Npix={i}.parquet",
                                                           index=False)
    return find_partitions(root)


def _peak_rss() -> float:
    """This process's peak RSS in MB: VmHWM (Linux), else ru_maxrss."""
    try:
        with open("/proc/self/status") as handle:
            for line in handle:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    scale = 1 if sys.platform == "darwin" else 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale / MB


def _worker_state() -> dict[str, float]:
    return {"peak_rss_mb": _peak_rss(), "torch_threads": torch.get_num_threads()}


def _load(model: str) -> None:
    job_model(model)  # loaded once per process; not sent back


def _noop_task() -> Callable[[Partition, PartitionJob], PartitionResult]:
    """A task that reads and computes nothing (a closure: Dask ships it by value)."""
    def noop(partition: Partition, job: PartitionJob) -> PartitionResult:
        return PartitionResult(partition.relative, 1, "0" * 64, 1)

    return noop


def _timed(run: Callable[[], Any]) -> float:
    start = time.perf_counter()
    run()
    return time.perf_counter() - start


def _on_cluster(workers: int, model: str, body: Callable[[Any], Any]) -> tuple[Any, list[dict]]:
    """``body(client)`` on a fresh local cluster whose workers loaded the model first;
    returns its result and each worker's state afterwards (and after loading, first)."""
    with dask_client(workers=workers) as client:
        client.wait_for_workers(workers)
        client.run(_load, model)
        loaded = list(client.run(_worker_state).values())
        result = body(client)
        after = list(client.run(_worker_state).values())
    return result, [{"loaded_mb": a["peak_rss_mb"], **b} for a, b in zip(loaded, after,
                                                                          strict=True)]


def _one_thread(run: Callable[[], Any]) -> float:
    """Seconds of ``run()`` with PyTorch on one thread (one core, as a Dask worker)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return _timed(run)
    finally:
        torch.set_num_threads(threads)


def throughput(args: argparse.Namespace, work: Path, model: str, job: PartitionJob,
               images: list[str]) -> list[dict]:
    frame = catalog(args.throughput_rows, images)
    single = work / "throughput.parquet"
    frame.to_parquet(single, index=False)
    per = -(-len(frame) // args.throughput_partitions)
    parts = write_partitions(frame, work / "throughput_hats", per)
    loaded = job_model(model)
    cores = os.cpu_count() or 1
    threads = torch.get_num_threads()
    options = {k: v for k, v in job.options.items() if k != "num_workers"}

    def fresh(name: str) -> PartitionJob:
        shutil.rmtree(work / name, ignore_errors=True)
        return PartitionJob(job.kind, job.model, job.model_sha256, work / name, job.options)

    def plain(**extra: Any) -> None:
        predict_to_file(single, work / "plain.parquet", loaded, **extra, **options)

    rows = [
        {"run": "plain predict", "cores": cores, "torch_threads": threads,
         "seconds": min(_timed(plain) for _ in range(args.repeats))},
        {"run": "partitions, no Dask", "cores": cores, "torch_threads": threads,
         "seconds": min(_timed(lambda: run_partitions(parts, fresh("local")))
                        for _ in range(args.repeats))},
    ]
    one_thread = []
    for workers in args.workers:
        def alternating(client: Any) -> tuple[float, float]:
            """Best seconds of Dask runs and of one-thread plain runs, taken in turns
            (so that both meet the same load from other programs)."""
            pairs = [(_timed(lambda: run_partitions(parts, fresh("dask"), client=client)),
                      _one_thread(lambda: plain(num_workers=0)))
                     for _ in range(args.repeats)]
            return min(p[0] for p in pairs), min(p[1] for p in pairs)

        (seconds, beside), states = _on_cluster(workers, model, alternating)
        one_thread.append(beside)
        rows.append({"run": f"Dask, {workers} worker{'s' * (workers > 1)}", "cores": workers,
                     "torch_threads": states[0]["torch_threads"], "seconds": seconds,
                     "beside": beside})
    rows.insert(1, {"run": "plain, 1 thread, nw 0", "cores": 1, "torch_threads": 1,
                    "seconds": min(one_thread)})
    for row in rows:
        row["images_per_s"] = args.throughput_rows / row["seconds"]
        row["per_core"] = row["images_per_s"] / row["cores"]
        row["vs_plain"] = row["per_core"] / (args.throughput_rows / rows[0]["seconds"] / cores)
        # against the one-thread runs taken in turns with it (Dask), else the best of them
        row["vs_one_thread"] = row["per_core"] / (args.throughput_rows
                                                  / row.get("beside", min(one_thread)))
    return rows


def overhead(args: argparse.Namespace, work: Path, model: str, job: PartitionJob,
             images: list[str], rate_per_worker: float) -> list[dict]:
    n = args.tiny_partitions
    parts = write_partitions(catalog(n, images), work / "tiny_hats", 1)
    workers = max(args.workers)

    def fresh(name: str) -> PartitionJob:
        shutil.rmtree(work / name, ignore_errors=True)
        return PartitionJob(job.kind, job.model, job.model_sha256, work / name, job.options)

    results = []
    noop = _timed(lambda: run_partitions(parts, fresh("noop-local"), task=_noop_task()))
    results.append({"run": "no-op task, no Dask", "workers": 1, "seconds": noop})

    def on_dask(client: Any) -> tuple[float, float]:
        empty = _timed(lambda: run_partitions(parts, fresh("noop"), client=client,
                                              task=_noop_task()))
        real = _timed(lambda: run_partitions(parts, fresh("tiny"), client=client))
        return empty, real

    (empty, real), _ = _on_cluster(workers, model, on_dask)
    results.append({"run": "no-op task, Dask", "workers": workers, "seconds": empty})
    results.append({"run": "1-row partitions, Dask", "workers": workers, "seconds": real})
    partition_seconds = args.partition_rows / rate_per_worker
    for row in results:
        row["per_partition_ms"] = 1000 * row["seconds"] * row["workers"] / n
        row["share"] = row["per_partition_ms"] / 1000 / partition_seconds
    return results


def memory(args: argparse.Namespace, work: Path, model: str, job: PartitionJob,
           images: list[str]) -> list[dict]:
    workers = max(args.workers)
    results = []
    for rows in args.rows:
        root = work / f"hats_{rows}"
        parts = write_partitions(catalog(rows, images), root, args.partition_rows)
        target = PartitionJob(job.kind, job.model, job.model_sha256, work / f"out_{rows}",
                              job.options)
        seconds_box: list[float] = []

        def body(client: Any, parts: list[Partition] = parts,
                 target: PartitionJob = target, box: list[float] = seconds_box) -> None:
            box.append(_timed(lambda: run_partitions(parts, target, client=client)))

        _, states = _on_cluster(workers, model, body)
        results.append({
            "rows": rows, "partitions": len(parts), "workers": workers,
            "seconds": seconds_box[0],
            "loaded_mb": [round(s["loaded_mb"]) for s in states],
            "peak_mb": [round(s["peak_rss_mb"]) for s in states],
        })
        shutil.rmtree(root)
        shutil.rmtree(target.out_dir)
    return results


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=None,
                        help="catalog sizes of the memory runs (default: 100000 1000000)")
    parser.add_argument("--partition-rows", type=int, default=None,
                        help="rows per partition of the memory runs (default: 50000)")
    parser.add_argument("--throughput-rows", type=int, default=None,
                        help="rows of the throughput runs (default: 20000)")
    parser.add_argument("--throughput-partitions", type=int, default=8,
                        help="partitions of the throughput runs (default: 8)")
    parser.add_argument("--tiny-partitions", type=int, default=None,
                        help="one-row partitions of the overhead runs (default: 500)")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2],
                        help="Dask worker counts of the throughput runs (default: 1 2)")
    parser.add_argument("--repeats", type=int, default=None,
                        help="throughput runs of each kind, best kept (default: 3)")
    parser.add_argument("--model", default=None,
                        help="model to run (default: an untrained --encoder at --image-size)")
    parser.add_argument("--encoder", default="test_convnext", help="(default: %(default)s)")
    parser.add_argument("--image-size", type=int, default=32, help="(default: %(default)s)")
    parser.add_argument("--images", choices=("small", "demo"), default="small",
                        help="64 synthetic 40 px JPEGs, or the 630 bundled GZ2 images")
    parser.add_argument("--backend", choices=("torch", "onnx", "auto"), default="torch",
                        help="inference backend of every run (default: torch)")
    parser.add_argument("--batch-size", type=int, default=128, help="(default: 128)")
    parser.add_argument("--quick", action="store_true",
                        help="small defaults: --rows 2000 20000 --partition-rows 1000 "
                        "--throughput-rows 8000 --tiny-partitions 100 --repeats 1")
    parser.add_argument("--workdir", type=Path, default=None,
                        help="where catalogs and outputs go (default: a temporary folder)")
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = parser.parse_args(argv)
    quick = {"rows": [2000, 20000], "partition_rows": 1000, "throughput_rows": 8000,
             "tiny_partitions": 100, "repeats": 1}
    full = {"rows": [100_000, 1_000_000], "partition_rows": 50_000, "throughput_rows": 20_000,
            "tiny_partitions": 500, "repeats": 3}
    for name, value in (quick if args.quick else full).items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    return args


def main(argv: list[str] | None = None) -> dict[str, list[dict]]:
    args = parse_args(argv)
    if __name__ != "__main__":  # imported (a test): ship this module's functions by value
        import cloudpickle

        cloudpickle.register_pickle_by_value(sys.modules[__name__])
    work = args.workdir or Path(tempfile.mkdtemp(prefix="galmorph-bench-dask-"))
    work.mkdir(parents=True, exist_ok=True)
    model = args.model or str(make_model(work, args.encoder, args.image_size))
    images = make_images(work / "images", args.images)
    options = {"device": "cpu", "backend": args.backend, "batch_size": args.batch_size,
               "views": 1, "progress": False}
    job = PartitionJob("predict", model, job_model(model).checksum, work / "out", options)
    print(f"model {args.model or f'untrained {args.encoder} at {args.image_size} px'}, "
          f"backend {args.backend}, {args.images} images, {os.cpu_count()} CPUs "
          f"(torch threads here: {torch.get_num_threads()}), load average "
          f"{os.getloadavg()[0]:.1f}", flush=True)

    speed = throughput(args, work, model, job, images)
    print(f"\n1. Throughput: {args.throughput_rows} rows, {args.throughput_partitions} "
          f"partitions, best of {args.repeats}")
    print(f"{'run':22} {'cores':>5} {'torch thr':>9} {'s':>7} {'img/s':>8} {'img/s/core':>10} "
          f"{'vs plain':>8} {'vs 1 thread':>11}")
    for r in speed:
        print(f"{r['run']:22} {r['cores']:5d} {r['torch_threads']:9d} {r['seconds']:7.2f} "
              f"{r['images_per_s']:8.1f} {r['per_core']:10.1f} {r['vs_plain']:7.2f}x "
              f"{r['vs_one_thread']:10.2f}x", flush=True)

    on_dask = [r for r in speed if "beside" in r]
    one_worker = next((r for r in on_dask if r["cores"] == 1), on_dask[0])
    rate = one_worker["images_per_s"] / one_worker["cores"]
    costs = overhead(args, work, model, job, images, rate)
    print(f"\n2. Overhead per partition: {args.tiny_partitions} one-row partitions; share of "
          f"a {args.partition_rows}-row partition ({args.partition_rows / rate:.1f} s at "
          f"{rate:.0f} img/s per worker)")
    print(f"{'run':24} {'workers':>7} {'s':>7} {'ms/partition':>12} {'share':>8}")
    for r in costs:
        print(f"{r['run']:24} {r['workers']:7d} {r['seconds']:7.2f} "
              f"{r['per_partition_ms']:12.1f} {100 * r['share']:7.2f}%", flush=True)

    sizes = memory(args, work, model, job, images)
    print(f"\n3. Peak RSS per worker (MB; VmHWM), {args.partition_rows} rows per partition")
    print(f"{'rows':>9} {'partitions':>10} {'workers':>7} {'s':>7} {'img/s':>8} "
          f"{'after model load':>18} {'after run':>14}")
    for r in sizes:
        print(f"{r['rows']:9,d} {r['partitions']:10d} {r['workers']:7d} {r['seconds']:7.1f} "
              f"{r['rows'] / r['seconds']:8.1f} {'/'.join(map(str, r['loaded_mb'])):>18} "
              f"{'/'.join(map(str, r['peak_mb'])):>14}", flush=True)
    results = {"throughput": speed, "overhead": costs, "memory": sizes}
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    print(f"(this benchmark process: peak RSS {_peak_rss():.0f} MB, load average "
          f"{os.getloadavg()[0]:.1f}, work folder {work})")
    if args.workdir is None:
        shutil.rmtree(work, ignore_errors=True)
    return results


if __name__ == "__main__":
    from _cli import run_main

    run_main(main)
