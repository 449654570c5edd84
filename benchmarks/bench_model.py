"""Training and prediction images/s of the default encoder on this CPU, with and without data.

For each image size (default 96 and 128 px), with the default encoder
(``convnext_atto``, 3 channels) and a ``gz2-no-odd`` vote head, untrained and
built from metadata (:func:`galmorph.models.checkpoint.build_model`, nothing depends on
the shipped weights), prints images/s of:

* **train, model only**: random tensors, forward + Dirichlet-multinomial loss
  (:meth:`VoteModule.training_step`) + backward + gradient clipping (1.0, as
  ``galmorph train``) + AdamW step, batch 64;
* **train, pipeline**: the same step fed by the real
  :meth:`GalaxyDataModule.train_dataloader` (JPEGs, training preparation in
  galmorph's default worker count, then the batch-wise augmentation of
  :meth:`GalaxyDataModule.on_after_batch_transfer`), as ``galmorph train`` runs by default
  (images decoded once into the in-memory cache, whose build time is shown, not
  counted) and with ``--no-cache`` (every JPEG decoded every epoch). Steady
  state: the first batches (worker start-up) are not timed;
* **predict, model only**: eval mode under :func:`torch.inference_mode`, random
  tensors, batch 128 (``predict_catalog``'s) and 64; also through ONNX Runtime
  (galmorph's ``onnx`` backend, which ``galmorph predict`` picks on the CPU);
* **predict, cold**: the wall time of the whole
  :func:`galmorph.inference.predict.predict_catalog` call (model file loaded, catalog read
  and checked, JPEGs decoded by the loader workers, model, intervals) plus
  :func:`galmorph.inference.outputs.write_table` of a parquet file, with the ``torch`` and
  the ``onnx`` backend (the ONNX export is made beforehand and not counted, as
  in any run after a model's first). There is no decoded-image cache; the OS
  file cache is left as earlier runs left it. A row with 0 workers (decoding in
  the main process between batches) is there for comparison;
* speed variants for model-only training and prediction: ``channels_last``
  memory format, bf16 autocast, both, :func:`torch.compile` (inductor; compile
  time not counted, shown; a failure is reported and skipped), and for
  prediction two inference streams of one thread each instead of one stream
  of two threads.

The ratio column compares a row with the row it depends on, of the same size
(pipeline rows with the eager model-only rate of their task measured in this
run; goal: training >= 0.95x, prediction >= 0.9x; variants with eager). Each
measurement runs in a fresh subprocess, so peak RSS (``ru_maxrss``) is per
measurement; in brackets the RSS after importing torch, Lightning and galmorph,
and "+N" the largest private memory (USS, sampled) of one child process (loader
or compile worker; forked workers share their other pages with the parent).
Torch uses its default thread count unless ``--threads`` is given.

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
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, nullcontext
from importlib.resources import files
from pathlib import Path
from typing import Any

ENCODER = "convnext_atto"
SCHEMA = "gz2-no-odd"
TRAIN_BATCH = 64
PREDICT_BATCH = 128  # galmorph.inference.loop.DEFAULT_BATCH_SIZE
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
    from galmorph.data.schemas import get_schema
    from galmorph.training.vote_module import VoteModule

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

    from galmorph.data.datasets import GalaxyDataModule
    from galmorph.data.image_config import ImageConfig

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
            batch = datamodule.on_after_batch_transfer(batch, 0)  # as the Trainer does
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


def _streams(forward: Any, streams: int) -> Any:
    """``forward`` over a list of batches, ``streams`` batches at once in threads that
    split torch's threads between them (inter-op instead of intra-op parallelism)."""
    import torch

    total = torch.get_num_threads()

    def one(images: Any) -> Any:
        torch.set_num_threads(max(1, total // streams))
        with torch.inference_mode():
            return forward(images).float()

    def run(batches: list) -> None:
        with ThreadPoolExecutor(streams) as pool:
            list(pool.map(one, batches))
        torch.set_num_threads(total)

    return run


def predict_model_only(spec: dict) -> dict:
    """Eval-mode forward under inference_mode on random tensors (or ONNX Runtime)."""
    import torch

    from galmorph.models.checkpoint import build_model

    torch.manual_seed(0)
    variant = spec["variant"]
    model = build_model(_metadata(spec["size"])).eval()
    model, channels_last, autocast = _variant_setup(variant, model)
    batch = _random_batch(spec["size"], spec["batch"], 1, channels_last)["image"]
    export_s = compile_s = None
    if variant == "compile":
        model = torch.compile(model)
    elif variant == "onnx":
        with tempfile.TemporaryDirectory(prefix="bench_model_") as tmp:
            start = time.perf_counter()
            model = _onnx_session(model, spec["size"], Path(tmp), spec.get("ort_spin", False))
            export_s = time.perf_counter() - start
    if variant == "2 streams":
        run = _streams(model, 2)
        run([batch] * 2 * spec["warmup"])
        start = time.perf_counter()
        run([batch] * spec["steps"])
        seconds = time.perf_counter() - start
        return {"images": spec["steps"] * spec["batch"], "seconds": seconds}
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
    return {
        "images": spec["steps"] * spec["batch"], "seconds": seconds, "compile_s": compile_s,
        "export_s": export_s,
    }


def _onnx_session(model: Any, size: int, folder: Path, spin: bool) -> Any:
    """galmorph's ONNX Runtime batch function for ``model`` (exported into ``folder``)."""
    from galmorph.models.checkpoint import load_model, save_model
    from galmorph.models.onnx_backend import CACHE_ENV, cached_onnx_model

    os.environ[CACHE_ENV] = str(folder / "onnx")
    if spin:
        _patch_ort_spinning()
    metadata = _metadata(size)
    loaded = load_model(save_model(model, metadata, folder / "model.pt"))
    return cached_onnx_model(loaded, "full")


def _patch_ort_spinning() -> None:
    """Give galmorph's ONNX Runtime sessions ONNX Runtime's default, spinning idle
    threads (galmorph turns spinning off), for the comparison rows."""
    import onnxruntime as ort

    from galmorph.models import onnx

    original = onnx.OnnxModel.__init__

    def init(self: Any, path: str | Path) -> None:
        original(self, path)
        options = ort.SessionOptions()
        options.add_session_config_entry("session.intra_op.allow_spinning", "1")
        self.session = ort.InferenceSession(
            str(self.path), options, providers=["CPUExecutionProvider"]
        )

    onnx.OnnxModel.__init__ = init  # type: ignore[method-assign]


def _metadata(size: int) -> dict:
    import numpy as np

    from galmorph.data.image_config import ImageConfig
    from galmorph.data.schemas import get_schema
    from galmorph.training.train import model_metadata

    schema = get_schema(SCHEMA)
    return model_metadata(
        schema, ImageConfig.for_sdss_gz2(size=size), ENCODER, 0.2, {},
        np.full(schema.n_answers, 2.0), "bench-untrained",
    )


def predict_cold(spec: dict) -> dict:
    """Wall time of predict_catalog (model file, catalog, JPEGs) + write_table."""
    from galmorph.data.datasets import default_num_workers
    from galmorph.data.table_files import read_table
    from galmorph.inference.outputs import write_table
    from galmorph.inference.predict import predict_catalog
    from galmorph.models.checkpoint import build_model, save_model

    backend = spec.get("backend", "torch")
    with tempfile.TemporaryDirectory(prefix="bench_model_") as tmp:
        folder = Path(tmp)
        metadata = _metadata(spec["size"])
        model_path = save_model(build_model(metadata), metadata, folder / "model.pt")
        export_s = None
        if backend == "onnx":  # export once, untimed, as a user's second run finds it
            from galmorph.models.checkpoint import load_model
            from galmorph.models.onnx_backend import CACHE_ENV, cached_onnx_model

            os.environ[CACHE_ENV] = str(folder / "onnx")
            if spec.get("ort_spin"):
                _patch_ort_spinning()
            start = time.perf_counter()
            cached_onnx_model(load_model(model_path), "full")
            export_s = time.perf_counter() - start
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
                catalog, model_path, progress=False, num_workers=spec.get("workers"),
                backend=backend, views=1,  # one pass per image, as the model-only rate
            )
            predict_s = time.perf_counter() - start
            write_table(table, output, table.attrs["galmorph"])
            seconds = time.perf_counter() - start
    return {
        "images": len(table), "seconds": seconds, "predict_s": predict_s,
        "write_s": seconds - predict_s, "export_s": export_s,
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
    import lightning  # noqa: F401  (what every measurement imports, before the baseline)

    import galmorph.data.datasets
    import galmorph.inference.predict  # noqa: F401

    base = _peak_rss_mib()
    children = ChildMemory()
    children.start()
    result = MEASUREMENTS[spec["kind"]](spec)
    result.update(
        rss_mib=_peak_rss_mib(), base_rss_mib=base, child_uss_mib=children.stop(),
        threads=torch.get_num_threads(),
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
    except OSError as err:
        return {"error": f"could not start: {err}"}
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


def _onnx_available() -> bool:
    try:
        import onnx  # noqa: F401
        import onnxruntime  # noqa: F401
    except ImportError:
        return False
    return True


def plan(args: argparse.Namespace, catalog: Path) -> list[tuple[str, dict, str | None]]:
    """(label, spec, label of the row it is compared with) of every measurement."""
    quick = args.quick
    sizes = args.sizes or ([96] if quick else [96, 128])
    n_train = args.n_train or (128 if quick else 1280)
    n_infer = args.n_infer or (256 if quick else 3840)
    n_predict = args.n_predict or (256 if quick else None)
    variants = args.variants or (["eager"] if quick else list(VARIANTS))
    onnx = _onnx_available() and not args.no_onnx
    train_steps = max(1, n_train // TRAIN_BATCH)
    infer_steps = max(1, n_infer // PREDICT_BATCH)
    rows: list[tuple[str, dict, str | None]] = []
    for size in sizes:
        base = {"size": size, "warmup": 1 if quick else 3, "threads": args.threads}
        train = {**base, "kind": "train_model", "steps": train_steps}
        pipe = {**base, "kind": "train_pipeline", "steps": train_steps,
                "catalog": str(catalog), "workers": args.workers}
        infer = {**base, "kind": "predict_model", "batch": PREDICT_BATCH, "steps": infer_steps}
        cold = {**base, "kind": "predict_cold", "catalog": str(catalog), "n": n_predict,
                "workers": args.workers}
        model_t, model_p = "train, model only, eager", "predict, model only, eager, batch 128"
        rows.append((model_t, {**train, "variant": "eager"}, None))
        rows.append(("train, pipeline, cached (galmorph train)", {**pipe, "cache": True}, model_t))
        if not quick:
            rows.append(("train, pipeline, --no-cache", {**pipe, "cache": False}, model_t))
        rows.append((model_p, {**infer, "variant": "eager"}, None))
        if not quick:
            rows.append(("predict, model only, eager, batch 64",
                         {**infer, "variant": "eager", "batch": TRAIN_BATCH,
                          "steps": max(1, n_infer // TRAIN_BATCH)}, model_p))
        rows.append(("predict, cold, torch (predict_catalog)", {**cold, "backend": "torch"},
                     model_p))
        if not quick and args.workers is None:
            rows.append(("predict, cold, torch, 0 workers (decode in main)",
                         {**cold, "backend": "torch", "workers": 0}, model_p))
        if onnx:
            model_o = "predict, model only, onnx (ONNX Runtime)"
            rows.append((model_o, {**infer, "variant": "onnx"}, model_p))
            rows.append(("predict, cold, onnx (CLI default on CPU)",
                         {**cold, "backend": "onnx"}, model_o))
            if not quick:  # before galmorph turned ONNX Runtime's spinning off
                spin = "predict, model only, onnx, threads spinning"
                rows.append((spin, {**infer, "variant": "onnx", "ort_spin": True}, model_o))
                rows.append(("predict, cold, onnx, threads spinning",
                             {**cold, "backend": "onnx", "ort_spin": True}, spin))
        for variant in variants:
            if variant == "eager":
                continue
            rows.append((f"train, model only, {variant}", {**train, "variant": variant}, model_t))
            rows.append((f"predict, model only, {variant}", {**infer, "variant": variant},
                         model_p))
        if not quick and "eager" in variants:
            rows.append(("predict, model only, 2 streams x 1 thread",
                         {**infer, "variant": "2 streams"}, model_p))
    return rows


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
                        help=f"speed variants (default all: {' '.join(VARIANTS)}; --quick: none)")
    parser.add_argument("--no-onnx", action="store_true", help="skip the ONNX Runtime rows")
    parser.add_argument("--quick", action="store_true",
                        help="CI smoke run: demo catalog, 96 px, tiny n, no variants (< 1 min)")
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

    catalog = args.catalog or (DEMO_CATALOG if args.quick else default_catalog())
    if not catalog.is_file():
        parser.error(f"catalog {catalog} does not exist")
    rows = plan(args, catalog)

    import torch  # after the child dispatch: the parent only reports versions

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    first = next(spec for _, spec, _ in rows if spec["kind"] == "train_model")
    print(f"{ENCODER}, 3 channels, schema {SCHEMA}; catalog {catalog}\n{cores} cores, "
          f"torch {torch.__version__} ({torch.get_num_threads()} threads), load average "
          f"{load:.1f} at start; training batch {TRAIN_BATCH}, {first['steps']} timed steps; "
          f"model-only prediction batch {PREDICT_BATCH}; {first['warmup']} warm-up steps "
          "not timed\n")
    print(_header())
    done: dict[tuple[str, int], dict] = {}
    results = []
    for label, spec, reference in rows:
        started = time.perf_counter()
        result = measure(spec, args.timeout)
        result.update(label=label, spec=spec, reference=reference,
                      wall_s=time.perf_counter() - started)
        done[label, spec["size"]] = result
        results.append(result)
        print(_format_row(result, done.get((reference or "", spec["size"]))), flush=True)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


def _header() -> str:
    return (f"{'px':>4}  {'measurement':<50} {'img/s':>7} {'ratio':>6}  "
            f"{'peak RSS MiB':>20}  notes\n" + "-" * 125)


def _format_row(row: dict, reference: dict | None) -> str:
    spec = row["spec"]
    start = f"{spec['size']:>4}  {row['label']:<50}"
    if "error" in row:
        return f"{start} {'-':>7} {'':>6}  {'':>20}  skipped: {row['error'][:90]}"
    ratio = ""
    if reference is not None and "rate" in reference:
        ratio = f"{row['rate'] / reference['rate']:.2f}x"
    rss = f"{row['rss_mib']:.0f} ({row['base_rss_mib']:.0f})"
    if row.get("child_uss_mib"):
        rss += f" +{row['child_uss_mib']:.0f}"
    notes = []
    if row.get("compile_s") is not None:
        notes.append(f"compile + warm-up {row['compile_s']:.0f} s not counted")
    if row.get("export_s") is not None:
        notes.append(f"ONNX export {row['export_s']:.1f} s not counted")
    if row.get("cache_s") is not None:
        notes.append(f"cache build {row['cache_s']:.1f} s not counted")
    if "predict_s" in row:
        notes.append(f"{row['images']} galaxies in {row['seconds']:.1f} s "
                     f"(write {row['write_s']:.2f} s)")
    if "workers" in row:
        notes.append(f"{row['workers']} loader worker(s)")
    if spec.get("threads"):
        notes.append(f"{row['threads']} torch threads")
    return f"{start} {row['rate']:7.1f} {ratio:>6}  {rss:>20}  {'; '.join(notes)}"


if __name__ == "__main__":
    from _cli import run_main

    run_main(main)
