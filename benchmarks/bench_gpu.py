"""GPU training and prediction images/s beside the model-only rate, in one run.

For one encoder and image size, on ``--device`` (default ``cuda``), prints and
writes as JSON (``--out``):

* **train, model only**: random ``uint8`` batches already on the device through
  the batch-wise training augmentation (:class:`galmorph.data.transforms.TrainAugmentation`),
  forward + Dirichlet-multinomial loss + backward + gradient clipping + AdamW
  step, in ``--precision`` (``bf16-mixed``: bfloat16 autocast);
* **train, pipeline**: :func:`galmorph.training.train.train` on ``CATALOG`` (decoded-image
  cache, loader workers, Lightning), timed from the first to the last training
  batch of each epoch after the first (validation not counted);
* **predict, model only**: eval forward under :func:`torch.inference_mode` on
  normalised random tensors on the device, bf16 autocast;
* **predict, loader only**: the predict loader alone over the same rows (JPEG
  decoding and centre crops in the loader workers, ``uint8`` batches handed
  over as :func:`~galmorph.inference.predict.predict_catalog` gets them on a GPU):
  the most the pipeline can reach;
* **predict, pipeline**: the whole :func:`galmorph.inference.predict.predict_catalog`
  call on ``CATALOG`` repeated to ``--predict-rows`` rows (loader workers started,
  batches finished on the device, outputs copied back and turned into a table),
  after one untimed warm-up call on two batches, as model-only has warm-up steps;
* **predict, larger images** (``--large-catalog``, e.g. 424 px DECaLS JPEGs, whose
  decoding costs more): loader only and pipeline, one view, rows repeated to half
  of ``--predict-rows``;
* **predict, command-line defaults**: :func:`~galmorph.inference.predict.predict_to_file`
  (what ``galmorph predict`` runs: 8 orientations averaged, 50,000-row parts, a
  Parquet file) on a third of those rows; its ratio is to model-only / 8.

The ratio is pipeline over model-only; the goal is 0.9 or more. Each figure is
printed, and written to ``--out``, as soon as it is measured.

Example::

    python benchmarks/bench_gpu.py gz2/catalog.csv --encoder tf_efficientnet_lite0 \\
        --image-size 224 --batch-size 256 --out throughput.json
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import lightning as L
import numpy as np
import pandas as pd
import torch

from galmorph.data.catalog import load_catalog
from galmorph.data.datasets import GalaxyDataModule
from galmorph.data.image_config import ImageConfig
from galmorph.data.images import load_image
from galmorph.data.schemas import get_schema
from galmorph.data.transforms import TrainAugmentation, working_size
from galmorph.files import write_json
from galmorph.inference.defaults import DEFAULT_VIEWS
from galmorph.inference.predict import predict_catalog, predict_to_file
from galmorph.models.losses import dirichlet_multinomial_nll
from galmorph.models.model import GalaxyModel
from galmorph.training.train import train


def synchronise(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class EpochTimer(L.Callback):
    """Seconds and images from the first to the last training batch of each epoch."""

    def __init__(self) -> None:
        self.epochs: list[tuple[float, int]] = []
        self._start = 0.0
        self._images = 0

    def on_train_batch_start(self, trainer, module, batch, batch_idx) -> None:  # noqa: ANN001
        if batch_idx == 0:
            synchronise(module.device)
            self._start, self._images = time.perf_counter(), 0

    def on_train_batch_end(  # noqa: ANN001
        self, trainer, module, outputs, batch, batch_idx
    ) -> None:
        self._images += len(batch["image"])
        if batch_idx == trainer.num_training_batches - 1:
            synchronise(module.device)
            self.epochs.append((time.perf_counter() - self._start, self._images))


def model_only_training(
    encoder: str, config: ImageConfig, batch_size: int, device: torch.device, bf16: bool,
    steps: int, warmup: int = 5,
) -> float:
    """Images/s of augmentation + forward + loss + backward + clip + AdamW on device tensors."""
    schema = get_schema("gz2-no-odd")
    model = GalaxyModel.for_votes(encoder, schema.n_answers, config.channels).to(device).train()
    augment = TrainAugmentation(config).to(device)
    optimiser = torch.optim.AdamW(model.parameters(), lr=1e-4)
    side = working_size(config)
    images = torch.randint(0, 256, (batch_size, config.channels, side, side), dtype=torch.uint8,
                           device=device)
    counts = torch.randint(0, 20, (batch_size, schema.n_answers), device=device).float()
    groups = schema.question_index_groups

    def step() -> None:
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            concentrations = model(augment(images))
        loss = dirichlet_multinomial_nll(counts, concentrations.float(), groups).sum(1).mean()
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimiser.step()

    for _ in range(warmup):
        step()
    synchronise(device)
    began = time.perf_counter()
    for _ in range(steps):
        step()
    synchronise(device)
    return steps * batch_size / (time.perf_counter() - began)


def model_only_prediction(
    model: torch.nn.Module, config: ImageConfig, batch_size: int, device: torch.device,
    bf16: bool, steps: int, warmup: int = 3,
) -> float:
    """Images/s of the eval forward pass on normalised random tensors on the device."""
    model = model.to(device).eval()
    images = torch.randn(batch_size, config.channels, config.size, config.size, device=device)
    if device.type == "cuda":
        model.to(memory_format=torch.channels_last)
        images = images.contiguous(memory_format=torch.channels_last)
    with torch.inference_mode(), torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
        for _ in range(warmup):
            model(images)
        synchronise(device)
        began = time.perf_counter()
        for _ in range(steps):
            model(images).float().cpu()
        synchronise(device)
    return steps * batch_size / (time.perf_counter() - began)


def repeated(frame: pd.DataFrame, n_rows: int) -> pd.DataFrame:
    """``frame``'s rows repeated to ``n_rows``, each with its own id."""
    repeats = int(np.ceil(n_rows / len(frame)))
    rows = pd.concat([frame] * repeats, ignore_index=True).head(n_rows)
    rows["id_str"] = [f"{i}_{n}" for n, i in enumerate(rows["id_str"])]
    return rows


def loader_only(rows: pd.DataFrame, config: ImageConfig, device: torch.device,
                args: argparse.Namespace) -> float:
    """Images/s of the predict loader alone, batches moved to ``device``, no model."""
    datamodule = GalaxyDataModule(
        predict_catalog=rows, image_config=config, batch_size=args.batch_size,
        num_workers=args.num_workers, finish_on_device=device.type != "cpu",
    )
    began = time.perf_counter()
    for batch in datamodule.predict_dataloader():
        batch["image"].to(device, non_blocking=True)
    synchronise(device)
    return len(rows) / (time.perf_counter() - began)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("catalog", help="GZ2 catalog with vote counts (the training data)")
    parser.add_argument("--encoder", default="tf_efficientnet_lite0")
    parser.add_argument("--init", default="scratch", help="scratch or imagenet")
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--epochs", type=int, default=3, help="pipeline epochs (first not timed)")
    parser.add_argument("--steps", type=int, default=30, help="timed model-only steps")
    parser.add_argument("--predict-rows", type=int, default=60000)
    parser.add_argument("--large-catalog", default=None,
                        help="catalog of larger images (ids and files) for a second rate")
    parser.add_argument("--num-workers", type=int, default=None)
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--precision", default="bf16-mixed", help="bf16-mixed or 32")
    parser.add_argument("--work", default="runs/bench-gpu",
                        help="folder for the training run (default: %(default)s)")
    parser.add_argument("--out", default=None, help="write the figures here as JSON")
    args = parser.parse_args(argv)

    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        parser.error("no CUDA device here: run it on a GPU machine, or give --device cpu")
    bf16 = args.precision == "bf16-mixed"
    config = ImageConfig.for_sdss_gz2(size=args.image_size)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    figures: dict = {"device": name, "encoder": args.encoder, "image_size": args.image_size,
                     "batch_size": args.batch_size, "precision": args.precision}

    def record(key: str, value: float) -> None:
        """Keep a figure, print it and rewrite ``--out``: a run stopped later keeps it."""
        figures[key] = value
        print(f"{key} {value:.2f}", flush=True)
        if args.out:
            write_json(figures, args.out)

    record("train_model_only", model_only_training(
        args.encoder, config, args.batch_size, device, bf16, args.steps))
    timer = EpochTimer()
    result = train(
        args.catalog, "gz2-no-odd", args.work, encoder=args.encoder, init=args.init,
        image_config=config, epochs=args.epochs, batch_size=args.batch_size,
        num_workers=args.num_workers, accelerator="gpu" if device.type == "cuda" else "cpu",
        devices=1, precision=args.precision if bf16 else None, progress=False,
        callbacks=[timer],
    )
    timed = timer.epochs[1:] or timer.epochs
    record("train_pipeline", sum(n for _, n in timed) / sum(s for s, _ in timed))
    record("train_ratio", figures["train_pipeline"] / figures["train_model_only"])

    from galmorph.models.checkpoint import load_model

    loaded = load_model(result.model_path)
    record("predict_model_only", model_only_prediction(
        loaded.model, loaded.image_config, args.batch_size, device, bf16, args.steps))
    rows = repeated(load_catalog(args.catalog), args.predict_rows)
    record("predict_loader_only", loader_only(rows, loaded.image_config, device, args))
    options = {"device": device, "batch_size": args.batch_size, "num_workers": args.num_workers,
               "progress": False, "views": 1}  # one view, as model-only
    predict_catalog(rows.head(2 * args.batch_size), loaded, **options)  # warm-up
    began = time.perf_counter()
    predict_catalog(rows, loaded, **options)
    record("predict_pipeline", len(rows) / (time.perf_counter() - began))
    record("predict_rows", len(rows))
    record("predict_ratio", figures["predict_pipeline"] / figures["predict_model_only"])
    if args.large_catalog:
        large = repeated(load_catalog(args.large_catalog), max(args.predict_rows // 2, 1))
        record("large_image_px", load_image(large["file_loc"].iloc[0]).shape[1])
        record("large_loader_only", loader_only(large, loaded.image_config, device, args))
        began = time.perf_counter()
        predict_catalog(large, loaded, **options)
        record("large_predict_pipeline", len(large) / (time.perf_counter() - began))
        record("large_predict_ratio", figures["large_predict_pipeline"]
               / figures["predict_model_only"])
    third = rows.head(max(len(rows) // 3, 1))
    began = time.perf_counter()
    predict_to_file(third, Path(args.work) / "predictions.parquet", loaded, device=device,
                    batch_size=args.batch_size, num_workers=args.num_workers, progress=False)
    record("predict_file_default_views", len(third) / (time.perf_counter() - began))
    record("predict_file_ratio", figures["predict_file_default_views"] * DEFAULT_VIEWS
           / figures["predict_model_only"])

    for key in ("train", "predict"):
        print(f"{key:8s} model only {figures[f'{key}_model_only']:9.0f} img/s   pipeline "
              f"{figures[f'{key}_pipeline']:9.0f} img/s   ratio {figures[f'{key}_ratio']:.2f}")
    print(f"predict  loader only {figures['predict_loader_only']:9.0f} img/s")
    if args.large_catalog:
        print(f"predict  {figures['large_image_px']} px images: loader only "
              f"{figures['large_loader_only']:9.0f} img/s   pipeline "
              f"{figures['large_predict_pipeline']:9.0f} img/s   ratio "
              f"{figures['large_predict_ratio']:.2f}")
    print(f"predict  to a file, {DEFAULT_VIEWS} views {figures['predict_file_default_views']:9.0f} "
          f"img/s   ratio to model only / {DEFAULT_VIEWS} {figures['predict_file_ratio']:.2f}")
    return figures


if __name__ == "__main__":
    from _cli import run_main

    run_main(main)
