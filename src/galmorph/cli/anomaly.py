"""``galmorph anomaly``: find the galaxies you find interesting, by active learning.

Score galaxies from 0 (boring) to 5 (fascinating); a Gaussian process learns
your taste from the embeddings and proposes what to look at next (see
:mod:`galmorph.anomaly`). Everything lives in one session file (SQLite): labels
are safe the moment ``label`` returns, and a session continues where it stopped.

Example::

    galmorph embed catalog.csv -o embeddings.parquet
    galmorph anomaly start embeddings.parquet --session hunt.db
    galmorph anomaly next --session hunt.db --grid batch.png
    galmorph anomaly label J090203.35+590529.9 4 --session hunt.db
    galmorph anomaly label --from labels.csv --session hunt.db   # id_str, score columns
    galmorph anomaly rank --session hunt.db -o ranked.csv
    galmorph anomaly score --session hunt.db survey-emb40/ -o survey-interest/
    galmorph anomaly benchmark embeddings.parquet --truth catalog.csv \\
        --score-column t06_odd_a14_yes_fraction --json bench.json
"""

from __future__ import annotations

import argparse
import math

from galmorph.cli._common import finite_float, positive_int, whole_number
from galmorph.cli.anomaly_benchmark import run_benchmark
from galmorph.cli.anomaly_session import (
    run_label,
    run_next,
    run_rank,
    run_score,
    run_start,
    run_status,
)

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
    if not (math.isfinite(value) and value >= 0):
        raise argparse.ArgumentTypeError(f"expected a finite number of at least 0, got {text}")
    return value


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``anomaly`` sub-command and its actions."""
    from galmorph.anomaly.defaults import (
        DEFAULT_ARTEFACT_THRESHOLD,
        DEFAULT_BATCH_SIZE,
        DEFAULT_PCA,
        DEFAULT_XI,
        MAX_SEED,
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
            help="predictions from `galmorph predict` (a table file, or the folder of a "
                 "partitioned run): galaxies whose predicted star/artefact "
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
        p.add_argument("--seed", type=whole_number(0, MAX_SEED), default=0,
                       help="seed of the cold start, the forests and the PCA (default: 0)")

    start = actions.add_parser(
        "start", help="start a session on an embeddings file",
        description=("Start a session: record the settings, score every galaxy with an "
                     "isolation forest and flag likely artefacts (with --predictions)."),
    )
    start.add_argument("embeddings", metavar="EMBEDDINGS",
                       help="parquet file from galmorph embed, or the folder it writes for "
                            "a partitioned catalog")
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
                       help="replace an existing session file (its labels are lost); refused "
                            "while another program (e.g. galmorph serve) has it open")
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
        description=("Store scores (0 = boring ... 5 = most interesting), all of them or, "
                     "after any error, none; they are on disk when their lines are printed. "
                     "Labelling a galaxy again replaces its score and keeps the old one in "
                     "the history."),
    )
    label.add_argument("pairs", nargs="*", metavar="ID SCORE",
                       help="one or more galaxy ids each followed by its score")
    session_option(label)
    label.add_argument("--from", dest="from_file", metavar="FILE",
                       help="read the scores from a table with columns id_str and score "
                            "(.csv, .parquet, .fits; e.g. the labels.csv that `galmorph serve` "
                            "exports) or from another session file")
    label.add_argument("--skip-unknown", action="store_true",
                       help="leave out galaxies that are not in the session (with a warning) "
                            "instead of storing nothing")
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
    rank.add_argument("--include-artefacts", action=argparse.BooleanOptionalAction,
                      default=None,
                      help="rank flagged galaxies too, or not (default: as the session was "
                           "started)")
    rank.add_argument("--grid", metavar="OUT.png", help="draw the top N galaxies")
    rank.set_defaults(func=run_rank)

    score = actions.add_parser(
        "score", help="score other embeddings (a whole survey) by what the session learnt",
        description=("Score every galaxy of an embeddings file or partitioned folder (of the "
                     "same model and features as the session's, e.g. the survey the session "
                     "is a sample of) by the session's interest model, a partition at a "
                     "time; write each galaxy's predicted interest (0-5) and its standard "
                     "deviation, and print the most interesting."),
    )
    session_option(score)
    embeddings_option(score)
    score.add_argument("source", metavar="EMBEDDINGS",
                       help="embeddings file, or folder of partitions, to score")
    score.add_argument("-o", "--output", required=True, metavar="OUT",
                       help="a table file (.parquet, .csv, .ecsv or .fits) for a file; a new "
                            "folder, one file per partition, for a folder")
    score.add_argument("--top", type=positive_int, default=20, metavar="N",
                       help="unlabelled galaxies to print, most interesting first "
                            "(default: 20)")
    score.add_argument("--resume", action="store_true",
                       help="a folder: go on from where an interrupted run stopped (its "
                            "scored partitions wait in .OUT.partial beside OUT), when the "
                            "session's scores and the embeddings are the same")
    cluster = score.add_mutually_exclusive_group()
    cluster.add_argument("--workers", type=positive_int, default=None, metavar="N",
                         help="a folder: score its partitions on N local Dask worker processes")
    cluster.add_argument("--scheduler", default=None, metavar="ADDRESS",
                         help="a folder: score its partitions on the Dask cluster of this "
                              "scheduler (e.g. tcp://10.0.0.5:8786)")
    score.set_defaults(func=run_score)

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
    bench.add_argument("--interesting-threshold", type=finite_float, default=None, metavar="T",
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
