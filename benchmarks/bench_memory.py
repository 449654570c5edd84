"""Memory at scale: peak RSS of ``galmorph embed`` and ``galmorph predict`` on huge catalogs.

For each catalog size (default 100,000 and 1,000,000 rows) the benchmark writes
a parquet catalog whose ``file_loc`` cycles over a small set of images, then runs
each command over the *whole* catalog in a fresh process (``python -m galmorph
... --resume``, one DataLoader worker), with an untrained ``test_convnext``
vote model at 32 px. While it runs, the memory of the process and of its
workers is sampled every half second, and the number of rows done is read from
the finished chunk files in ``OUT.parts/``. It prints, per command and size:

* the catalog table's own size, ``load_catalog(...).memory_usage(deep=True).sum()``;
* peak RSS of the galmorph process: its ``VmHWM`` (the kernel's high-water mark
  of its own memory since it started, read every half second until it exits;
  ``ru_maxrss`` is not used, because Linux carries the parent's high-water mark
  over fork and exec, so a child's would include this benchmark's catalog), and
  the peak total PSS of the process and its workers (sampled; PSS counts pages
  the workers share with it once);
* memory growth while the rows stream through: the slope of RSS against rows
  done, fitted from the second finished chunk on (MB per 100,000 rows).
  Beyond the table itself, memory should not grow with the number of rows: the
  slope should be near 0 and peak RSS minus the table about the same for both
  sizes.

Usage::

    .venv/bin/python benchmarks/bench_memory.py [--rows 100000 1000000]
        [--commands embed predict] [--images small|demo] [--max-seconds S]
        [--workdir DIR] [--json OUT.json]

``--images small`` (default) uses 64 synthetic 40 x 40 px JPEGs, so that decoding
is cheap and a million rows take minutes; ``demo`` cycles over the 630 bundled
128 px GZ2 images (slower; the memory figures are the same). ``--max-seconds``
stops a run after S seconds and reports what it had measured by then (marked
``partial``); by default every run goes to the end.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from PIL import Image

from galmorph.data.bundled import demo_dir
from galmorph.data.catalog import load_catalog
from galmorph.data.image_config import ImageConfig
from galmorph.data.schemas import get_schema
from galmorph.models.checkpoint import build_model, save_model
from galmorph.training.train import model_metadata

MB = 1024 * 1024
CHUNK = 50_000


def make_model(folder: Path) -> Path:
    """An untrained test_convnext vote model at 32 px (no image-size convention to check)."""
    schema = get_schema("gz2-no-odd")
    config = ImageConfig.for_sdss_gz2(size=32, pixel_scale=None, field_of_view=None)
    metadata = model_metadata(
        schema, config, "test_convnext", 0.2, {}, np.full(schema.n_answers, 3.0), "bench"
    )
    torch.manual_seed(0)
    return save_model(build_model(metadata), metadata, folder / "bench.pt")


def make_images(folder: Path, kind: str) -> list[str]:
    if kind == "demo":
        return [str(p) for p in sorted((demo_dir() / "images").glob("*.jpg"))]
    folder.mkdir(exist_ok=True)
    rng = np.random.default_rng(0)
    paths = []
    for i in range(64):
        pixels = rng.integers(0, 256, (40, 40, 3), dtype=np.uint8)
        path = folder / f"synthetic-{i:02d}.jpg"
        Image.fromarray(pixels).save(path, quality=90)
        paths.append(str(path))
    return paths


def make_catalog(path: Path, rows: int, images: list[str]) -> int:
    """Write the catalog; return the loaded table's own size in bytes."""
    index = np.arange(rows)
    frame = pd.DataFrame({
        "id_str": [f"J{i:09d}" for i in index],
        "ra": (index * 0.001) % 360.0,
        "dec": ((index * 0.0007) % 180.0) - 90.0,
        "file_loc": np.asarray(images, dtype=object)[index % len(images)],
    })
    frame.to_parquet(path, index=False)
    del frame
    loaded = load_catalog(path, None)  # as galmorph holds it: checked, absolute paths
    return int(loaded.memory_usage(deep=True).sum())


def _children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as handle:
            kids = [int(k) for k in handle.read().split()]
    except OSError:
        return []
    return kids + [g for k in kids for g in _children(k)]


def _field(path: str, name: str) -> int:
    """A ``kB`` field of a /proc status-like file, in bytes (0 when gone)."""
    try:
        with open(path) as handle:
            for line in handle:
                if line.startswith(name):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def _rows_done(parts: Path) -> int:
    if not parts.is_dir():
        return 0
    done = 0
    for part in parts.glob("rows-*.parquet"):
        _, start, stop = part.stem.split("-")
        done += int(stop) - int(start)
    return done


def run(command: str, catalog: Path, model: Path, out: Path, max_seconds: float | None) -> dict:
    """One galmorph run, sampled; returns its measurements."""
    argv = [sys.executable, "-m", "galmorph", command, str(catalog), "-m", str(model),
            "-o", str(out), "--resume", "--chunk-size", str(CHUNK), "--batch-size", "256",
            "--num-workers", "1", "--device", "cpu", "--no-progress"]
    if command == "embed":
        argv += ["--views", "1"]  # memory does not depend on it; 8 views take 8 times longer
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    parts = out.with_name(out.name + ".parts")
    samples: list[tuple[float, int, int, int]] = []  # seconds, rows done, RSS, tree PSS
    high_water = [0]  # VmHWM of the galmorph process, bytes
    log = out.with_suffix(".log")
    start = time.monotonic()
    with open(log, "wb") as sink:
        process = subprocess.Popen(argv, stdout=sink, stderr=subprocess.STDOUT, env=env)
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            rss = _field(f"/proc/{process.pid}/status", "VmRSS:")
            high_water[0] = max(high_water[0], _field(f"/proc/{process.pid}/status", "VmHWM:"))
            pss = sum(_field(f"/proc/{p}/smaps_rollup", "Pss:")
                      for p in [process.pid, *_children(process.pid)])
            if rss:
                samples.append((time.monotonic() - start, _rows_done(parts), rss, pss))
            stop.wait(0.5)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    partial = False
    while True:
        pid, status, _ = os.wait4(process.pid, os.WNOHANG)
        if pid:
            break
        if max_seconds is not None and time.monotonic() - start > max_seconds:
            partial = True
            process.send_signal(signal.SIGKILL)
            _, status, _ = os.wait4(process.pid, 0)
            break
        time.sleep(0.2)
    process.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
    stop.set()
    sampler.join()
    seconds = time.monotonic() - start
    if not partial and process.returncode != 0:
        output = log.read_text(errors="replace")
        raise RuntimeError(f"galmorph {command} failed:\n{output[-3000:]}")
    rows_done = samples[-1][1] if partial and samples else None
    # growth: RSS against rows done, from the second finished chunk on (start-up excluded)
    steady = [(r, m) for _, r, m, _ in samples if r >= 2 * CHUNK]
    slope = None
    if len({r for r, _ in steady}) >= 3:
        rows, rss = np.array(steady, dtype=np.float64).T
        slope = float(np.polyfit(rows, rss, 1)[0]) * 100_000 / MB
    return {
        "command": command,
        "partial": partial,
        "rows_done": rows_done,
        "seconds": round(seconds, 1),
        "peak_rss_mb": round(high_water[0] / MB, 1),
        "peak_tree_pss_mb": round(max((s[3] for s in samples), default=0) / MB, 1),
        "rss_growth_mb_per_100k_rows": None if slope is None else round(slope, 1),
        "samples": [(round(t, 1), r, round(m / MB), round(p / MB)) for t, r, m, p in samples],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--commands", nargs="+", choices=("embed", "predict"),
                        default=["embed", "predict"])
    parser.add_argument("--images", choices=("small", "demo"), default="small")
    parser.add_argument("--max-seconds", type=float, default=None)
    parser.add_argument("--workdir", type=Path, default=None,
                        help="where catalogs and outputs go (default: a temporary folder)")
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = parser.parse_args()

    work = args.workdir or Path(tempfile.mkdtemp(prefix="galmorph-bench-memory-"))
    work.mkdir(parents=True, exist_ok=True)
    model = make_model(work)
    images = make_images(work / "images", args.images)
    results = []
    print(f"{'command':8} {'rows':>9} {'table MB':>9} {'peak RSS MB':>12} "
          f"{'peak PSS MB':>12} {'RSS - table':>12} {'MB/100k rows':>13} {'s':>7}", flush=True)
    for rows in args.rows:
        catalog = work / f"catalog-{rows}.parquet"
        table = make_catalog(catalog, rows, images)
        for command in args.commands:
            out = work / f"{command}-{rows}.parquet"
            result = {"rows": rows, "table_mb": round(table / MB, 1),
                      **run(command, catalog, model, out, args.max_seconds)}
            results.append(result)
            growth = result["rss_growth_mb_per_100k_rows"]
            note = f"  (partial: {result['rows_done']} rows)" if result["partial"] else ""
            print(f"{command:8} {rows:9,d} {result['table_mb']:9.1f} "
                  f"{result['peak_rss_mb']:12.1f} {result['peak_tree_pss_mb']:12.1f} "
                  f"{result['peak_rss_mb'] - result['table_mb']:12.1f} "
                  f"{'n/a' if growth is None else f'{growth:+.1f}':>13} "
                  f"{result['seconds']:7.0f}{note}", flush=True)
            if out.exists():
                out.unlink()
            shutil.rmtree(out.with_name(out.name + ".parts"), ignore_errors=True)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / MB
    print(f"(this benchmark process: peak RSS {own:.0f} MB, work folder {work})")


if __name__ == "__main__":
    from _cli import run_main

    run_main(main)
