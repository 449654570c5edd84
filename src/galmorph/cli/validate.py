"""``galmorph validate``: check a catalog before training on it or predicting with it.

Reports the number of galaxies, whether their images exist, which questions of
the decision tree have vote columns, how many volunteers voted per galaxy, and
either "ready to use" (exit status 0) or every problem found (exit status 1).

Example::

    galmorph validate catalog.csv --schema gz2
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from rich.console import Console
from rich.table import Table
from rich.text import Text

from galmorph.data.defaults import FORMATS
from galmorph.data.schemas import builtin_schemas

if TYPE_CHECKING:
    from galmorph.data.validation import CatalogSummary


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``validate`` sub-command."""
    parser = subparsers.add_parser(
        "validate",
        help="check a catalog: columns, ids, image files and vote counts",
        description=(
            "Check that a catalog of galaxies is ready to use: required columns "
            "(id_str, file_loc), unique ids, existing image files, and vote counts "
            "for the questions of a Galaxy Zoo decision tree."
        ),
    )
    parser.add_argument(
        "catalog",
        metavar="CATALOG",
        help=f"table of galaxies, one per row ({', '.join(FORMATS)})",
    )
    parser.add_argument(
        "--schema",
        default="gz2",
        metavar="NAME_OR_YAML",
        help=(
            f"decision tree of the vote columns: {', '.join(builtin_schemas())} "
            "or a YAML schema file (default: gz2)"
        ),
    )
    parser.add_argument(
        "--skip-missing-images",
        action="store_true",
        help="treat rows whose image file is missing as rows to skip, not as an error",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Print the catalog summary; 0 when it is usable, 1 otherwise."""
    from galmorph.data.catalog import summarize_catalog

    summary = summarize_catalog(
        args.catalog, args.schema, drop_missing_images=args.skip_missing_images
    )
    _print_summary(Console(highlight=False), summary)
    return 0 if summary.usable else 1


def _print_summary(console: Console, s: CatalogSummary) -> None:
    assert s.schema is not None  # validate always checks against a schema
    console.print(Text.assemble(("Catalog  ", "bold"), s.source))
    console.print(
        Text.assemble(
            ("Schema   ", "bold"),
            f"{s.schema.name} ({s.schema.n_questions} questions, {s.schema.n_answers} answers)",
        )
    )
    facts = Table.grid(padding=(0, 3))
    facts.add_row("Galaxies (rows)", str(s.n_rows))
    if s.n_images_found is None:
        facts.add_row("Images", "not checked (no file_loc column)")
    else:
        facts.add_row("Images found", str(s.n_images_found))
        facts.add_row("Images missing", str(s.n_images_missing))
    if s.votes_question is not None:
        facts.add_row(
            "Votes per galaxy",
            f"median {s.votes_median:g}, min {s.votes_min}, max {s.votes_max} "
            f"(total votes on {s.votes_question})",
        )
    console.print()
    console.print(facts)

    present = Table(
        title=f"Questions with vote columns ({len(s.questions_present)} of {s.schema.n_questions})",
        title_justify="left",
        show_edge=False,
    )
    present.add_column("question")
    present.add_column("answers", justify="right")
    present.add_column("asks")
    for name in s.questions_present:
        question = s.schema.question(name)
        present.add_row(Text(name), str(len(question.answers)), Text(question.text))
    console.print()
    console.print(present if s.questions_present else "Questions with vote columns: none")
    if s.questions_absent:
        console.print(
            Text(
                f"Questions without vote columns ({len(s.questions_absent)}): "
                f"{', '.join(s.questions_absent)}"
            )
        )

    if s.warnings:
        console.print()
        console.print("[bold yellow]Notes[/]")
        for message in s.warnings:
            console.print(Text(f"  - {message}"), soft_wrap=True)
    console.print()
    if s.usable:
        skipped = s.n_rows - s.n_rows_kept
        console.print(
            f"[bold green]Ready to use:[/] {s.n_rows_kept} "
            + ("galaxy" if s.n_rows_kept == 1 else "galaxies")
            + (f" (skipping {skipped} without an image file)." if skipped else ".")
        )
        return
    console.print(
        f"[bold red]Not usable: {len(s.errors)} problem{'s' if len(s.errors) > 1 else ''}[/]"
    )
    for number, message in enumerate(s.errors, 1):
        console.print(Text(f"  {number}. {message}"), soft_wrap=True)
