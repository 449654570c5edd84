"""A local cutout service for tests: answers ``/cut/ID.jpg?ra=..&dec=..&size=..`` as a
survey's service would, with failures chosen by id (no network needed).

Ids starting with ``missing`` get HTTP 404, ``busy`` HTTP 503 for their first two
requests, ``down`` always HTTP 500, ``blank`` a black image, ``page`` an HTML page, and
``fits`` a FITS image; others a JPEG whose brightness follows ``ra``.
"""

from __future__ import annotations

import io
import threading
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

        def _send(self, status: int, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    return Handler


@contextmanager
def cutout_server() -> Iterator[CutoutServer]:
    """A local service on a free port, stopped on exit."""
    server = CutoutServer(template="")
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(server))
    host, port = httpd.server_address[:2]
    server.template = f"http://{host}:{port}/cut/{{id}}.jpg?ra={{ra}}&dec={{dec}}&size={{size}}"
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        httpd.shutdown()
        httpd.server_close()
