"""A folder of image files read as a catalog: one galaxy per file.

Astronomers often have cutouts and no table. :func:`image_folder_catalog` lists
the image files of a folder (at any depth, through linked folders; hidden files and
folders are left out) as a catalog: ``id_str`` is the file's path in the folder without
its extension (``spirals/J0902+59``), ``file_loc`` its absolute path, and ``folder`` the
first subfolder on that path (blank for files in the folder itself), so that images
sorted into ``rings/`` and ``others/`` are labels to fine-tune on (``--label
folder``). Names in the IAU ``JHHMMSS.ss+DDMMSS.s`` form, as SDSS and Galaxy Zoo
cutouts have, also give ``ra`` and ``dec`` in degrees (to the name's precision)
when every file has one. FITS files of one galaxy's bands, one file per band as
Pan-STARRS, HSC and Rubin serve them (``J0902_g.fits``, ``J0902_r.fits``,
``J0902_i.fits``), are that galaxy (``J0902``), read from one path with the bands in
braces (``J0902_{g,r,i}.fits``, :func:`galmorph.data.fits_images.band_files`).

Example:
    >>> from galmorph.data.bundled import demo_dir
    >>> frame = image_folder_catalog(demo_dir() / "images")
    >>> row = frame.iloc[0]
    >>> row["id_str"], round(float(row["ra"]), 6), round(float(row["dec"]), 6)
    ('J000314.90-000217.7', 0.812083, -0.03825)
"""

from __future__ import annotations

import os
import re
import warnings
from collections.abc import Iterator
from pathlib import Path, PurePosixPath

import numpy as np
import pandas as pd

from galmorph.data.defaults import FORMATS
from galmorph.data.fits_header import BAND_WAVELENGTHS_NM
from galmorph.data.fits_images import FITS_SUFFIXES
from galmorph.exceptions import CatalogError, GalmorphWarning

#: File endings read as images (lower case); FITS ones include compressed files.
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".tif", ".tiff", ".webp", *FITS_SUFFIXES)

#: A file name (without its ending) that ends in a band name after ``_``, ``-`` or ``.``.
_BAND_NAME = re.compile(r"(.+[_.-])([A-Za-z][A-Za-z0-9]?)")
_IAU_NAME = re.compile(
    r"J(\d{2})(\d{2})(\d{2}(?:\.\d+)?)([+-])(\d{2})(\d{2})(\d{2}(?:\.\d+)?)$"
)


def image_suffix(name: str) -> str | None:
    """The image ending of a file name (the longest that matches), or None."""
    lower = name.lower()
    matches = [s for s in IMAGE_SUFFIXES if lower.endswith(s)]
    return max(matches, key=len) if matches else None


def _walk_images(folder: str | Path) -> Iterator[Path]:
    """Image files in ``folder`` and its subfolders as found; hidden ones left out.
    Linked subfolders are followed, each folder read once (a link to a parent is no loop)."""
    seen = set()
    for directory, subfolders, names in os.walk(folder, followlinks=True):
        real = os.path.realpath(directory)
        if real in seen:
            subfolders[:] = []
            continue
        seen.add(real)
        subfolders[:] = [d for d in subfolders if not d.startswith(".")]
        yield from (Path(directory) / n for n in names
                    if not n.startswith(".") and image_suffix(n) is not None)


def _without_ending(path: Path) -> Path:
    """An image file's path without its image ending (``a/b.fits.fz``: ``a/b``)."""
    return path.with_name(path.name[: -len(image_suffix(path.name) or "")])


def galaxy_images(files: list[Path]) -> list[tuple[Path, str]]:
    """Each galaxy's path without its ending and its ``file_loc``: the file, or for FITS
    files of 2 or more bands that differ only in the band name ending theirs
    (``a_g.fits``, ``a_r.fits``: bands of galaxy ``a``), the path with the bands in
    braces, bluest first (``a_{g,r}.fits``), in the place of the first of them."""
    rows: dict[tuple[Path, str], dict[str, Path]] = {}
    for path in files:
        suffix, stem = image_suffix(path.name) or "", _without_ending(path)
        match = _BAND_NAME.fullmatch(stem.name)
        if suffix in FITS_SUFFIXES and match and match.group(2) in BAND_WAVELENGTHS_NM:
            rows.setdefault((stem.with_name(match.group(1)), suffix), {})[match.group(2)] = path
        else:
            rows[(path, "")] = {"": path}
    galaxies = []
    for (stem, suffix), bands in rows.items():
        if len(bands) == 1:  # a file of its own, band name or not
            path = next(iter(bands.values()))
            galaxies.append((_without_ending(path), str(path)))
        else:
            names = ",".join(sorted(bands, key=BAND_WAVELENGTHS_NM.__getitem__))
            galaxies.append((stem.with_name(stem.name[:-1]), f"{stem}{{{names}}}{suffix}"))
    return galaxies


def image_files(folder: str | Path) -> list[Path]:
    """Image files in ``folder`` and its subfolders, sorted; hidden ones left out."""
    return sorted(_walk_images(folder))


def holds_images(folder: str | Path) -> bool:
    """Whether ``folder`` (or a subfolder) holds an image file; stops at the first."""
    return next(_walk_images(folder), None) is not None


def iau_coordinates(name: str) -> tuple[float, float] | None:
    """``(ra, dec)`` in degrees from a name ending in ``JHHMMSS.ss±DDMMSS.s``, else None."""
    match = _IAU_NAME.search(name)
    if match is None:
        return None
    hours, minutes, seconds, sign, degrees, arcmin, arcsec = match.groups()
    ra = 15 * (int(hours) + int(minutes) / 60 + float(seconds) / 3600)
    dec = int(degrees) + int(arcmin) / 60 + float(arcsec) / 3600
    if ra >= 360 or dec > 90:
        return None
    return ra, -dec if sign == "-" else dec


def _refuse_beside_a_catalog(root: Path, folder: str | Path) -> None:
    """Refuse a folder that holds a catalog file (``catalog.csv`` beside ``images/``, as
    ``galmorph demo-data`` and ``galmorph cutouts`` write): its images as galaxies would
    have ids made of their paths, not the catalog's, and every image, listed or not.
    Other table files (a predictions table, metadata) are only warned of.

    Raises:
        CatalogError: naming the catalog file to give instead.
    """
    endings = tuple(end for end in FORMATS if image_suffix(end) is None)
    tables = sorted(path.name for path in root.iterdir()
                    if path.name.lower().endswith(endings) and not path.name.startswith(".")
                    and path.is_file())
    catalogs = [name for name in tables if name.lower().startswith("catalog.")]
    if catalogs:
        raise CatalogError(
            f"{folder} holds a catalog beside its images ({', '.join(tables)}): give the "
            f"file, {Path(folder) / catalogs[0]}, to use its ids and columns; to read every "
            "image in the folder as a galaxy instead (its path as its id), move it out")
    if tables:
        warnings.warn(
            f"{folder} holds table files beside its images ({', '.join(tables)}): each image "
            "is read as a galaxy, its path as its id; if one of them lists the images "
            "(id_str, file_loc), give that file instead", GalmorphWarning, stacklevel=4)


def image_folder_catalog(folder: str | Path) -> pd.DataFrame:
    """The image files of ``folder`` as a catalog (see the module's description).

    ``attrs["source"]`` names the folder for messages.

    Raises:
        CatalogError: when the folder holds no image file, holds ``catalog.*`` (the
            file to give instead), or two files would give a galaxy the same id
            (``a.jpg`` beside ``a.fits``).

    Warns:
        GalmorphWarning: for other table files beside the images.
    """
    root = Path(os.path.abspath(folder))
    _refuse_beside_a_catalog(root, folder)
    files = image_files(root)
    if not files:
        raise CatalogError(f"{folder} holds no catalog file and no images (files ending in "
                           f"{', '.join(IMAGE_SUFFIXES[:6])} or .fits)")
    galaxies = galaxy_images(files)
    ids = [str(PurePosixPath(name.relative_to(root).as_posix())) for name, _ in galaxies]
    frame = pd.DataFrame({"id_str": ids, "file_loc": [loc for _, loc in galaxies],
                          "folder": [i.split("/")[0] if "/" in i else "" for i in ids]})
    repeated = frame[frame["id_str"].duplicated(keep=False)]
    if len(repeated):
        first = repeated["id_str"].iloc[0]
        both = " and ".join(Path(p).name for p in repeated.loc[repeated["id_str"] == first,
                                                              "file_loc"])
        more = f" ({len(repeated)} files share names in all)" if len(repeated) > 2 else ""
        raise CatalogError(
            f"{folder}: {both} would both be galaxy {first!r}{more}: keep one image of each "
            "galaxy in the folder, or list the images in a catalog (id_str, file_loc)")
    coordinates = [iau_coordinates(Path(i).name) for i in ids]
    if all(c is not None for c in coordinates):
        frame["ra"], frame["dec"] = np.array(coordinates, dtype=np.float64).T
    frame.attrs["source"] = str(folder)
    return frame
