"""A local cutout service for tests: answers ``/cut/ID.jpg?ra=..&dec=..&size=..`` as a
survey's service would, with failures chosen by id (no network needed).

Ids starting with ``missing`` get HTTP 404; ``busy`` HTTP 503 for their first two
requests (``nanwait``: once, asking to wait NaN seconds; ``after``: once, asking to wait
0.25 s); ``down`` always HTTP 500 (``cut``: its page cut short); ``blank`` a black image;
``page`` an HTML page; ``fits`` a FITS image; ``png`` a PNG image; ``slow`` a JPEG a few
bytes at a time; ``trunc`` half a JPEG (the connection closed); ``half`` half a FITS file
(its whole length said); ``stall`` nothing for 5 s; others a JPEG whose pixels follow
``ra``.
"""

from __future__ import annotations

import io
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

import numpy as np
from PIL import Image


@dataclass
class CutoutServer:
    """The running service: its URL template and the requests it had, by id."""

    template: str
    requests: Counter = field(default_factory=Counter)
    queries: dict[str, dict[str, str]] = field(default_factory=dict)


def _jpeg(size: int, ra: float) -> bytes:
    rng = np.random.default_rng(int(ra * 1000))
    pixels = rng.integers(0, 255, (size, size, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="JPEG")
    return buffer.getvalue()


def _fits(size: int) -> bytes:
    from astropy.io import fits

    buffer = io.BytesIO()
    data = np.random.default_rng(0).normal(size=(3, size, size)).astype(np.float32)
    fits.PrimaryHDU(data).writeto(buffer)
    return buffer.getvalue()


def _handler(server: CutoutServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:  # quiet
            pass

        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            parts = urlsplit(self.path)
            galaxy = unquote(parts.path.rsplit("/", 1)[-1].rsplit(".", 1)[0])
            query = {k: v[0] for k, v in parse_qs(parts.query).items()}
            server.requests[galaxy] += 1
            server.queries[galaxy] = query
            size = int(query.get("size", 16))
            if galaxy.startswith("stall"):
                time.sleep(5)  # no status line, no headers
            if galaxy.startswith("cut"):
                return self._send(503, b"try later", length=1000)
            if galaxy.startswith("nanwait") and server.requests[galaxy] == 1:
                return self._send(503, b"busy", headers={"Retry-After": "nan"})
            if galaxy.startswith("slow"):
                return self._send(200, _jpeg(size, 1.0), pace=0.05)
            if galaxy.startswith("half"):  # says its whole length, sends half
                body = _fits(size)
                return self._send(200, body[:len(body) // 2], length=len(body))
            if galaxy.startswith("after") and server.requests[galaxy] == 1:
                return self._send(503, b"busy", headers={"Retry-After": "0.25"})
            if galaxy.startswith("trunc"):
                body = _jpeg(size, 1.0)
                return self._send(200, body[:len(body) // 2], length=None)
            if galaxy.startswith("png"):
                buffer = io.BytesIO()
                Image.fromarray(np.full((size, size, 3), 7, np.uint8)).save(buffer, "PNG")
                return self._send(200, buffer.getvalue())
            if galaxy.startswith("missing"):
                return self._send(404, b"<html><body><h1>No image here</h1></body></html>")
            if galaxy.startswith("down") or (galaxy.startswith("busy")
                                             and server.requests[galaxy] <= 2):
                return self._send(503 if galaxy.startswith("busy") else 500, b"try later")
            if galaxy.startswith("blank"):
                buffer = io.BytesIO()
                Image.new("RGB", (size, size)).save(buffer, format="JPEG")
                return self._send(200, buffer.getvalue())
            if galaxy.startswith("page"):
                return self._send(200, b"<html><body>Service under maintenance</body></html>")
            if galaxy.startswith("fits"):
                return self._send(200, _fits(size))
            return self._send(200, _jpeg(size, float(query["ra"])))

        def _send(self, status: int, body: bytes, *, length: int | None = -1,
                  headers: dict[str, str] | None = None, pace: float = 0.0) -> None:
            """Answer ``body``; ``length``: the Content-Length said (-1: the body's, None:
            none, the connection closed after it); ``pace``: seconds between 16 bytes."""
            self.send_response(status)
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            if length is not None:
                self.send_header("Content-Length", str(len(body) if length < 0 else length))
            self.close_connection = length is None or length > len(body)
            self.end_headers()
            if not pace:
                self.wfile.write(body)
                return
            for start in range(0, len(body), 16):
                self.wfile.write(body[start:start + 16])
                self.wfile.flush()
                time.sleep(pace)

    return Handler


@contextmanager
def cutout_server() -> Iterator[CutoutServer]:
    """A local service on a free port, stopped on exit."""
    server = CutoutServer(template="")
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(server))
    httpd.handle_error = lambda request, address: None  # a client that left: no traceback
    host, port = httpd.server_address[:2]
    server.template = f"http://{host}:{port}/cut/{{id}}.jpg?ra={{ra}}&dec={{dec}}&size={{size}}"
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        httpd.shutdown()
        httpd.server_close()
