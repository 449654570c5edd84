"""Checks of a catalog's image paths and files, for
:func:`galmorph.data.validation.inspect_catalog`.

:func:`resolve_file_column` makes ``file_loc`` absolute and flags paths of another
computer (web addresses, Windows drives); :func:`check_image_files` counts the files
found and missing; :func:`read_images` decodes them. Each records what it found in the
catalog's :class:`~galmorph.data.validation.CatalogSummary`.
"""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from galmorph.data.fits_images import describe_missing, image_exists
from galmorph.data.image_paths import (
    extension_hint,
    resolve_image_paths,
    working_folder_hint,
)
from galmorph.data.images import load_image, reduced_depth
from galmorph.data.table_checks import SHOWN, as_text, describe_rows, is_blank, plural
from galmorph.exceptions import ImageError

if TYPE_CHECKING:
    from galmorph.data.validation import CatalogSummary


def resolve_file_column(frame: pd.DataFrame, root: Path, summary: CatalogSummary
                        ) -> tuple[pd.DataFrame, pd.Series]:
    """``file_loc`` made absolute (:mod:`galmorph.data.image_paths`), and the rows whose
    image is elsewhere than on this computer: web addresses and Windows drive paths are
    errors, Windows ``\\`` separators read as ``/`` a warning."""
    column, name = frame["file_loc"], summary.file_column
    resolved = resolve_image_paths(as_text(column).where(~is_blank(column)), root)
    urls, windows, drives = (pd.Series(mask, frame.index) for mask in (
        resolved.urls, resolved.windows, resolved.drives))
    if drives.any():
        summary.errors.append(
            f"{name} holds Windows drive paths in {plural(int(drives.sum()), 'row')} ("
            + describe_rows(frame, drives, column) + "), files of another computer: give "
            "their paths on this one, e.g. relative to the catalog's folder")
    if urls.any():
        summary.errors.append(
            f"{name} holds web addresses in {plural(int(urls.sum()), 'row')} ("
            + describe_rows(frame, urls, column) + "); galmorph reads image files on disk: "
            "download the images first and give their paths")
    if windows.any():
        summary.warnings.append(
            f"{name} uses Windows separators (\\) in {plural(int(windows.sum()), 'row')}, "
            "read as / (" + describe_rows(frame, windows, column) + ")")
    return frame.assign(file_loc=resolved.paths), urls | drives


def check_image_files(
    frame: pd.DataFrame, root: Path, summary: CatalogSummary, drop: bool, elsewhere: pd.Series
) -> pd.DataFrame:
    """Count image files; missing ones are an error, or rows to drop when ``drop``.
    Rows ``elsewhere`` (web addresses, drive paths) are errors of their own, not missing."""
    listed = (frame["file_loc"] != "") & ~elsewhere
    found = frame["file_loc"].map(image_exists).astype(bool)
    folders = frame["file_loc"].map(os.path.isdir).astype(bool)
    if folders.any():
        summary.errors.append(
            f"{summary.file_column} names a folder, not an image file, in "
            f"{plural(int(folders.sum()), 'row')}: "
            + describe_rows(frame, folders, frame["file_loc"])
        )
    missing = listed & ~found & ~folders
    summary.n_images_found = int(found.sum())
    summary.n_images_missing = int(missing.sum())
    summary.n_images_elsewhere = int(elsewhere.sum())
    summary.first_missing = frame.loc[missing, "file_loc"].head(SHOWN).tolist()
    if not missing.any():
        return frame
    n_missing, n_listed = summary.n_images_missing, int(listed.sum())
    shown = frame.loc[missing, "file_loc"].head(SHOWN).map(describe_missing)
    rows = describe_rows(frame, missing, shown)  # bands in braces: the files missing
    rows += extension_hint(frame.loc[missing, "file_loc"].head(100))
    if n_missing == n_listed:
        summary.errors.append(
            f"none of the {n_listed} image files exist ({rows}); {summary.file_column} paths "
            f"are read relative to {os.path.abspath(root)}: are the images there?"
            + working_folder_hint(frame.loc[missing, "file_loc"].head(100), root)
        )
    elif drop:
        summary.warnings.append(
            f"skipping {n_missing} of {plural(len(frame), 'row')} with a missing image file: {rows}"
        )
        return frame[~missing]
    else:
        summary.errors.append(
            f"image file missing for {n_missing} of {n_listed} rows: {rows}; fix "
            f"{summary.file_column} or skip those rows (drop_missing_images=True, or "
            "--skip-missing-images; predict, embed and evaluate also take --skip-bad-images, "
            "which skips unreadable images too)"
        )
    return frame


def read_images(frame: pd.DataFrame, summary: CatalogSummary) -> None:
    """Decode every image file of ``frame`` that exists: unreadable ones are errors naming
    their rows; 16-bit colour files read at 8 bits (:func:`reduced_depth`) and colour
    images with a blank band (a FITS band of NaNs, off a survey's footprint) warnings; and
    ``summary.image_shapes`` counts the ``(height, width, channels)`` found."""
    shapes: Counter[tuple[int, ...]] = Counter()
    problems: dict[object, str] = {}
    shallow = pd.Series(False, index=frame.index)
    blank = pd.Series("", index=frame.index, dtype=object)
    for label, path in frame["file_loc"].items():
        if not path or not image_exists(path):
            continue  # counted as missing already
        try:
            image = load_image(path)
        except ImageError as err:
            problems[label] = str(err)
        else:
            shapes[image.shape] += 1
            shallow[label] = reduced_depth(path)
            blank[label] = f"{path} ({bands})" if (bands := _blank_bands(image)) else ""
    summary.image_shapes = dict(shapes.most_common())
    if n_blank := int((blank != "").sum()):
        summary.warnings.append(
            f"{plural(n_blank, 'colour image')} {'has' if n_blank == 1 else 'have'} a blank "
            "band, shown black (a FITS band with no finite or no varying pixels, e.g. off the "
            "survey's footprint), so the model sees wrong colours: "
            + describe_rows(frame, blank != "", blank)
            + "; leave such galaxies out, or give every image all its bands")
    if n_shallow := int(shallow.sum()):
        summary.warnings.append(
            f"{plural(n_shallow, 'image file')} {'stores' if n_shallow == 1 else 'store'} "
            "colour at 16 bits per channel, "
            "which is read at 8 (Pillow keeps the top 8 bits of colour PNG and TIFF, so "
            "faint, linear data looks black): "
            + describe_rows(frame, shallow, frame["file_loc"])
            + "; save such images as FITS, which is read whole and stretched")
    if problems:
        unreadable = pd.Series(frame.index.isin(list(problems)), index=frame.index)
        summary.errors.append(
            f"{plural(len(problems), 'image file')} cannot be read: "
            + describe_rows(frame, unreadable, pd.Series(problems, dtype=object))
            + "; replace them, or let predict, embed and evaluate leave such galaxies out "
            "(--skip-bad-images)"
        )


def _blank_bands(image: np.ndarray) -> str:
    """The blank (all 0) channels of a colour image that is not all black, in words
    (``"red blank"``); ``""`` when there are none."""
    if image.shape[-1] != 3 or not image.any():
        return ""
    empty = [name for c, name in enumerate(("red", "green", "blue")) if not image[..., c].any()]
    return f"{' and '.join(empty)} blank" if empty else ""
