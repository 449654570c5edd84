"""``galmorph evaluate``: how well a vote-count model predicts a catalog's volunteer votes.

Runs the model over the catalog (which needs the vote columns of the model's
decision tree) and prints, per question, the Dirichlet-multinomial NLL (beside
the model's no-image baseline), the vote-fraction error and the accuracy on
confidently classified galaxies; ``--json`` also saves them.

A fine-tuned classifier or regressor is scored against its label column instead.
``--grid`` draws the galaxies a model gets most wrong: a vote-count model's confident
misses (the volunteers agreed on an answer the model did not give), a classifier's
most confident mistakes, a regressor's largest errors.

Example::

    galmorph evaluate test_catalog.csv --model runs/gz2/model.pt --json metrics.json
    galmorph evaluate labels.csv --model runs/rings/model.pt --grid mistakes.png
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path
from typing import Any

from galmorph.cli._common import json_file, make_console, writable_file
from galmorph.cli.predict import (
    add_backend_option,
    add_inference_options,
    add_skip_bad_images,
    bad_image_hint,
    inference_kwargs,
    refuse_grid_over_an_image,
    skipping_bad_images,
)


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
        "--json", metavar="OUT.json", default=None,
        help="also write the metrics as JSON (checked before the model runs)"
    )
    parser.add_argument(
        "--grid", metavar="OUT.png", default=None,
        help="the galaxies the model gets most wrong, as pictures: a vote-count model's "
             "confident misses (the volunteers agreed on an answer the model did not give), "
             "a classifier's most confident mistakes, a regressor's largest errors (wrong "
             "votes and labels show up there too)")
    parser.add_argument(
        "--only-unseen", action="store_true",
        help="leave out the galaxies the model was trained on or chose its epoch with (its "
             "training and validation splits, recorded in the model file), whose figures "
             "flatter it; without this flag they are counted in a warning")
    add_inference_options(parser)
    add_backend_option(parser, mc_samples=True)
    add_skip_bad_images(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Evaluate, print the table and write the JSON if asked; 0 on success."""
    from galmorph.files import write_json
    from galmorph.inference.evaluate import evaluate_catalog
    from galmorph.models.checkpoint import load_model
    from galmorph.models.device import resolve_device
    from galmorph.models.evaluation_tables import print_evaluation
    from galmorph.report.plots import check_figure_path

    json_path = json_file(args.json, "the metrics")
    grid = None if args.grid is None else writable_file(str(check_figure_path(args.grid)),
                                                        "--grid")
    if grid is not None:
        refuse_grid_over_an_image(args.catalog, args.grid)
    loaded = load_model(args.model, resolve_device(args.device))
    with bad_image_hint(args):
        result = evaluate_catalog(args.catalog, loaded, backend=args.backend,
                                  only_unseen=args.only_unseen,
                                  **{**inference_kwargs(args), **skipping_bad_images(args)})
    console = make_console()
    console.print(f"Model {loaded.name} (sha256 {loaded.checksum[:12]}) on {args.catalog}")
    if args.only_unseen:
        console.print(f"Left out {result['n_seen']} galaxies the model was trained or "
                      "validated on.")
    print_evaluation(result, console)
    if "label_column" not in result:
        for line in vote_verdict(result):
            console.print(line)
    if grid is not None:
        console.print(_draw_worst(result, grid))
    if json_path is not None:
        console.print(f"Wrote {write_json(result, json_path)}")
    return 0


#: Below this many galaxies, the summary says the figures are rough.
FEW_GALAXIES = 100


def vote_verdict(result: dict[str, Any]) -> list[str]:
    """What a vote evaluation's numbers say, in words: the model against the no-image
    baseline (the average votes, one guess for every galaxy), and whether there were
    enough galaxies to tell.

    Example:
        >>> vote_verdict({"n_galaxies": 500, "questions": {
        ...     "bar": {"nll": 1.0, "baseline_nll": 1.5}}})
        ['Better than the no-image baseline on every question: the model learnt from the images.']
    """
    scored = {name: q for name, q in result["questions"].items()
              if all(_finite(q.get(k)) for k in ("nll", "baseline_nll"))}
    worse = [name for name, q in scored.items() if q["nll"] >= q["baseline_nll"]]
    lines = []
    if scored and not worse:
        lines.append("Better than the no-image baseline on every question: the model learnt "
                     "from the images.")
    elif scored and len(worse) == len(scored):
        lines.append("No better than the no-image baseline (the average votes, the same guess "
                     "for every galaxy) on any question: the model has not learnt from the "
                     "images yet; train longer, on more galaxies, or from --init imagenet.")
    elif worse:
        lines.append(f"No better than the no-image baseline on {', '.join(worse)}: the model "
                     f"has not learnt {'that question' if len(worse) == 1 else 'those'} from "
                     "the images yet.")
    if result["n_galaxies"] < FEW_GALAXIES:
        lines.append(f"Only {result['n_galaxies']} galax"
                     f"{'y' if result['n_galaxies'] == 1 else 'ies'}: these figures are rough "
                     "(the 95% intervals show how rough); a few hundred test galaxies give firm "
                     "ones.")
    return lines


def _finite(value: Any) -> bool:
    """Whether ``value`` is a finite number (not None, NaN or missing)."""
    return isinstance(value, int | float) and math.isfinite(value)


def _draw_worst(result: dict[str, Any], path: Path) -> str:
    """Draw ``result["worst"]`` to ``path``; what was done."""
    from galmorph.report.worst_grid import TITLES, worst_grid

    worst = result["worst"]
    task = result.get("task", "votes")
    if not worst:
        return (f"No {'confident misses' if task == 'votes' else 'mistakes'} to draw: "
                f"{_NOTHING_WRONG[task]} ({path} not written)")
    worst_grid(worst, task, result.get("label_column"), path=path)
    return f"Wrote {path}: the {len(worst)} {TITLES[task]}"


_NOTHING_WRONG = {
    "votes": "on every question the volunteers answered confidently, the model gives their answer",
    "classification": "every galaxy is classified right",
    "regression": "every prediction is exact",
}
