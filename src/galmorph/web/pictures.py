"""Image files the web app takes from users, and the PNG it draws of the ones a browser
cannot show (FITS, TIFF, bands in files of their own).

An upload (``POST /api/similar-image``) is one galaxy: one jpg, png or FITS file, or
one FITS file per band, named alike but for the band, as in a folder of images
(``mine_g.fits``, ``mine_r.fits``, ``mine_i.fits``; see
:func:`galmorph.data.image_folder.galaxy_images`).

Example:
    >>> import tempfile
    >>> from pathlib import Path
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     write_upload([("m_r.fits", b"..."), ("m_g.fits", b"...")], Path(folder)).name
    'm_{g,r}.fits'
"""

from __future__ import annotations

import io
import os
import warnings
from collections.abc import Sequence
from pathlib import Path

from galmorph.data.fits_images import FITS_SUFFIXES, band_files
from galmorph.data.image_folder import galaxy_images, image_suffix
from galmorph.exceptions import GalmorphWarning, ImageError

#: Image files sent as they are; others (FITS, TIFF, ...) are rendered to PNG.
BROWSER_IMAGE_TYPES = {".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".png": "image/png"}
#: Characters a band file's name may not hold: they would read as bands in braces.
_BRACE_CHARACTERS = set("{},")
_HOW = ("upload one jpg, png or FITS image, or one FITS file per band named alike but for "
        "the band (mine_g.fits, mine_r.fits, mine_i.fits)")


def png_bytes(path: str | Path) -> bytes:
    """An image file (any that :func:`galmorph.data.images.load_image` reads, bands in
    braces too) drawn as the PNG's bytes, as the model sees it before resizing.

    Raises:
        ImageError: when the file cannot be read.
    """
    from PIL import Image

    from galmorph.data.images import load_image

    pixels = load_image(path)
    buffer = io.BytesIO()
    Image.fromarray(pixels[..., 0] if pixels.shape[-1] == 1 else pixels).save(buffer, "PNG")
    return buffer.getvalue()


def upload_suffix(filename: str) -> str:
    """The ending an uploaded file is read by: its longest image ending, else its own."""
    return image_suffix(filename) or Path(filename.lower()).suffix


def write_upload(files: Sequence[tuple[str, bytes]], folder: Path) -> Path:
    """Write uploaded ``(filename, bytes)`` pairs into ``folder`` (empty, the caller's to
    delete) and return the path to read them by as one image: ``upload.jpg`` for one
    file, ``NAME_{g,r,i}.fits`` (bluest first) for one FITS file per band.

    Raises:
        ImageError: naming the files, when they are not one image or one galaxy's bands.
    """
    if not files:
        raise ImageError(f"no file was uploaded: {_HOW}")
    names = [Path(name.replace("\\", "/")).name for name, _ in files]
    if len(files) == 1:
        suffix = upload_suffix(names[0])
        if suffix not in (*BROWSER_IMAGE_TYPES, *FITS_SUFFIXES):
            raise ImageError(f"{names[0]!r} is not a jpg, png or FITS file")
        path = folder / f"upload{suffix}"
        path.write_bytes(files[0][1])
        return path
    shown = ", ".join(names)
    if not all(upload_suffix(name) in FITS_SUFFIXES for name in names):
        raise ImageError(f"{shown}: several files must be FITS files, one per band; {_HOW}")
    if len(set(names)) != len(names):
        raise ImageError(f"{shown}: a file is given twice; {_HOW}")
    if any(_BRACE_CHARACTERS & set(name) for name in names):
        raise ImageError(f"{shown}: rename the files without braces or commas; {_HOW}")
    grouped = galaxy_images([Path(name) for name in names])
    if len(grouped) != 1 or band_files(grouped[0][1]) is None:
        raise ImageError(f"{shown} are not one galaxy's bands; {_HOW}")
    for (_, data), name in zip(files, names, strict=True):
        (folder / name).write_bytes(data)
    return folder / grouped[0][1]


def upload_notes(caught: Sequence[warnings.WarningMessage], path: Path, shown: str
                 ) -> list[str]:
    """galmorph's warnings about an upload read from ``path`` (e.g. its size or stretch
    differs from the model's images), naming the user's files (``shown``) instead of the
    server's; other warnings are issued again as usual."""
    notes = []
    for warning in caught:
        if issubclass(warning.category, GalmorphWarning):
            text = str(warning.message).replace(str(path), shown)
            notes.append(text.replace(f"{path.parent}{os.sep}", ""))
        else:
            warnings.warn_explicit(warning.message, warning.category, warning.filename,
                                   warning.lineno)
    return notes
