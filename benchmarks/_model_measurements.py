"""The measurements of ``bench_model.py``, each run in a fresh child process.

``bench_model.py`` starts ``python bench_model.py --child SPEC`` for every row of its
plan; that child calls :func:`child`, which runs ``MEASUREMENTS[spec["kind"]]`` and
prints its result (images, seconds, peak RSS, ...) as one line tagged ``RESULT_TAG``.
What each measurement times is described in ``bench_model.py``'s docstring.
"""

from __future__ import annotations

import json
import os
import resource
import tempfile
import threading
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Any

ENCODER = "convnext_atto"
SCHEMA = "gz2-no-odd"
TRAIN_BATCH = 64
PREDICT_BATCH = 128  # galmorph.inference.loop.DEFAULT_BATCH_SIZE
RESULT_TAG = "BENCH_RESULT "


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

