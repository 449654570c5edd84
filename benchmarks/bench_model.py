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
measurement (``_model_measurements.py``) runs in a fresh subprocess, so peak RSS
(``ru_maxrss``) is per measurement; in brackets the RSS after importing torch,
Lightning and galmorph, and "+N" the largest private memory (USS, sampled) of one
child process (loader or compile worker; forked workers share their other pages
with the parent).
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
import subprocess
import sys
import time
from importlib.resources import files
from pathlib import Path

from _model_measurements import ENCODER, PREDICT_BATCH, RESULT_TAG, SCHEMA, TRAIN_BATCH, child

VARIANTS = ("eager", "channels_last", "bf16", "channels_last+bf16", "compile")
SHARED_CATALOG = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "gz2_sdss"
DEMO_CATALOG = Path(str(files("galmorph") / "demo_data" / "gz2_demo" / "catalog.csv"))


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
