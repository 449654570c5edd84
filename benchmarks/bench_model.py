"""Training and prediction throughput of the default encoder on this CPU, with and without data.

For each image size (default 96 and 128 px) and the default encoder
(``convnext_atto``, 3 channels, the ``gz2-no-odd`` vote head), prints images/s of:

* **train, model only**: random tensors, forward + Dirichlet-multinomial loss
  (:meth:`VoteModule.training_step`) + backward + gradient clipping (1.0, as
  ``galmorph train``) + AdamW step, batch 64;
* **train, pipeline**: the same step fed by the real
  :meth:`GalaxyDataModule.train_dataloader` (JPEGs, training augmentation, the
  default worker count), both as ``galmorph train`` runs by default (images
  decoded once into the in-memory cache, whose build time is shown but not
  counted) and with ``--no-cache`` (every JPEG decoded every epoch). Steady
  state: the first batches (worker start-up) are not timed;
* **predict, model only**: eval mode under :func:`torch.inference_mode`, random
  tensors, batch 128 (what ``predict_catalog`` uses) and 64;
* **predict, cold end-to-end**: the wall time of the whole
  :func:`galmorph.predict.predict_catalog` call (model file loaded, catalog read
  and checked, JPEGs decoded by the loader workers, intervals computed) plus
  :func:`galmorph.outputs.write_table` of the parquet output. No decoded-image
  cache exists; the OS file cache is whatever earlier runs left (not dropped);
* the speed variants for model-only training and prediction: ``channels_last``
  memory format, bf16 autocast, both, and :func:`torch.compile` (inductor;
  compile time excluded from the rate and shown separately; a failure is
  reported and skipped).

The ratio column compares a pipeline row with the eager model-only rate of the
same task and size measured in this run (goal: training >= 0.95x, prediction
>= 0.9x); variant rows compare with eager. Every measurement runs in a fresh
subprocess, so "peak RSS" (``ru_maxrss``) is per measurement, of the measuring
process; "(+N)" is the largest private memory (USS, sampled) of any one of its
child processes (loader workers, compile workers): forked workers share the
rest of their pages with the parent.

The model is untrained, built from metadata with :func:`galmorph.checkpoint.build_model`
(so nothing depends on the shipped weights). Torch uses its default thread count.

Usage::

    .venv/bin/python benchmarks/bench_model.py                      # ~15 min on 2 cores
    .venv/bin/python benchmarks/bench_model.py --quick              # CI smoke run, < 1 min
    .venv/bin/python benchmarks/bench_model.py --sizes 96 --variants eager channels_last
    .venv/bin/python benchmarks/bench_model.py --json bench.json

The default catalog is ``../shared/data/gz2_sdss/catalog.csv`` (6,092 SDSS JPEGs
of 128 px) when it exists, else the bundled demo (630 galaxies).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from contextlib import AbstractContextManager, nullcontext
from importlib.resources import files
from pathlib import Path
from typing import Any

ENCODER = "convnext_atto"
SCHEMA = "gz2-no-odd"
TRAIN_BATCH = 64
PREDICT_BATCH = 128  # galmorph.predict.DEFAULT_BATCH_SIZE
VARIANTS = ("eager", "channels_last", "bf16", "channels_last+bf16", "compile")
SHARED_CATALOG = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "gz2_sdss"
DEMO_CATALOG = Path(str(files("galmorph") / "demo_data" / "gz2_demo" / "catalog.csv"))
RESULT_TAG = "BENCH_RESULT "


# ------------------------------------------------------------ child process
def _peak_rss_mib() -> float:
    """Peak RSS of this process, MiB (``ru_maxrss`` is in KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _private_mib(pid: int) -> float:
    """Memory of process ``pid`` not shared with others (USS), MiB; 0 if unreadable."""
    try:
        text = Path(f"/proc/{pid}/smaps_rollup").read_text()
    except OSError:
        return 0.0
    private = ("Private_Clean:", "Private_Dirty:")
    fields = (line.split() for line in text.splitlines())
    return sum(int(f[1]) for f in fields if f and f[0] in private) / 1024


class ChildMemory(threading.Thread):
    """Largest private memory (USS) of any child process (loader or compile worker).

    Sampled every 0.2 s from ``/proc`` (Linux). A forked worker's RSS counts the
    pages it shares with its parent, so its own cost is its private memory.
    """

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.peak_mib = 0.0
        self._done = threading.Event()

    def run(self) -> None:
        tasks = Path("/proc/self/task")
        while not self._done.wait(0.2):
            try:
                listed = [(t / "children").read_text().split() for t in tasks.iterdir()]
            except OSError:
                continue
            for pid in {int(p) for pids in listed for p in pids}:
                self.peak_mib = max(self.peak_mib, _private_mib(pid))

    def stop(self) -> float:
        self._done.set()
        self.join()
        return self.peak_mib


def _variant_setup(variant: str, model: Any) -> tuple[Any, bool, AbstractContextManager]:
    """The model to call, whether inputs are channels-last, and the autocast context."""
    import torch

    channels_last = "channels_last" in variant
    if channels_last:
        model.to(memory_format=torch.channels_last)
    autocast: AbstractContextManager = (
        torch.autocast("cpu", dtype=torch.bfloat16) if "bf16" in variant else nullcontext()
    )
    return model, channels_last, autocast


def _vote_module(size: int) -> Any:
    from galmorph.model import VoteModule
    from galmorph.schemas import get_schema

    del size  # the module does not depend on the image size
    return VoteModule(get_schema(SCHEMA), ENCODER, channels=3)


def _train_step(module: Any, optimizer: Any, batch: dict, index: int, autocast: Any) -> None:
    import torch

    with autocast:
        loss = module.training_step(batch, index)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(module.parameters(), 1.0)
    optimizer.step()


def _random_batch(size: int, batch: int, n_answers: int, channels_last: bool) -> dict:
    import torch

    images = torch.randn(batch, 3, size, size)
    if channels_last:
        images = images.contiguous(memory_format=torch.channels_last)
    counts = torch.randint(0, 20, (batch, n_answers)).float()
    return {"image": images, "counts": counts}


def train_model_only(spec: dict) -> dict:
    """Forward + loss + backward + clip + AdamW on random tensors."""
    import torch

    torch.manual_seed(0)
    module = _vote_module(spec["size"])
    module.train()
    variant = spec["variant"]
    module.model, channels_last, autocast = _variant_setup(variant, module.model)
    compile_s = None
    if variant == "compile":
        module.model = torch.compile(module.model)
    optimizer = torch.optim.AdamW(module.parameters(), lr=1e-3, weight_decay=0.05)
    batch = _random_batch(spec["size"], TRAIN_BATCH, module.schema.n_answers, channels_last)
    start = time.perf_counter()
    for i in range(spec["warmup"]):
        _train_step(module, optimizer, batch, i, autocast)
    if variant == "compile":
        compile_s = time.perf_counter() - start
    start = time.perf_counter()
    for i in range(spec["steps"]):
        _train_step(module, optimizer, batch, i, autocast)
    seconds = time.perf_counter() - start
    return {"images": spec["steps"] * TRAIN_BATCH, "seconds": seconds, "compile_s": compile_s}


def train_pipeline(spec: dict) -> dict:
    """The training step fed by GalaxyDataModule's train loader (augmentation, workers)."""
    import lightning as L
    import torch

    from galmorph.data import GalaxyDataModule
    from galmorph.images import ImageConfig

    L.seed_everything(0, workers=True, verbose=False)
    datamodule = GalaxyDataModule(
        spec["catalog"], SCHEMA, ImageConfig.for_sdss_gz2(size=spec["size"]),
        fractions=(1.0, 0.0, 0.0), batch_size=TRAIN_BATCH, cache=spec["cache"],
        num_workers=spec.get("workers"),
    )
    start = time.perf_counter()
    datamodule.dataset("train")  # builds the decoded-image cache when asked
    cache_s = time.perf_counter() - start if spec["cache"] else None
    module = _vote_module(spec["size"])
    module.train()
    optimizer = torch.optim.AdamW(module.parameters(), lr=1e-3, weight_decay=0.05)
    loader = datamodule.train_dataloader()
    steps, warmup = spec["steps"], spec["warmup"]
    done, images, start = 0, 0, time.perf_counter()
    while done < warmup + steps:
        for batch in loader:  # persistent workers carry over between epochs
            if done == warmup:
                images, start = 0, time.perf_counter()
            _train_step(module, optimizer, batch, done, nullcontext())
            images += len(batch["image"])
            done += 1
            if done == warmup + steps:
                break
    seconds = time.perf_counter() - start
    iterator = getattr(loader, "_iterator", None)
    if iterator is not None:  # join the persistent workers, so their peak RSS is counted
        iterator._shutdown_workers()
    return {
        "images": images, "seconds": seconds, "cache_s": cache_s,
        "workers": datamodule.num_workers,
    }


def predict_model_only(spec: dict) -> dict:
    """Eval-mode forward under inference_mode on random tensors."""
    import torch

    from galmorph.checkpoint import build_model

    torch.manual_seed(0)
    model = build_model(_metadata(spec["size"])).eval()
    variant = spec["variant"]
    model, channels_last, autocast = _variant_setup(variant, model)
    if variant == "compile":
        model = torch.compile(model)
    batch = _random_batch(spec["size"], spec["batch"], 1, channels_last)["image"]
    compile_s = None
    with torch.inference_mode(), autocast:
        start = time.perf_counter()
        for _ in range(spec["warmup"]):
            model(batch).float()
        if variant == "compile":
            compile_s = time.perf_counter() - start
        start = time.perf_counter()
        for _ in range(spec["steps"]):
            model(batch).float()
        seconds = time.perf_counter() - start
    return {"images": spec["steps"] * spec["batch"], "seconds": seconds, "compile_s": compile_s}


def _metadata(size: int) -> dict:
    import numpy as np

    from galmorph.images import ImageConfig
    from galmorph.schemas import get_schema
    from galmorph.train import model_metadata

    schema = get_schema(SCHEMA)
    return model_metadata(
        schema, ImageConfig.for_sdss_gz2(size=size), ENCODER, 0.2, {},
        np.full(schema.n_answers, 2.0), "bench-untrained",
    )


def predict_cold(spec: dict) -> dict:
    """Wall time of predict_catalog (model file, catalog, JPEGs) + write_table."""
    from galmorph.catalog import read_table
    from galmorph.checkpoint import build_model, save_model
    from galmorph.data import default_num_workers
    from galmorph.outputs import write_table
    from galmorph.predict import predict_catalog

    with tempfile.TemporaryDirectory(prefix="bench_model_") as tmp:
        folder = Path(tmp)
        metadata = _metadata(spec["size"])
        model_path = save_model(build_model(metadata), metadata, folder / "model.pt")
        catalog = Path(spec["catalog"])
        if spec["n"] is not None:  # a smaller catalog file, with absolute image paths
            frame = read_table(catalog).head(spec["n"]).copy()
            frame["file_loc"] = [
                str((catalog.parent / p).resolve()) for p in frame["file_loc"].astype(str)
            ]
            catalog = folder / "catalog.csv"
            frame.to_csv(catalog, index=False)
        output = folder / "predictions.parquet"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            start = time.perf_counter()
            table = predict_catalog(
                catalog, model_path, progress=False, num_workers=spec.get("workers")
            )
            predict_s = time.perf_counter() - start
            write_table(table, output, table.attrs["galmorph"])
            seconds = time.perf_counter() - start
    return {
        "images": len(table), "seconds": seconds, "predict_s": predict_s,
        "write_s": seconds - predict_s,
        "workers": default_num_workers() if spec.get("workers") is None else spec["workers"],
    }


MEASUREMENTS = {
    "train_model": train_model_only,
    "train_pipeline": train_pipeline,
    "predict_model": predict_model_only,
    "predict_cold": predict_cold,
}


def child(spec: dict) -> None:
    """Run one measurement and print its result as one tagged JSON line."""
    import torch

    warnings.filterwarnings("ignore")  # e.g. self.log() without a Trainer
    if spec.get("threads"):
        torch.set_num_threads(spec["threads"])
    children = ChildMemory()
    children.start()
    result = MEASUREMENTS[spec["kind"]](spec)
    result.update(
        rss_mib=_peak_rss_mib(), child_uss_mib=children.stop(), threads=torch.get_num_threads()
    )
    print(RESULT_TAG + json.dumps(result), flush=True)


# ----------------------------------------------------------- parent process
def measure(spec: dict, timeout: float) -> dict:
    """Run ``spec`` in a fresh interpreter; the result, or ``{"error": ...}``."""
    command = [sys.executable, str(Path(__file__).resolve()), "--child", json.dumps(spec)]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout:.0f} s"}
    for line in done.stdout.splitlines():
        if line.startswith(RESULT_TAG):
            result = json.loads(line.removeprefix(RESULT_TAG))
            result["rate"] = result["images"] / result["seconds"]
            return result
    lines = [s for s in (done.stderr + done.stdout).strip().splitlines() if s.strip()]
    return {"error": f"exit {done.returncode}: {lines[-1] if lines else 'no output'}"}


def default_catalog() -> Path:
    shared = (SHARED_CATALOG / "catalog.csv").resolve()
    return shared if shared.exists() else DEMO_CATALOG


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--catalog", type=Path, default=None,
                        help="catalog with vote columns (default: the GZ2 SDSS set, else the demo)")
    parser.add_argument("--sizes", type=int, nargs="+", default=None,
                        help="image sizes (default 96 128; --quick: 96)")
    parser.add_argument("--n-train", type=int, default=None,
                        help="images timed per training measurement (default 1280)")
    parser.add_argument("--n-predict", type=int, default=None,
                        help="galaxies predicted cold end-to-end (default: the whole catalog)")
    parser.add_argument("--n-infer", type=int, default=None,
                        help="images timed per model-only prediction measurement (default 3840)")
    parser.add_argument("--variants", nargs="+", choices=VARIANTS, default=None,
                        help=f"model-only variants (default all: {' '.join(VARIANTS)}; "
                        "--quick: eager)")
    parser.add_argument("--quick", action="store_true",
                        help="CI smoke run: demo catalog, 96 px, tiny n, eager only (< 1 min)")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch threads of the measuring process (default: torch's)")
    parser.add_argument("--workers", type=int, default=None,
                        help="loader workers for the pipeline rows (default: galmorph's)")
    parser.add_argument("--timeout", type=float, default=900,
                        help="seconds allowed per measurement (default 900)")
    parser.add_argument("--json", type=Path, default=None, help="also write all results here")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        child(json.loads(args.child))
        return

    quick = args.quick
    catalog = args.catalog or (DEMO_CATALOG if quick else default_catalog())
    sizes = args.sizes or ([96] if quick else [96, 128])
    n_train = args.n_train or (128 if quick else 1280)
    n_infer = args.n_infer or (256 if quick else 3840)
    n_predict = args.n_predict or (256 if quick else None)
    variants = args.variants or (["eager"] if quick else list(VARIANTS))
    if "eager" not in variants:
        variants = ["eager", *variants]
    train_steps = max(1, n_train // TRAIN_BATCH)
    warmup = 1 if quick else 3

    import torch  # after the child dispatch: the parent only reports versions

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(f"{ENCODER}, 3 channels, schema {SCHEMA}; catalog {catalog}; {cores} cores, "
          f"torch {torch.__version__} ({torch.get_num_threads()} threads)")
    print(f"training: batch {TRAIN_BATCH}, {train_steps} timed steps after {warmup} warm-up; "
          f"model-only prediction: {max(1, n_infer // PREDICT_BATCH)} batches of "
          f"{PREDICT_BATCH} after {warmup} warm-up\n")

    rows: list[dict[str, Any]] = []

    def run(label: str, spec: dict) -> dict:
        started = time.perf_counter()
        result = measure(spec, args.timeout)
        result.update(label=label, spec=spec, wall_s=time.perf_counter() - started)
        rows.append(result)
        print(_format_row(result, rows), flush=True)
        return result

    print(_header())
    for size in sizes:
        base = {"size": size, "warmup": warmup, "threads": args.threads,
                "workers": args.workers}
        run("train, model only, eager",
            {**base, "kind": "train_model", "variant": "eager", "steps": train_steps})
        run("train, pipeline, cached (galmorph train)",
            {**base, "kind": "train_pipeline", "cache": True, "steps": train_steps,
             "catalog": str(catalog)})
        if not quick:
            run("train, pipeline, --no-cache",
                {**base, "kind": "train_pipeline", "cache": False, "steps": train_steps,
                 "catalog": str(catalog)})
        for batch in (PREDICT_BATCH, TRAIN_BATCH) if not quick else (PREDICT_BATCH,):
            run(f"predict, model only, eager, batch {batch}",
                {**base, "kind": "predict_model", "variant": "eager", "batch": batch,
                 "steps": max(1, n_infer // batch)})
        run("predict, cold end-to-end (predict_catalog + write)",
            {**base, "kind": "predict_cold", "catalog": str(catalog), "n": n_predict})
        for variant in variants:
            if variant == "eager":
                continue
            run(f"train, model only, {variant}",
                {**base, "kind": "train_model", "variant": variant, "steps": train_steps})
            run(f"predict, model only, {variant}, batch {PREDICT_BATCH}",
                {**base, "kind": "predict_model", "variant": variant, "batch": PREDICT_BATCH,
                 "steps": max(1, n_infer // PREDICT_BATCH)})
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))


def _reference(row: dict, rows: list[dict]) -> dict | None:
    """The eager model-only row a row is compared with (same task, size; batch 128)."""
    spec = row["spec"]
    if spec.get("variant") == "eager":
        return None
    kind = "train_model" if spec["kind"].startswith("train") else "predict_model"
    for other in rows:
        s = other["spec"]
        if (s["kind"], s["size"], s.get("variant")) == (kind, spec["size"], "eager") and (
            kind == "train_model" or s["batch"] == PREDICT_BATCH
        ):
            return other
    return None


def _header() -> str:
    return (f"{'px':>4}  {'measurement':<52} {'img/s':>7} {'ratio':>14}  "
            f"{'peak RSS MiB':>17}  notes\n" + "-" * 120)


def _format_row(row: dict, rows: list[dict]) -> str:
    spec = row["spec"]
    if "error" in row:
        return f"{spec['size']:>4}  {row['label']:<52} {'-':>7} {'':>14}  {'':>17}  " \
               f"skipped: {row['error'][:80]}"
    ratio = ""
    reference = _reference(row, rows)
    if reference is not None and "rate" in reference:
        what = "eager" if spec["kind"].endswith("model") else "model"
        ratio = f"{row['rate'] / reference['rate']:.2f}x {what}"
    rss = f"{row['rss_mib']:.0f}"
    if row.get("child_uss_mib"):
        rss += f" (+{row['child_uss_mib']:.0f})"
    notes = []
    if row.get("compile_s") is not None:
        notes.append(f"compile+warm-up {row['compile_s']:.0f} s excluded")
    if row.get("cache_s") is not None:
        notes.append(f"cache build {row['cache_s']:.1f} s excluded")
    if "workers" in row:
        notes.append(f"{row['workers']} loader worker(s)")
    if "predict_s" in row:
        notes.append(f"{row['images']} galaxies in {row['seconds']:.1f} s "
                     f"(write {row['write_s']:.2f} s)")
    notes.append(f"{row['threads']} threads")
    return (f"{spec['size']:>4}  {row['label']:<52} {row['rate']:7.1f} {ratio:>14}  "
            f"{rss:>17}  {'; '.join(notes)}")


if __name__ == "__main__":
    main()
