"""``galmorph similar-eval``: how well similarity search retrieves galaxies with the same tag.

Every galaxy carrying a morphology tag (from the catalog's Galaxy Zoo 2 vote
counts, or its own 0/1 columns) is a query; precision@k is the fraction of its k
nearest galaxies with the same tag. Printed per tag and averaged, beside the same
measure for random neighbours, raw-pixel PCA, an untrained encoder of the same
architecture, and the model's own predicted vote fractions
(see :func:`galmorph.search.evaluation.evaluate_similarity`).

Example::

    galmorph similar-eval embeddings.parquet --catalog catalog.csv -k 10 --json eval.json
"""

from __future__ import annotations

import argparse

from galmorph.cli._common import add_num_workers, make_console, positive_int


def _tag_list(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``similar-eval`` sub-command."""
    from galmorph.search.defaults import BASELINES, METRICS
    from galmorph.search.tags import TAGS

    definitions = "; ".join(f"{t.name} ({t.kind}): {t.rule}" for t in TAGS)
    parser = subparsers.add_parser(
        "similar-eval",
        help="precision@k of similarity search for morphology tags, beside baselines",
        description=(
            "Use every tagged galaxy of a catalog as a query and report the fraction of its "
            "k nearest galaxies (in the embeddings) that share its tag, per tag and on "
            "average, beside random neighbours, raw-pixel PCA, an untrained encoder and the "
            "model's predicted vote fractions searched the same way."
        ),
        epilog=(
            "Tags from GZ2 votes (V: votes on a question, f: fraction of them for an "
            f"answer): {definitions}. Trained tags are answers a gz2-no-odd model learns; "
            "transfer tags (t06/t08) are not."
        ),
    )
    parser.add_argument("embeddings", metavar="EMBEDDINGS", help="parquet file from galmorph embed")
    parser.add_argument("--catalog", required=True, metavar="CATALOG",
                        help="the truth: id_str, file_loc and GZ2 vote counts or 0/1 tag columns")
    parser.add_argument("-k", type=positive_int, default=10, help="neighbours (default: 10)")
    parser.add_argument("--metric", choices=METRICS, default="cosine",
                        help="distance for the embeddings and every baseline (default: cosine)")
    parser.add_argument("--tags", type=_tag_list, default=None, metavar="A,B,...",
                        help="tags to evaluate: built-in names or 0/1 catalog columns "
                             "(default: every built-in tag the catalog has votes for)")
    parser.add_argument("--baselines", type=_tag_list, default=list(BASELINES),
                        metavar="A,B,...", help=f"default: {','.join(BASELINES)}")
    parser.add_argument("--split", choices=("train", "val", "test"), default=None,
                        help="keep only the galaxies in this split of the model's training "
                             "(as its file records; test: the galaxies it never saw)")
    parser.add_argument("--json", metavar="OUT.json", default=None,
                        help="also write the results as JSON")
    parser.add_argument("-m", "--model", default=None,
                        help="the embeddings' model, if it is not where the file records it")
    parser.add_argument("--device", default="auto",
                        help="auto, cpu, cuda, cuda:N or mps (default: auto)")
    parser.add_argument("--batch-size", type=positive_int, default=128,
                        help="galaxies per batch (default: 128)")
    add_num_workers(parser)
    parser.add_argument("--seed", type=int, default=0,
                        help="seed of the untrained encoder's weights (default: 0)")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bars")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Evaluate, print the table and write the JSON if asked; 0 on success."""
    from galmorph.cli._common import json_file
    from galmorph.files import write_json
    from galmorph.search.evaluation import evaluate_similarity, print_tag_evaluation

    json_path = json_file(args.json, "the results")  # before the evaluation: minutes
    result = evaluate_similarity(
        args.embeddings, args.catalog, k=args.k, metric=args.metric, tags=args.tags,
        baselines=args.baselines, model=args.model, split=args.split, device=args.device,
        batch_size=args.batch_size, num_workers=args.num_workers,
        progress=not args.no_progress, seed=args.seed,
    )
    console = make_console()
    model = result["model"]
    console.print(f"Embeddings {args.embeddings} (model {model['galmorph_model']}, sha256 "
                  f"{model['galmorph_model_sha256'][:12]}); truth {args.catalog}")
    counts = result["model_split_counts"]
    if counts:
        console.print("Galaxies per split of the model's training: "
                      + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    print_tag_evaluation(result, console)
    if json_path is not None:
        console.print(f"Wrote {write_json(result, json_path)}")
    return 0
