"""``galmorph anomaly benchmark``: the simulated-researcher benchmark and its table.

Its parser is in :mod:`galmorph.cli.anomaly`.
"""

from __future__ import annotations

import argparse
from typing import Any

from rich.console import Console
from rich.measure import Measurement
from rich.table import Table

from galmorph.cli._common import json_file, make_console


def run_benchmark(args: argparse.Namespace) -> int:
    """Run the simulated-researcher benchmark and print (and write) the table."""
    from galmorph.anomaly.baselines import artefact_flags
    from galmorph.anomaly.benchmark import benchmark, benchmark_setup
    from galmorph.files import write_json
    from galmorph.inference.embeddings import read_embeddings
    from galmorph.inference.manifest import read_output

    json_path = json_file(args.json, "the results")  # before the benchmark: minutes
    emb = read_embeddings(args.embeddings)
    flags = None
    if args.predictions:
        flags, _, _ = artefact_flags(read_output(args.predictions, "predict"), emb.ids,
                                     column=args.artefact_column,
                                     threshold=args.artefact_threshold,
                                     source=f"predictions file {args.predictions}")
    setup = benchmark_setup(emb, args.truth, args.score_column,
                            threshold=args.interesting_threshold, pca=args.pca, seed=args.seed,
                            artefacts=flags)
    console = make_console(stderr=True)
    with console.status("benchmark") as status:
        result = benchmark(setup, n_labels=args.labels, repeats=args.repeats,
                           batch_size=args.batch_size, xi=args.xi, seed=args.seed,
                           progress=status.update)
    result["settings"].update(embeddings=str(args.embeddings), truth=str(args.truth),
                              score_column=args.score_column,
                              interesting_threshold=args.interesting_threshold,
                              model=emb.info.model.get("name"), pca=args.pca)
    print_benchmark(result, make_console())
    if json_path is not None:
        make_console().print(f"Wrote {write_json(result, json_path)}")
    return 0


_COLUMN_NAMES = {"active": "active", "isolation_forest": "iso. forest",
                 "reweighted_forest": "reweighted", "random": "random",
                 "supervised_ceiling": "ceiling"}


def print_benchmark(result: dict[str, Any], console: Console) -> None:
    """The benchmark's table: one row per metric, one column per method (mean ± std)."""
    from galmorph.anomaly.benchmark import BENCHMARK_METHODS
    from galmorph.anomaly.defaults import PRECISION_AT

    settings = result["settings"]
    several = settings["repeats"] > 1  # the std of one run is no spread: not shown
    table = Table(
        title=(f"{settings['n_galaxies']} galaxies, {settings['n_interesting']} interesting "
               f"({settings['interesting_rule']}); "
               f"{settings['n_labels']} labels, {settings['repeats']} "
               f"repeat{'s' * (settings['repeats'] != 1)}"),
        caption=("P@N: interesting fraction of the top N (labelled galaxies ranked by the "
                 "score given); unlab.: of the top N not labelled; AP: average precision; "
                 "found: interesting galaxies among the labelled; ceiling: a logistic "
                 "regression told every other galaxy's truth (out of fold), the limit of the "
                 "features rather than a method. "
                 + ("Mean ± std over repeats." if several else "One run: no spread; run "
                    "--repeats 3 or more to see how much the figures vary.")),
        show_edge=False,
    )
    table.add_column("metric", no_wrap=True)
    for key in BENCHMARK_METHODS:
        table.add_column(_COLUMN_NAMES[key], justify="right", no_wrap=True)
    metrics = [m for n in PRECISION_AT
               for m in (f"precision_at_{n}", f"precision_at_{n}_unlabelled")]
    for metric in [*metrics, "average_precision", "n_found"]:
        name = metric.replace("precision_at_", "P@").replace("_unlabelled", " unlab.")
        name = {"average_precision": "AP", "n_found": "found"}.get(name, name)
        fmt = ".0f" if metric == "n_found" else ".3f"
        table.add_row(name, *(f"{result[k][metric]:{fmt}}"
                              + (f"±{result[k][metric + '_std']:{fmt}}" if several else "")
                              for k in BENCHMARK_METHODS))
    # as wide as the table needs: a narrow terminal, or a file (80 columns), would cut
    # the numbers short ("0.160±0.0…")
    width = Measurement.get(console, console.options.update_width(1000), table).maximum
    console.width = max(console.width, width)
    console.print(table)
