"""``galmorph similar``: the galaxies most like a query galaxy, from an embeddings file.

The query is a galaxy of the file (``--id``, or ``--ra``/``--dec`` of the nearest
one within a few arcsec) or a new image (``--image``, embedded with the model the
file records). Results leave out the query itself and other entries of the same
object on the sky. ``--grid`` draws the query and its neighbours.

The embeddings may also be the folder ``galmorph embed`` writes for a partitioned
catalog: it is searched exactly up to the exact limit, else with an IVF index built a
partition at a time and saved in the folder (see :mod:`galmorph.search.partitioned`).

Example::

    galmorph similar embeddings.parquet --id J090203.35+590529.9 -k 10 --grid g.png
    galmorph similar emb/ --ra 135.514 --dec 59.092
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.table import Table

from galmorph.cli._common import make_console, positive_int

if TYPE_CHECKING:
    from galmorph.search.search import SimilarityResult


def right_ascension(text: str) -> float:
    """An argparse type: a right ascension in degrees, in [0, 360)."""
    value = _degrees(text)
    if not 0 <= value < 360:
        raise argparse.ArgumentTypeError(f"expected degrees from 0 up to (not including) 360, "
                                         f"got {text}")
    return value


def declination(text: str) -> float:
    """An argparse type: a declination in degrees, in [-90, 90]."""
    value = _degrees(text)
    if not -90 <= value <= 90:
        raise argparse.ArgumentTypeError(f"expected degrees from -90 to 90, got {text}")
    return value


def _degrees(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of degrees, got {text!r}") from None


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``similar`` sub-command."""
    from galmorph.search.defaults import (
        DUPLICATE_RADIUS_ARCSEC,
        EXACT_MAX_ROWS,
        INDEX_KINDS,
        MATCH_RADIUS_ARCSEC,
        METRICS,
    )

    parser = subparsers.add_parser(
        "similar",
        help="find the galaxies most similar to one galaxy or image",
        description=(
            "Find the k nearest galaxies to a query in an embeddings file made by "
            "`galmorph embed`, leaving out the query and other entries of the same object."
        ),
    )
    parser.add_argument("embeddings", metavar="EMBEDDINGS",
                        help="parquet file from galmorph embed, or the folder it writes for a "
                             "partitioned catalog")
    query = parser.add_mutually_exclusive_group(required=True)
    query.add_argument("--id", dest="galaxy_id", metavar="ID",
                       help="id_str of a galaxy in the file")
    query.add_argument("--image", metavar="FILE",
                       help="a new image, embedded with the model the file records")
    query.add_argument("--ra", type=right_ascension, metavar="DEG",
                       help="right ascension (with --dec) of a galaxy in the file")
    parser.add_argument("--dec", type=declination, metavar="DEG",
                        help="declination, with --ra")
    parser.add_argument("-k", type=positive_int, default=10, help="neighbours (default: 10)")
    parser.add_argument("--metric", choices=METRICS, default="cosine",
                        help="distance (default: cosine); manhattan is searched exactly only")
    parser.add_argument(
        "--index", choices=INDEX_KINDS, default="auto",
        help=(f"auto (default): exact up to {EXACT_MAX_ROWS:,} galaxies, else an IVF index; "
              "ivf/hnsw: a faiss approximate index, saved next to the embeddings and reused "
              "(a folder: exact or ivf, built a partition at a time)"),
    )
    parser.add_argument("--rebuild-index", action="store_true",
                        help="build the approximate index again even if a saved one matches")
    parser.add_argument("--grid", metavar="OUT.png",
                        help="draw the query and its neighbours with ids and distances")
    parser.add_argument("--json", action="store_true",
                        help="print the query and neighbours as JSON instead of a table")
    parser.add_argument("--match-radius", type=float, default=MATCH_RADIUS_ARCSEC,
                        metavar="ARCSEC", help="--ra/--dec: largest distance to the galaxy "
                        f"taken as the query (default: {MATCH_RADIUS_ARCSEC:g})")
    parser.add_argument("--duplicate-radius", type=float, default=DUPLICATE_RADIUS_ARCSEC,
                        metavar="ARCSEC", help="entries this close on the sky are one object "
                        f"(default: {DUPLICATE_RADIUS_ARCSEC:g})")
    parser.add_argument("-m", "--model", default=None,
                        help="--image: the embeddings' model, if it is not where the file "
                             "records it (it must have the recorded checksum)")
    parser.add_argument("--device", default="auto",
                        help="--image: auto, cpu, cuda, cuda:N or mps (default: auto)")
    parser.set_defaults(func=run, parser=parser)


def run(args: argparse.Namespace) -> int:
    """Search, print and draw; 0 on success."""
    from galmorph.inference.embedding_folder import open_embeddings
    from galmorph.report.plots import check_figure_path
    from galmorph.search.search import SimilaritySearch

    if (args.ra is None) != (args.dec is None):
        args.parser.error("--ra and --dec go together")
    if args.grid:
        check_figure_path(args.grid)
    search = SimilaritySearch(
        open_embeddings(args.embeddings), args.metric, args.index,
        duplicate_radius=args.duplicate_radius, rebuild=args.rebuild_index,
        notify=lambda message: make_console(stderr=True).print(message),
    )
    if args.galaxy_id is not None:
        result = search.by_id(args.galaxy_id, args.k)
    elif args.image is not None:
        result = search.by_image(args.image, args.k, model=args.model, device=args.device)
    else:
        result = search.by_position(args.ra, args.dec, args.k, radius=args.match_radius)
    if args.grid:
        _draw(result, args.grid)
    if args.json:
        json.dump(result.to_dict(), sys.stdout, indent=2)
        sys.stdout.write("\n")
        return 0
    _print(result, make_console(), args.grid)
    return 0


def _query_text(query: dict[str, Any]) -> str:
    if query["kind"] == "image":
        return f"image {query['image']}"
    text = str(query["id_str"])
    if "ra" in query:
        text += f" (RA {query['ra']:.5f}, Dec {query['dec']:.5f})"
    if "separation_arcsec" in query:
        text += f", {query['separation_arcsec']:.1f} arcsec from the position given"
    return text


def _print(result: SimilarityResult, console: Console, grid: str | None) -> None:
    console.print(f"Query: {_query_text(result.query)}")
    table = Table(
        caption=(f"{result.metric} distance; {result.index} search"
                 + (f" ({', '.join(f'{k} {v}' for k, v in result.index_params.items())})"
                    if result.index_params else "")),
        show_edge=False,
    )
    table.add_column("rank", justify="right")
    table.add_column("id_str")
    table.add_column("distance", justify="right")
    has_sky = "ra" in result.neighbours
    if has_sky:
        table.add_column("ra", justify="right")
        table.add_column("dec", justify="right")
    for row in result.neighbours.itertuples():
        cells = [str(row.rank), str(row.id_str), f"{row.distance:.4g}"]
        if has_sky:
            cells += [f"{row.ra:.5f}", f"{row.dec:.5f}"]
        table.add_row(*cells)
    console.print(table)
    if grid:
        console.print(f"Wrote {grid}")


def _draw(result: SimilarityResult, path: str) -> None:
    from galmorph.report.plots import galaxy_grid

    query = result.query
    neighbours = result.neighbours
    if query["kind"] == "image":
        first, caption = query["image"], "query image"
    else:
        first, caption = query.get("file_loc", ""), f"query\n{query['id_str']}"
    files = neighbours["file_loc"].tolist() if "file_loc" in neighbours else [""] * len(neighbours)
    captions = [caption] + [
        f"{r.rank}. {r.id_str}\n{result.metric} {r.distance:.3g}" for r in neighbours.itertuples()
    ]
    galaxy_grid([first, *files], captions, highlight=[0], path=path,
                title=f"{len(neighbours)} nearest ({result.metric})")
