"""Fetching one cutout over HTTP and checking that it is an image of the sky.

:func:`fetch_cutout` tries a URL again after answers that may succeed later (timeouts,
lost connections, HTTP 429 and 5xx), waiting longer each time, and raises
:class:`CutoutFailure` with a reason a person can act on; :func:`image_problem` says
why the bytes a service returned are not a usable image (not the format asked for,
or blank: a position outside the survey's footprint).

Example:
    >>> data = fetch_cutout("https://example.org/cut?ra=1&dec=2", timeout=60,
    ...                     retries=3, retry_wait=2.0)  # doctest: +SKIP
"""

from __future__ import annotations

import http.client
import io
import re
import time
import urllib.error
import urllib.request

import numpy as np

from galmorph import __version__

#: HTTP statuses worth trying again: too many requests, and the server's own errors.
RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
#: How messages name each image format.
FORMAT_NAMES = {"jpg": "JPEG", "png": "PNG", "fits": "FITS"}
#: Longest wait before a retry that a service may ask for (``Retry-After``), seconds.
MAX_RETRY_AFTER = 120.0


class CutoutFailure(Exception):
    """A cutout could not be had; the message says why (for the table of failures).

    Attributes:
        temporary: whether trying again later may succeed (no answer, a busy service).
    """

    def __init__(self, message: str, temporary: bool) -> None:
        super().__init__(message)
        self.temporary = temporary


def _answer_text(data: bytes, limit: int = 160) -> str:
    """What a service said in a text answer, tags and runs of spaces removed, shortened."""
    text = re.sub(r"<[^>]*>", " ", data[:4000].decode("utf-8", errors="replace"))
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _retry_after(err: urllib.error.HTTPError) -> float | None:
    """Seconds a ``Retry-After`` header asks to wait (its number form), at most
    :data:`MAX_RETRY_AFTER`; None without one."""
    value = (err.headers or {}).get("Retry-After", "")
    try:
        return min(max(float(value), 0.0), MAX_RETRY_AFTER)
    except ValueError:
        return None


def fetch_cutout(url: str, *, timeout: float, retries: int, retry_wait: float) -> bytes:
    """The body of a successful answer to ``url``.

    Tries up to ``retries`` more times after a timeout, a lost connection or HTTP 408,
    429 and 5xx, waiting ``retry_wait`` seconds, then twice as long each time (or as
    long as the service's ``Retry-After`` asks).

    Raises:
        CutoutFailure: for other HTTP errors (404: the service has no such image) at
            once, or when the tries are used up; its message names the last problem.
    """
    request = urllib.request.Request(url, headers={"User-Agent": f"galmorph/{__version__}"})
    wait = retry_wait
    for attempt in range(retries + 1):
        asked = None
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return response.read()
        except urllib.error.HTTPError as err:
            said = _answer_text(err.read() if err.fp is not None else b"")
            problem = f"HTTP {err.code} {err.reason}" + (f": {said}" if said else "")
            if err.code not in RETRY_STATUSES:
                raise CutoutFailure(problem, temporary=False) from None
            asked = _retry_after(err)
        except (urllib.error.URLError, OSError, http.client.HTTPException) as err:
            reason = getattr(err, "reason", None) or err
            problem = f"no answer ({type(reason).__name__}: {reason})".replace(": )", ")")
        if attempt < retries:
            time.sleep(asked if asked is not None else wait)
            wait *= 2
    tries = "1 try" if retries == 0 else f"{retries + 1} tries"
    raise CutoutFailure(f"{problem} (after {tries})", temporary=True)


def image_problem(data: bytes, fmt: str) -> str | None:
    """Why ``data`` is not a usable ``fmt`` image (``jpg``, ``png`` or ``fits``); None
    when it is one. Blank images (one value everywhere, or none finite) are refused:
    services return them for positions outside their footprint."""
    if not data:
        return "the service answered with an empty file"
    try:
        pixels = _fits_pixels(data) if fmt == "fits" else _picture_pixels(data)
    except Exception as err:  # Pillow and astropy raise many types for a bad file
        said = _answer_text(data) if _looks_like_text(data) else f"{type(err).__name__}: {err}"
        return f"not a {FORMAT_NAMES.get(fmt, fmt)} image ({said})"
    if pixels is None:
        return "the FITS file holds no image"
    finite = pixels[np.isfinite(pixels)]
    if finite.size == 0 or finite.min() == finite.max():
        return ("blank image (one value everywhere): the position is probably outside the "
                "survey's footprint")
    return None


def _looks_like_text(data: bytes) -> bool:
    """Whether a service's answer is text (an error page), not a binary image."""
    return b"\x00" not in data[:512]


def _picture_pixels(data: bytes) -> np.ndarray:
    from PIL import Image

    with Image.open(io.BytesIO(data)) as image:
        image.load()
        return np.asarray(image, dtype=np.float32)


def _fits_pixels(data: bytes) -> np.ndarray | None:
    from astropy.io import fits

    with fits.open(io.BytesIO(data)) as hdus:
        for hdu in hdus:
            if hdu.is_image and hdu.data is not None and hdu.data.size:
                return np.asarray(hdu.data, dtype=np.float32)
    return None
