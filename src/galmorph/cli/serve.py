"""``galmorph serve``: browse, search and label galaxies in the browser.

Pages: a paged grid of the galaxies (with their predicted morphology when
``--predictions`` is given); a galaxy's nearest neighbours, or an uploaded
image's; anomaly labelling (score the active learner's batch 0–5 by click or
keyboard, retrain, see the ranking, export CSV) on the same session file as
``galmorph anomaly``; a 2-D map of the representation (coloured by a predicted
answer, label score or interest; hover, click, box and lasso selection to CSV),
computed before the server listens when it is not cached beside the embeddings; a
page per galaxy (``/galaxy/ID``: answers with 90% intervals, neighbours, labels).
Only this computer can connect unless ``--host`` says otherwise. The embeddings
may be the folder ``galmorph embed`` writes for a partitioned catalog (browse and
search; labelling needs a single file).

Example::

    galmorph serve embeddings.parquet --predictions predictions.parquet --session hunt.db
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console

from galmorph.cli._common import make_console, port_number, positive_int, styled
from galmorph.inference.defaults import DEFAULT_UMAP_MAX, MAP_METHODS
from galmorph.web.background import check_can_listen

if TYPE_CHECKING:
    from galmorph.web.gallery import Gallery
    from galmorph.web.map_view import MapView

LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")
#: Hosts that mean every address of this computer.
WILDCARD_HOSTS = ("0.0.0.0", "::", "")


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``serve`` sub-command."""
    from galmorph.web import DEFAULT_MAX_UPLOAD

    parser = subparsers.add_parser(
        "serve",
        help="explore, search and label galaxies in the web browser",
        description=(
            "Serve a web page to browse the galaxies of an embeddings file, see them on a "
            "2-D map of the representation (computed before the server starts when it is "
            "not cached beside the embeddings), find the galaxies most like one (or like "
            "several, their ids separated by commas, or like an uploaded image), open a page "
            "per galaxy and label galaxies for anomaly "
            "detection."
        ),
    )
    parser.add_argument("embeddings", metavar="EMBEDDINGS",
                        help="parquet file from galmorph embed, or the folder it writes for a "
                             "partitioned catalog")
    parser.add_argument("--catalog", metavar="C",
                        help="catalog whose file_loc gives the images (default: the "
                             "embeddings' file_loc)")
    parser.add_argument("--predictions", metavar="P",
                        help="output of galmorph predict (a table file, or the folder of a "
                             "partitioned run): morphology summaries, and artefact flags for a "
                             "new session")
    parser.add_argument("--session", metavar="S.db",
                        help="anomaly session file to label into (started if it does not "
                             "exist; the same file galmorph anomaly uses)")
    parser.add_argument("--batch-size", type=positive_int, default=None,
                        help="galaxies per labelling batch of a new session (default: 10)")
    parser.add_argument("-m", "--model", default=None,
                        help="the embeddings' model, if it is not where the file records it "
                             "(for searches by uploaded image; it must be the model the "
                             "embeddings were made with: for a fine-tuned model's answers give "
                             "its predictions with --predictions)")
    parser.add_argument("--map-method", choices=MAP_METHODS, default="auto",
                        help="how the Map tab's 2-D map is made when none is cached beside the "
                             f"embeddings: UMAP up to {DEFAULT_UMAP_MAX:,} galaxies and PCA "
                             "above (auto, the default), or always umap or pca")
    parser.add_argument("--no-map", action="store_true",
                        help="serve without the Map tab (no map is computed)")
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to listen on (default: 127.0.0.1, this computer only)")
    parser.add_argument("--port", type=port_number, default=8000,
                        help="port, 1 to 65535, or 0 for any free one (default: 8000)")
    parser.add_argument("--max-upload-mb", type=positive_int,
                        default=DEFAULT_MAX_UPLOAD // 1024**2,
                        help="largest image upload in MB (default: %(default)s)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Load everything, then serve until interrupted; 0 on a clean stop."""
    import uvicorn

    from galmorph.web.app import create_app
    from galmorph.web.gallery import Gallery

    console = make_console()
    port = check_can_listen(args.host, args.port)  # before the (maybe slow) loading
    gallery = Gallery(args.embeddings, catalog=args.catalog, predictions=args.predictions,
                      session=args.session, model=args.model, batch_size=args.batch_size)
    try:
        if args.model is not None:
            _check_model(gallery, args.model)
        else:
            _check_recorded_model(gallery)
        if not args.no_map:
            gallery.map_view = _load_map(gallery, args.map_method, console)
        app = create_app(gallery, max_upload=args.max_upload_mb * 1024**2,
                         allowed_hosts=LOCAL_HOSTS if args.host in LOCAL_HOSTS else None)
        port = check_can_listen(args.host, port)  # still free after the loading
        if args.host not in LOCAL_HOSTS:
            console.print(styled("warning:", "yellow", f" listening on {args.host}: other "
                                 "computers on the network can open these pages"
                                 + _elsewhere(args.host, port)))
        console.print(f"galmorph: {len(gallery.ids):,} galaxies at {browser_url(args.host, port)} "
                      "(Ctrl+C stops)")
        uvicorn.run(app, host=args.host, port=port, log_level="warning")
    finally:
        gallery.close()
    return 0


def browser_url(host: str, port: int) -> str:
    """The address to open on this computer: a wildcard host (``0.0.0.0``, ``::``), which
    some browsers refuse to open, as the loopback address.

    Example:
        >>> browser_url("0.0.0.0", 8000), browser_url("::", 80), browser_url("10.0.0.2", 1)
        ('http://127.0.0.1:8000/', 'http://[::1]:80/', 'http://10.0.0.2:1/')
    """
    host = {"0.0.0.0": "127.0.0.1", "": "127.0.0.1", "::": "::1"}.get(host, host)
    return f"http://[{host}]:{port}/" if ":" in host else f"http://{host}:{port}/"


def _elsewhere(host: str, port: int) -> str:
    """For a wildcard host, where other computers find the pages (this computer's name)."""
    import socket

    if host not in WILDCARD_HOSTS:
        return ""
    return f", at http://{socket.gethostname()}:{port}/"


def _check_model(gallery: Gallery, model: str) -> None:
    """Refuse a ``--model`` that is not the embeddings' model before listening, rather than
    failing every search by uploaded image."""
    from galmorph.exceptions import ModelError
    from galmorph.models.checkpoint import load_model

    info = gallery.embeddings.info
    loaded = load_model(model, "cpu", image=info.image)
    if loaded.checksum != info.model.get("sha256"):
        raise ModelError(
            f"--model {model} (sha256 {loaded.checksum[:12]}) is not the model "
            f"{gallery.embeddings.path} was made with ({info.model.get('name', '?')}, sha256 "
            f"{str(info.model.get('sha256', ''))[:12]}): serve's --model only says where that "
            "model is, for searches by uploaded image. To show a fine-tuned model's answers, "
            "give its predictions (galmorph predict CATALOG --model MODEL -o P.parquet, then "
            "--predictions P.parquet); to search with it, embed with it (galmorph embed "
            "CATALOG --model MODEL -o EMB.parquet) and serve those embeddings")


def _check_recorded_model(gallery: Gallery) -> None:
    """Warn when the model the embeddings record is not there: searches by uploaded image
    would all fail (a model on the Hugging Face Hub is not checked: that needs the network)."""
    import warnings

    from galmorph.exceptions import GalmorphWarning, ModelError
    from galmorph.models.checkpoint import HUB_PREFIX, resolve_model_path

    model = gallery.embeddings.info.model
    spec = str(model.get("spec", ""))
    if Path(model.get("path", "")).is_file() or spec.startswith(HUB_PREFIX):
        return
    try:
        resolve_model_path(spec)
    except ModelError:
        warnings.warn(f"the model {gallery.embeddings.path} was made with ({spec or '?'}, last "
                      f"at {model.get('path') or '?'}) is not there: searches by uploaded image "
                      "will fail until galmorph serve is given it with --model MODEL (browsing "
                      "and searches by id work)", GalmorphWarning, stacklevel=2)


def _load_map(gallery: Gallery, method: str, console: Console) -> MapView:
    """The gallery's map, computed (and cached) when missing, saying so."""
    import time

    from galmorph.inference.maps import map_path
    from galmorph.web.map_view import MapView

    started = []

    def computing(used: str, n: int) -> None:
        started.append(time.perf_counter())
        console.print(f"galmorph: computing the {used.upper()} map of {n:,} galaxies for the Map "
                      f"tab (once: it is cached in {map_path(gallery.embeddings.path)})…")

    view = MapView.load(gallery, method=method, on_compute=computing)
    if started:
        console.print(f"galmorph: map computed in {time.perf_counter() - started[0]:.1f} s")
    return view
