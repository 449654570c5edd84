"""Reading galaxy images into ``uint8`` arrays.

:func:`load_image` reads JPEG/PNG (and other formats Pillow knows) or FITS files
into ``uint8`` arrays of shape ``(H, W, C)`` with ``C`` 1 or 3. Data that is not
already 8-bit (FITS, 16-bit or float images) is converted with the documented
stretch of :func:`asinh_stretch`; :func:`reduced_depth` tells the files Pillow can
only read at 8 bits (16-bit colour PNG and TIFF); :func:`to_channels` converts
between grey and colour. Nothing here needs torch: :mod:`galmorph.data.transforms` turns the
arrays into model inputs.

Examples
--------
>>> import numpy as np
>>> from galmorph.data.images import asinh_stretch, to_channels
>>> grey = asinh_stretch(np.linspace(0, 1, 64).reshape(8, 8))[..., None]
>>> grey.dtype, to_channels(grey, 3).shape
(dtype('uint8'), (8, 8, 3))
"""

from __future__ import annotations

import functools
import math
import stat
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from galmorph.data import fits_header
from galmorph.data.fits_images import (
    FITS_SIGNATURES,
    FITS_SUFFIXES,
    band_files,
    band_files_cube,
    file_head,
    fits_cube,
)
from galmorph.exceptions import ImageError
from galmorph.files import user_path

#: Lower and upper percentiles (per band) clipped before the arcsinh stretch.
STRETCH_PERCENTILES = (0.5, 99.5)
#: Softening of the arcsinh stretch, in units of the clipped range: smaller is stronger.
STRETCH_SOFTENING = 0.1
#: Description of :func:`asinh_stretch`, e.g. for
#: :attr:`galmorph.data.image_config.ImageConfig.stretch`.
ASINH_STRETCH = (
    f"per band: clip to the {STRETCH_PERCENTILES[0]}-{STRETCH_PERCENTILES[1]} percentiles, "
    f"x -> asinh(x/{STRETCH_SOFTENING}) / asinh(1/{STRETCH_SOFTENING}), scaled to 0-255"
)
#: Smallest image side in pixels :func:`load_image` accepts (a 1x1 file is a failed download).
MIN_SIDE = 8
#: ITU-R BT.601 luma weights, as used by Pillow's "L" mode and torchvision.
LUMA_WEIGHTS = (0.299, 0.587, 0.114)


def load_image(path: str | Path, bands: str = "") -> np.ndarray:
    """Read an image file as ``uint8`` ``(H, W, C)``, ``C`` = 1 (grey) or 3 (colour).

    8-bit images (JPEG, PNG, ...) are returned as displayed: turned as their EXIF
    orientation says, palette and alpha images as RGB. FITS files, and 16-bit
    greyscale or floating-point images, are stretched with :func:`asinh_stretch`;
    Pillow reads 16-bit colour files at 8 bits (see :func:`reduced_depth`). For FITS,
    the first HDU with data of 2 or more axes is used: 2-D ``(H, W)``, or a cube of 1
    or 3 bands, bands first ``(C, H, W)`` or last ``(H, W, C)`` (the band axis is the
    shortest; leading axes of length 1 are dropped), shown as FITS viewers (ds9) show it:
    the first row stored at the bottom, as the FITS standard places pixel (1, 1), so that
    a FITS cutout is the right way up (north up for a survey's cutouts), like the JPEG
    made from it, not its mirror image. Bands named in the header
    (``BAND0``..., or ``BANDS``, as Legacy Survey cutouts write) become red, green
    and blue by wavelength, reddest first, as in SDSS and Legacy Survey colour
    images; unnamed bands (or names :mod:`galmorph.data.fits_header` does not know)
    in the order stored, the first red. From a cube of more than 3 bands named in its
    header (a Legacy Survey DR10 ``griz`` cutout), the 3 ``bands`` (a model's
    :attr:`~galmorph.data.image_config.ImageConfig.bands`, e.g. ``"gri"``; by default
    :data:`~galmorph.data.fits_images.DEFAULT_CUBE_BANDS`) are taken
    (:func:`galmorph.data.fits_header.pick_bands`). One FITS file per band is one
    path with the bands in braces, ``cutouts/a_{g,r,i}.fits``
    (:func:`galmorph.data.fits_images.band_files_cube`). Pan-STARRS stacks in asinh units
    (``BSOFTEN``/``BOFFSET``) are first converted back to linear flux. A ``~`` in
    ``path`` is the home folder.

    Raises:
        ImageError: naming the file when it is missing, empty, truncated, corrupt,
            smaller than :data:`MIN_SIDE`, blank (no finite or no varying pixels;
            stretched data only) or not a supported image.
    """
    path = user_path(path)
    if band_files(path) is not None:
        return _checked_size(path, _colour(path, *band_files_cube(path, bands)))
    try:
        info = path.stat()
    except OSError as err:
        raise ImageError(f"cannot read image file {path}: {err.strerror or err}") from None
    if not stat.S_ISREG(info.st_mode):
        raise ImageError(f"image path {path} is not a file")
    if info.st_size == 0:
        raise ImageError(f"image file {path} is empty")
    if is_fits(path):
        image = _load_fits(path, bands)
    else:
        try:
            image = _load_pillow(path)
        except ImageError:
            if file_head(path) != FITS_SIGNATURES[0]:
                raise
            image = _load_fits(path, bands)  # a FITS file saved with another name, e.g. a.jpg
    return _checked_size(path, image)


def _checked_size(path: Path, image: np.ndarray) -> np.ndarray:
    """``image``, unless it is smaller than :data:`MIN_SIDE` a side."""
    height, width = image.shape[:2]
    if min(height, width) < MIN_SIDE:
        raise ImageError(
            f"image file {path} is {width}x{height} px: too small to show a galaxy "
            f"(at least {MIN_SIDE} px a side)"
        )
    return image


def is_fits(path: str | Path) -> bool:
    """Whether an image file is FITS: by its suffix, else (not a JPEG or PNG, which
    :func:`load_image` checks only when they cannot be decoded) its first bytes.

    Raises:
        ImageError: when the file must be read and cannot be.
    """
    path = Path(path)
    if (split := band_files(path)) is not None:
        path = split[1][0]  # one file per band: the first says
    name = path.name.lower()
    if name.endswith(FITS_SUFFIXES):
        return True
    if name.endswith((".jpg", ".jpeg", ".png")):
        return False
    return file_head(path) == FITS_SIGNATURES[0]


@functools.cache
def _pillow_formats() -> tuple[str, ...]:
    """The formats Pillow may read: all but FITS, which galmorph reads (and stretches)."""
    Image.init()
    return tuple(f for f in Image.ID if f != "FITS")


def _load_pillow(path: Path) -> np.ndarray:
    """A Pillow-readable file as ``uint8`` ``(H, W, 1 or 3)``, as displayed."""
    try:
        with Image.open(path, formats=_pillow_formats()) as image:
            image.load()  # full decode here, so a truncated file fails here
            ImageOps.exif_transpose(image, in_place=True)
            if image.mode in ("L", "RGB"):
                array = np.array(image)
            elif image.mode in ("1", "LA", "La"):
                array = np.array(image.convert("L"))
            elif image.mode.startswith(("I", "F")):  # 16/32-bit integer or float
                return _stretch(path, np.asarray(image, dtype=np.float64)[..., None])
            else:
                array = np.array(image.convert("RGB"))
    except UnidentifiedImageError:
        raise ImageError(
            f"{path} is corrupt or not an image file (Pillow cannot identify it)"
        ) from None
    except Image.DecompressionBombError as err:
        raise ImageError(f"image file {path} is too large to read: {err}") from None
    except (OSError, ValueError, SyntaxError) as err:
        raise ImageError(f"image file {path} is corrupt or truncated: {err}") from None
    return array[..., None] if array.ndim == 2 else array


def _load_fits(path: Path, bands: str) -> np.ndarray:
    """A FITS file's first image as stretched ``uint8`` ``(H, W, 1 or 3)`` (see
    :func:`galmorph.data.fits_images.fits_cube`)."""
    return _colour(path, *fits_cube(path, bands))


def _colour(path: str | Path, cube: np.ndarray, names: list[str] | None) -> np.ndarray:
    """Named bands of a flux cube ``(H, W, C)`` as red, green and blue by wavelength,
    reddest first (unnamed ones as stored), stretched to ``uint8``."""
    order = fits_header.reddest_first(names) if names else None
    return _stretch(Path(path), cube if order is None else cube[..., order])


def reduced_depth(path: str | Path) -> bool:
    """Whether :func:`load_image` reads ``path`` at fewer bits than it stores: colour
    PNG or TIFF at 16 bits per channel, of which Pillow keeps the top 8 bits, so faint
    linear data looks black. False for files Pillow cannot open.
    """
    try:
        with Image.open(path, formats=_pillow_formats()) as image:  # header only
            return image.mode in ("RGB", "RGBA") and any(";16" in str(tile.args)
                                                         for tile in image.tile)
    except (OSError, ValueError, SyntaxError):
        return False


def _stretch(path: Path, bands: np.ndarray) -> np.ndarray:
    """:func:`asinh_stretch` of ``(H, W, C)`` data, refusing a blank image."""
    ranges = [
        (finite.min(), finite.max())
        for band in np.moveaxis(bands, -1, 0)
        if (finite := band[np.isfinite(band)]).size
    ]
    if not ranges:
        raise ImageError(f"image file {path} is blank: no finite pixels (all NaN or infinite)")
    if all(lo == hi for lo, hi in ranges):
        values = ", ".join(f"{lo:g}" for lo, _ in ranges)
        what = "each band is one value" if len(ranges) > 1 else "every pixel is"
        raise ImageError(f"image file {path} is blank: {what} {values}")
    return asinh_stretch(bands)


def asinh_stretch(data: np.ndarray) -> np.ndarray:
    """Stretch linear flux to ``uint8`` with the documented galmorph stretch.

    Per band (last axis of ``(H, W, C)`` data; a 2-D array is one band): clip to
    the 0.5 and 99.5 percentiles of its finite pixels, rescale that range to
    0-1, apply ``asinh(x / 0.1) / asinh(1 / 0.1)`` and scale to 0-255. Where the
    two percentiles are equal (more than 99% of pixels alike), the minimum and
    maximum are used instead. NaN pixels (masked, or off a survey's edge) become the
    background, the band's median (a cutout is mostly sky), so that they do not show as
    black edges; -inf pixels the lower clip value (0), +inf the upper (255); a band with
    no finite or no varying pixels becomes 0.

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
        if hi <= lo:  # over 99% of pixels alike (a zero sky): use the full range
            lo, hi = band[finite].min(), band[finite].max()
        if hi <= lo:
            continue
        background = min(max(np.median(band[finite]), lo), hi)
        scaled = (np.nan_to_num(band, nan=background, posinf=hi, neginf=lo) - lo) / (hi - lo)
        scaled = np.clip(scaled, 0.0, 1.0)
        stretched = np.arcsinh(scaled / STRETCH_SOFTENING) / math.asinh(1 / STRETCH_SOFTENING)
        out[..., c] = np.round(stretched * 255.0).astype(np.uint8)
    return out[..., 0] if data.ndim == 2 else out


def to_channels(image: np.ndarray, channels: int) -> np.ndarray:
    """Convert a ``uint8`` ``(H, W, C)`` image (``C`` 1 or 3) to 1 (luminance) or 3 channels.

    Three channels become one by ITU-R BT.601 luma (as Pillow's "L" mode); one
    channel becomes three by repetition. A 2-D ``(H, W)`` array is one grey channel.

    Returns:
        ``(H, W, channels)``.

    Raises:
        ValueError: for ``channels`` other than 1 or 3, or an image that is not
            ``(H, W)``, ``(H, W, 1)`` or ``(H, W, 3)``.
    """
    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 (grey) or 3 (colour), got {channels!r}")
    image = np.asarray(image)
    if image.ndim == 2:
        image = image[..., None]
    if image.ndim != 3 or image.shape[-1] not in (1, 3):
        raise ValueError(
            f"image must be (H, W) or (H, W, C) with C = 1 or 3 channels, got shape "
            f"{image.shape}"
        )
    have = image.shape[-1]
    if have == channels:
        return image
    if channels == 3:
        return np.repeat(image, 3, axis=-1)
    luma = image.astype(np.float32) @ np.asarray(LUMA_WEIGHTS, dtype=np.float32)
    return np.round(luma).clip(0, 255).astype(np.uint8)[..., None]
