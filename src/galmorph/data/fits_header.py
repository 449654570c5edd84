"""What a FITS header says about its image: band names and pixel units.

:func:`band_names` reads the names of a cube's bands (Legacy Survey cutouts
write ``BANDS = 'grz'`` and ``BAND0 = 'g'`` ...), :func:`pick_bands` finds the
bands a model learnt among them (``gri`` in a ``griz`` cube), and :func:`reddest_first`
orders named bands by wavelength, reddest first, so that they become red,
green and blue as in survey colour composites (SDSS gri JPEGs show i as red).
:func:`linear_flux` undoes the asinh scaling of Pan-STARRS stack images
(``BSOFTEN``/``BOFFSET`` keywords). :func:`pixel_scale` reads the arcsec per pixel of
a celestial WCS (``CD``, or ``CDELT`` with ``PC``) or of a ``PIXSCALE`` keyword, and
:func:`file_pixel_scale` that of a FITS file's image.

Examples
--------
>>> from astropy.io import fits
>>> header = fits.Header({"BANDS": "grz"})
>>> band_names(header, 3)
['g', 'r', 'z']
>>> reddest_first(["g", "r", "z"])
[2, 1, 0]
>>> pick_bands(["g", "r", "i", "z"], split_bands("gri"))
[0, 1, 2]
"""

from __future__ import annotations

import math
import re
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

#: Effective wavelengths in nm of common broad-band filters, by the names headers use.
#: Lower-case ugrizy are SDSS, Pan-STARRS, DES, Legacy Survey, HSC and Rubin;
#: upper-case UBVRI Johnson-Cousins; YJHK(s) near-infrared; W1-W4 WISE; FUV/NUV GALEX.
BAND_WAVELENGTHS_NM: dict[str, float] = {
    "FUV": 152, "NUV": 231,
    "u": 355, "g": 475, "r": 620, "i": 760, "z": 900, "y": 970,
    "U": 365, "B": 445, "V": 551, "R": 658, "I": 806,
    "Y": 1020, "J": 1250, "H": 1650, "K": 2190, "Ks": 2150,
    "W1": 3400, "W2": 4600, "W3": 12000, "W4": 22000,
}


def band_names(header: Mapping[str, Any], count: int) -> list[str] | None:
    """Names of a cube's ``count`` bands in stored order, or None when not given.

    Read from ``BAND0`` ... ``BAND{count-1}``, else from ``BANDS`` when it has one
    character per band (``'grz'``) or ``count`` comma- or space-separated names.
    """
    numbered = [header.get(f"BAND{i}") for i in range(count)]
    if all(isinstance(name, str) and name.strip() for name in numbered):
        return [str(name).strip() for name in numbered]
    joined = header.get("BANDS")
    if not isinstance(joined, str):
        return None
    names = [n for n in re.split(r"[,\s]+", joined.strip()) if n]
    if len(names) == 1 and len(names[0]) == count:
        names = list(names[0])
    return names if len(names) == count else None


def split_bands(bands: str) -> list[str]:
    """Band names from a text such as :attr:`ImageConfig.bands
    <galmorph.data.image_config.ImageConfig.bands>`: one letter each (``'gri'``), or
    names separated by commas or spaces (``'HSC-G, HSC-R, HSC-I'``)."""
    names = [n for n in re.split(r"[,\s]+", bands.strip()) if n]
    return list(names[0]) if len(names) == 1 else names


def pick_bands(names: Sequence[str], wanted: Sequence[str]) -> list[int] | None:
    """Positions in ``names`` of each ``wanted`` band, in ``wanted``'s order; None when
    one is not there. A band matches by name, else by name in any case without a survey
    prefix (``'DES-R'`` or ``'R'`` for ``'r'``), else by wavelength
    (:func:`wavelength_nm`)."""
    def bare(name: str) -> str:
        return re.split(r"[-_ ]", name.strip())[-1].lower()

    picked = []
    for band in wanted:
        same = [i for i, name in enumerate(names) if name == band]
        same = same or [i for i, name in enumerate(names) if bare(name) == bare(band)]
        if not same and (wavelength := wavelength_nm(band)) is not None:
            same = [i for i, name in enumerate(names) if wavelength_nm(name) == wavelength]
        if not same:
            return None
        picked.append(same[0])
    return picked


def wavelength_nm(name: str) -> float | None:
    """Effective wavelength of a filter name (``'r'``, ``'HSC-G'``, ``'W1'``), or None.

    A survey prefix before ``-``, ``_`` or a space is ignored; a one-letter name
    not in :data:`BAND_WAVELENGTHS_NM` is tried in lower case (``'G'`` is g), and a
    letter and a digit not in it as the letter (HSC's newer ``'HSC-R2'``, ``'HSC-I2'``).
    """
    for candidate in (name, re.split(r"[-_ ]", name)[-1]):
        candidate = candidate.strip().rstrip("'")
        if candidate in BAND_WAVELENGTHS_NM:
            return BAND_WAVELENGTHS_NM[candidate]
        if re.fullmatch(r"[A-Za-z]\d?", candidate) and candidate[0].lower() in BAND_WAVELENGTHS_NM:
            return BAND_WAVELENGTHS_NM[candidate[0].lower()]
    return None


def reddest_first(names: Sequence[str]) -> list[int] | None:
    """Band indices ordered by wavelength, longest first; None if a name is unknown."""
    wavelengths = [wavelength_nm(name) for name in names]
    if any(w is None for w in wavelengths):
        return None
    return sorted(range(len(names)), key=lambda i: -float(wavelengths[i]))  # type: ignore[arg-type]


def linear_flux(header: Mapping[str, Any], data: np.ndarray) -> np.ndarray:
    """Pixel values as linear flux: Pan-STARRS asinh-scaled stacks are converted back.

    Images with ``BSOFTEN`` and ``BOFFSET`` store ``2.5 log10(e) asinh((f - BOFFSET)
    / (2 BSOFTEN))``; the flux is ``BOFFSET + 2 BSOFTEN sinh(x ln(10) / 2.5)``.
    Other images are returned unchanged.
    """
    soften, offset = header.get("BSOFTEN"), header.get("BOFFSET")
    if not isinstance(soften, int | float) or not isinstance(offset, int | float):
        return data
    with np.errstate(over="ignore"):  # a saturated pixel becomes +-inf, clipped by the stretch
        return offset + 2.0 * soften * np.sinh(data * (math.log(10) / 2.5))


#: Keywords some pipelines write for the pixel scale in arcsec, without a WCS.
PIXEL_SCALE_KEYWORDS = ("PIXSCALE", "PIXSCAL", "SECPIX", "PIXSCAL1")


def pixel_scale(header: Any) -> float | None:
    """Arcsec per pixel (the mean of the two axes) of an :class:`astropy.io.fits.Header`'s
    celestial WCS, else of a :data:`PIXEL_SCALE_KEYWORDS` keyword; None when it gives none."""
    from astropy.wcs import WCS

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # non-standard WCS keywords are common
            wcs = WCS(header).celestial
            if wcs.has_celestial:
                scales = [s.to_value("arcsec") for s in wcs.proj_plane_pixel_scales()]
                scale = float(np.mean(scales))
                if math.isfinite(scale) and scale > 0:
                    return scale
    except Exception:  # noqa: BLE001 - an unreadable WCS gives no scale
        pass
    for key in PIXEL_SCALE_KEYWORDS:
        value = header.get(key)
        if isinstance(value, int | float) and math.isfinite(value) and value > 0:
            return float(value)
    return None


def file_pixel_scale(path: str | Path) -> float | None:
    """:func:`pixel_scale` of the header of a FITS file's first image (with its primary
    header's keywords), as :func:`galmorph.data.images.load_image` reads it; None for a
    file that is not FITS or cannot be read (reading the image says why)."""
    from astropy.io import fits

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with fits.open(path, memmap=False) as hdus:
                hdu = next((h for h in hdus if h.is_image and h.header.get("NAXIS", 0) >= 2
                            and h.header.get("NAXIS1", 0)), None)
                if hdu is None:
                    return None
                header = hdus[0].header.copy()
                header.update(hdu.header)
    except Exception:  # noqa: BLE001 - not FITS, or damaged
        return None
    return pixel_scale(header)
