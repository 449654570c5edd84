"""Fetching one cutout over HTTP and checking that it is an image of the sky.

:func:`fetch_cutout` tries a URL again after answers that may succeed later (timeouts,
lost connections, HTTP 408, 429 and 5xx), waiting longer each time, and raises
:class:`CutoutFailure` with a reason a person can act on; :func:`image_problem` says
why the bytes a service returned are not a usable image (not the format asked for,
cut short, or blank: a position outside the survey's footprint).

Example:
    >>> data = fetch_cutout("https://example.org/cut?ra=1&dec=2", timeout=60,
    ...                     retries=3, retry_wait=2.0)  # doctest: +SKIP
"""

from __future__ import annotations

import http.client
import io
import math
import os
import re
import socket
import threading
import time
import urllib.error
import urllib.request
from typing import Any

import numpy as np

from galmorph import __version__

#: HTTP statuses worth trying again: too many requests, and the server's own errors.
RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
#: How messages name each image format, and the name Pillow gives it.
FORMAT_NAMES = {"jpg": "JPEG", "png": "PNG", "fits": "FITS"}
#: Longest wait before a retry that a service may ask for (``Retry-After``), seconds.
MAX_RETRY_AFTER = 120.0
#: Largest answer read, bytes: a 4-band 3000 x 3000 float32 FITS cutout is 144 MB.
MAX_BYTES = 256 * 2**20
#: Bytes read at a time, between checks of whether the answer is still awaited.
BLOCK = 2**16
#: The start of the reason when the service's name cannot be looked up: no network, or
#: no DNS, as on many clusters' compute nodes.
NO_ADDRESS = "cannot look up the service's address"
#: Seconds between checks of the time left and of a stop, while an answer is awaited.
WATCH = 0.1


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
    :data:`MAX_RETRY_AFTER`; None without a usable one."""
    try:
        seconds = float((err.headers or {}).get("Retry-After", ""))
    except ValueError:
        return None
    return min(max(seconds, 0.0), MAX_RETRY_AFTER) if math.isfinite(seconds) else None


class _Status(Exception):
    """An HTTP error status, its page read (within the try's time) and closed.

    Attributes:
        code: the status; problem: ``HTTP 404 Not Found: what the page said``;
        wait: the seconds ``Retry-After`` asks for (None: none usable).
    """

    def __init__(self, err: urllib.error.HTTPError) -> None:
        try:
            said = _answer_text(err.read(4000)) if err.fp is not None else ""
        except (OSError, http.client.HTTPException):
            said = ""
        finally:
            err.close()
        self.code = err.code
        self.problem = f"HTTP {err.code} {err.reason}" + (f": {said}" if said else "")
        self.wait = _retry_after(err)
        super().__init__(self.problem)


def _read_body(url: str, timeout: float, stop: threading.Event | None) -> bytes:
    """The whole answer to ``url`` within ``timeout`` seconds in all, connecting,
    headers and error pages included.

    The request runs in a thread of its own, left behind once the time is up or
    ``stop`` is set (its connection shut, once it has one), so that neither a service
    that trickles its answer nor one that never answers holds up the run or Ctrl-C.

    Raises:
        CutoutFailure: (temporary) when the answer takes longer or the run is stopped;
            (not temporary) when it is too large. ``_Status`` for an HTTP error;
            urllib's and http.client's errors (an answer shorter than it said) for
            the rest.
    """
    outcome: dict[str, Any] = {}
    left = threading.Event()
    worker = threading.Thread(target=_download, args=(url, timeout, left, outcome),
                              daemon=True)
    worker.start()
    deadline = time.monotonic() + timeout
    while worker.is_alive():
        remaining = deadline - time.monotonic()
        if remaining <= 0 or (stop is not None and stop.is_set()):
            left.set()
            _shut(outcome.get("response"))
            why = "stopped" if remaining > 0 else f"no complete answer within {timeout:g} s"
            raise CutoutFailure(why, temporary=True)
        worker.join(min(remaining, WATCH))
    if "error" in outcome:
        raise outcome["error"]
    return outcome["data"]


def _shut(response: http.client.HTTPResponse | None) -> None:
    """Shut the connection of an answer left behind, so that its thread's read ends and
    the service is not kept waiting on it."""
    if response is None:
        return
    try:
        with socket.socket(fileno=os.dup(response.fileno())) as connection:
            connection.shutdown(socket.SHUT_RDWR)
    except (OSError, ValueError):  # already closed
        pass


def _download(url: str, timeout: float, left: threading.Event,
              outcome: dict[str, Any]) -> None:
    """Read the answer to ``url`` into ``outcome["data"]`` (or its error into
    ``outcome["error"]``), stopping once ``left`` is set; ``outcome["response"]`` is the
    answer while it is read."""
    request = urllib.request.Request(url, headers={"User-Agent": f"galmorph/{__version__}"})
    try:
        blocks = []
        size = 0
        with urllib.request.urlopen(request, timeout=timeout) as response:
            outcome["response"] = response
            said = response.headers.get("Content-Length", "")
            read = getattr(response, "read1", response.read)  # what has come, not a block
            while not left.is_set() and (block := read(BLOCK)):
                blocks.append(block)
                size += len(block)
                if size > MAX_BYTES:
                    raise CutoutFailure(f"the answer is over {MAX_BYTES // 2**20} MB: not "
                                        "a cutout", temporary=False)
        if said.isdigit() and size < int(said):  # read1 does not check the length
            raise http.client.IncompleteRead(b"", int(said) - size)
        outcome["data"] = b"".join(blocks)
    except urllib.error.HTTPError as err:
        outcome["error"] = _Status(err)
    except (TimeoutError, urllib.error.URLError) as err:
        # a socket wait of the whole timeout: the try's time is up, whichever thread
        # notices first (a busy machine may let this one notice before the watcher)
        timed_out = isinstance(getattr(err, "reason", err), TimeoutError)
        outcome["error"] = (CutoutFailure(f"no complete answer within {timeout:g} s",
                                          temporary=True) if timed_out else err)
    except BaseException as err:  # handed to the waiting thread, which raises it
        outcome["error"] = err


def pause(seconds: float, stop: threading.Event | None) -> None:
    """Wait ``seconds`` before a retry, less when ``stop`` is set."""
    if stop is None:
        time.sleep(seconds)
    else:
        stop.wait(seconds)


def fetch_cutout(url: str, *, timeout: float, retries: int, retry_wait: float,
                 stop: threading.Event | None = None) -> bytes:
    """The body of a successful answer to ``url``.

    Tries up to ``retries`` more times after a timeout, a lost connection or HTTP 408,
    429 and 5xx, waiting ``retry_wait`` seconds, then twice as long each time (or as
    long as the service's ``Retry-After`` asks); not when the service's address cannot
    be looked up (no network: waiting will not help). Each try has ``timeout`` seconds
    in all. Once ``stop`` is set, no new try begins.

    Raises:
        CutoutFailure: for other HTTP errors (404: the service has no such image) and
            URLs that are not valid at once, or when the tries are used up (or stopped);
            its message names the last problem.
    """
    wait = retry_wait
    for attempt in range(retries + 1):
        asked = None
        try:
            return _read_body(url, timeout, stop)
        except _Status as err:
            problem = err.problem
            if err.code not in RETRY_STATUSES:
                raise CutoutFailure(problem, temporary=False) from None
            asked = err.wait
        except (http.client.InvalidURL, ValueError) as err:  # a template that makes bad URLs
            raise CutoutFailure(f"not a valid URL ({err})", temporary=False) from None
        except CutoutFailure as err:
            if not err.temporary:
                raise
            problem = str(err)
        except http.client.IncompleteRead as err:
            problem = f"the answer ended {err.expected} bytes short of its length"
        except (urllib.error.URLError, OSError, http.client.HTTPException) as err:
            reason = getattr(err, "reason", None) or err
            if isinstance(reason, socket.gaierror):  # no network: waiting will not help
                problem = f"{NO_ADDRESS} ({reason.strerror or reason})"
                break
            problem = f"no answer ({type(reason).__name__}: {reason})".replace(": )", ")")
        if attempt < retries and not (stop is not None and stop.is_set()):
            pause(asked if asked is not None else wait, stop)
            wait *= 2
        else:
            break
    tries = "1 try" if attempt == 0 else f"{attempt + 1} tries"
    raise CutoutFailure(f"{problem} (after {tries})", temporary=True)


def image_problem(data: bytes, fmt: str) -> CutoutFailure | None:
    """Why ``data`` is not a usable ``fmt`` image (``jpg``, ``png`` or ``fits``); None
    when it is one. Blank images (one value everywhere, or none finite) are refused:
    services return them for positions outside their footprint. An image cut short
    is a temporary failure (the connection was lost); the others are not."""
    name = FORMAT_NAMES.get(fmt, fmt)
    if not data:
        return CutoutFailure("the service answered with an empty file", temporary=False)
    try:
        pixels = _fits_pixels(data) if fmt == "fits" else _picture_pixels(data, name)
    except Exception as err:  # Pillow and astropy raise many types for a bad file
        if "truncated" in str(err).lower() or (fmt == "fits" and data.startswith(b"SIMPLE")):
            return CutoutFailure(f"the {name} image ends early (the connection was probably "
                                 "cut)", temporary=True)
        if isinstance(err, _OtherFormat):
            said = str(err)
        elif _looks_like_text(data):
            said = _answer_text(data)
        else:
            said = _BYTES_IO.sub("", f"{type(err).__name__}: {err}").strip()
        return CutoutFailure(f"not a {name} image ({said})", temporary=False)
    if pixels is None:
        return CutoutFailure("the FITS file holds no image", temporary=False)
    finite = pixels[np.isfinite(pixels)]
    if finite.size == 0 or finite.min() == finite.max():
        return CutoutFailure("blank image (one value everywhere): the position is probably "
                             "outside the survey's footprint", temporary=False)
    return None


#: How Pillow names the file it could not read, left out of messages.
_BYTES_IO = re.compile(r"<_io\.BytesIO object at 0x[0-9a-f]+>")


class _OtherFormat(ValueError):
    """An image, but not in the format asked for."""


def _looks_like_text(data: bytes) -> bool:
    """Whether a service's answer is text (an error page), not a binary image."""
    return b"\x00" not in data[:512]


def _picture_pixels(data: bytes, name: str) -> np.ndarray:
    """The pixels of a JPEG or PNG file (``name``); ValueError for another format."""
    from PIL import Image

    with Image.open(io.BytesIO(data)) as image:
        if image.format != name:
            raise _OtherFormat(f"the service sent {image.format or 'another format'}")
        image.load()
        return np.asarray(image, dtype=np.float32)


def _fits_pixels(data: bytes) -> np.ndarray | None:
    from astropy.io import fits

    with fits.open(io.BytesIO(data)) as hdus:
        for hdu in hdus:
            if hdu.is_image and hdu.data is not None and hdu.data.size:
                return np.asarray(hdu.data, dtype=np.float32)
    return None
