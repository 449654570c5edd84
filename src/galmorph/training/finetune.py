"""Fine-tune a model to new labels: classes, a number per galaxy, or a new decision tree.

:func:`finetune` trains a new head, and optionally the top blocks of the encoder,
on a labelled catalog:

* ``task="classification"``: one class per galaxy from a label column (binary or
  multi-class), cross-entropy with optional label smoothing and class weights;
* ``task="regression"``: one number per galaxy, MSE or MAE, optionally squashed
  to [0, 1] by a sigmoid;
* ``task="votes"``: vote counts of a new decision tree (``schema``), with the
  Dirichlet-multinomial loss used for pretraining.

The encoder starts from a pretrained galmorph model (``init="pretrained"``: a
shipped name, a file or ``hf_hub:ORG/NAME``), from timm's own ImageNet weights
(``init="imagenet"``), or from random weights (``init="scratch"``).

Encoder blocks are the stages timm groups a model into (ConvNeXt ``stages``,
ResNet ``layer1``-``layer4``, EfficientNet ``blocks``; see :func:`encoder_blocks`),
counted from the head side. ``n_blocks`` of them are trained, the rest are
frozen: their parameters get no gradients (``requires_grad=False``, left out of
the optimizer) and their modules stay in eval mode while training, so
BatchNorm running statistics and dropout do not change either. Block ``d``
from the top trains at ``learning_rate * lr_decay**d``; the head at
``learning_rate``.

The result is a self-describing model (:mod:`galmorph.models.checkpoint`) for
:func:`galmorph.inference.predict.predict_catalog`: :func:`classification_columns` and
:func:`regression_columns` make its output columns. :func:`probe` is a fast
baseline: logistic regression on frozen embeddings
(:func:`galmorph.inference.embed.embed_catalog`).

Examples
--------
>>> from galmorph.training.finetune import finetune  # doctest: +SKIP
>>> result = finetune("rings.csv", "runs/rings", label="ring", n_blocks=2, epochs=30)
>>> result.model_path
PosixPath('runs/rings/model.pt')
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

from galmorph import __version__
from galmorph.data import bundled
from galmorph.data.catalog import load_catalog
from galmorph.data.datasets import CatalogSource, GalaxyDataModule, GalaxyDataset, Transform
from galmorph.data.images import (
    ImageConfig,
    eval_transform,
    load_image,
    to_channels,
    train_transform,
)
from galmorph.data.schemas import Schema, get_schema
from galmorph.exceptions import CatalogError, GalmorphError, GalmorphWarning
from galmorph.models.blocks import encoder_blocks, freeze_encoder, layerwise_groups
from galmorph.models.checkpoint import LoadedModel, save_model
from galmorph.models.defaults import DEFAULT_MODEL
from galmorph.models.losses import vote_loss
from galmorph.models.metrics import fit_vote_baseline
from galmorph.models.model import ConcentrationHead, GalaxyModel, LinearHead
from galmorph.models.starts import starting_point
from galmorph.training.train import LAST_NAME, MODEL_FILE, build_trainer

TASKS = ("classification", "regression", "votes")
#: Source-image conventions of :class:`ImageConfig` that describe the training data.
SOURCE_FIELDS = ("survey", "bands", "pixel_scale", "field_of_view", "stretch")
#: More distinct values than this in a label column is not a classification.
MAX_CLASSES = 100
#: Encoder blocks trained by default when starting from pretrained weights.
DEFAULT_N_BLOCKS = 1
#: Images measured by :func:`galaxy_fill`.
FILL_SAMPLE = 64


# ------------------------------------------------------------ training module
class FinetuneModule(L.LightningModule):
    """Trains a :class:`GalaxyModel` on one task with part of its encoder frozen.

    Args:
        model: encoder and new head.
        task: ``classification`` (head gives logits), ``regression`` (one value)
            or ``votes`` (Dirichlet concentrations of ``schema``).
        n_blocks: encoder blocks trained, from the top (-1: all, 0: none).
        learning_rate: AdamW learning rate of the head.
        lr_decay: block ``d`` from the top trains at ``learning_rate * lr_decay**d``.
        weight_decay: AdamW weight decay of weight matrices (not of biases or norms).
        label_smoothing, class_weights: cross-entropy options (classification).
        loss: ``mse`` or ``mae`` (regression).
        schema: the decision tree (votes).
        metadata: self-description written into every checkpoint.

    Batches hold ``image`` and ``target`` (class index or value), or ``counts``
    for votes. The learning rate warms up linearly over the first 5% of steps,
    then follows a cosine to zero.
    """

    def __init__(
        self,
        model: GalaxyModel,
        task: str,
        *,
        n_blocks: int = 0,
        learning_rate: float = 1e-3,
        lr_decay: float = 0.5,
        weight_decay: float = 0.05,
        label_smoothing: float = 0.0,
        class_weights: torch.Tensor | None = None,
        loss: str = "mse",
        schema: Schema | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        if task not in TASKS:
            raise ValueError(f"task must be one of {', '.join(TASKS)}, got {task!r}")
        if loss not in ("mse", "mae"):
            raise ValueError(f"loss must be 'mse' or 'mae', got {loss!r}")
        if task == "votes" and schema is None:
            raise ValueError("a votes model needs its schema")
        self.model = model
        self.task = task
        self.frozen_modules = freeze_encoder(model.encoder, n_blocks)
        self.n_blocks = n_blocks
        self.learning_rate = learning_rate
        self.lr_decay = lr_decay
        self.weight_decay = weight_decay
        self.label_smoothing = label_smoothing
        self.register_buffer("class_weights", class_weights, persistent=False)
        self.loss = loss
        self.schema = schema
        self.metadata = dict(metadata or {})
        self.train()

    def train(self, mode: bool = True) -> FinetuneModule:
        """Set train/eval mode, keeping frozen encoder modules in eval mode."""
        super().train(mode)
        for name in self.frozen_modules:
            self.model.encoder.get_submodule(name).eval()
        return self

    def on_train_epoch_start(self) -> None:
        self.train()

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.model(images)

    def _loss(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """The loss of a batch, and the model's outputs."""
        outputs = self.model(batch["image"]).float()
        if self.task == "classification":
            loss = F.cross_entropy(
                outputs, batch["target"], weight=self.class_weights,
                label_smoothing=self.label_smoothing,
            )
        elif self.task == "regression":
            error = F.mse_loss if self.loss == "mse" else F.l1_loss
            loss = error(outputs[:, 0], batch["target"].float())
        else:
            assert self.schema is not None
            loss = vote_loss(batch["counts"], outputs, self.schema.question_index_groups)
        return loss, outputs

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        loss, _ = self._loss(batch)
        self.log("train_loss", loss, prog_bar=True, on_step=True, on_epoch=True,
                 batch_size=len(batch["image"]))
        return loss

    def validation_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        loss, outputs = self._loss(batch)
        size = len(batch["image"])
        self.log("val_loss", loss, prog_bar=True, batch_size=size, sync_dist=True)
        if self.task == "classification":
            accuracy = (outputs.argmax(dim=1) == batch["target"]).float().mean()
            self.log("val_accuracy", accuracy, prog_bar=True, batch_size=size, sync_dist=True)
        elif self.task == "regression":
            mae = (outputs[:, 0] - batch["target"]).abs().mean()
            self.log("val_mae", mae, batch_size=size, sync_dist=True)

    def parameter_groups(self) -> list[dict[str, Any]]:
        """AdamW groups with layer-wise decay (:func:`galmorph.models.starts.layerwise_groups`)."""
        return layerwise_groups(
            self.model.head.parameters(), self.model.encoder, self.n_blocks, self.learning_rate,
            self.lr_decay, self.weight_decay,
        )

    def configure_optimizers(self) -> dict[str, Any]:
        optimizer = torch.optim.AdamW(self.parameter_groups())
        total = max(int(self.trainer.estimated_stepping_batches), 1)
        warmup = max(1, round(0.05 * total))

        def factor(step: int) -> float:
            if step < warmup:
                return (step + 1) / warmup
            progress = min(1.0, (step - warmup) / max(1, total - warmup))
            return 0.5 * (1 + math.cos(math.pi * progress))

        schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": schedule, "interval": "step"}}

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint["galmorph"] = self.metadata


# --------------------------------------------------------------------- data
class TargetDataset(GalaxyDataset):
    """A :class:`GalaxyDataset` whose items also hold ``target``: a class index or value."""

    def __init__(
        self,
        catalog: pd.DataFrame,
        targets: np.ndarray,
        transform: Transform,
        *,
        channels: int,
        cache: bool,
    ) -> None:
        super().__init__(catalog, None, transform, channels=channels, cache=cache)
        self.targets = torch.as_tensor(targets)

    def __getitem__(self, index: int) -> dict[str, Any]:
        item = super().__getitem__(index)
        item["target"] = self.targets[index]
        return item


class TargetDataModule(GalaxyDataModule):
    """Train/validation loaders over explicit catalogs whose items carry ``target``."""

    def __init__(
        self,
        train: pd.DataFrame,
        val: pd.DataFrame,
        targets: Mapping[str, np.ndarray],
        image_config: ImageConfig,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            image_config=image_config,
            train_catalog=train,
            val_catalog=val if len(val) else None,
            **kwargs,
        )
        self.targets = dict(targets)

    def dataset(self, name: str) -> GalaxyDataset:
        if name not in self._datasets and name in self.targets:
            config = self.image_config
            make = train_transform if name == "train" and self.augment else eval_transform
            self._datasets[name] = TargetDataset(
                self.catalogs[name], self.targets[name], make(config),
                channels=config.channels, cache=self.cache,
            )
        return super().dataset(name)


def _normalise_classes(values: pd.Series) -> pd.Series:
    """Class labels as Python ints (whole numbers, bools) or as text.

    Raises:
        CatalogError: for numbers that are not whole (a regression target).
    """
    if pd.api.types.is_bool_dtype(values):
        return values.astype(int).astype(object)
    if pd.api.types.is_numeric_dtype(values):
        numbers = values.astype(float)
        if not (numbers == np.round(numbers)).all():
            raise CatalogError(
                f"label column {values.name!r} holds numbers that are not whole, not classes: "
                "use task='regression' (--task regression) to predict them"
            )
        return numbers.astype(int).astype(object)
    return values.astype(str)


def stratified_split(
    strata: pd.Series, ids: pd.Series, fraction: float, seed: int
) -> np.ndarray:
    """Boolean mask of validation rows: ``fraction`` of each stratum (rounded half up,
    leaving at least one row of each in training), chosen by ``seed`` independently
    of the row order."""
    is_val = np.zeros(len(ids), dtype=bool)
    if fraction <= 0:
        return is_val
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({"stratum": strata.to_numpy(), "id": ids.to_numpy()})
    for _, group in frame.groupby("stratum", sort=True):
        ordered = group.sort_values("id").index.to_numpy()
        n_val = min(math.floor(fraction * len(ordered) + 0.5), len(ordered) - 1)
        is_val[rng.permutation(ordered)[:n_val]] = True
    return is_val


def _class_weights(
    option: str | Mapping[Any, float] | Sequence[float] | None,
    classes: list[Any],
    counts: np.ndarray,
) -> torch.Tensor | None:
    """Per-class loss weights: ``balanced`` (n / (k n_c)), per class or in class order."""
    if option is None:
        return None
    if isinstance(option, str):
        if option != "balanced":
            raise ValueError(
                f"class_weights must be 'balanced', a mapping or a list, got {option!r}"
            )
        weights = counts.sum() / (len(classes) * np.maximum(counts, 1))
    elif isinstance(option, Mapping):
        keys = {str(k): float(v) for k, v in option.items()}
        missing = [c for c in classes if str(c) not in keys]
        if missing:
            raise ValueError(f"class_weights has no weight for classes {missing}")
        weights = np.array([keys[str(c)] for c in classes])
    else:
        weights = np.asarray(option, dtype=float)
        if weights.shape != (len(classes),):
            raise ValueError(f"class_weights needs {len(classes)} values (classes {classes})")
    return torch.tensor(weights, dtype=torch.float32)


def same_conventions(config: ImageConfig, image: str | Path) -> bool:
    """Whether an image has the side in pixels that ``config``'s conventions imply."""
    if not (config.field_of_view and config.pixel_scale):
        return False
    side = round(config.field_of_view / config.pixel_scale)
    return load_image(image).shape[:2] == (side, side)


def source_conventions(
    config: ImageConfig, first_image: str | Path, given: Mapping[str, Any] | None
) -> dict[str, Any]:
    """Source-image conventions to record for a model fine-tuned on new images.

    ``given`` values win; otherwise the starting model's are kept when the new
    images have the side its conventions imply, and are cleared (unknown) when not.
    """
    given = dict(given or {})
    unknown = sorted(set(given) - set(SOURCE_FIELDS))
    if unknown:
        raise ValueError(f"unknown source conventions {unknown}; known: {list(SOURCE_FIELDS)}")
    cleared: dict[str, Any] = {
        "survey": "", "bands": "", "pixel_scale": None, "field_of_view": None, "stretch": ""
    }
    keep = same_conventions(config, first_image)
    base = {f: getattr(config, f) for f in SOURCE_FIELDS} if keep else cleared
    return {**base, **given}


def galaxy_fill(paths: Sequence[str | Path], n: int = FILL_SAMPLE, seed: int = 0) -> float:
    """Median apparent size of the central galaxy: its diameter over the image side.

    Measured on ``n`` images drawn by ``seed`` (all when fewer), in grey: the
    background is the median of the outer tenth of the image, and the galaxy is
    the connected region around the centre brighter than the background by a
    tenth of the centre's (90th percentile of the central tenth) excess; its
    diameter is that of a circle of the same area.
    """
    from scipy import ndimage

    chosen = np.random.default_rng(seed).permutation(len(paths))[:n]
    fills = []
    for i in chosen:
        image = to_channels(load_image(paths[i]), 1)[..., 0].astype(np.float64)
        side = min(image.shape)
        edge, middle = max(1, side // 10), slice(side // 2 - side // 20, side // 2 + side // 20 + 1)
        border = np.concatenate([image[:edge].ravel(), image[-edge:].ravel(),
                                 image[:, :edge].ravel(), image[:, -edge:].ravel()])
        background = np.median(border)
        centre = np.percentile(image[middle, middle], 90)
        mask = ndimage.binary_opening(image > background + 0.1 * (centre - background))
        regions, _ = ndimage.label(mask)
        label = regions[image.shape[0] // 2, image.shape[1] // 2]
        if label and centre > background:
            fills.append(2 * math.sqrt((regions == label).sum() / math.pi) / side)
    return float(np.median(fills)) if fills else math.nan


def auto_crop(
    config: ImageConfig, paths: Sequence[str | Path]
) -> tuple[tuple[float, float], dict[str, float]] | None:
    """A training crop giving new images' galaxies the apparent size the model was trained on.

    Only for models trained on images with the conventions of the bundled GZ2
    SDSS galaxies (:meth:`ImageConfig.for_sdss_gz2`), whose galaxy size is measured
    on those (:func:`galaxy_fill`), and only for new images of other conventions.
    The model's crop is scaled by the ratio of the galaxy sizes (capped at the
    whole image).

    Returns:
        The crop, and the two galaxy sizes (``galaxy_fill`` of the new images and
        ``reference_fill``); None when the crop should stay as it is.
    """
    sdss = ImageConfig.for_sdss_gz2()
    if any(getattr(config, f) != getattr(sdss, f) for f in SOURCE_FIELDS):
        return None
    if same_conventions(config, paths[0]):
        return None
    reference = bundled.demo_catalog()
    demo = pd.read_csv(reference, usecols=["file_loc"])["file_loc"]
    reference_fill = galaxy_fill([reference.parent / p for p in demo])
    fill = galaxy_fill(list(paths))
    if not (fill > 0 and reference_fill > 0):
        return None
    scale = fill / reference_fill
    low, high = (min(1.0, round(c * scale, 3)) for c in config.crop_fraction)
    return (low, high), {"galaxy_fill": round(fill, 3), "reference_fill": round(reference_fill, 3)}


# ------------------------------------------------------------------ the job
@dataclass
class FinetuneResult:
    """Where a fine-tuning run left its files, and its best validation loss."""

    output_dir: Path
    model_path: Path
    best_checkpoint: Path
    last_checkpoint: Path
    best_val_loss: float | None
    epochs_completed: int
    seconds: float
    metadata: dict[str, Any] = field(repr=False)


def _labelled_catalog(
    catalog: CatalogSource, task: str, label: str | None, schema: Schema | None
) -> pd.DataFrame:
    """The catalog with its label checked; rows without a label dropped, with a warning."""
    frame = load_catalog(catalog, schema)
    if task == "votes":
        return frame
    if label is None:
        raise ValueError(f"a {task} model needs label= (the catalog column to learn)")
    if label not in frame:
        raise CatalogError(
            f"the catalog has no label column {label!r}; its columns: {', '.join(frame.columns)}"
        )
    if task == "regression":
        values = pd.to_numeric(frame[label], errors="coerce")
        bad = frame[label].notna() & values.isna()
        if bad.any():
            raise CatalogError(
                f"label column {label!r} must hold numbers; it has "
                f"{', '.join(map(repr, frame.loc[bad, label].unique()[:5]))}"
            )
        frame[label] = values
    missing = frame[label].isna()
    if missing.all():
        raise CatalogError(f"label column {label!r} is empty")
    if missing.any():
        warnings.warn(
            f"skipping {int(missing.sum())} of {len(frame)} galaxies without a {label!r} label",
            GalmorphWarning, stacklevel=3,
        )
        frame = frame[~missing].reset_index(drop=True)
    return frame


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
            :func:`starting_point`); default: the shipped pretrained model.
        n_blocks: encoder blocks trained, from the top (0: linear probe on a frozen
            encoder; -1: all). Default: :data:`DEFAULT_N_BLOCKS`, or all from scratch.
        learning_rate, lr_decay, weight_decay: AdamW settings (see :class:`FinetuneModule`).
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
            starting model's, scaled by :func:`auto_crop` (for Galaxy Zoo DECaLS
            cutouts and the GZ2 SDSS starter about ``(0.4, 0.48)``).
        source: conventions of the new images (``survey``, ``bands``,
            ``pixel_scale``, ``field_of_view``, ``stretch``); see :func:`source_conventions`.
        augment: random rotations, flips and crops while training.
        accelerator, devices, precision: passed to ``lightning.Trainer``.
        num_workers: image-loading worker processes; cache_images: decode once.
        name: model name recorded in its metadata.

    Raises:
        GalmorphError: for bad catalogs, labels or models.
        ValueError: for inconsistent options.
    """
    if task not in TASKS:
        raise ValueError(f"task must be one of {', '.join(TASKS)}, got {task!r}")
    if task != "classification" and (label_smoothing or class_weights is not None):
        raise ValueError("label_smoothing and class_weights are classification options")
    if task != "regression" and (squash or loss != "mse"):
        raise ValueError("loss and squash are regression options")
    if task == "votes" and (schema is None or label is not None):
        raise ValueError("a votes model needs schema= (the new decision tree), not label=")
    if not 0 <= val_fraction < 1:
        raise ValueError(f"val_fraction must be in [0, 1), got {val_fraction}")
    tree = get_schema(schema) if task == "votes" and schema is not None else None
    output_dir = Path(output_dir)
    L.seed_everything(seed, workers=True, verbose=False)

    frame = _labelled_catalog(catalog, task, label, tree)
    start = starting_point(init, model, encoder=encoder, imagenet_weights=imagenet_weights)
    crop_record: dict[str, Any] = {}
    if crop_fraction is None:
        automatic = auto_crop(start.image_config, frame["file_loc"].tolist())
        if automatic is not None:
            crop_fraction, crop_record = automatic
    config = ImageConfig.from_dict({
        **start.image_config.to_dict(),
        **({"size": image_size} if image_size else {}),
        **({"crop_fraction": list(crop_fraction)} if crop_fraction else {}),
        **source_conventions(start.image_config, frame["file_loc"].iloc[0], source),
    })

    # labels, head and the validation split
    task_meta: dict[str, Any] = {}
    class_weight_tensor = None
    targets: np.ndarray | None = None
    ids = frame["id_str"]
    if task == "classification":
        assert label is not None
        values = _normalise_classes(frame[label])
        classes = sorted(values.unique())
        if not 2 <= len(classes) <= MAX_CLASSES:
            raise CatalogError(
                f"label column {label!r} has {len(classes)} distinct values; a classifier "
                f"needs 2 to {MAX_CLASSES} (use task='regression' for numbers)"
            )
        index = {c: i for i, c in enumerate(classes)}
        targets = values.map(index).to_numpy(dtype=np.int64)
        is_val = stratified_split(values, ids, val_fraction, split_seed)
        train_counts = np.bincount(targets[~is_val], minlength=len(classes))
        class_weight_tensor = _class_weights(class_weights, classes, train_counts)
        head: nn.Module = LinearHead(start.encoder.num_features, len(classes), dropout)
        task_meta = {"classes": classes, "label_column": label,
                     "class_counts": train_counts.tolist()}
    elif task == "regression":
        assert label is not None
        targets = frame[label].to_numpy(dtype=np.float32)
        if squash and not ((targets >= 0) & (targets <= 1)).all():
            raise CatalogError(f"squash=True needs {label!r} values in [0, 1]")
        quartile = pd.qcut(frame[label].rank(method="first"), 4, labels=False)
        is_val = stratified_split(quartile, ids, val_fraction, split_seed)
        head = LinearHead(start.encoder.num_features, 1, dropout, squash=squash)
        task_meta = {"label_column": label, "loss": loss, "squash": squash}
    else:
        assert tree is not None
        is_val = stratified_split(pd.Series(0, index=frame.index), ids, val_fraction, split_seed)
        counts = frame.loc[~is_val, tree.label_cols].to_numpy()
        head = ConcentrationHead(start.encoder.num_features, tree.n_answers, dropout)
        task_meta = {"schema": tree.to_dict(), "min_concentration": head.min_concentration,
                     "vote_baseline": [float(v) for v in fit_vote_baseline(counts, tree)]}
    if val_fraction > 0 and not is_val.any():
        raise GalmorphError(
            f"{len(frame)} galaxies are too few for a validation split of {val_fraction:g}; "
            "use val_fraction=0 (--val-fraction 0) and a fixed number of epochs"
        )

    train_frame = frame[~is_val].reset_index(drop=True)
    val_frame = frame[is_val].reset_index(drop=True)
    loader_options = {"batch_size": batch_size, "num_workers": num_workers,
                      "cache": cache_images, "augment": augment}
    if targets is None:
        datamodule: GalaxyDataModule = GalaxyDataModule(
            schema=tree, image_config=config, train_catalog=train_frame,
            val_catalog=val_frame if len(val_frame) else None, **loader_options,
        )
    else:
        datamodule = TargetDataModule(
            train_frame, val_frame, {"train": targets[~is_val], "val": targets[is_val]},
            config, **loader_options,
        )
    datamodule.split_summary.update(
        method="stratified", catalog="DataFrame" if isinstance(catalog, pd.DataFrame)
        else str(catalog), seed=split_seed, fractions=[1 - val_fraction, val_fraction, 0.0],
    )

    galaxy_model = GalaxyModel(start.encoder, head)
    blocks = len(encoder_blocks(start.encoder))
    if n_blocks is None:
        n_blocks = -1 if init == "scratch" else min(DEFAULT_N_BLOCKS, blocks)
    metadata: dict[str, Any] = {
        "task": task,
        "name": name,
        "encoder": start.encoder_name,
        "channels": config.channels,
        "dropout": dropout,
        **task_meta,
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
            "class_weights": class_weight_tensor.tolist() if class_weight_tensor is not None
            else None,
            "augment": augment,
            **crop_record,
            "seed": seed,
        },
        "galmorph_version": __version__,
    }
    module = FinetuneModule(
        galaxy_model, task, n_blocks=n_blocks, learning_rate=learning_rate, lr_decay=lr_decay,
        weight_decay=weight_decay, label_smoothing=label_smoothing,
        class_weights=class_weight_tensor, loss=loss, schema=tree, metadata=metadata,
    )
    trainer, checkpoint = build_trainer(
        output_dir, epochs=epochs, monitor="val_loss" if len(val_frame) else None,
        patience=patience, accelerator=accelerator, devices=devices, precision=precision,
        progress=progress, log_every_n_steps=1,
    )
    began = time.perf_counter()
    with warnings.catch_warnings():  # frozen modules are in eval mode on purpose
        warnings.filterwarnings("ignore", ".*module\\(s\\) in eval mode.*")
        trainer.fit(module, datamodule=datamodule)
    seconds = time.perf_counter() - began
    last = output_dir / f"{LAST_NAME}.ckpt"
    best = Path(checkpoint.best_model_path) if checkpoint.best_model_path else last
    best_loss = checkpoint.best_model_score if len(val_frame) else None
    metadata["training"].update(
        epochs_completed=trainer.current_epoch,
        seconds=round(seconds, 1),
        best_val_loss=float(best_loss) if best_loss is not None else None,
    )
    model_path = output_dir / MODEL_FILE
    if trainer.is_global_zero:
        state = torch.load(best, map_location="cpu", weights_only=False)["state_dict"]
        module.load_state_dict(state)
        save_model(galaxy_model, metadata, model_path)
    return FinetuneResult(
        output_dir, model_path, best, last, metadata["training"]["best_val_loss"],
        trainer.current_epoch, seconds, metadata,
    )


# ------------------------------------------------------------ probe baseline
#: Inverse L2 strengths the probe chooses among by cross-validation.
PROBE_REGULARISATION = tuple(float(c) for c in np.logspace(-4, 1, 11))


def probe(
    train_features: np.ndarray,
    train_labels: Sequence[Any] | np.ndarray,
    test_features: np.ndarray,
    test_labels: Sequence[Any] | np.ndarray,
    *,
    regularisation: float | None = None,
) -> dict[str, Any]:
    """Logistic-regression probe: fit on standardised embeddings, score on a test set.

    Args:
        train_features, test_features: ``(n, feature_dim)`` embeddings.
        train_labels, test_labels: class labels.
        regularisation: inverse L2 strength ``C`` of scikit-learn's LogisticRegression;
            None: chosen from :data:`PROBE_REGULARISATION` by stratified
            cross-validation on the training set (log-loss), as many folds as the
            rarest class allows (at most 5).

    Returns:
        ``accuracy``, ``roc_auc`` (binary: of the second class; multi-class:
        one-vs-rest macro average; None when a test class is missing),
        ``n_train``, ``n_test``, ``classes``, ``regularisation`` (the ``C`` used)
        and ``probabilities`` ``(n_test, n_classes)``.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GridSearchCV, StratifiedKFold
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    labels = np.asarray(train_labels)
    folds = min(5, int(np.unique(labels, return_counts=True)[1].min()))
    classifier = make_pipeline(StandardScaler(), LogisticRegression(
        C=1.0 if regularisation is None else regularisation, max_iter=5000))
    if regularisation is None and folds >= 2:
        classifier = GridSearchCV(
            classifier, {"logisticregression__C": list(PROBE_REGULARISATION)},
            cv=StratifiedKFold(folds, shuffle=True, random_state=0), scoring="neg_log_loss",
        )
    classifier.fit(np.asarray(train_features), labels)
    fitted = getattr(classifier, "best_estimator_", classifier)
    chosen = float(fitted[-1].C)
    classes = classifier.classes_
    probabilities = classifier.predict_proba(np.asarray(test_features))
    return {
        **classification_metrics(np.asarray(test_labels), probabilities, list(classes)),
        "n_train": len(labels),
        "classes": list(classes),
        "regularisation": chosen,
        "probabilities": probabilities,
    }


def classification_metrics(
    labels: np.ndarray, probabilities: np.ndarray, classes: Sequence[Any]
) -> dict[str, Any]:
    """``accuracy``, ``n_correct``, ``n_test`` and ``roc_auc`` of class probabilities.

    ``roc_auc`` is that of the second class for two classes, the one-vs-rest
    macro average for more, and None when a class is missing from ``labels``.
    """
    from sklearn.metrics import roc_auc_score

    labels = np.asarray(labels)
    predicted = np.asarray(classes)[np.asarray(probabilities).argmax(axis=1)]
    correct = int((predicted == labels).sum())
    auc = None
    if set(np.unique(labels)) == set(classes):
        if len(classes) == 2:
            auc = float(roc_auc_score(labels == classes[1], probabilities[:, 1]))
        else:
            auc = float(roc_auc_score(labels, probabilities, multi_class="ovr", labels=classes))
    return {"accuracy": correct / len(labels), "n_correct": correct, "n_test": len(labels),
            "roc_auc": auc}
