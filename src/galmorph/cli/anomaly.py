"""``galmorph anomaly``: find the galaxies you find interesting, by active learning.

Score galaxies from 0 (boring) to 5 (fascinating); a Gaussian process learns
your taste from the embeddings and proposes what to look at next (see
:mod:`galmorph.anomaly.session`). Everything lives in one session file (SQLite): labels
are safe the moment ``label`` returns, and a session continues where it stopped.

Example::

    galmorph embed catalog.csv -o embeddings.parquet --stages 2
    galmorph anomaly start embeddings.parquet --session hunt.db
    galmorph anomaly next --session hunt.db --grid batch.png
    galmorph anomaly label J090203.35+590529.9 4 --session hunt.db
    galmorph anomaly rank --session hunt.db -o ranked.csv
    galmorph anomaly benchmark embeddings.parquet --truth catalog.csv \\
        --score-column t06_odd_a14_yes_fraction --json bench.json
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.table import Table

from galmorph.cli._common import positive_int

if TYPE_CHECKING:
    from galmorph.anomaly.labels import Batch
    from galmorph.anomaly.session import AnomalySession

BASELINES = ("isolation-forest", "lof", "reweighted-forest")


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"expected a fraction from 0 to 1, got {value:g}")
    return value


def _non_negative(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"expected a number of at least 0, got {text}")
    return value


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``anomaly`` sub-command and its actions."""
    from galmorph.anomaly.session import (
        DEFAULT_ARTEFACT_THRESHOLD,
        DEFAULT_BATCH_SIZE,
        DEFAULT_PCA,
        DEFAULT_XI,
        METHODS,
    )

    parser = subparsers.add_parser(
        "anomaly",
        help="find the galaxies you find interesting (active learning on embeddings)",
        description=(
            "Personalised anomaly detection: score galaxies 0-5 and a Gaussian process on the "
            "embeddings proposes the next ones by expected improvement; or rank by an "
            "unsupervised baseline. Sessions are SQLite files that lose no label."
        ),
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)

    def session_option(p: argparse.ArgumentParser) -> None:
        p.add_argument("--session", required=True, metavar="S.db", help="the session file")

    def embeddings_option(p: argparse.ArgumentParser) -> None:
        p.add_argument("--embeddings", default=None, metavar="EMB.parquet",
                       help="the session's embeddings file, if it has moved")

    def artefact_options(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--predictions", metavar="P.parquet",
            help="predictions from `galmorph predict`: galaxies whose predicted star/artefact "
                 "fraction reaches --artefact-threshold are flagged and left out")
        p.add_argument("--artefact-column", metavar="COL",
                       help="fraction column of --predictions (default: the GZ2 "
                            "t01_..._a03_star_or_artifact_fraction or the DECaLS "
                            "smooth-or-featured_artifact_fraction)")
        p.add_argument("--artefact-threshold", type=_fraction,
                       default=DEFAULT_ARTEFACT_THRESHOLD, metavar="F",
                       help=f"flag at this fraction or above (default: "
                            f"{DEFAULT_ARTEFACT_THRESHOLD:g})")

    def model_options(p: argparse.ArgumentParser) -> None:
        p.add_argument("--pca", type=positive_int, default=DEFAULT_PCA, metavar="N",
                       help=f"principal components of the features (default: {DEFAULT_PCA}; "
                            "embeddings with N or fewer columns are used as they are)")
        p.add_argument("--xi", type=_non_negative, default=DEFAULT_XI,
                       help=f"exploration trade-off of the expected improvement, in score "
                            f"units; larger explores more (default: {DEFAULT_XI:g})")
        p.add_argument("--batch-size", type=positive_int, default=DEFAULT_BATCH_SIZE,
                       metavar="N", help=f"galaxies per batch (default: {DEFAULT_BATCH_SIZE})")
        p.add_argument("--seed", type=int, default=0,
                       help="seed of the cold start, the forests and the PCA (default: 0)")

    start = actions.add_parser(
        "start", help="start a session on an embeddings file",
        description=("Start a session: record the settings, score every galaxy with an "
                     "isolation forest and flag likely artefacts (with --predictions)."),
    )
    start.add_argument("embeddings", metavar="EMBEDDINGS",
                       help="parquet file from galmorph embed (made with --stages 2, which "
                            "finds more unusual galaxies)")
    session_option(start)
    start.add_argument(
        "--baseline", choices=BASELINES, default=None,
        help="propose and rank by an unsupervised baseline instead of active learning: "
             "isolation-forest, lof, or reweighted-forest (isolation forest re-weighted by a "
             "random forest fitted to your scores)")
    model_options(start)
    artefact_options(start)
    start.add_argument("--include-artefacts", action="store_true",
                       help="propose and rank flagged galaxies too")
    start.add_argument("--force", action="store_true",
                       help="replace an existing session file (its labels are lost)")
    start.set_defaults(func=run_start)

    nxt = actions.add_parser(
        "next", help="show the next galaxies to label",
        description=("Show the galaxies to score next: the unlabelled rest of the current "
                     "batch, or a new batch chosen by the session's method."),
    )
    session_option(nxt)
    embeddings_option(nxt)
    nxt.add_argument("--new", action="store_true",
                     help="propose a new batch even if the current one is not fully labelled")
    nxt.add_argument("--grid", metavar="OUT.png", help="draw the batch's images")
    nxt.add_argument("--json", action="store_true", help="print the batch as JSON")
    nxt.set_defaults(func=run_next)

    label = actions.add_parser(
        "label", help="score galaxies 0-5",
        description=("Store scores (0 = boring ... 5 = most interesting). Each is on disk "
                     "when its line is printed; labelling a galaxy again replaces its score "
                     "and keeps the old one in the history."),
    )
    label.add_argument("pairs", nargs="+", metavar="ID SCORE",
                       help="one or more galaxy ids each followed by its score")
    session_option(label)
    label.set_defaults(func=run_label, parser=label)

    rank = actions.add_parser(
        "rank", help="rank every galaxy by predicted interest",
        description=("Rank the galaxies: those you labelled by your score, the others by the "
                     "method's prediction (0-5)."),
    )
    session_option(rank)
    embeddings_option(rank)
    rank.add_argument("-o", "--output", metavar="ranked.csv",
                      help="write the whole ranking (.csv, .parquet or .fits)")
    rank.add_argument("--top", type=positive_int, default=20, metavar="N",
                      help="rows to print (default: 20)")
    rank.add_argument("--method", choices=METHODS, default=None,
                      help="rank with another method than the session's")
    rank.add_argument("--include-artefacts", action="store_true", default=None,
                      help="rank flagged galaxies too")
    rank.add_argument("--grid", metavar="OUT.png", help="draw the top N galaxies")
    rank.set_defaults(func=run_rank)

    status = actions.add_parser("status", help="show a session's settings and progress")
    session_option(status)
    status.set_defaults(func=run_status)

    bench = actions.add_parser(
        "benchmark", help="simulated-researcher benchmark against the baselines",
        description=(
            "Replay sessions in which a simulated researcher answers with a catalog column "
            "(0-5 scores, or fractions in [0, 1] mapped to round(5 x value)); report "
            "precision@50/100/200 counting and excluding the galaxies labelled, and average "
            "precision, mean ± std over repeats, for active learning, an isolation forest, "
            "the re-weighted forest (same labelling budget) and a random ranking."),
    )
    bench.add_argument("embeddings", metavar="EMBEDDINGS", help="parquet file from galmorph embed")
    bench.add_argument("--truth", required=True, metavar="CATALOG",
                       help="catalog with id_str and the score column (joined on id_str)")
    bench.add_argument("--score-column", required=True, metavar="COL",
                       help="the simulated researcher's answers")
    bench.add_argument("--interesting-threshold", type=float, default=None, metavar="T",
                       help="a galaxy is interesting when the column's value is at least T "
                            "(default: when its score is at least 4)")
    bench.add_argument("--labels", type=positive_int, default=200, metavar="N",
                       help="labelling budget (default: 200)")
    bench.add_argument("--repeats", type=positive_int, default=15, metavar="R",
                       help="runs per method (default: 15)")
    bench.add_argument("--json", metavar="OUT.json", help="write the results as JSON")
    model_options(bench)
    artefact_options(bench)
    bench.set_defaults(func=run_benchmark)


# ------------------------------------------------------------------ actions
def run_start(args: argparse.Namespace) -> int:
    """Create the session file and print a summary."""
    from galmorph.anomaly.session import AnomalySession

    session = AnomalySession.start(
        args.embeddings, args.session, method=args.baseline or "active", pca=args.pca,
        xi=args.xi, batch_size=args.batch_size, seed=args.seed, predictions=args.predictions,
        artefact_column=args.artefact_column, artefact_threshold=args.artefact_threshold,
        include_artefacts=args.include_artefacts, overwrite=args.force,
    )
    with session:
        flagged = int(session.galaxies["artefact"].sum())
        settings = session.settings
        console = Console(highlight=False, soft_wrap=True)
        console.print(
            f"Started {args.session}: {len(session.embeddings)} galaxies, method "
            f"{settings.method}, {session.features.shape[1]} standardised features"
            + (f"; {flagged} flagged as artefacts ({settings.artefact_column} ≥ "
               f"{settings.artefact_threshold:g})" if settings.artefact_source else "")
        )
        console.print(f"Next: galmorph anomaly next --session {args.session}")
    return 0


def _galaxy_info(session: AnomalySession, ids: list[str]) -> list[dict[str, Any]]:
    """``ra``, ``dec`` and ``file_loc`` of galaxies, where the embeddings have them."""
    import pandas as pd

    emb = session.embeddings
    rows = pd.Index(emb.ids).get_indexer(ids)
    columns = {"ra": emb.ra, "dec": emb.dec, "file_loc": emb.file_loc}
    return [{name: _plain(column[row].item() if hasattr(column[row], "item") else column[row])
             for name, column in columns.items() if column is not None} for row in rows]


def _batch_table(batch: Batch, info: list[dict[str, Any]]) -> Table:
    """The batch as a table; ids never shortened, the model's columns only when it gave them."""
    numbers = [(name, fmt) for name, fmt in
               (("predicted", ".2f"), ("std", ".2f"), ("acquisition", ".3g"))
               if batch.values[name].notna().any()]
    table = Table(show_edge=False)
    table.add_column("#", justify="right")
    table.add_column("id_str", no_wrap=True, min_width=max(len(g) for g in batch.ids))
    for name in ("ra", "dec", *(n for n, _ in numbers)):
        table.add_column(name, justify="right", no_wrap=True)

    def number(value: float | None, fmt: str) -> str:
        return "–" if value is None or math.isnan(value) else format(value, fmt)

    for i, galaxy in enumerate(batch.ids):
        values = batch.values.iloc[i]
        table.add_row(str(i + 1), galaxy, number(info[i].get("ra"), ".4f"),
                      number(info[i].get("dec"), ".4f"),
                      *(number(values[name], fmt) for name, fmt in numbers))
    return table


def run_next(args: argparse.Namespace) -> int:
    """Print (and optionally draw) the galaxies to label next."""
    from galmorph.anomaly.session import AnomalySession
    from galmorph.report.plots import check_figure_path

    if args.grid:
        check_figure_path(args.grid)
    with AnomalySession.open(args.session, embeddings=args.embeddings) as session:
        batch = session.next_batch(new=args.new)
        n_labels = session.store.n_labels()
        info = _galaxy_info(session, batch.ids)
        if args.grid:
            _draw([i.get("file_loc", "") for i in info],
                  [f"{n + 1}. {g}" for n, g in enumerate(batch.ids)], args.grid,
                  f"batch {batch.batch_id} ({batch.method})")
        if args.json:
            json.dump({"batch": batch.batch_id, "method": batch.method, "n_labels": n_labels,
                       "galaxies": [
                           {"id_str": g, **info[i],
                            **{k: _plain(v) for k, v in batch.values.iloc[i].items()}}
                           for i, g in enumerate(batch.ids)]},
                      sys.stdout, indent=2)
            sys.stdout.write("\n")
            return 0
        console = Console(highlight=False, soft_wrap=True)
        console.print(f"Batch {batch.batch_id} ({batch.method}, proposed with {batch.n_labels} "
                      f"labels; {n_labels} labels now): {len(batch.ids)} to score 0-5")
        console.print(_batch_table(batch, info))
        if args.grid:
            console.print(f"Wrote {args.grid}")
        console.print(f"Score with: galmorph anomaly label ID SCORE --session {args.session}")
    return 0


def _plain(value: Any) -> Any:
    """NaN as None (JSON null)."""
    return None if isinstance(value, float) and math.isnan(value) else value


def run_label(args: argparse.Namespace) -> int:
    """Store each ID SCORE pair; print each once it is on disk."""
    from galmorph.anomaly.labels import LabelStore, check_score

    if len(args.pairs) % 2:
        args.parser.error("give galaxy ids and scores in pairs: ID SCORE [ID SCORE ...]")
    pairs = [(args.pairs[i], check_score(args.pairs[i + 1]))
             for i in range(0, len(args.pairs), 2)]
    console = Console(highlight=False, soft_wrap=True)
    with LabelStore.open(args.session) as store:
        for galaxy_id, score in pairs:
            record = store.label(galaxy_id, score)
            was = f" (was {record.previous:g})" if record.previous is not None else ""
            console.print(f"{record.galaxy_id}: {record.score:g}{was}")
        console.print(f"{store.n_labels()} galaxies labelled in {args.session}")
    return 0


def run_rank(args: argparse.Namespace) -> int:
    """Print the top of the ranking and write all of it."""
    from galmorph.anomaly.session import AnomalySession
    from galmorph.inference.outputs import output_format, write_table
    from galmorph.report.plots import check_figure_path

    if args.output:
        output_format(args.output)
    if args.grid:
        check_figure_path(args.grid)
    with AnomalySession.open(args.session, embeddings=args.embeddings) as session:
        ranking = session.ranking(method=args.method, include_artefacts=args.include_artefacts)
        top = ranking.head(args.top)
        if args.output:
            write_table(ranking, args.output, ranking.attrs["galmorph"])
            session.store.log_event("rank", {"output": args.output, "method": args.method})
        if args.grid:
            captions = [f"{r.rank}. {r.id_str}\n" + (f"your score {r.score:g}" if r.labelled
                                                      else f"predicted {r.predicted:.2f}")
                        for r in top.itertuples()]
            files = (top["file_loc"].tolist() if "file_loc" in top
                     else [""] * len(top))
            _draw(files, captions, args.grid,
                  f"top {len(top)} ({ranking.attrs['galmorph']['galmorph_anomaly_method']})",
                  highlight=[i for i, v in enumerate(top["labelled"]) if v])
    console = Console(highlight=False, soft_wrap=True)
    table = Table(show_edge=False, caption="interest: your score if labelled (*), else predicted")
    table.add_column("rank", justify="right")
    table.add_column("id_str", no_wrap=True, min_width=max(map(len, top["id_str"]), default=6))
    table.add_column("interest", justify="right")
    table.add_column("isolation forest", justify="right")
    for row in top.itertuples():
        table.add_row(str(row.rank), row.id_str,
                      f"{row.interest:.2f}{'*' if row.labelled else ''}",
                      f"{row.isolation_forest:.3f}")
    console.print(table)
    for path in (args.output, args.grid):
        if path:
            console.print(f"Wrote {path}")
    return 0


def run_status(args: argparse.Namespace) -> int:
    """Print the session's settings and progress."""
    from galmorph.anomaly.labels import LabelStore

    with LabelStore.open(args.session) as store:
        settings = store.settings()
        console = Console(highlight=False, soft_wrap=True)
        console.print(f"Session {args.session}: {store.n_galaxies()} galaxies, "
                      f"{store.n_labels()} labelled ({len(store.history())} labels given), "
                      f"{store.n_batches()} batches proposed")
        for key, value in settings.items():
            console.print(f"  {key}: {value}")
    return 0


def run_benchmark(args: argparse.Namespace) -> int:
    """Run the simulated-researcher benchmark and print (and write) the table."""
    from galmorph.anomaly.session import artefact_flags, benchmark, benchmark_setup
    from galmorph.data.catalog import read_table
    from galmorph.inference.embed import read_embeddings
    from galmorph.models.metrics import write_json

    emb = read_embeddings(args.embeddings)
    flags = None
    if args.predictions:
        flags, _, _ = artefact_flags(read_table(args.predictions), emb.ids,
                                     column=args.artefact_column,
                                     threshold=args.artefact_threshold)
    setup = benchmark_setup(emb, args.truth, args.score_column,
                            threshold=args.interesting_threshold, pca=args.pca, seed=args.seed,
                            artefacts=flags)
    console = Console(highlight=False, stderr=True)
    with console.status("benchmark") as status:
        result = benchmark(setup, n_labels=args.labels, repeats=args.repeats,
                           batch_size=args.batch_size, xi=args.xi, seed=args.seed,
                           progress=status.update)
    result["settings"].update(embeddings=str(args.embeddings), truth=str(args.truth),
                              score_column=args.score_column,
                              interesting_threshold=args.interesting_threshold,
                              model=emb.info.model.get("name"), pca=args.pca)
    print_benchmark(result, Console(highlight=False, soft_wrap=True))
    if args.json:
        write_json(result, args.json)
        Console(highlight=False, soft_wrap=True).print(f"Wrote {args.json}")
    return 0


_COLUMN_NAMES = {"active": "active", "isolation_forest": "iso. forest",
                 "reweighted_forest": "reweighted", "random": "random",
                 "supervised_ceiling": "ceiling"}


def print_benchmark(result: dict[str, Any], console: Console) -> None:
    """The benchmark's table: one row per metric, one column per method (mean ± std)."""
    from galmorph.anomaly.session import BENCHMARK_METHODS, PRECISION_AT

    settings = result["settings"]
    table = Table(
        title=(f"{settings['n_galaxies']} galaxies, {settings['n_interesting']} interesting; "
               f"{settings['n_labels']} labels, {settings['repeats']} repeats"),
        caption=("P@N: interesting fraction of the top N (labelled galaxies ranked by the "
                 "score given); unlab.: of the top N not labelled; AP: average precision; "
                 "found: interesting galaxies among the labelled; ceiling: a logistic "
                 "regression told every other galaxy's truth (out of fold), the limit of the "
                 "features rather than a method. Mean ± std over repeats."),
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
        table.add_row(name, *(f"{result[k][metric]:{fmt}}±{result[k][metric + '_std']:{fmt}}"
                              for k in BENCHMARK_METHODS))
    console.print(table)


def _draw(files: list[str], captions: list[str], path: str, title: str,
          highlight: list[int] | None = None) -> None:
    from galmorph.report.plots import galaxy_grid

    galaxy_grid(files, captions, path=path, title=title, highlight=highlight or ())
