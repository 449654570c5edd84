"""The Lightning module that fine-tunes a model with part of its encoder frozen.

:class:`FinetuneModule` trains a :class:`galmorph.models.model.GalaxyModel` on
one task (classes, a number per galaxy, or the votes of a decision tree), keeps
the frozen encoder blocks in eval mode, and trains the others at layer-wise
decayed learning rates under a warm-up and cosine schedule.
:func:`check_hyperparameters` checks its settings before any work.
"""

from __future__ import annotations

import math
from typing import Any

import lightning as L
import torch
import torch.nn.functional as F
from torch import nn
from torchmetrics.aggregation import CatMetric
from torchmetrics.classification import MulticlassConfusionMatrix

from galmorph.data.tree import Schema
from galmorph.models.blocks import freeze_encoder, layerwise_groups
from galmorph.models.label_metrics import paired_p_value
from galmorph.models.losses import vote_loss
from galmorph.models.model import GalaxyModel
from galmorph.numbers import positive_number, real_number

TASKS = ("classification", "regression", "votes")


def check_hyperparameters(
    task: str, *, learning_rate: float, lr_decay: float, weight_decay: float,
    label_smoothing: float = 0.0, class_weights: Any = None, loss: str = "mse",
    squash: bool = False, dropout: float = 0.0,
) -> None:
    """Check the task's training settings before any work.

    ``learning_rate`` and ``lr_decay`` above 0, ``weight_decay`` from 0,
    ``label_smoothing`` and ``dropout`` from 0 up to (not including) 1; label
    smoothing and class weights for a classifier, ``loss`` and ``squash`` for a regressor.

    Raises:
        ValueError: naming the first setting that is wrong.
    """
    if task not in TASKS:
        raise ValueError(f"task must be one of {', '.join(TASKS)}, got {task!r}")
    if task != "classification" and (label_smoothing or class_weights is not None):
        raise ValueError("label_smoothing and class_weights are classification options")
    if task != "regression" and (squash or loss != "mse"):
        raise ValueError("loss and squash are regression options")
    if loss not in ("mse", "mae"):
        raise ValueError(f"loss must be 'mse' or 'mae', got {loss!r}")
    for name, value in (("learning_rate", learning_rate), ("lr_decay", lr_decay)):
        positive_number(value, name)
    real_number(weight_decay, "weight_decay", 0.0)
    for name, value in (("label_smoothing", label_smoothing), ("dropout", dropout)):
        if not 0 <= real_number(value, name) < 1:
            raise ValueError(f"{name} must be a number from 0 up to (not including) 1, "
                             f"got {value!r}")


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
        check_hyperparameters(task, learning_rate=learning_rate, lr_decay=lr_decay,
                              weight_decay=weight_decay, label_smoothing=label_smoothing,
                              class_weights=class_weights, loss=loss)
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
        #: A classifier's validation galaxies by true and predicted class, for the mean of
        #: each class's fraction right (over the classes it has galaxies of) per epoch.
        self.val_confusion = (MulticlassConfusionMatrix(model.head.linear.out_features)
                              if task == "classification" else None)
        #: A regressor's validation errors, and those of always answering the training
        #: median, per galaxy (gathered from every process), for a paired test per epoch.
        self.val_errors = (nn.ModuleList([CatMetric(), CatMetric()])
                           if task == "regression" and "train_median" in self.metadata else None)
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
            assert self.val_confusion is not None
            self.val_confusion.update(outputs, batch["target"])
        elif self.task == "regression":
            errors = (outputs[:, 0] - batch["target"]).abs()
            self.log("val_mae", errors.mean(), batch_size=size, sync_dist=True)
            if self.val_errors is not None:
                self.val_errors[0].update(errors)
                self.val_errors[1].update((batch["target"] - self.metadata["train_median"]).abs())

    def on_validation_epoch_end(self) -> None:
        """Log a classifier's ``val_balanced_accuracy``, or ``val_median_p_value``: whether
        the regressor's errors differ from those of always answering the training median
        beyond chance (paired test; 1 if equal)."""
        if self.val_confusion is not None and self.val_confusion.update_count:
            confusion = self.val_confusion.compute()
            with torch.inference_mode(False):  # a state fit can update after trainer.validate
                self.val_confusion.reset()
            support = confusion.sum(dim=1)
            present = support > 0  # a class predicted but with no galaxies is no class's miss
            self.log("val_balanced_accuracy",
                     (confusion.diagonal()[present] / support[present]).float().mean())
        if self.val_errors is None or not self.val_errors[0].update_count:
            return
        model_errors, median_errors = (e.compute().cpu().numpy() for e in self.val_errors)
        for metric in self.val_errors:
            metric.reset()
        p_value = paired_p_value(model_errors, median_errors)
        self.log("val_median_p_value", 1.0 if p_value is None else p_value)

    def parameter_groups(self) -> list[dict[str, Any]]:
        """AdamW groups with layer-wise decay (:func:`galmorph.models.blocks.layerwise_groups`)."""
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
