"""FITS images as linear-flux cubes: one file of 1 or more bands, or one file per band.

:func:`fits_cube` reads a FITS file's first image HDU as ``(H, W, C)`` flux, the first
stored row at the bottom (as ds9 shows it), with the band names its header gives;
from a cube of more than 3 bands it keeps the 3 a model learnt
(:func:`galmorph.data.fits_header.pick_bands`). Surveys that serve one file per band
(Pan-STARRS, HSC, Rubin cutouts) are given as one path with the bands in braces,
``cutouts/J0902_{g,r,i}.fits``: :func:`band_files` expands it and
:func:`band_files_cube` stacks the files. :func:`image_exists` checks any image path,
such a one included, and :func:`describe_missing` names the band files missing.
:mod:`galmorph.data.images` stretches the cubes to 8 bits.

Examples
--------
>>> band_files("cutouts/J0902_{g,r,i}.fits")
(['g', 'r', 'i'], [PosixPath('cutouts/J0902_g.fits'), PosixPath('cutouts/J0902_r.fits'), \
PosixPath('cutouts/J0902_i.fits')])
>>> band_files("cutouts/J0902.fits") is None
True
"""

from __future__ import annotations

import os
import re
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from galmorph.data import fits_header
from galmorph.exceptions import ImageError

if TYPE_CHECKING:
    from astropy.io.fits.hdu.base import _BaseHDU

#: FITS file endings, compressed ones included (``.fits.fz`` is a whole ending: the image
#: ``a.fits.fz`` is galaxy ``a`` in a folder).
FITS_SUFFIXES = (
    ".fits", ".fit", ".fts", ".fz", ".fits.fz", ".fit.fz", ".fts.fz",
    ".fits.gz", ".fit.gz", ".fts.gz", ".fits.bz2", ".fit.bz2", ".fts.bz2",
)
#: First bytes of a FITS file, and of the gzip and bzip2 files astropy decompresses.
FITS_SIGNATURES = (b"SIMPLE  =", b"\x1f\x8b", b"BZh")
#: Bands taken from a cube of more than 3 named bands when the caller names none
#: (those of SDSS colour images, which the shipped starter learnt).
DEFAULT_CUBE_BANDS = "gri"
#: One ``{a,b,...}`` group of band names in a path (shell brace expansion).
BAND_BRACES = re.compile(r"\{([^{}/]*,[^{}/]*)\}")


def file_head(path: str | Path) -> bytes:
    """The first 9 bytes of a file (fewer if it is shorter).

    Raises:
        ImageError: naming the file when it cannot be read.
    """
    try:
        with open(path, "rb") as handle:
            return handle.read(9)
    except OSError as err:
        raise ImageError(f"cannot read image file {path}: {err.strerror or err}") from None


def band_files(path: str | Path) -> tuple[list[str], list[Path]] | None:
    """The bands and files of a path with one ``{a,b,...}`` group (``a_{g,r,i}.fits``:
    ``a_g.fits``, ``a_r.fits``, ``a_i.fits``), or None for a path of one file."""
    text = str(path)
    found = list(BAND_BRACES.finditer(text))
    if len(found) != 1:
        return None
    names = [n.strip() for n in found[0].group(1).split(",")]
    head, tail = text[:found[0].start()], text[found[0].end():]
    return names, [Path(head + name + tail) for name in names]


def image_exists(path: str | Path) -> bool:
    """Whether an image path names a file, or (with bands in braces) one file per band."""
    split = band_files(path)
    return os.path.isfile(path) if split is None else all(p.is_file() for p in split[1])


def describe_missing(path: str | Path) -> str:
    """``path`` for a missing image; for bands in braces with some files there, also the
    files that are not: ``a_{g,r,i}.fits (no a_i.fits)``."""
    split = band_files(path)
    if split is None:
        return str(path)
    absent = [str(p) for p in split[1] if not p.is_file()]
    return str(path) if len(absent) in (0, len(split[1])) else f"{path} (no {', '.join(absent)})"


def read_first_image(path: Path) -> tuple[np.ndarray, dict[str, Any]]:
    """The first HDU of a FITS file with 2-D or more image data (``float64``), and its
    header over the primary header.

    Raises:
        ImageError: naming the file when it is not FITS, truncated, corrupt or has no image.
    """
    from astropy.io import fits

    if not file_head(path).startswith(FITS_SIGNATURES):
        raise ImageError(f"{path} is not a FITS file (it does not start with 'SIMPLE  =')")
    # astropy's warnings (header standards, a short file) are noise here: the data is
    # read or an error raised, which says "truncated" where astropy warned of it
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            with fits.open(path, memmap=False) as hdus:
                hdu = next((h for h in hdus if h.is_image and h.data is not None
                            and h.data.ndim >= 2), None)
                if hdu is None:
                    held = ", ".join(f"HDU {i}: {_describe_hdu(h)}" for i, h in enumerate(hdus))
                    raise ImageError(f"FITS file {path} has no 2-D or 3-D image data ({held})")
                return np.array(hdu.data, dtype=np.float64), {**hdus[0].header, **hdu.header}
        except ImageError:
            raise
        except Exception as err:  # astropy raises many types for a damaged file
            short = [str(w.message) for w in caught if "truncated" in str(w.message)]
            if short:
                raise ImageError(f"FITS file {path} is truncated (an interrupted download?): "
                                 f"{short[0]}") from None
            raise ImageError(f"FITS file {path} is corrupt or unreadable: {err}") from None


def fits_cube(path: Path, bands: str = "") -> tuple[np.ndarray, list[str] | None]:
    """A FITS file's image as linear flux ``(H, W, 1 or 3)``, first stored row at the
    bottom, and its bands' names (None when one band or unnamed); from more than 3
    named bands, ``bands`` (or :data:`DEFAULT_CUBE_BANDS`).

    Raises:
        ImageError: naming the file (see :func:`read_first_image`), or when its bands
            cannot be told apart or those wanted are not there.
    """
    data, header = read_first_image(path)
    cube = _bands_last(path, fits_header.linear_flux(header, data))[::-1]
    names = fits_header.band_names(header, cube.shape[-1]) if cube.shape[-1] > 1 else None
    if cube.shape[-1] in (1, 3):
        return cube, names
    picked = _pick(names, bands)
    if picked is None:
        held = f": {', '.join(names)}" if names else " not named in its header (BAND0...)"
        raise ImageError(
            f"FITS file {path} has {cube.shape[-1]} bands{held} (cube of shape {data.shape}); "
            f"galmorph reads 1 or 3 bands, and from a cube of more the model's bands "
            f"({', '.join(_wanted(bands))}) when its header names them: write the 3 bands "
            "you want to a new file"
        )
    return cube[..., picked], [names[i] for i in picked]  # type: ignore[index]


def band_files_cube(path: str | Path, bands: str = "") -> tuple[np.ndarray, list[str]]:
    """The one-band FITS files of a path with bands in braces (:func:`band_files`) as
    one linear-flux cube ``(H, W, 1 or 3)`` and its band names; from more than 3, the
    ``bands`` wanted (or :data:`DEFAULT_CUBE_BANDS`).

    Raises:
        ImageError: naming the file that is missing, unreadable or not one band, or
            when the files differ in size or those wanted are not among them.
    """
    split = band_files(path)
    if split is None:
        raise ValueError(f"{path} names no bands in braces")
    names, paths = split
    if len(names) not in (1, 3):
        picked = _pick(names, bands)
        if picked is None:
            raise ImageError(
                f"{path} names {len(names)} bands ({', '.join(names)}); galmorph reads 1 or "
                f"3, and from more the model's bands ({', '.join(_wanted(bands))})")
        names, paths = [names[i] for i in picked], [paths[i] for i in picked]
    planes = []
    for name, file in zip(names, paths, strict=True):
        if not file.is_file():
            raise ImageError(f"image file of band {name} not found: {file}")
        if not file_head(file).startswith(FITS_SIGNATURES):
            raise ImageError(f"{file} (band {name} of {path}) is not a FITS file: the files of "
                             "bands in braces must be one-band FITS images")
        plane = fits_cube(file)[0]
        if plane.shape[-1] != 1:
            raise ImageError(f"{file} (band {name} of {path}) has {plane.shape[-1]} bands, not 1")
        if planes and plane.shape != planes[0].shape:
            raise ImageError(f"{file} is {plane.shape[1]}x{plane.shape[0]} px but {paths[0]} "
                             f"is {planes[0].shape[1]}x{planes[0].shape[0]}: the bands of a "
                             "galaxy must be cut out on one pixel grid")
        planes.append(plane)
    return np.concatenate(planes, axis=-1), names


def _wanted(bands: str) -> list[str]:
    return fits_header.split_bands(bands or DEFAULT_CUBE_BANDS)


def _pick(names: list[str] | None, bands: str) -> list[int] | None:
    """Positions of the 3 wanted bands among ``names``; None when they are not all there."""
    wanted = _wanted(bands)
    return fits_header.pick_bands(names, wanted) if names and len(wanted) == 3 else None


def _describe_hdu(hdu: _BaseHDU) -> str:
    """What an HDU without a usable image holds, e.g. ``table``, ``1-D data (10,)``."""
    if not hdu.is_image:
        return "table"
    return "no data" if hdu.data is None else f"{hdu.data.ndim}-D data {hdu.data.shape}"


def _bands_last(path: Path, data: np.ndarray) -> np.ndarray:
    """FITS data ``(H, W)``, ``(C, H, W)`` or ``(H, W, C)`` as ``(H, W, C)``."""
    shape = data.shape
    while data.ndim > 3 and data.shape[0] == 1:
        data = data[0]
    if data.ndim == 2:
        return data[..., None]
    if data.ndim > 3:
        raise ImageError(
            f"FITS file {path} has {len(shape)}-D image data of shape {shape}; galmorph "
            "reads 2-D images or cubes of bands"
        )
    if data.shape[0] < min(data.shape[1:]):
        return np.moveaxis(data, 0, -1)
    if data.shape[2] < min(data.shape[:2]):
        return data
    raise ImageError(
        f"FITS file {path} has a cube of shape {shape} whose band axis is unclear "
        "(galmorph takes the shortest axis, first or last, as the bands)"
    )
