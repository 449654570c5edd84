"""Networks: a timm encoder with a task head.

:class:`GalaxyModel` is a plain ``torch.nn.Module`` (encoder + head) used for
inference everywhere; :class:`galmorph.training.vote_module.VoteModule` wraps it
for training on Galaxy Zoo vote counts with the Dirichlet-multinomial loss.

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

import timm
import torch
from torch import nn

from galmorph.exceptions import ModelError
from galmorph.models.defaults import MIN_CONCENTRATION

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

    Raises:
        ModelError: when timm has no model ``name`` (with close names, if any).
    """
    try:
        return timm.create_model(
            name, pretrained=pretrained, in_chans=channels, num_classes=0, **kwargs
        )
    except RuntimeError as err:
        if str(err).startswith("Invalid pretrained tag"):
            base = name.split(".")[0]
            raise ModelError(f"unknown encoder {name!r}: {str(err).rstrip('.')} (timm."
                             f"list_pretrained('{base}.*') lists its tags)") from None
        if not str(err).startswith("Unknown model"):
            raise
        raise ModelError(f"unknown encoder {name!r}: not a timm model name; "
                         f"{_close_names(name)}") from None


def _close_names(name: str) -> str:
    """Up to three timm model names like ``name``, as a suggestion."""
    import difflib

    close = difflib.get_close_matches(name, timm.list_models(), n=3, cutoff=0.6)
    listing = "timm.list_models() lists them"
    return f"did you mean {', '.join(close)}? ({listing})" if close else listing


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
        """Pooled features ``(batch, in_features)`` to ``float32`` Dirichlet
        concentrations ``(batch, n_answers)``."""
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
        """Pooled features ``(batch, in_features)`` to outputs ``(batch, n_outputs)``."""
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
        """Normalised images ``(batch, channels, size, size)`` to the head's outputs
        ``(batch, n_outputs)``."""
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
        """Images ``(batch, channels, size, size)`` to features ``(batch, num_features)``:
        each chosen stage's channels averaged over the image, then the pooled ones."""
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
