"""Reading galaxy images and turning them into model inputs.

:func:`load_image` reads JPEG/PNG (and other formats Pillow knows) or FITS files
into ``uint8`` arrays of shape ``(H, W, C)`` with ``C`` 1 or 3. Data that is not
already 8-bit (FITS, 16-bit or float images) is converted with the documented
stretch of :func:`asinh_stretch`.

:class:`ImageConfig` records what a model expects (output size, channels,
normalisation, crop fractions) and the survey conventions of the images it was
trained on; it is stored inside model checkpoints. :func:`train_transform` and
:func:`eval_transform` build the matching torchvision v2 pipelines, mapping a
``uint8`` tensor ``(C, H, W)`` to a normalised ``float32`` tensor
``(channels, size, size)``.

Examples
--------
>>> import torch
>>> from galmorph.data.images import ImageConfig, eval_transform
>>> config = ImageConfig.for_sdss_gz2(size=96, channels=1)
>>> eval_transform(config)(torch.zeros(3, 128, 128, dtype=torch.uint8)).shape
torch.Size([1, 96, 96])
"""

from __future__ import annotations

import math
import stat
import warnings
from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
import torchvision.transforms.v2.functional as TF
from PIL import Image, UnidentifiedImageError

from galmorph.exceptions import GalmorphError, ImageError

#: Lower and upper percentiles (per band) clipped before the arcsinh stretch.
STRETCH_PERCENTILES = (0.5, 99.5)
#: Softening of the arcsinh stretch, in units of the clipped range: smaller is stronger.
STRETCH_SOFTENING = 0.1
#: Description of :func:`asinh_stretch`, e.g. for :attr:`ImageConfig.stretch`.
ASINH_STRETCH = (
    f"per band: clip to the {STRETCH_PERCENTILES[0]}-{STRETCH_PERCENTILES[1]} percentiles, "
    f"x -> asinh(x/{STRETCH_SOFTENING}) / asinh(1/{STRETCH_SOFTENING}), scaled to 0-255"
)
FITS_SUFFIXES = (".fits", ".fit", ".fts", ".fz", ".fits.gz", ".fit.gz", ".fts.gz")
#: ITU-R BT.601 luma weights, as used by Pillow's "L" mode and torchvision.
LUMA_WEIGHTS = (0.299, 0.587, 0.114)
ROTATIONS = ("any", "right-angles")


# ------------------------------------------------------------------- reading
def load_image(path: str | Path) -> np.ndarray:
    """Read an image file as ``uint8`` ``(H, W, C)``, ``C`` = 1 (grey) or 3 (colour).

    8-bit images (JPEG, PNG, ...) are returned as stored (palette and alpha images
    become RGB). FITS files, and 16-bit or floating-point images, are stretched
    with :func:`asinh_stretch`. For FITS, the first HDU holding 2-D ``(H, W)`` or
    3-D bands-first ``(C, H, W)`` data with 1 or 3 bands is used.

    Raises:
        ImageError: naming the file when it is missing, empty, truncated, corrupt
            or not a supported image.
    """
    path = Path(path)
    try:
        info = path.stat()
    except OSError as err:
        raise ImageError(f"cannot read image file {path}: {err.strerror or err}") from None
    if not stat.S_ISREG(info.st_mode):
        raise ImageError(f"image path {path} is not a file")
    if info.st_size == 0:
        raise ImageError(f"image file {path} is empty")
    if _is_fits(path):
        return _load_fits(path)
    return _load_pillow(path)


def _is_fits(path: Path) -> bool:
    name = path.name.lower()
    if name.endswith(FITS_SUFFIXES):
        return True
    if name.endswith((".jpg", ".jpeg", ".png")):
        return False
    try:
        with open(path, "rb") as handle:
            return handle.read(9) == b"SIMPLE  ="
    except OSError as err:
        raise ImageError(f"cannot read image file {path}: {err.strerror or err}") from None


def _load_pillow(path: Path) -> np.ndarray:
    try:
        with Image.open(path) as image:
            image.load()  # full decode here, so a truncated file fails here
            if image.mode in ("L", "RGB"):
                array = np.array(image)
            elif image.mode in ("1", "LA", "La"):
                array = np.array(image.convert("L"))
            elif image.mode.startswith(("I", "F")):  # 16/32-bit integer or float
                return asinh_stretch(np.asarray(image, dtype=np.float64))[..., None]
            else:
                array = np.array(image.convert("RGB"))
    except UnidentifiedImageError:
        raise ImageError(
            f"{path} is corrupt or not an image file (Pillow cannot identify it)"
        ) from None
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as err:
        raise ImageError(f"image file {path} is corrupt or truncated: {err}") from None
    return array[..., None] if array.ndim == 2 else array


def _load_fits(path: Path) -> np.ndarray:
    from astropy.io import fits
    from astropy.io.fits.verify import VerifyWarning

    try:
        # header-standard warnings are noise here: the data is read or an error raised
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", VerifyWarning)
            with fits.open(path, memmap=False) as hdus:
                data = next(
                    (np.array(h.data, dtype=np.float64) for h in hdus
                     if h.is_image and h.data is not None and h.data.ndim in (2, 3)),
                    None,
                )
    except Exception as err:  # astropy raises many types for a damaged file
        raise ImageError(f"FITS file {path} is corrupt or unreadable: {err}") from None
    if data is None or data.size == 0:
        raise ImageError(f"FITS file {path} has no 2-D or 3-D image data")
    if data.ndim == 3:
        if data.shape[0] not in (1, 3):
            raise ImageError(
                f"FITS file {path} has {data.shape[0]} planes along its first axis; "
                "galmorph reads 2-D images or bands-first cubes of 1 or 3 bands "
                "(write the 3 bands you want to a new file)"
            )
        data = np.moveaxis(data, 0, -1)
    stretched = asinh_stretch(data)
    return stretched[..., None] if stretched.ndim == 2 else stretched


def asinh_stretch(data: np.ndarray) -> np.ndarray:
    """Stretch linear flux to ``uint8`` with the documented galmorph stretch.

    Per band (last axis of ``(H, W, C)`` data; a 2-D array is one band): clip to
    the 0.5 and 99.5 percentiles of its finite pixels, rescale that range to
    0-1, apply ``asinh(x / 0.1) / asinh(1 / 0.1)`` and scale to 0-255. NaN and
    -inf pixels become the lower clip value (0), +inf the upper (255); a band
    with no finite or no varying pixels becomes 0.

    Args:
        data: ``(H, W)`` or ``(H, W, C)`` array of any real dtype.

    Returns:
        ``uint8`` array of the same shape.
    """
    data = np.asarray(data, dtype=np.float64)
    bands = data[..., None] if data.ndim == 2 else data
    out = np.zeros(bands.shape, dtype=np.uint8)
    for c in range(bands.shape[-1]):
        band = bands[..., c]
        finite = np.isfinite(band)
        if not finite.any():
            continue
        lo, hi = np.percentile(band[finite], STRETCH_PERCENTILES)
        if hi <= lo:
            continue
        scaled = (np.nan_to_num(band, nan=lo, posinf=hi, neginf=lo) - lo) / (hi - lo)
        scaled = np.clip(scaled, 0.0, 1.0)
        stretched = np.arcsinh(scaled / STRETCH_SOFTENING) / math.asinh(1 / STRETCH_SOFTENING)
        out[..., c] = np.round(stretched * 255.0).astype(np.uint8)
    return out[..., 0] if data.ndim == 2 else out


def to_channels(image: np.ndarray, channels: int) -> np.ndarray:
    """Convert a ``uint8`` ``(H, W, C)`` image to 1 (luminance) or 3 channels.

    Three channels become one by ITU-R BT.601 luma (as Pillow's "L" mode); one
    channel becomes three by repetition.
    """
    have = image.shape[-1]
    if have == channels:
        return image
    if channels == 3 and have == 1:
        return np.repeat(image, 3, axis=-1)
    if channels == 1 and have == 3:
        luma = image.astype(np.float32) @ np.asarray(LUMA_WEIGHTS, dtype=np.float32)
        return np.round(luma).clip(0, 255).astype(np.uint8)[..., None]
    raise ValueError(f"cannot convert a {have}-channel image to {channels} channels")


# -------------------------------------------------------------------- config
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
        stretch: how flux was mapped to 8-bit pixel values (:data:`ASINH_STRETCH`
            for FITS files read by :func:`load_image`).
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
        if not isinstance(self.size, int) or self.size < 8:
            raise ValueError(f"image size must be an integer >= 8, got {self.size}")
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


# ----------------------------------------------------------------- transforms
def _square(image: torch.Tensor) -> torch.Tensor:
    """Centre crop ``(C, H, W)`` to a square of the shorter side."""
    h, w = image.shape[-2:]
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    return image[..., top : top + side, left : left + side]


class ToChannels(torch.nn.Module):
    """``(C, H, W)`` (uint8 or float) to ``channels`` channels: BT.601 luminance, or
    repeated grey."""

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
            return image.repeat(3, 1, 1)
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


def eval_transform(config: ImageConfig) -> Callable[[torch.Tensor], torch.Tensor]:
    """Deterministic transform: ``uint8 (C, H, W)`` to ``float32 (channels, size, size)``.

    Square centre crop of side ``config.eval_crop_fraction`` (the mean training
    crop), antialiased bilinear resize to ``config.size`` (skipped when the crop
    has that size already), channel conversion and normalisation.
    """
    return Chain(
        CentreCrop(config.eval_crop_fraction),
        _to_float,
        ToChannels(config.channels),
        Resize(config.size),
        Normalise(config.mean, config.std),
    )


class Resize(torch.nn.Module):
    """Antialiased bilinear resize of a float ``(C, H, W)`` image to ``size`` x ``size``."""

    def __init__(self, size: int) -> None:
        super().__init__()
        self.size = size

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        if image.shape[-2:] == (self.size, self.size):
            return image
        return TF.resize(image, [self.size, self.size], antialias=True)

    def extra_repr(self) -> str:
        return f"size={self.size}"


# --------------------------------------------------------------- orientation
#: Orientations :func:`average_over_views` can average over.
VIEW_CHOICES = (1, 4, 8)


def check_views(views: int) -> int:
    """``views`` if :func:`average_over_views` accepts it, else a clear error."""
    if views not in VIEW_CHOICES:
        raise GalmorphError(f"views must be one of {', '.join(map(str, VIEW_CHOICES))}, "
                            f"got {views}")
    return views


def average_over_views(
    forward: Callable[[torch.Tensor], torch.Tensor], views: int
) -> Callable[[torch.Tensor], torch.Tensor]:
    """``forward`` averaged over right-angle rotations (and mirror images) of the batch.

    Args:
        forward: maps images ``(b, c, h, w)`` to features ``(b, ...)``.
        views: 1 (the images as they are), 4 (rotations by 0, 90, 180, 270
            degrees) or 8 (each rotation also mirrored left-right).

    Example:
        >>> mean = average_over_views(lambda x: x.flatten(1), 4)
        >>> mean(torch.arange(4.0).reshape(1, 1, 2, 2))
        tensor([[1.5000, 1.5000, 1.5000, 1.5000]])
    """
    if check_views(views) == 1:
        return forward

    def turned(images: torch.Tensor) -> Iterator[torch.Tensor]:
        for turns in range(4):
            rotated = torch.rot90(images, turns, dims=(2, 3))
            yield rotated.contiguous()
            if views == 8:
                yield rotated.flip(3)

    def averaged(images: torch.Tensor) -> torch.Tensor:
        return sum(forward(view).float() for view in turned(images)) / views

    return averaged
