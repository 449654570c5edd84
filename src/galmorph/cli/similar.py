"""``galmorph similar``: the galaxies most like a query galaxy, from an embeddings file.

The query is a galaxy of the file (``--id``, or ``--ra``/``--dec`` of the nearest
one within a few arcsec, in degrees or sexagesimal), a new image (``--image``,
embedded with the model the file records), or a file of example galaxies
(``--examples``: one ranking of the galaxies like their mean, by default, or like any
one of them with ``--combine nearest``; see :mod:`galmorph.search.examples`). Results leave out the
query itself (for an image, the entries that are that image) and other entries of the
same object on the sky. ``--grid`` draws the query and its neighbours and ``-o`` writes
their table (both atomically). A repeated ``--id`` is a usage error, not a second
query: several galaxies are ``--examples``.

The embeddings may also be the folder ``galmorph embed`` writes for a partitioned
catalog: it is searched exactly up to the exact limit, else with an IVF index built a
partition at a time and saved in the folder (see :mod:`galmorph.search.partitioned`).

Example::

    galmorph similar embeddings.parquet --id J090203.35+590529.9 -k 10 --grid g.png
    galmorph similar emb/ --ra 135.514 --dec 59.092
    galmorph similar embeddings.parquet --ra 09:02:03.35 --dec +59:05:29.9
    galmorph similar embeddings.parquet --examples my_rings.txt -k 100 -o like_rings.csv
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.table import Table

from galmorph.cli._common import (
    check_not_input,
    make_console,
    positive_int,
    refuse_replacing_an_image,
    writable_file,
)
from galmorph.cli._sky import arcsec, declination, right_ascension

if TYPE_CHECKING:
    import pandas as pd

    from galmorph.search.search import SimilarityResult


class _Once(argparse.Action):
    """Stores an option's value; a second one is a usage error (one query per run)."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: Any, option_string: str | None = None) -> None:
        if getattr(namespace, self.dest) is not None:
            parser.error(f"{option_string} given twice: galmorph similar takes one query per "
                         "run; for the galaxies like several, list them in a file for "
                         "--examples")
        setattr(namespace, self.dest, values)


#: How ``--examples`` were combined, in words.
COMBINED = {"nearest": "ranked by distance to the nearest", "rank": "each example in turn",
            "centroid": "ranked by distance to their mean"}

#: ``--grid`` with ``--examples`` draws at most this many examples before the neighbours.
MAX_EXAMPLES_DRAWN = 4


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``similar`` sub-command."""
    from galmorph.search.defaults import (
        COMBINES,
        DUPLICATE_RADIUS_ARCSEC,
        EXACT_MAX_ROWS,
        INDEX_KINDS,
        MATCH_RADIUS_ARCSEC,
        METRICS,
    )

    parser = subparsers.add_parser(
        "similar",
        help="find the galaxies most similar to one galaxy or image, or to examples",
        description=(
            "Find the k nearest galaxies to a query in an embeddings file made by "
            "`galmorph embed`, leaving out the query and other entries of the same object. "
            "With --examples, one ranking of the galaxies most like a few you know."
        ),
    )
    parser.add_argument("embeddings", metavar="EMBEDDINGS",
                        help="parquet file from galmorph embed, or the folder it writes for a "
                             "partitioned catalog")
    query = parser.add_mutually_exclusive_group(required=True)
    query.add_argument("--id", dest="galaxy_id", metavar="ID", action=_Once,
                       help="id_str of a galaxy in the file")
    query.add_argument("--image", metavar="FILE", action=_Once,
                       help="a new image (jpg, png or FITS), embedded with the model the "
                            "file records")
    query.add_argument("--ra", type=right_ascension, metavar="RA", action=_Once,
                       help="right ascension (with --dec) of a galaxy in the file: degrees, "
                            "or hours as 09:02:03.35 or 9h02m03.35s")
    query.add_argument("--examples", metavar="FILE", action=_Once,
                       help="galaxies of the file you know (e.g. rings you found): a text "
                            "file of one id per line, or a table (.csv, .fits, .parquet...) "
                            "with an id_str column or one column; ranks the others by how "
                            "like them they are (--combine)")
    parser.add_argument("--dec", type=declination, metavar="DEC", action=_Once,
                        help="declination, with --ra: degrees, as 59.0916 or +59:05:29.9")
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
    parser.add_argument("--combine", choices=COMBINES, default=None,
                        help="--examples: centroid (default): like their mean, the "
                             "best on Galaxy Zoo tags; nearest: like any one of them; rank: "
                             "each example's nearest in turn (examples of different kinds)")
    parser.add_argument("-o", "--output", metavar="OUT",
                        help="write the neighbours' table (.csv, .parquet, .fits or .ecsv)")
    parser.add_argument("--json", action="store_true",
                        help="print the query and neighbours as JSON instead of a table")
    parser.add_argument("--match-radius", type=arcsec, default=MATCH_RADIUS_ARCSEC,
                        metavar="ARCSEC", help="--ra/--dec: largest distance to the galaxy "
                        f"taken as the query (default: {MATCH_RADIUS_ARCSEC:g})")
    parser.add_argument("--duplicate-radius", type=arcsec, default=DUPLICATE_RADIUS_ARCSEC,
                        metavar="ARCSEC", help="entries this close on the sky are one object "
                        f"(default: {DUPLICATE_RADIUS_ARCSEC:g})")
    parser.add_argument("-m", "--model", default=None,
                        help="--image: the embeddings' model, if it is not where the file "
                             "records it (it must have the recorded checksum)")
    parser.add_argument("--device", default="cpu",
                        help="--image: cpu, auto, cuda, cuda:N or mps (default: cpu, as in "
                             "Python and galmorph serve: one image needs no GPU, and a GPU's "
                             "bfloat16 gives slightly different features)")
    # "--dec -00:02:17.7" is a value, not an unknown option: argparse's own test (which
    # this widens) takes only decimal numbers for negative values
    parser._negative_number_matcher = re.compile(r"^-\d+$|^-\d*\.\d+$|^-\d[\d:. hdms°′″'\"]*$")
    parser.set_defaults(func=run, parser=parser)


def run(args: argparse.Namespace) -> int:
    """Search, print and draw; 0 on success."""
    from galmorph.inference.embedding_folder import open_embeddings
    from galmorph.inference.outputs import output_format
    from galmorph.report.plots import check_figure_path
    from galmorph.search.defaults import COMBINES, MATCH_RADIUS_ARCSEC
    from galmorph.search.example_files import read_example_ids
    from galmorph.search.examples import like_examples
    from galmorph.search.search import SimilaritySearch

    if (args.ra is None) != (args.dec is None):
        args.parser.error("--ra and --dec go together")
    if args.image is None and (args.model is not None or args.device != "cpu"):
        args.parser.error("-m/--model and --device are for --image queries (a galaxy of the "
                          "file is found by its stored features, with no model)")
    if args.ra is None and args.match_radius != MATCH_RADIUS_ARCSEC:
        args.parser.error("--match-radius is for --ra/--dec queries")
    if args.combine is not None and args.examples is None:
        args.parser.error("--combine is for --examples queries")
    if args.grid:
        writable_file(str(check_figure_path(args.grid)), "--grid")
    if args.output:
        output_format(writable_file(args.output, "-o"), "neighbours.csv")
        check_not_input(args.output, {"embeddings": args.embeddings,
                                      **({"examples": args.examples} if args.examples
                                         else {})})
    examples = read_example_ids(args.examples) if args.examples else None
    search = SimilaritySearch(
        open_embeddings(args.embeddings), args.metric, args.index,
        duplicate_radius=args.duplicate_radius, rebuild=args.rebuild_index,
        notify=lambda message: make_console(stderr=True).print(message),
    )
    if examples is not None:
        result = like_examples(search, examples, args.k,
                               combine=args.combine or COMBINES[0])
    elif args.galaxy_id is not None:
        result = search.by_id(args.galaxy_id, args.k)
    elif args.image is not None:
        result = search.by_image(args.image, args.k, model=args.model, device=args.device)
    else:
        result = search.by_position(args.ra, args.dec, args.k, radius=args.match_radius)
    if args.grid:
        refuse_replacing_an_image(args.grid, search.embeddings.file_loc, f"--grid {args.grid}",
                                  "embeddings")
        _draw(result, args.grid)
    if args.output:
        _write(result, args.output, args.embeddings)
    left_out = (f"the {len(result.query['ids'])} examples" if examples is not None
                else "the query")
    shortfall = _shortfall(len(result.neighbours), args.k, len(search.embeddings),
                           args.embeddings, left_out)
    if shortfall:
        make_console(stderr=True).print(f"warning: {shortfall}")
    if args.json:
        json.dump(result.to_dict(), sys.stdout, indent=2)
        sys.stdout.write("\n")
        return 0
    _print(result, make_console(), args.grid, args.output)
    return 0


def _shortfall(found: int, k: int, n_galaxies: int, source: str,
               left_out: str = "the query") -> str | None:
    """Why fewer than ``k`` neighbours came back, or None when all did; ``left_out`` names
    what the search leaves out (with its other entries on the sky)."""
    if found >= k:
        return None
    galaxies = "galaxy" if n_galaxies == 1 else "galaxies"
    return (f"only {found} neighbours of the {k} asked for: {source} has {n_galaxies} "
            f"{galaxies}, and {left_out} and entries of the same object on the sky are left "
            "out")


def _query_text(query: dict[str, Any], neighbours: pd.DataFrame) -> str:
    if query["kind"] == "examples":
        from galmorph.data.table_checks import plural

        ids = query["ids"]
        how = COMBINED[query["combine"]] if len(ids) > 1 else "ranked by distance to it"
        text = (f"{plural(len(ids), 'example')} ({', '.join(ids[:5])}"
                f"{' ...' if len(ids) > 5 else ''}), {how}")
        if query["missing"]:
            text += f"; {plural(len(query['missing']), 'id')} not in the embeddings left out"
        return text
    if query["kind"] == "image":
        text = f"image {query['image']}"
        if query.get("same_as"):
            rank = dict(zip(neighbours["id_str"], neighbours["rank"], strict=True))
            where = [f"{i} (rank {rank[i]})" if i in rank else f"{i} (left out)"
                     for i in query["same_as"]]
            text += f", the same image as {', '.join(where)} in the embeddings"
        return text
    text = str(query["id_str"])
    if "ra" in query:
        text += f" (RA {query['ra']:.5f}, Dec {query['dec']:.5f})"
    if "separation_arcsec" in query:
        text += f", {query['separation_arcsec']:.1f} arcsec from the position given"
    return text


def _print(result: SimilarityResult, console: Console, grid: str | None,
           output: str | None) -> None:
    console.print(f"Query: {_query_text(result.query, result.neighbours)}")
    table = Table(
        caption=(f"{result.metric} distance; {result.index} search"
                 + (f" ({', '.join(f'{k} {v}' for k, v in result.index_params.items())})"
                    if result.index_params else "")),
        show_edge=False,
    )
    table.add_column("rank", justify="right")
    widest = max(map(len, result.neighbours["id_str"].astype(str)), default=6)
    table.add_column("id_str", no_wrap=True, min_width=widest)  # ids are copied whole
    table.add_column("distance", justify="right", min_width=8)
    by_example = "nearest_example" in result.neighbours
    if by_example:
        table.add_column("nearest example", no_wrap=True,
                         min_width=max(map(len, result.neighbours["nearest_example"]),
                                       default=6))
    has_sky = "ra" in result.neighbours and not by_example  # (positions: -o or --json)
    if has_sky:
        table.add_column("ra", justify="right")
        table.add_column("dec", justify="right")
    for row in result.neighbours.itertuples():
        cells = [str(row.rank), str(row.id_str), f"{row.distance:.4g}"]
        if by_example:
            cells.append(str(row.nearest_example))
        if has_sky:
            cells += [f"{row.ra:.5f}", f"{row.dec:.5f}"]
        table.add_row(*cells)
    console.print(table)
    for path in (grid, output):
        if path:
            console.print(f"Wrote {path}")
    hints = [hint for hint, given in (("to see them: --grid neighbours.png", grid),
                                      ("for a table: -o neighbours.csv", output)) if not given]
    if hints and len(result.neighbours):
        console.print("; ".join(hints).capitalize() + ".")


def _write(result: SimilarityResult, path: str, embeddings: str) -> None:
    """The neighbours' table, with the query and search as metadata, written atomically."""
    from galmorph.inference.outputs import write_table

    metadata = {"galmorph_embeddings": str(embeddings),
                "galmorph_query": json.dumps({k: v for k, v in result.query.items()
                                              if k != "file_loc"}),
                "galmorph_metric": result.metric, "galmorph_index": result.index}
    write_table(result.neighbours, path, metadata)


def _draw(result: SimilarityResult, path: str) -> None:
    """The query and its neighbours as a grid of images, written atomically to ``path``."""
    from galmorph.report.plots import galaxy_grid

    query = result.query
    neighbours = result.neighbours
    if query["kind"] == "examples":
        _draw_examples(result, path)
        return
    if query["kind"] == "image":
        first = query["image"]
        caption = (f"query image\n{Path(str(first)).name}"
                   + (f"\n= {query['same_as'][0]}" if query.get("same_as") else ""))
    else:
        first, caption = query.get("file_loc", ""), f"query\n{query['id_str']}"
    files = _image_files(neighbours)
    same = set(query.get("same_as", ()))
    captions = [caption] + [
        f"{r.rank}. {r.id_str}\ndistance {_distance(r.distance)}"
        + (" (the query)" if r.id_str in same else "") for r in neighbours.itertuples()
    ]
    galaxy_grid([first, *files], captions, highlight=[0], path=path,
                title=f"The {len(neighbours)} galaxies nearest the query (framed) in the "
                f"model's representation; {result.metric} distance, 0 = alike")


def _distance(value: float) -> str:
    """A distance for a caption: 3 significant digits; 0 below 1e-6 (rounding)."""
    return f"{value:.3g}" if abs(value) >= 1e-6 else "0"


#: What orders the galaxies found like several examples, by ``combine``.
_RANKED_BY = {"centroid": "by distance to the examples' mean",
              "nearest": "by distance to the nearest example",
              "rank": "by rank among each example's own neighbours"}


def _image_files(neighbours: pd.DataFrame) -> list[str]:
    """The neighbours' image paths ("" each where the embeddings have none)."""
    return (neighbours["file_loc"].tolist() if "file_loc" in neighbours
            else [""] * len(neighbours))


def _draw_examples(result: SimilarityResult, path: str) -> None:
    """The first examples (highlighted) and then the neighbours, each naming its example."""
    from galmorph.report.plots import galaxy_grid

    shown = result.query["ids"][:MAX_EXAMPLES_DRAWN]
    example_files = result.query.get("file_loc", [""] * len(shown))[:MAX_EXAMPLES_DRAWN]
    neighbours = result.neighbours
    files = _image_files(neighbours)
    more = len(result.query["ids"]) - len(shown)
    captions = [f"example\n{i}" for i in shown] + [
        f"{r.rank}. {r.id_str}\nnearest example:\n{r.nearest_example}, "
        f"{_distance(r.example_distance)}" for r in neighbours.itertuples()]
    galaxy_grid([*example_files, *files], captions, highlight=list(range(len(shown))),
                path=path, title=f"{len(neighbours)} galaxies like {len(result.query['ids'])} "
                f"examples (framed) ranked {_RANKED_BY[result.query['combine']]}; "
                f"{result.metric} distance, 0 = alike"
                + (f"; {more} more examples not shown" if more else ""))
