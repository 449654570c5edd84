"""Torch transforms that turn ``uint8`` galaxy images into model inputs.

:func:`train_transform` and :func:`eval_transform` build the pipelines matching
an :class:`~galmorph.data.image_config.ImageConfig`, mapping a ``uint8`` tensor
``(C, H, W)`` to a normalised ``float32`` tensor ``(channels, size, size)``.
Both are split in two for speed: a per-image part that runs in the loader
workers (:func:`train_preparation`, :func:`eval_preparation`) and a batch part
that can run on the batch's device (:class:`TrainAugmentation` draws random
views; :class:`EvalFinish` converts, resizes and normalises).

Examples
--------
>>> import torch
>>> from galmorph.data.image_config import ImageConfig
>>> from galmorph.data.transforms import eval_transform
>>> config = ImageConfig.for_sdss_gz2(size=96, channels=1)
>>> eval_transform(config)(torch.zeros(3, 128, 128, dtype=torch.uint8)).shape
torch.Size([1, 96, 96])
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
import torchvision.transforms.v2.functional as TF

from galmorph.data.image_config import ImageConfig


def _square(image: torch.Tensor) -> torch.Tensor:
    """Centre crop ``(C, H, W)`` to a square of the shorter side."""
    h, w = image.shape[-2:]
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    return image[..., top : top + side, left : left + side]


class ToChannels(torch.nn.Module):
    """``(..., C, H, W)`` (uint8 or float) to ``channels`` channels: BT.601 luminance,
    or repeated grey."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.channels = channels

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        have = image.shape[-3]
        if have == self.channels:
            return image
        if have == 3 and self.channels == 1:
            return TF.rgb_to_grayscale(image, num_output_channels=1)
        if have == 1 and self.channels == 3:
            return image.repeat_interleave(3, dim=-3)
        raise ValueError(f"cannot convert a {have}-channel image to {self.channels} channels")

    def extra_repr(self) -> str:
        return f"channels={self.channels}"


def working_size(config: ImageConfig) -> int:
    """Side (pixels) to which training images are first reduced: the mean crop then spans
    ``config.size`` pixels."""
    return round(config.size * 2 / sum(config.crop_fraction))


class ToWorkingSize(torch.nn.Module):
    """``(C, H, W)`` to its centred square resized to ``side`` (antialiased when reduced),
    so that images of any size batch together."""

    def __init__(self, side: int) -> None:
        super().__init__()
        self.side = side

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        image = _square(image)
        if image.shape[-1] != self.side:
            image = TF.resize(image, [self.side, self.side], antialias=True)
        return image

    def extra_repr(self) -> str:
        return f"side={self.side}"


class RandomCentredView(torch.nn.Module):
    """Random rotation, flips and jittered centre crop, resampled once to ``size``.

    Works on a float batch ``(B, C, S, S)`` of square images, each with its own
    random view: one bilinear ``grid_sample`` applies a rotation (through U(0,
    360) degrees, or a random multiple of 90 degrees with
    ``rotation="right-angles"``), horizontal and vertical flips (p = 0.5 each), a
    square crop of side U(``crop_fraction``) times the image side, and a shift of
    the crop centre by U(-``jitter``, ``jitter``) of the side per axis. Pixels from
    outside the image (the corners of rotated crops) are mirrored from inside it,
    so the sky keeps its level and noise.
    """

    def __init__(
        self, size: int, crop_fraction: tuple[float, float], jitter: float,
        rotation: str = "any",
    ) -> None:
        super().__init__()
        self.size = size
        self.rotation = rotation
        self.crop_fraction = crop_fraction
        self.jitter = jitter

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        n = images.shape[0]
        u = torch.rand(n, 6)
        if self.rotation == "right-angles":
            angle = math.pi / 2 * torch.clamp((4 * u[:, 0]).floor(), max=3)
        else:
            angle = 2 * math.pi * u[:, 0]
        lo, hi = self.crop_fraction
        scale = lo + (hi - lo) * u[:, 1]
        flip_x = torch.where(u[:, 2] < 0.5, -1.0, 1.0)
        flip_y = torch.where(u[:, 3] < 0.5, -1.0, 1.0)
        # affine_grid maps output to input coordinates, both spanning [-1, 1].
        shift = 2 * self.jitter * (2 * u[:, 4:6] - 1)
        cos, sin = scale * torch.cos(angle), scale * torch.sin(angle)
        theta = torch.stack([
            torch.stack([cos * flip_x, -sin * flip_y, shift[:, 0]], dim=1),
            torch.stack([sin * flip_x, cos * flip_y, shift[:, 1]], dim=1),
        ], dim=1).to(device=images.device, dtype=images.dtype)
        grid = F.affine_grid(theta, [n, images.shape[1], self.size, self.size],
                             align_corners=False)
        return F.grid_sample(images, grid, mode="bilinear", padding_mode="reflection",
                             align_corners=False)

    def extra_repr(self) -> str:
        return (
            f"size={self.size}, crop_fraction={self.crop_fraction}, jitter={self.jitter}, "
            f"rotation={self.rotation}"
        )


class TrainAugmentation(torch.nn.Module):
    """Random training views of a batch: ``(B, C, S, S)`` (uint8 or float, 0–255) to
    normalised ``float32 (B, C, size, size)``.

    :class:`RandomCentredView`, then grey with probability ``greyscale_p`` per
    image (3 channels only), then normalisation. Made for
    :func:`train_preparation`'s output, batched; runs on the batch's device.
    """

    def __init__(self, config: ImageConfig) -> None:
        super().__init__()
        self.view = RandomCentredView(config.size, config.crop_fraction, config.centre_jitter,
                                      config.rotation)
        self.greyscale_p = config.greyscale_p if config.channels == 3 else 0.0
        self.normalise = Normalise(config.mean, config.std)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        out = self.view(images.to(torch.float32))
        if self.greyscale_p > 0:
            grey = torch.rand(len(out)) < self.greyscale_p
            if grey.any():
                out[grey] = TF.rgb_to_grayscale(out[grey], num_output_channels=3).contiguous()
        return self.normalise(out)


class CentreCrop(torch.nn.Module):
    """Square centre crop of side ``fraction`` times the shorter image side."""

    def __init__(self, fraction: float) -> None:
        super().__init__()
        self.fraction = fraction

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        image = _square(image)
        side = max(1, round(image.shape[-1] * self.fraction))
        return TF.center_crop(image, [side, side])

    def extra_repr(self) -> str:
        return f"fraction={self.fraction}"


class Normalise(torch.nn.Module):
    """Float ``(C, H, W)`` pixel values in 0–255 to ``(value / 255 - mean) / std``, in place."""

    def __init__(self, mean: tuple[float, ...], std: tuple[float, ...]) -> None:
        super().__init__()
        self.shift = torch.tensor(mean, dtype=torch.float32).view(-1, 1, 1) * 255
        self.scale = 1 / (torch.tensor(std, dtype=torch.float32).view(-1, 1, 1) * 255)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return image.sub_(self.shift.to(image.device)).mul_(self.scale.to(image.device))


class Chain(torch.nn.Module):
    """Steps applied in order, without torchvision ``Compose``'s per-step input parsing.

    The transforms run once per image in the loader workers, where that
    overhead cost more than the arithmetic (``benchmarks/bench_model.py``).
    """

    def __init__(self, *steps: Callable[[torch.Tensor], torch.Tensor]) -> None:
        super().__init__()
        self.steps = list(steps)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        for step in self.steps:
            image = step(image)
        return image

    def extra_repr(self) -> str:
        return ", ".join(type(step).__name__ for step in self.steps)


def _to_float(image: torch.Tensor) -> torch.Tensor:
    """``uint8`` to ``float32``, values kept in 0–255 (a new tensor, safe to modify)."""
    return image.to(torch.float32)


def train_preparation(config: ImageConfig) -> Callable[[torch.Tensor], torch.Tensor]:
    """The per-image part of training: ``uint8 (C, H, W)`` to ``uint8 (channels, S, S)``.

    Channel conversion, centred square, resize to :func:`working_size`. Batches of
    its output go through :class:`TrainAugmentation`; the two together are
    :func:`train_transform`.
    """
    return Chain(ToChannels(config.channels), ToWorkingSize(working_size(config)))


class _OneImage(torch.nn.Module):
    """A batch transform applied to one ``(C, H, W)`` image."""

    def __init__(self, batch_transform: torch.nn.Module) -> None:
        super().__init__()
        self.batch_transform = batch_transform

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.batch_transform(image[None])[0]


def train_transform(config: ImageConfig) -> Callable[[torch.Tensor], torch.Tensor]:
    """Random training augmentation: ``uint8 (C, H, W)`` to ``float32 (channels, size, size)``.

    :func:`train_preparation` then :class:`TrainAugmentation` (rotation, flips,
    jittered crop near the centre, resize, random grey, normalisation), one image
    at a time. Randomness comes from torch's generator.
    """
    return Chain(train_preparation(config), _OneImage(TrainAugmentation(config)))


def eval_preparation(config: ImageConfig) -> Callable[[torch.Tensor], torch.Tensor]:
    """The per-image part of evaluation: ``uint8 (C, H, W)`` to its ``uint8`` centre crop.

    The square crop's side is ``config.eval_crop_fraction`` (the mean training
    crop) of the shorter image side. Batches of its output go through
    :class:`EvalFinish`; the two together are :func:`eval_transform`.
    """
    return CentreCrop(config.eval_crop_fraction)


class EvalFinish(torch.nn.Module):
    """The batch part of evaluation: ``uint8 (B, C, h, w)`` crops to normalised
    ``float32 (B, channels, size, size)``.

    ``float32`` conversion, channel conversion, antialiased bilinear resize to
    ``config.size`` (skipped when the crops have that size already) and
    normalisation, on the batch's device. Float batches (finished already) pass
    through unchanged.
    """

    def __init__(self, config: ImageConfig) -> None:
        super().__init__()
        self.steps = Chain(_to_float, ToChannels(config.channels), Resize(config.size),
                           Normalise(config.mean, config.std))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        if images.dtype != torch.uint8:
            return images
        return self.steps(images)


def eval_transform(config: ImageConfig) -> Callable[[torch.Tensor], torch.Tensor]:
    """Deterministic transform: ``uint8 (C, H, W)`` to ``float32 (channels, size, size)``.

    :func:`eval_preparation` (square centre crop of side
    ``config.eval_crop_fraction``) then :class:`EvalFinish` (channel conversion,
    antialiased bilinear resize to ``config.size``, normalisation), one image at
    a time.
    """
    return Chain(eval_preparation(config), _OneImage(EvalFinish(config)))


class Resize(torch.nn.Module):
    """Antialiased bilinear resize of float ``(..., C, H, W)`` images to ``size`` x ``size``."""

    def __init__(self, size: int) -> None:
        super().__init__()
        self.size = size

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        if image.shape[-2:] == (self.size, self.size):
            return image
        return TF.resize(image, [self.size, self.size], antialias=True)

    def extra_repr(self) -> str:
        return f"size={self.size}"
