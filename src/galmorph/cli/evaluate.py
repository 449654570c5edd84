"""``galmorph evaluate``: how well a vote-count model predicts a catalog's volunteer votes.

Runs the model over the catalog (which needs the vote columns of the model's
decision tree) and prints, per question, the Dirichlet-multinomial NLL (beside
the model's no-image baseline), the vote-fraction error and the accuracy on
confidently classified galaxies; ``--json`` also saves them.

Example::

    galmorph evaluate test_catalog.csv --model runs/gz2/model.pt --json metrics.json
"""

from __future__ import annotations

import argparse

from galmorph.cli._common import make_console
from galmorph.cli.predict import add_backend_option, add_inference_options, inference_kwargs


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``evaluate`` sub-command."""
    parser = subparsers.add_parser(
        "evaluate",
        help="compare a model's predictions with a catalog's vote counts or labels",
        description=(
            "Run a vote-count model over a catalog with the vote columns of its decision "
            "tree and report per question the negative log-likelihood of the votes, the "
            "vote-fraction error and the accuracy on confidently classified galaxies. A "
            "fine-tuned classifier is scored against the label column it learnt (accuracy, "
            "ROC AUC, galaxies by true and predicted class), a regressor by its errors."
        ),
    )
    parser.add_argument(
        "catalog", metavar="CATALOG",
        help="table of galaxies with vote-count columns, or the fine-tuned model's label column",
    )
    parser.add_argument(
        "--json", metavar="OUT.json", default=None, help="also write the metrics as JSON"
    )
    add_inference_options(parser)
    add_backend_option(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Evaluate, print the table and write the JSON if asked; 0 on success."""
    from galmorph.files import write_json
    from galmorph.inference.evaluate import evaluate_catalog
    from galmorph.models.checkpoint import load_model
    from galmorph.models.device import resolve_device
    from galmorph.models.label_metrics import print_label_evaluation
    from galmorph.models.metrics import print_evaluation

    loaded = load_model(args.model, resolve_device(args.device))
    result = evaluate_catalog(args.catalog, loaded, backend=args.backend,
                              **inference_kwargs(args))
    console = make_console()
    console.print(f"Model {loaded.name} (sha256 {loaded.checksum[:12]}) on {args.catalog}")
    if "label_column" in result:
        print_label_evaluation(result, console)
    else:
        print_evaluation(result, console)
    if args.json:
        console.print(f"Wrote {write_json(result, args.json)}")
    return 0
