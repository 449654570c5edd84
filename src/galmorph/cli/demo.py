"""``galmorph demo``: run every part of galmorph on the bundled galaxies and write a report.

Predicts and evaluates the morphology of every galaxy, searches for galaxies
similar to one, simulates an anomaly-hunting session, fine-tunes a ring
classifier from a few dozen labels, and writes ``DIR/report.html`` (one file,
figures embedded) with the tables and files behind it (see :mod:`galmorph.report.demo`).

Example::

    galmorph demo -o demo-output
    galmorph demo --data my_catalog.csv -o my-demo
"""

from __future__ import annotations

import argparse

from galmorph.cli._common import make_console, no_new_empty_dir, positive_int, whole_number
from galmorph.cli.predict import add_backend_option


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``demo`` sub-command."""
    from galmorph.models.defaults import DEFAULT_MODEL
    from galmorph.report.demo_settings import MIN_RING_LABELS, DemoSettings

    defaults = DemoSettings()
    parser = subparsers.add_parser(
        "demo",
        help="run every step on the bundled galaxies and write an HTML report",
        description=(
            "Predict and evaluate the morphology of every galaxy, find galaxies similar to "
            "one, simulate an anomaly-hunting session and fine-tune a ring classifier from a "
            "few dozen labels, then write a self-contained HTML report (DIR/report.html) and "
            "print its path. Steps whose catalog columns are missing (Galaxy Zoo votes, "
            "'ring') are skipped with a note. On the bundled galaxies it takes 1.5-5 minutes "
            "on a laptop CPU."
        ),
    )
    parser.add_argument("-o", "--output", "--out", dest="out", default="demo-output",
                        metavar="DIR",
                        help="output folder; an earlier demo's outputs there are replaced, "
                        "other files kept (default: demo-output)")
    parser.add_argument("--data", metavar="CATALOG", default=None,
                        help="catalog to run on (default: the 630 bundled SDSS galaxies)")
    parser.add_argument("-m", "--model", default=DEFAULT_MODEL,
                        help=f"model to use (default: {DEFAULT_MODEL})")
    parser.add_argument("--device", default="auto",
                        help="auto, cpu, cuda, cuda:N or mps (default: auto)")
    add_backend_option(parser)
    tuning = parser.add_argument_group("sizes of the steps")
    tuning.add_argument("--anomaly-labels", type=positive_int, default=defaults.anomaly_labels,
                        metavar="N", help="galaxies the simulated researcher labels "
                        f"(default: {defaults.anomaly_labels})")
    tuning.add_argument("--ring-labels", type=whole_number(MIN_RING_LABELS),
                        default=defaults.ring_labels, metavar="N",
                        help=f"labelled galaxies per class for fine-tuning, {MIN_RING_LABELS} "
                        f"or more (default: {defaults.ring_labels})")
    tuning.add_argument("--epochs", type=positive_int, default=defaults.epochs, metavar="N",
                        help="epochs of fine-tuning: passes over the labelled galaxies "
                        f"(default: {defaults.epochs})")
    tuning.add_argument("--n-blocks", type=whole_number(-1), default=defaults.n_blocks, metavar="N",
                        help="how many of the pretrained model's last groups of layers "
                        "('blocks') fine-tuning may change besides the new ring/not-ring output; "
                        "0 keeps the pretrained model as it is and trains only that output "
                        f"(fastest), -1 lets it change them all (default: {defaults.n_blocks})")
    tuning.add_argument("--seed", type=int, default=defaults.seed,
                        help="seed of every random choice (the galaxies picked to label and "
                        f"to train on, the fine-tuning's start) (default: {defaults.seed})")
    parser.add_argument("--progress", action="store_true", help="show progress bars")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run the demo; 0 on success."""
    from galmorph.report.demo import run_demo
    from galmorph.report.demo_settings import DemoSettings

    settings = DemoSettings(
        out=args.out, data=args.data, model=args.model, device=args.device, backend=args.backend,
        anomaly_labels=args.anomaly_labels, ring_labels=args.ring_labels, epochs=args.epochs,
        n_blocks=args.n_blocks, seed=args.seed, progress=args.progress,
    )
    with no_new_empty_dir(args.out):
        run_demo(settings, make_console())
    return 0
