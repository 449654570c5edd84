"""Networks: a timm encoder with a task head, and the Lightning module that trains it.

:class:`GalaxyModel` is a plain ``torch.nn.Module`` (encoder + head) used for
inference everywhere; :class:`VoteModule` wraps it for training on Galaxy Zoo
vote counts with the Dirichlet-multinomial loss.

Examples
--------
>>> import torch
>>> from galmorph.models.model import GalaxyModel
>>> model = GalaxyModel.for_votes("resnet18", n_answers=5, channels=1).eval()
>>> model(torch.zeros(2, 1, 64, 64)).shape
torch.Size([2, 5])
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import lightning as L
import timm
import torch
from torch import nn

from galmorph.data.schemas import Schema
from galmorph.exceptions import ModelError
from galmorph.models.blocks import layerwise_groups
from galmorph.models.losses import dirichlet_multinomial_nll

#: Lower bound of the Dirichlet concentrations of new vote heads. Below 1 a head
#: unsure of a question can still predict a vote fraction above one half: with a
#: bound of 1, an answer whose concentration sits at the bound while the other's
#: is above it is predicted below one half, however the image looks.
MIN_CONCENTRATION = 0.1
#: The bound of models saved without ``min_concentration`` in their metadata.
LEGACY_MIN_CONCENTRATION = 1.0
#: Concentrations lie in (min_concentration, min_concentration + CONCENTRATION_RANGE).
CONCENTRATION_RANGE = 100.0


def create_encoder(
    name: str, channels: int = 3, pretrained: bool = False, **kwargs: Any
) -> nn.Module:
    """A timm encoder by name returning pooled features ``(batch, encoder.num_features)``.

    The feature dimension is read from the encoder (``num_features``), so any
    image size works. ``pretrained=True`` asks timm for its own (ImageNet) weights.
    """
    return timm.create_model(
        name, pretrained=pretrained, in_chans=channels, num_classes=0, **kwargs
    )


class ConcentrationHead(nn.Module):
    """Dropout → linear → Dirichlet concentrations, one per answer, in
    ``(min_concentration, min_concentration + CONCENTRATION_RANGE)``.

    The head computes in float32 even under mixed precision (it is tiny): in
    bfloat16 the concentrations near 100 would be rounded to steps of 0.5.
    """

    def __init__(
        self,
        in_features: int,
        n_answers: int,
        dropout: float = 0.2,
        min_concentration: float = MIN_CONCENTRATION,
    ) -> None:
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.linear = nn.Linear(in_features, n_answers)
        self.min_concentration = float(min_concentration)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        with torch.autocast(features.device.type, enabled=False):
            logits = self.linear(self.dropout(features.float()))
        return self.min_concentration + CONCENTRATION_RANGE * torch.sigmoid(logits)


class LinearHead(nn.Module):
    """Dropout → linear → ``n_outputs`` values: class logits, or a regression value
    squashed into (0, 1) by a sigmoid when ``squash``."""

    def __init__(
        self, in_features: int, n_outputs: int, dropout: float = 0.2, squash: bool = False
    ) -> None:
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.linear = nn.Linear(in_features, n_outputs)
        self.squash = squash

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        values = self.linear(self.dropout(features))
        return torch.sigmoid(values) if self.squash else values


class GalaxyModel(nn.Module):
    """An encoder producing a representation and a head producing the task output.

    Args:
        encoder: a module mapping ``(batch, channels, H, W)`` images to pooled
            ``(batch, feature_dim)`` features, with a ``num_features`` attribute.
        head: a module mapping features to outputs.
    """

    def __init__(self, encoder: nn.Module, head: nn.Module) -> None:
        super().__init__()
        self.encoder = encoder
        self.head = head

    @classmethod
    def for_votes(
        cls,
        encoder_name: str,
        n_answers: int,
        channels: int = 3,
        dropout: float = 0.2,
        min_concentration: float = MIN_CONCENTRATION,
        encoder: nn.Module | None = None,
    ) -> GalaxyModel:
        """A vote-count model: timm encoder + :class:`ConcentrationHead`.

        ``encoder`` is a ready encoder (e.g. with pretrained weights) to use
        instead of a new random one named ``encoder_name``.
        """
        encoder = encoder if encoder is not None else create_encoder(encoder_name, channels)
        head = ConcentrationHead(encoder.num_features, n_answers, dropout, min_concentration)
        return cls(encoder, head)

    @property
    def feature_dim(self) -> int:
        """Length of the pooled representation."""
        return int(self.encoder.num_features)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.head(self.encoder(images))

    def embedder(self, stages: Sequence[int] = ()) -> nn.Module:
        """The representation as a module: the encoder itself, or with ``stages`` a
        :class:`StageFeatures` that also gives those stages' pooled features."""
        return StageFeatures(self.encoder, stages) if stages else self.encoder


def stage_channels(encoder: nn.Module) -> list[int]:
    """Channels of each stage of a timm encoder (``feature_info``), finest first."""
    info = getattr(encoder, "feature_info", None)
    if not info or not hasattr(encoder, "forward_intermediates"):
        raise ModelError(f"{type(encoder).__name__} does not give the features of its stages")
    return [int(stage["num_chs"]) for stage in info]


class StageFeatures(nn.Module):
    """Pooled features of earlier encoder stages, then the encoder's own.

    Earlier stages respond to finer, more local structure (rings, arcs, tidal
    debris) than the last one, whose pooled output is the encoder's representation.
    Each of ``stages`` (indices into the encoder's ``feature_info``, 0 = finest;
    the last stage's pooled output is always included) is averaged over the image,
    and the results are concatenated with the encoder's pooled output, in one
    forward pass: ``(batch, sum of those stages' channels + num_features)``.

    Raises:
        ModelError: when a stage index is out of range or repeated, or the encoder
            cannot give its stages' features.
    """

    def __init__(self, encoder: nn.Module, stages: Sequence[int]) -> None:
        super().__init__()
        channels = stage_channels(encoder)
        stages = [int(s) for s in stages]
        last = len(channels) - 1
        if len(set(stages)) != len(stages) or not all(0 <= s < last for s in stages):
            raise ModelError(
                f"stages must be different numbers from 0 to {last - 1} (the encoder has "
                f"{len(channels)} stages; the last one's features are always included), "
                f"got {stages}"
            )
        self.encoder = encoder
        self.stages = sorted(stages)
        self.num_features = sum(channels[s] for s in self.stages) + int(encoder.num_features)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        final, earlier = self.encoder.forward_intermediates(
            images, indices=self.stages, intermediates_only=False
        )
        pooled = [features.mean(dim=(2, 3)) for features in earlier]
        return torch.cat([*pooled, self.encoder.forward_head(final)], dim=1)


def enable_mc_dropout(model: nn.Module) -> None:
    """Put the model in eval mode but keep its dropout layers sampling (MC dropout)."""
    model.eval()
    for module in model.modules():
        if isinstance(module, nn.Dropout):
            module.train()


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

    def _evaluation_step(self, batch: dict[str, torch.Tensor], stage: str) -> None:
        nll = self._per_question_nll(batch)
        size = len(batch["image"])
        self.log(f"{stage}_loss", nll.sum(dim=1).mean(), prog_bar=True, batch_size=size,
                 sync_dist=True)
        for question, value in zip(self.schema.questions, nll.mean(dim=0), strict=True):
            self.log(f"{stage}_nll/{question.name}", value, batch_size=size, sync_dist=True)

    def validation_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        self._evaluation_step(batch, "val")

    def test_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        self._evaluation_step(batch, "test")

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
