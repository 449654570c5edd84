"""How fast the Map tab of ``galmorph serve`` redraws a million galaxies in headless Chromium.

Writes ``--n`` synthetic galaxies (an embeddings file of 8 clustered features and a
predictions table of one question), serves them with a PCA map on a free local port,
opens the Map tab in headless Chromium (Playwright) coloured by a predicted answer,
then pans (mouse drags, one pointer move per step) and zooms (wheel steps, in and
out in turn), waiting for each redraw. Reports, in milliseconds (median and 95th
percentile):

* ``draw``: the redraw itself, ``performance.now()`` around the page's ``drawMap``
  (clear, every point written into the ImageData, ``putImageData``, the overlay);
* ``event → drawn``: from when the page's handler gets the input event to the end of
  the redraw it caused (includes waiting for the next animation frame);
* ``input → drawn``: the same from the event's ``timeStamp`` (when the browser
  received the input), which adds Chromium's own input delivery.

Run::

    .venv/bin/python benchmarks/bench_web_map.py            # 10^6 galaxies
    .venv/bin/python benchmarks/bench_web_map.py --n 100000 --steps 40
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from galmorph.web.background import BackgroundServer

#: Installed in the page: wraps drawMap to stamp each redraw's end, and records the
#: timeStamp of every pointer move and wheel event on the map, and when it is handled.
PROBE_JS = """() => {
  window.bench = { inputs: [], handled: [], ends: [] };
  const draw = drawMap;
  window.drawMap = function () { draw(); bench.ends.push(performance.now()); };
  const canvas = document.getElementById("map-canvas");
  for (const kind of ["pointermove", "wheel"]) {
    canvas.addEventListener(kind, (e) => {
      bench.inputs.push(e.timeStamp);
      bench.handled.push(performance.now());
    }, { capture: true });
  }
}"""


def write_galaxies(folder: Path, n: int, seed: int = 0) -> tuple[Path, Path]:
    """An embeddings file of ``n`` galaxies in 12 clusters and their predictions."""
    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq

    from galmorph.inference.embeddings import METADATA_KEY, EmbeddingInfo

    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 4, (12, 8))
    cluster = rng.integers(0, 12, n)
    features = (centres[cluster] + rng.normal(0, 1, (n, 8))).astype(np.float32)
    ids = np.char.add("G", np.arange(n).astype(str))
    info = EmbeddingInfo(model={"spec": "-", "path": "-", "name": "synthetic", "sha256": "-"},
                         encoder="-", feature_dim=8, image={}, n_features=8)
    columns = {"id_str": pa.array(ids),
               "ra": pa.array(rng.uniform(0, 360, n)), "dec": pa.array(rng.uniform(-30, 60, n))}
    columns.update({f"feat_{i}": pa.array(features[:, i]) for i in range(8)})
    table = pa.table(columns).replace_schema_metadata({METADATA_KEY: info.to_json()})
    pq.write_table(table, folder / "emb.parquet")
    smooth = (1 / (1 + np.exp(-features[:, 0] / 3))).astype(np.float32)
    pd.DataFrame({
        "id_str": ids, "t01_smooth_or_features_asked": np.ones(n, np.float32),
        "t01_smooth_or_features_a01_smooth_fraction": smooth,
        "t01_smooth_or_features_a02_features_or_disk_fraction": 1 - smooth,
    }).to_parquet(folder / "predictions.parquet")
    return folder / "emb.parquet", folder / "predictions.parquet"


def serve(embeddings: Path, predictions: Path) -> BackgroundServer:
    """A live ``galmorph serve`` app with a PCA map, on a free local port."""
    from galmorph.web.app import create_app
    from galmorph.web.gallery import Gallery
    from galmorph.web.map_view import MapView

    started = time.perf_counter()
    gallery = Gallery(embeddings, predictions=predictions)
    gallery.map_view = MapView.load(gallery, method="pca")
    print(f"loaded {len(gallery.ids):,} galaxies and their PCA map in "
          f"{time.perf_counter() - started:.1f} s")
    return BackgroundServer(create_app(gallery))


def measure(page: object, steps: int, act: object) -> dict[str, np.ndarray]:
    """Run ``act(i)`` ``steps`` times, each followed by its redraw: milliseconds of each
    ``draw``, ``event → drawn`` and ``input → drawn``."""
    page.evaluate("() => { for (const k in bench) bench[k].length = 0; "
                  "galmorphMap.timings.length = 0; }")
    for i in range(steps):
        act(i)
        page.wait_for_function(f"() => bench.ends.length > {i}")
    inputs, handled, ends, draws = page.evaluate(
        "() => [bench.inputs, bench.handled, bench.ends, galmorphMap.timings]")
    ends = np.array(ends)

    def until_drawn(times: list[float]) -> np.ndarray:
        return np.array([ends[np.searchsorted(ends, t)] - t for t in times if t <= ends[-1]])

    return {"draw": np.array(draws), "event → drawn": until_drawn(handled),
            "input → drawn": until_drawn(inputs)}


def report(name: str, values: np.ndarray) -> None:
    print(f"  {name:<22} median {np.median(values):6.2f} ms   95th percentile "
          f"{np.percentile(values, 95):6.2f} ms   (max {values.max():.2f}, {len(values)} redraws)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=1_000_000, help="galaxies (default 10^6)")
    parser.add_argument("--steps", type=int, default=100, help="pans and zooms each")
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory(prefix="galmorph-map-bench-") as folder:
        embeddings, predictions = write_galaxies(Path(folder), args.n)
        server = serve(embeddings, predictions)
        url = server.url
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=args.chromium, headless=True,
                                                 args=["--no-sandbox"])
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.set_default_timeout(120_000)
            started = time.perf_counter()
            page.goto(url + "/#map")
            page.wait_for_function("() => window.galmorphMap && galmorphMap.timings.length > 0")
            size = page.evaluate("() => [mapCanvas().width, mapCanvas().height]")
            print(f"Chromium {browser.version}: first map drawn {time.perf_counter() - started:.1f}"
                  f" s after opening the page; canvas {size[0]}x{size[1]} px, coloured by "
                  f"{page.locator('#map-colour').input_value()}")
            page.evaluate(PROBE_JS)
            box = page.locator("#map-canvas").bounding_box()
            x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
            page.mouse.move(x, y)
            page.mouse.down()
            pans = measure(page, args.steps,  # every step moves the pointer
                           lambda i: page.mouse.move(x + 20 * (i % 20 - 10), y + 5 * (i % 7)))
            page.mouse.up()
            zooms = measure(page, args.steps,
                            lambda i: page.mouse.wheel(0, -120 if i % 2 == 0 else 120))
            print(f"{args.n:,} galaxies, {args.steps} pans and {args.steps} zooms:")
            for kind, times in (("pan", pans), ("zoom", zooms)):
                for name, values in times.items():
                    report(f"{kind}: {name}", values)
            browser.close()
        server.stop()


if __name__ == "__main__":
    from _cli import run_main

    run_main(main)
