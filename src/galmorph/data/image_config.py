"""What a model's input images look like: :class:`ImageConfig`.

:class:`ImageConfig` records what a model expects (output size, channels,
normalisation, crop fractions) and the survey conventions of the images it was
trained on; it is stored inside model checkpoints. It needs no torch:
:func:`galmorph.data.transforms.train_transform` and
:func:`~galmorph.data.transforms.eval_transform` build the matching pipelines.

Examples
--------
>>> from galmorph.data.image_config import ImageConfig
>>> config = ImageConfig.for_sdss_gz2(size=96, channels=1)
>>> config.mean, config.eval_crop_fraction
((0.1289,), 0.875)
>>> ImageConfig.from_dict(config.to_dict()) == config
True
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any

import numpy as np

#: The smallest input side (pixels) of a model.
MIN_IMAGE_SIZE = 8

ROTATIONS = ("any", "right-angles")


@dataclass(frozen=True)
class ImageConfig:
    """What a model's input images look like, and how they are made.

    Attributes:
        size: output side in pixels (square).
        channels: 1 (luminance) or 3 (colour).
        mean: per-channel mean subtracted after scaling pixels to [0, 1]; one value
            is used for every channel.
        std: per-channel standard deviation divided by after subtracting ``mean``.
        crop_fraction: ``(min, max)`` side of the square training crop as a fraction
            of the (square) source image side, drawn uniformly; evaluation uses a
            centre crop of their mean.
        centre_jitter: largest shift of the training crop centre, per axis, as a
            fraction of the image side.
        rotation: training rotations: ``"any"`` angle in [0, 360) degrees, or
            ``"right-angles"`` (0, 90, 180, 270: exact, no interpolation).
        greyscale_p: probability that a 3-channel training image is made grey.
        survey: survey and data release of the source images.
        bands: filters of the source images, in channel order.
        pixel_scale: arcsec per pixel of the source images (None if unknown).
        field_of_view: side of the source images in arcsec (None if unknown).
        stretch: how flux was mapped to 8-bit pixel values
            (:data:`galmorph.data.images.ASINH_STRETCH` for FITS files read by
            :func:`galmorph.data.images.load_image`).
    """

    size: int = 96
    channels: int = 3
    mean: tuple[float, ...] = (0.0,)
    std: tuple[float, ...] = (1.0,)
    crop_fraction: tuple[float, float] = (0.8, 0.95)
    centre_jitter: float = 0.04
    rotation: str = "any"
    greyscale_p: float = 0.0
    survey: str = ""
    bands: str = ""
    pixel_scale: float | None = None
    field_of_view: float | None = None
    stretch: str = ""

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        set_(self, "mean", self._per_channel("mean", self.mean))
        set_(self, "std", self._per_channel("std", self.std))
        set_(self, "crop_fraction", tuple(float(f) for f in self.crop_fraction))
        if not isinstance(self.size, int) or self.size < MIN_IMAGE_SIZE:
            raise ValueError(f"image size must be an integer >= {MIN_IMAGE_SIZE}, got {self.size}")
        if self.channels not in (1, 3):
            raise ValueError(f"channels must be 1 or 3, got {self.channels}")
        if any(s <= 0 for s in self.std):
            raise ValueError(f"std must be positive, got {self.std}")
        crop = self.crop_fraction
        if len(crop) != 2 or not 0 < crop[0] <= crop[1] <= 1:
            raise ValueError(
                f"crop_fraction must be (min, max) with 0 < min <= max <= 1, "
                f"got {self.crop_fraction}"
            )
        if not 0 <= self.centre_jitter < 0.5:
            raise ValueError(f"centre_jitter must be in [0, 0.5), got {self.centre_jitter}")
        if self.rotation not in ROTATIONS:
            raise ValueError(f"rotation must be one of {ROTATIONS}, got {self.rotation!r}")
        if not 0 <= self.greyscale_p <= 1:
            raise ValueError(f"greyscale_p must be in [0, 1], got {self.greyscale_p}")
        for name in ("pixel_scale", "field_of_view"):
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise ValueError(f"{name} must be positive or None, got {value}")

    def _per_channel(self, name: str, values: Any) -> tuple[float, ...]:
        values = tuple(float(v) for v in np.atleast_1d(values))
        if len(values) == 1:
            return values * self.channels
        if len(values) != self.channels:
            raise ValueError(f"{name} needs 1 or {self.channels} values, got {len(values)}")
        return values

    @property
    def eval_crop_fraction(self) -> float:
        """Side of the evaluation centre crop as a fraction of the image side."""
        return sum(self.crop_fraction) / 2

    @property
    def output_pixel_scale(self) -> float | None:
        """Arcsec per output pixel at evaluation (None when the field is unknown)."""
        if self.field_of_view is None:
            return None
        return self.field_of_view * self.eval_crop_fraction / self.size

    @classmethod
    def for_sdss_gz2(cls, size: int = 96, channels: int = 3, **overrides: Any) -> ImageConfig:
        """Conventions of the bundled Galaxy Zoo 2 data: SDSS DR16 gri JPEGs, 128 px.

        Source images are 0.2 arcsec/pixel and 25.6 arcsec across. ``mean`` and
        ``std`` were measured on the central 112 px (the evaluation crop) of the
        6,092 galaxies of the GZ2 development set, per channel for colour and on
        the BT.601 luminance for grey.
        """
        if channels == 1:
            stats: dict[str, Any] = {"mean": (0.1289,), "std": (0.1346,)}
        else:
            stats = {"mean": (0.1516, 0.1263, 0.0823), "std": (0.1575, 0.1345, 0.0876)}
        values: dict[str, Any] = {
            "size": size,
            "channels": channels,
            **stats,
            "survey": "SDSS DR16",
            "bands": "gri",
            "pixel_scale": 0.2,
            "field_of_view": 25.6,
            "stretch": "SDSS SkyServer gri colour-composite JPEG (asinh, Lupton et al. 2004)",
        }
        return cls(**{**values, **overrides})

    def to_dict(self) -> dict[str, Any]:
        """Plain-data form (lists, numbers, strings), e.g. for a checkpoint."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> ImageConfig:
        """Inverse of :meth:`to_dict`; missing keys take their defaults."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown image settings: {', '.join(unknown)}")
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in values.items()})
