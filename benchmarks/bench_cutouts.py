"""How fast ``galmorph cutouts`` fetches images, against a local service of known latency.

A real survey's service cannot be reached from the test machines, and its speed varies
with its load; this measures galmorph's side: a local HTTP service answers every
request with a ``--size`` px JPEG after ``--latency`` seconds (the time a survey's
service takes to cut and compress an image), and the benchmark prints the images per
second :func:`galmorph.data.cutouts.download_cutouts` reaches with each number of
``--workers``, beside the ideal ``workers / latency``, then the time a second run takes
to find that every image is there already.

Usage::

    .venv/bin/python benchmarks/bench_cutouts.py --galaxies 400 --latency 0.1 --workers 1 4 8
"""

from __future__ import annotations

import argparse
import io
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from galmorph.data.cutout_services import custom_service
from galmorph.data.cutouts import download_cutouts


def _service(latency: float, size: int) -> ThreadingHTTPServer:
    """A local service answering each request with a JPEG after ``latency`` seconds."""
    pixels = np.random.default_rng(0).integers(0, 255, (size, size, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="JPEG")
    body = buffer.getvalue()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            time.sleep(latency)
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--galaxies", type=int, default=400)
    parser.add_argument("--latency", type=float, default=0.1, help="seconds per answer")
    parser.add_argument("--size", type=int, default=128, help="side of the images, px")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 4, 8])
    args = parser.parse_args(argv)
    server = _service(args.latency, args.size)
    host, port = server.server_address[:2]
    template = f"http://{host}:{port}/cut?ra={{ra}}&dec={{dec}}&size={{size}}"
    targets = pd.DataFrame({"id_str": [f"g{i}" for i in range(args.galaxies)],
                            "ra": np.linspace(0, 359, args.galaxies),
                            "dec": np.linspace(-60, 60, args.galaxies)})
    print(f"{args.galaxies} galaxies, {args.size} px JPEGs, service latency "
          f"{args.latency * 1000:.0f} ms")
    with tempfile.TemporaryDirectory() as scratch:
        for workers in args.workers:
            out = Path(scratch) / f"w{workers}"
            options = {"service": custom_service(template, "jpg"), "size": args.size,
                       "workers": workers, "retries": 0}
            start = time.perf_counter()
            summary = download_cutouts(targets, out, **options)
            seconds = time.perf_counter() - start
            assert summary.downloaded == args.galaxies, summary.failed.head()
            start = time.perf_counter()
            again = download_cutouts(targets, out, **options)
            check = time.perf_counter() - start
            assert again.kept == args.galaxies
            print(f"workers {workers:2d}: {args.galaxies / seconds:6.1f} images/s "
                  f"(ideal {workers / args.latency:6.1f}); second run, all there: "
                  f"{check:.2f} s")
    server.shutdown()


if __name__ == "__main__":
    from _cli import run_main

    run_main(main)
