"""Fine-tune a model to new labels: classes, a number per galaxy, or a new decision tree.

:func:`finetune` trains a new head, and optionally the top blocks of the encoder,
on a labelled catalog:

* ``task="classification"``: one class per galaxy from a label column (binary or
  multi-class), cross-entropy with optional label smoothing and class weights;
* ``task="regression"``: one number per galaxy, MSE or MAE, optionally squashed
  to [0, 1] by a sigmoid;
* ``task="votes"``: vote counts of a new decision tree (``schema``), with the
  Dirichlet-multinomial loss used for pretraining.

Each task's targets, head and validation split are made by
:mod:`galmorph.training.finetune_tasks`.

The encoder starts from a pretrained galmorph model (``init="pretrained"``: a
shipped name, a file or ``hf_hub:ORG/NAME``), from timm's own ImageNet weights
(``init="imagenet"``), or from random weights (``init="scratch"``).

Encoder blocks are the stages timm groups a model into (ConvNeXt ``stages``,
ResNet ``layer1``-``layer4``, EfficientNet ``blocks``; see
:func:`galmorph.models.blocks.encoder_blocks`), counted from the head side.
``n_blocks`` of them are trained, the rest are frozen: their parameters get no
gradients (``requires_grad=False``, left out of the optimizer) and their modules
stay in eval mode while training, so BatchNorm running statistics and dropout do
not change either. Block ``d`` from the top trains at
``learning_rate * lr_decay**d``; the head at ``learning_rate``.

With ``head_init="probe"`` a classifier's head starts as a logistic-regression
probe on the pretrained encoder's features (:mod:`galmorph.training.warm_start`);
the probe is validated before the first epoch, and kept when no epoch beats it.

The result is a self-describing model (:mod:`galmorph.models.checkpoint`) for
:func:`galmorph.inference.predict.predict_catalog`:
:func:`galmorph.models.tasks.classification_columns` and
:func:`galmorph.models.tasks.regression_columns` make its output columns.
:func:`galmorph.training.probe.probe` is a fast baseline: logistic regression on
frozen embeddings (:func:`galmorph.inference.embed.embed_catalog`).

Examples
--------
>>> from galmorph.training.finetune import finetune
>>> result = finetune(  # doctest: +SKIP
...     "rings.csv", "runs/rings", label="ring", n_blocks=2, epochs=30)
>>> result.model_path  # doctest: +SKIP
PosixPath('runs/rings/model.pt')
"""

from __future__ import annotations

import copy
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lightning as L
import torch

from galmorph import __version__
from galmorph.data.catalog import CatalogSource, catalog_name
from galmorph.data.image_config import ImageConfig
from galmorph.data.schemas import get_schema
from galmorph.data.tree import Schema
from galmorph.models.blocks import check_n_blocks, encoder_blocks
from galmorph.models.checkpoint import LoadedModel, save_model
from galmorph.models.defaults import DEFAULT_MODEL
from galmorph.models.device import resolve_device
from galmorph.models.model import GalaxyModel
from galmorph.models.starts import keep_start_head, starting_point
from galmorph.training.conventions import auto_crop, source_conventions
from galmorph.training.defaults import DEFAULT_N_BLOCKS
from galmorph.training.finetune_module import FinetuneModule, check_hyperparameters
from galmorph.training.finetune_tasks import task_datamodule, task_setup
from galmorph.training.targets import labelled_catalog
from galmorph.training.train import TrainResult
from galmorph.training.trainer import (
    LAST_NAME,
    MODEL_FILE,
    ValidationHistory,
    build_trainer,
    check_output_dir,
    check_run_options,
    clear_leftovers,
    hardware_record,
    interrupt_raised,
    quiet_lightning,
    warn_if_replacing,
)
from galmorph.training.warm_start import HEAD_INITS, probe_head_start


@dataclass
class FinetuneResult(TrainResult):
    """Where a fine-tuning run left its files, and its best validation loss.

    ``metrics_file``: the CSV of this run's per-epoch losses and scores.
    """

    metrics_file: Path | None = None


def finetune(
    catalog: CatalogSource,
    output_dir: str | Path = "runs/finetune",
    *,
    task: str = "classification",
    label: str | None = None,
    schema: Schema | str | None = None,
    model: str | Path | LoadedModel | None = DEFAULT_MODEL,
    init: str = "pretrained",
    encoder: str | None = None,
    imagenet_weights: str | Path | None = None,
    n_blocks: int | None = None,
    head_init: str = "random",
    learning_rate: float = 1e-3,
    lr_decay: float = 0.5,
    weight_decay: float = 0.05,
    dropout: float = 0.2,
    label_smoothing: float = 0.0,
    class_weights: str | Mapping[Any, float] | Sequence[float] | None = None,
    loss: str = "mse",
    squash: bool = False,
    epochs: int = 30,
    patience: int | None = None,
    batch_size: int = 32,
    val_fraction: float = 0.2,
    split_seed: int = 0,
    seed: int = 0,
    image_size: int | None = None,
    crop_fraction: tuple[float, float] | None = None,
    source: Mapping[str, Any] | None = None,
    augment: bool = True,
    accelerator: str = "auto",
    devices: int | str = "auto",
    precision: str | None = None,
    num_workers: int | None = None,
    cache_images: bool = True,
    skip_missing_images: bool = False,
    name: str | None = None,
    progress: bool = True,
) -> FinetuneResult:
    """Fine-tune a model on a labelled catalog; write ``model.pt`` and best/last checkpoints.

    Args:
        catalog: table file or DataFrame with ``id_str``, ``file_loc`` and the labels.
        output_dir: folder for ``model.pt`` (the best weights), ``best.ckpt``,
            ``last.ckpt`` and logs.
        task: ``classification``, ``regression`` or ``votes`` (a new decision tree).
        label: the column to learn (classification, regression).
        schema: decision tree of the vote columns (votes).
        model, init, encoder, imagenet_weights: where the encoder starts (see
            :func:`galmorph.models.starts.starting_point`); default: the shipped
            pretrained model.
        n_blocks: encoder blocks trained, from the top (0: linear probe on a frozen
            encoder; -1: all). Default:
            :data:`galmorph.training.defaults.DEFAULT_N_BLOCKS`, or all from scratch.
        head_init: ``random``: a new head with random weights. ``probe``: a
            classifier's head starts as a logistic-regression probe on the
            pretrained encoder's features, and the model is then fine-tuned
            (:mod:`galmorph.training.warm_start`); if no epoch beats the probe's
            validation loss, the probe itself is kept. Regression, votes and
            scratch starts always use ``random``.
        learning_rate, lr_decay, weight_decay: AdamW settings (see
            :class:`galmorph.training.finetune_module.FinetuneModule`).
        dropout: head dropout.
        label_smoothing: cross-entropy label smoothing (classification).
        class_weights: ``"balanced"``, a weight per class (mapping, or list in
            sorted class order) or None (classification).
        loss: ``mse`` or ``mae``; squash: predict in (0, 1) through a sigmoid (regression).
        epochs: maximum epochs; patience: stop after this many epochs without a
            better validation loss (None: run all epochs).
        batch_size: galaxies per batch.
        val_fraction: fraction of the galaxies held out for validation, stratified
            by class (by quartile of the value for regression) and drawn by
            ``split_seed``; 0: no validation, and the last epoch is kept.
        seed: seed of the head's weights and of the augmentation.
        image_size: input side in pixels (default: the starting model's).
        crop_fraction: ``(min, max)`` side of the training crop as a fraction of
            the image side (evaluation uses their mean); smaller zooms in, to give
            galaxies the apparent size the starting model saw. Default: the
            starting model's, scaled by :func:`galmorph.training.conventions.auto_crop`
            (for Galaxy Zoo DECaLS cutouts and the GZ2 SDSS starter about
            ``(0.4, 0.48)``).
        source: conventions of the new images (``survey``, ``bands``,
            ``pixel_scale``, ``field_of_view``, ``stretch``); see
            :func:`galmorph.training.conventions.source_conventions`.
        augment: random rotations, flips and crops while training.
        accelerator, devices, precision: passed to ``lightning.Trainer``.
        num_workers: image-loading worker processes; cache_images: decode once.
        skip_missing_images: drop rows whose image file is missing (with a warning).
        name: model name recorded in its metadata (default: ``output_dir``'s name).

    Raises:
        GalmorphError: for bad catalogs, labels or models.
        ValueError: for inconsistent options.
    """
    check_hyperparameters(task, learning_rate=learning_rate, lr_decay=lr_decay,
                          weight_decay=weight_decay, label_smoothing=label_smoothing,
                          class_weights=class_weights, loss=loss, squash=squash, dropout=dropout)
    if task == "votes" and (schema is None or label is not None):
        raise ValueError("a votes model needs schema= (the new decision tree), not label=")
    if head_init not in HEAD_INITS:
        raise ValueError(f"head_init must be one of {', '.join(HEAD_INITS)}, got {head_init!r}")
    if not 0 <= val_fraction < 1:
        raise ValueError(f"val_fraction must be in [0, 1), got {val_fraction}")
    if patience is not None and val_fraction == 0:
        raise ValueError("patience needs validation galaxies: a val_fraction above 0 "
                         "(--val-fraction), or no patience and a fixed number of epochs")
    check_run_options(epochs=epochs, batch_size=batch_size, num_workers=num_workers)
    tree = get_schema(schema) if task == "votes" and schema is not None else None
    output_dir = Path(output_dir)
    check_output_dir(output_dir)
    L.seed_everything(seed, workers=True, verbose=False)

    frame = labelled_catalog(catalog, task, label, tree, skip_missing_images=skip_missing_images)
    start = starting_point(init, model, encoder=encoder, imagenet_weights=imagenet_weights)
    blocks = len(encoder_blocks(start.encoder))
    if n_blocks is None:
        n_blocks = -1 if init == "scratch" else min(DEFAULT_N_BLOCKS, blocks)
    check_n_blocks(n_blocks, start.encoder)
    crop_record: dict[str, Any] = {}
    if crop_fraction is None:
        automatic = auto_crop(start.image_config, frame["file_loc"].tolist(), source)
        if automatic is not None:
            crop_fraction, crop_record = automatic
    config = ImageConfig.from_dict({
        **start.image_config.to_dict(),
        **({"size": image_size} if image_size else {}),
        **({"crop_fraction": list(crop_fraction)} if crop_fraction else {}),
        **source_conventions(start.image_config, frame["file_loc"].iloc[0], source),
    })

    setup = task_setup(
        frame, task, label, tree, start.encoder.num_features, dropout=dropout,
        val_fraction=val_fraction, split_seed=split_seed, class_weights=class_weights,
        loss=loss, squash=squash, where=catalog_name(catalog),
    )
    datamodule, train_frame, val_frame = task_datamodule(
        catalog, frame, setup, tree, config, val_fraction=val_fraction, split_seed=split_seed,
        batch_size=batch_size, num_workers=num_workers, cache_images=cache_images,
        augment=augment,
    )

    galaxy_model = GalaxyModel(start.encoder, setup.head)
    head_record = {"head_init": "random"}
    if tree is not None and keep_start_head(start, tree, setup.head):
        head_record = {"head_init": "kept: the start model answers the same questions"}
    elif head_init == "probe" and task == "classification" and start.pretrained:
        assert setup.targets is not None
        head_record = probe_head_start(
            galaxy_model, train_frame, setup.targets[~setup.is_val], config,
            num_workers=num_workers,
            class_weights=None if setup.class_weights is None else setup.class_weights.numpy(),
            device=resolve_device("cpu" if accelerator == "cpu" else "auto"),
        )
    metadata: dict[str, Any] = {
        "task": task,
        "name": name or output_dir.absolute().name,
        "encoder": start.encoder_name,
        "channels": config.channels,
        "dropout": dropout,
        **setup.task_meta,
        "image": config.to_dict(),
        "training": {
            **start.record,
            "split": datamodule.split_summary,
            "n_blocks": blocks if n_blocks == -1 else n_blocks,
            "encoder_blocks": blocks,
            "epochs": epochs,
            "batch_size": batch_size,
            "learning_rate": learning_rate,
            "lr_decay": lr_decay,
            "weight_decay": weight_decay,
            "label_smoothing": label_smoothing,
            "class_weights": setup.class_weights.tolist() if setup.class_weights is not None
            else None,
            "augment": augment,
            **head_record,
            **crop_record,
            **setup.baseline_record,
            "seed": seed,
        },
        "galmorph_version": __version__,
    }
    module = FinetuneModule(
        galaxy_model, task, n_blocks=n_blocks, learning_rate=learning_rate, lr_decay=lr_decay,
        weight_decay=weight_decay, label_smoothing=label_smoothing,
        class_weights=setup.class_weights, loss=loss, schema=tree, metadata=metadata,
    )
    datamodule.setup("fit")  # decode the images now: a bad one fails before any file is written
    trainer, checkpoint = build_trainer(
        output_dir, epochs=epochs, monitor="val_loss" if len(val_frame) else None,
        patience=patience, accelerator=accelerator, devices=devices, precision=precision,
        progress=progress, log_every_n_steps=1, callbacks=[history := ValidationHistory()],
    )
    if trainer.is_global_zero:
        clear_leftovers(output_dir)
        warn_if_replacing(output_dir)
    began = time.perf_counter()
    probe_state, probe_loss = None, None
    with quiet_lightning(), interrupt_raised(trainer):
        if head_record["head_init"] == "probe" and len(val_frame):
            scores = trainer.validate(module, datamodule=datamodule, verbose=False)
            probe_loss = float(scores[0]["val_loss"])
            probe_state = copy.deepcopy(module.state_dict())
        trainer.fit(module, datamodule=datamodule)
    seconds = time.perf_counter() - began
    last = output_dir / f"{LAST_NAME}.ckpt"
    best = (output_dir / Path(checkpoint.best_model_path).name  # as output_dir was given
            if checkpoint.best_model_path else last)
    score = checkpoint.best_model_score if len(val_frame) else None
    best_loss = float(score) if score is not None else None
    keep_probe = probe_loss is not None and (best_loss is None or probe_loss <= best_loss)
    if probe_loss is not None:
        metadata["training"]["probe_val_loss"] = probe_loss
    metadata["training"].update(
        epochs_completed=trainer.current_epoch,
        seconds=round(seconds, 1),
        hardware=hardware_record(trainer),
        best_val_loss=probe_loss if keep_probe else best_loss,
        kept="probe" if keep_probe else "best epoch" if len(val_frame) else "last epoch",
        best_val_metrics=history.best(),  # the kept model's: the lowest loss, probe included
    )
    model_path = output_dir / MODEL_FILE
    if trainer.is_global_zero:
        state = probe_state if keep_probe else torch.load(
            best, map_location="cpu", weights_only=False)["state_dict"]
        module.load_state_dict(state)
        save_model(galaxy_model, metadata, model_path)
    log_dir = trainer.loggers[0].log_dir if trainer.loggers else None
    return FinetuneResult(
        output_dir, model_path, best, last, metadata["training"]["best_val_loss"],
        trainer.current_epoch, seconds, metadata,
        Path(log_dir) / "metrics.csv" if log_dir else None,
    )
