"""The Lightning module that trains a vote-count model.

:class:`VoteModule` wraps a :class:`galmorph.models.model.GalaxyModel` (a plain
``torch.nn.Module``) with the Dirichlet-multinomial loss on Galaxy Zoo vote
counts, its optimiser and learning-rate schedule, and the metadata written into
every checkpoint.
"""

from __future__ import annotations

from typing import Any

import lightning as L
import torch
from torch import nn

from galmorph.data.tree import Schema
from galmorph.models.blocks import layerwise_groups
from galmorph.models.losses import dirichlet_multinomial_nll
from galmorph.models.model import MIN_CONCENTRATION, GalaxyModel


class VoteModule(L.LightningModule):
    """Trains a :class:`GalaxyModel` on vote counts with the Dirichlet-multinomial loss.

    Args:
        schema: the decision tree whose answers the head predicts.
        encoder_name: any timm model name (e.g. ``convnext_atto``).
        channels: image channels (1 or 3).
        dropout: head dropout probability (also used for MC dropout).
        learning_rate: AdamW learning rate.
        weight_decay: AdamW weight decay.
        scheduler: ``"cosine"`` (per-step cosine decay after a linear warm-up) or
            ``"plateau"`` (divide by 5 when validation loss stalls).
        warmup_epochs: linear warm-up length for the cosine schedule.
        metadata: self-description written into every checkpoint (see
            :mod:`galmorph.models.checkpoint`).
        min_concentration: lower bound of the head's concentrations.
        encoder: a ready encoder to start from (e.g. pretrained; see
            :func:`galmorph.models.starts.starting_point`) instead of random weights.
        lr_decay: layer-wise learning-rate decay per encoder block from the top
            (:func:`galmorph.models.blocks.layerwise_groups`); None trains every
            parameter at ``learning_rate``, as from scratch.
    """

    def __init__(
        self,
        schema: Schema,
        encoder_name: str = "convnext_atto",
        channels: int = 3,
        dropout: float = 0.2,
        learning_rate: float = 1e-3,
        weight_decay: float = 0.05,
        scheduler: str = "cosine",
        warmup_epochs: float = 1.0,
        metadata: dict[str, Any] | None = None,
        min_concentration: float = MIN_CONCENTRATION,
        encoder: nn.Module | None = None,
        lr_decay: float | None = None,
    ) -> None:
        super().__init__()
        if scheduler not in ("cosine", "plateau"):
            raise ValueError(f"scheduler must be 'cosine' or 'plateau', got {scheduler!r}")
        self.schema = schema
        self.model = GalaxyModel.for_votes(
            encoder_name, schema.n_answers, channels, dropout, min_concentration, encoder
        )
        self.lr_decay = lr_decay
        self.groups = schema.question_index_groups
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.scheduler = scheduler
        self.warmup_epochs = warmup_epochs
        self.metadata = dict(metadata or {})

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.model(images)

    def _per_question_nll(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        concentrations = self.model(batch["image"])
        return dirichlet_multinomial_nll(batch["counts"], concentrations.float(), self.groups)

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        loss = self._per_question_nll(batch).sum(dim=1).mean()
        self.log("train_loss", loss, prog_bar=True, on_step=True, on_epoch=True,
                 batch_size=len(batch["image"]))
        return loss

    def validation_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        nll = self._per_question_nll(batch)
        size = len(batch["image"])
        self.log("val_loss", nll.sum(dim=1).mean(), prog_bar=True, batch_size=size,
                 sync_dist=True)
        for question, value in zip(self.schema.questions, nll.mean(dim=0), strict=True):
            self.log(f"val_nll/{question.name}", value, batch_size=size, sync_dist=True)

    def configure_optimizers(self) -> dict[str, Any]:
        if self.lr_decay is None:
            optimizer = torch.optim.AdamW(
                self.parameters(), lr=self.learning_rate, weight_decay=self.weight_decay
            )
        else:
            optimizer = torch.optim.AdamW(layerwise_groups(
                self.model.head.parameters(), self.model.encoder, -1, self.learning_rate,
                self.lr_decay, self.weight_decay,
            ))
        if self.scheduler == "plateau":
            plateau = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, factor=0.2, patience=2)
            return {
                "optimizer": optimizer,
                "lr_scheduler": {"scheduler": plateau, "monitor": "val_loss"},
            }
        total = max(int(self.trainer.estimated_stepping_batches), 1)
        steps_per_epoch = max(total // max(self.trainer.max_epochs or 1, 1), 1)
        warmup = min(int(self.warmup_epochs * steps_per_epoch), total - 1)
        schedule = torch.optim.lr_scheduler.SequentialLR(
            optimizer,
            [
                torch.optim.lr_scheduler.LinearLR(optimizer, 0.01, 1.0, max(warmup, 1)),
                torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, max(total - warmup, 1)),
            ],
            milestones=[max(warmup, 1)],
        )
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": schedule, "interval": "step"}}

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint["galmorph"] = self.metadata
