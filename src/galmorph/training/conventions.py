"""Image conventions of a new survey, and the training crop that suits its galaxies.

A model fine-tuned on new images records their source conventions
(:func:`source_conventions`): the starting model's when the images have the
side, pixel scale and field of view those imply (:func:`same_conventions`; a FITS
image's header gives its pixel scale), unknown otherwise.
:func:`auto_crop` zooms in on galaxies smaller than those the starting model was
trained on, by the ratio of their apparent sizes (:func:`galaxy_fill`). FITS images are
compared with the reference galaxies as galmorph's own stretch shows them
(:func:`sdss_as_fits`): a stretch that shows fainter outskirts makes a galaxy look larger.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from galmorph.data import bundled, fits_header
from galmorph.data.fits_images import band_files
from galmorph.data.image_config import ImageConfig
from galmorph.data.images import (
    ASINH_STRETCH,
    STRETCH_SOFTENING,
    asinh_stretch,
    is_fits,
    load_image,
    to_channels,
)

#: Source-image conventions of :class:`ImageConfig` that describe the training data.
SOURCE_FIELDS = ("survey", "bands", "pixel_scale", "field_of_view", "stretch")
#: Images measured by :func:`galaxy_fill`.
FILL_SAMPLE = 64
#: Relative difference of pixel scales (or fields of view) taken as the same.
SCALE_TOLERANCE = 0.02


def same_conventions(config: ImageConfig, image: str | Path,
                     given: Mapping[str, Any] | None = None) -> bool:
    """Whether an image has the side in pixels that ``config``'s conventions imply, and
    the pixel scale and field of view (``given`` by the user, or a FITS image's header:
    :func:`image_pixel_scale`) that it records, where these are known."""
    if not (config.field_of_view and config.pixel_scale):
        return False
    given = dict(given or {})
    if "pixel_scale" not in given and (scale := image_pixel_scale(image)) is not None:
        given["pixel_scale"] = scale
    for name in ("pixel_scale", "field_of_view"):
        if given.get(name) is not None and not math.isclose(
                given[name], getattr(config, name), rel_tol=SCALE_TOLERANCE):
            return False
    side = round(config.field_of_view / config.pixel_scale)
    return load_image(image).shape[:2] == (side, side)


def image_pixel_scale(image: str | Path) -> float | None:
    """Arcsec per pixel that a FITS image's header gives (its WCS or ``PIXSCALE``, see
    :func:`galmorph.data.fits_header.pixel_scale`), to 4 significant digits; None for
    other images and FITS headers that give none."""
    split = band_files(image)
    first = image if split is None else split[1][0]  # one file per band: the first says
    scale = fits_header.file_pixel_scale(first) if is_fits(first) else None
    return None if scale is None else float(f"{scale:.4g}")


def source_conventions(
    config: ImageConfig, first_image: str | Path, given: Mapping[str, Any] | None
) -> dict[str, Any]:
    """Source-image conventions to record for a model fine-tuned on new images.

    ``given`` values win; otherwise the starting model's are kept when the new
    images have the side, pixel scale and field of view its conventions imply
    (:func:`same_conventions`), and are cleared (unknown) when not. A FITS image's
    pixel scale is read from its header when not given (:func:`image_pixel_scale`).
    """
    given = dict(given or {})
    unknown = sorted(set(given) - set(SOURCE_FIELDS))
    if unknown:
        raise ValueError(f"unknown source conventions {unknown}; known: {list(SOURCE_FIELDS)}")
    if "pixel_scale" not in given and (scale := image_pixel_scale(first_image)) is not None:
        given["pixel_scale"] = scale
    cleared: dict[str, Any] = {
        "survey": "", "bands": "", "pixel_scale": None, "field_of_view": None, "stretch": ""
    }
    keep = same_conventions(config, first_image, given)
    base = {f: getattr(config, f) for f in SOURCE_FIELDS} if keep else cleared
    if is_fits(first_image):
        base["stretch"] = ASINH_STRETCH
    return {**base, **given}


def sdss_as_fits(path: str | Path) -> np.ndarray:
    """An SDSS colour JPEG as galmorph would show its FITS bands: each channel taken back
    to linear flux by inverting an asinh stretch (that of :func:`asinh_stretch`, close to
    SDSS's, Lupton et al. 2004), then stretched with :func:`asinh_stretch`."""
    softening = STRETCH_SOFTENING
    values = load_image(path).astype(np.float64) / 255.0
    return asinh_stretch(softening * np.sinh(values * math.asinh(1 / softening)))


@functools.cache
def reference_fill(fits: bool) -> float:
    """:func:`galaxy_fill` of the bundled GZ2 SDSS galaxies, as their JPEGs show them, or
    (``fits``) as galmorph's stretch of FITS images would (:func:`sdss_as_fits`)."""
    reference = bundled.demo_catalog()
    demo = pd.read_csv(reference, usecols=["file_loc"])["file_loc"]
    return galaxy_fill([reference.parent / p for p in demo],
                       load=sdss_as_fits if fits else load_image)


def galaxy_fill(paths: Sequence[str | Path], n: int = FILL_SAMPLE, seed: int = 0,
                load: Callable[[str | Path], np.ndarray] = load_image) -> float:
    """Median apparent size of the central galaxy: its diameter over the image side.

    Measured on ``n`` images drawn by ``seed`` (all when fewer), in grey: the
    background is the median of the outer tenth of the image, and the galaxy is
    the connected region around the centre brighter than the background by a
    tenth of the centre's (90th percentile of the central tenth) excess; its
    diameter is that of a circle of the same area. ``load`` reads an image as
    ``uint8`` ``(H, W, C)``.
    """
    from scipy import ndimage

    chosen = np.random.default_rng(seed).permutation(len(paths))[:n]
    fills = []
    for i in chosen:
        image = to_channels(load(paths[i]), 1)[..., 0].astype(np.float64)
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
    config: ImageConfig, paths: Sequence[str | Path], given: Mapping[str, Any] | None = None
) -> tuple[tuple[float, float], dict[str, float]] | None:
    """A training crop giving new images' galaxies the apparent size the model was trained on.

    Only for models trained on images with the conventions of the bundled GZ2
    SDSS galaxies (:meth:`ImageConfig.for_sdss_gz2`), whose galaxy size is measured
    on those (:func:`galaxy_fill`; for FITS images, as galmorph's stretch would show
    them, :func:`reference_fill`), and only for new images of other conventions
    (:func:`same_conventions`, with the pixel scale and field of view ``given``).
    The model's crop is scaled by the ratio of the galaxy sizes (capped at the
    whole image).

    Returns:
        The crop, and the two galaxy sizes (``galaxy_fill`` of the new images and
        ``reference_fill``); None when the crop should stay as it is.
    """
    sdss = ImageConfig.for_sdss_gz2()
    if any(getattr(config, f) != getattr(sdss, f) for f in SOURCE_FIELDS):
        return None
    if same_conventions(config, paths[0], given):
        return None
    reference = reference_fill(is_fits(paths[0]))
    fill = galaxy_fill(list(paths))
    if not (fill > 0 and reference > 0):
        return None
    scale = fill / reference
    low, high = (min(1.0, round(c * scale, 3)) for c in config.crop_fraction)
    return (low, high), {"galaxy_fill": round(fill, 3), "reference_fill": round(reference, 3)}
