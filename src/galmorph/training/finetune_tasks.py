"""What each fine-tuning task makes of a labelled catalog: targets, head, validation split.

:func:`task_setup` turns a label column (``classification``, ``regression``) or the
vote columns of a new decision tree (``votes``) into the targets, the new head, the
stratified validation split and what the model records about them (:class:`TaskSetup`);
:func:`task_datamodule` makes the loaders of that split. Both serve
:func:`galmorph.training.finetune.finetune`.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from galmorph.data.catalog import CatalogSource
from galmorph.data.datasets import GalaxyDataModule
from galmorph.data.image_config import ImageConfig
from galmorph.data.tree import Schema
from galmorph.exceptions import CatalogError, GalmorphError, GalmorphWarning
from galmorph.models.metrics import fit_vote_baseline
from galmorph.models.model import ConcentrationHead, LinearHead
from galmorph.training.targets import (
    TargetDataModule,
    check_classes,
    class_loss_weights,
    stratified_split,
)
from galmorph.training.training_votes import baseline_val_loss, check_training_votes


@dataclass
class TaskSetup:
    """What :func:`task_setup` makes of a task's labels.

    Attributes:
        head: the new head, on the encoder's features.
        is_val: boolean mask ``(n,)`` of the validation rows.
        targets: a class index or value per galaxy; None for votes.
        class_weights: the loss weight of each class (classification), or None.
        task_meta: what the model's metadata records about the task.
        baseline_record: the no-image baseline's validation loss (votes).
    """

    head: nn.Module
    is_val: np.ndarray
    targets: np.ndarray | None = None
    class_weights: torch.Tensor | None = None
    task_meta: dict[str, Any] = field(default_factory=dict)
    baseline_record: dict[str, Any] = field(default_factory=dict)


def task_setup(
    frame: pd.DataFrame,
    task: str,
    label: str | None,
    tree: Schema | None,
    num_features: int,
    *,
    dropout: float,
    val_fraction: float,
    split_seed: int,
    class_weights: str | Mapping[Any, float] | Sequence[float] | None,
    loss: str,
    squash: bool,
    where: str,
) -> TaskSetup:
    """Targets, head and validation split of ``task`` on the catalog ``frame`` (named
    ``where`` in messages); the options are :func:`~galmorph.training.finetune.finetune`'s.

    Raises:
        GalmorphError: for labels that cannot be learnt, or too few galaxies for a
            validation split of ``val_fraction``.
    """
    task_meta: dict[str, Any] = {}
    baseline_record: dict[str, Any] = {}
    class_weight_tensor = None
    targets: np.ndarray | None = None
    ids = frame["id_str"]
    if task == "classification":
        assert label is not None
        values = frame[label]
        classes = sorted(values.unique())
        index = {c: i for i, c in enumerate(classes)}
        targets = values.map(index).to_numpy(dtype=np.int64)
        is_val = stratified_split(values, ids, val_fraction, split_seed)
        train_counts = np.bincount(targets[~is_val], minlength=len(classes))
        val_counts = np.bincount(targets[is_val], minlength=len(classes))
        check_classes(classes, train_counts + val_counts, val_counts, where, label,
                      val_fraction, class_weights is not None)
        class_weight_tensor = class_loss_weights(class_weights, classes, train_counts)
        head: nn.Module = LinearHead(num_features, len(classes), dropout)
        task_meta = {"classes": classes, "label_column": label,
                     "class_counts": train_counts.tolist(), "val_class_counts": val_counts.tolist()}
    elif task == "regression":
        assert label is not None
        targets = frame[label].to_numpy(dtype=np.float32)
        if squash and not ((targets >= 0) & (targets <= 1)).all():
            raise CatalogError(f"squash=True needs {label!r} values in [0, 1]")
        if not squash and targets.min() >= 0 and targets.max() <= 1 and len(set(targets)) > 2:
            warnings.warn(f"{where}: the {label!r} values all lie in [0, 1]: if they are "
                          "fractions, squash=True (--squash) keeps the predictions in [0, 1] "
                          "too (without it they may fall outside)", GalmorphWarning,
                          stacklevel=3)
        quartile = pd.qcut(frame[label].rank(method="first"), 4, labels=False)
        is_val = stratified_split(quartile, ids, val_fraction, split_seed)
        head = LinearHead(num_features, 1, dropout, squash=squash)
        median = float(np.median(targets[~is_val]))  # the constant of least absolute error
        task_meta = {"label_column": label, "loss": loss, "squash": squash,
                     "train_median": median, "val_median_mae": (
                         float(np.abs(targets[is_val] - median).mean()) if is_val.any() else None)}
    else:
        assert tree is not None
        is_val = stratified_split(pd.Series(0, index=frame.index), ids, val_fraction, split_seed)
        counts = frame.loc[~is_val, tree.label_cols].to_numpy()
        head = ConcentrationHead(num_features, tree.n_answers, dropout)
        baseline = fit_vote_baseline(counts, tree)
        task_meta = {"schema": tree.to_dict(), "min_concentration": head.min_concentration,
                     "vote_baseline": [float(v) for v in baseline],
                     "questions_without_votes": tree.unanswered(counts)}
        baseline_record = {"baseline_val_loss": baseline_val_loss(
            frame.loc[is_val, tree.label_cols].to_numpy(), baseline, tree)}
    if val_fraction > 0 and not is_val.any():
        raise GalmorphError(
            f"{where}: {len(frame)} galaxies are too few for a validation split of "
            f"{val_fraction:g}; use val_fraction=0 (--val-fraction 0) and a fixed number of epochs"
        )
    return TaskSetup(head, is_val, targets, class_weight_tensor, task_meta, baseline_record)


def task_datamodule(
    catalog: CatalogSource,
    frame: pd.DataFrame,
    setup: TaskSetup,
    tree: Schema | None,
    config: ImageConfig,
    *,
    val_fraction: float,
    split_seed: int,
    batch_size: int,
    num_workers: int | None,
    cache_images: bool,
    augment: bool,
) -> tuple[GalaxyDataModule, pd.DataFrame, pd.DataFrame]:
    """The loaders of ``setup``'s split of ``frame`` (read from ``catalog``), with the
    training and validation catalogs; the options are
    :func:`~galmorph.training.finetune.finetune`'s.
    """
    is_val, targets = setup.is_val, setup.targets
    train_frame = frame[~is_val].reset_index(drop=True)
    val_frame = frame[is_val].reset_index(drop=True)
    loader_options = {"batch_size": batch_size, "num_workers": num_workers,
                      "cache": cache_images, "augment": augment}
    if targets is None:
        datamodule: GalaxyDataModule = GalaxyDataModule(
            schema=tree, image_config=config, train_catalog=train_frame,
            val_catalog=val_frame if len(val_frame) else None, **loader_options,
        )
        check_training_votes(catalog, {"train": train_frame, "predict": frame}, tree)
    else:
        datamodule = TargetDataModule(
            train_frame, val_frame, {"train": targets[~is_val], "val": targets[is_val]},
            config, **loader_options,
        )
    datamodule.split_summary.update(
        method="stratified", catalog="DataFrame" if isinstance(catalog, pd.DataFrame)
        else str(catalog), seed=split_seed, fractions=[1 - val_fraction, val_fraction, 0.0],
    )
    return datamodule, train_frame, val_frame
