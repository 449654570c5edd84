"""``galmorph validate``: check a catalog before training on it or predicting with it.

Reports the number of galaxies, whether their images exist and can be read (and
their sizes), with ``--schema`` which questions of the decision tree have vote
columns and how many volunteers voted per galaxy, and either "ready to use" (exit
status 0) or every problem found (exit status 1). Without ``--schema`` the vote
columns are not checked: a catalog to predict, embed or search needs none. A
partitioned catalog (a folder of parquet files, a HATS catalog, a quoted glob) is
checked a partition at a time, and for ids in more than one partition
(:func:`galmorph.inference.partition_checks.check_partitions`).

Example::

    galmorph validate catalog.csv --schema gz2
    galmorph validate hats_cat --quick
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console
from rich.table import Table
from rich.text import Text

from galmorph.cli._common import make_console, names_rows, styled
from galmorph.data.defaults import FORMATS, ROWS_NOTE
from galmorph.data.schemas import builtin_schemas

if TYPE_CHECKING:
    import pandas as pd

    from galmorph.data.validation import CatalogSummary


@contextmanager
def image_error_hint(hint: str | None) -> Iterator[None]:
    """An image error raised in the block ends with ``hint``, what to do about it (None:
    as it is)."""
    from galmorph.exceptions import ImageError, user_message

    try:
        yield
    except ImageError as err:
        if hint is None:
            raise
        raise ImageError(f"{user_message(err)}; {hint}") from None


def validate_hint(catalog: str) -> AbstractContextManager[None]:
    """Image errors raised in the block (training, which stops at the first image it
    cannot read) end by pointing to ``galmorph validate``, which lists them all."""
    import shlex

    return image_error_hint(f"galmorph validate {shlex.quote(str(catalog))} lists every "
                            "image that cannot be read: mend those files or take their rows "
                            "out of the catalog")


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``validate`` sub-command."""
    parser = subparsers.add_parser(
        "validate",
        help="check a catalog: columns, ids, image files and vote counts",
        description=(
            "Check that a catalog of galaxies is ready to use: required columns "
            "(id_str, file_loc), unique ids (across the partitions of a partitioned "
            "catalog too), image files that exist and can be read, and, with --schema, "
            "vote counts for the questions of a Galaxy Zoo decision tree (needed by train "
            "and evaluate)."
        ),
    )
    parser.add_argument(
        "catalog",
        metavar="CATALOG",
        help=f"table of galaxies, one per row ({', '.join(FORMATS)}); a folder of "
             "images (one galaxy each, named by its file); or a partitioned catalog (a "
             "folder of parquet files, or a quoted glob)",
    )
    parser.add_argument(
        "--schema",
        metavar="NAME_OR_YAML",
        help=(
            f"also check the vote columns of a decision tree: {', '.join(builtin_schemas())} "
            "or a YAML schema file (for catalogs to train or evaluate on; default: votes "
            "not checked)"
        ),
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="only check that image files exist, without reading them (large catalogs)",
    )
    parser.add_argument(
        "--skip-missing-images",
        action="store_true",
        help="treat rows whose image file is missing as rows to skip, not as an error",
    )
    parser.add_argument("--id-column", metavar="NAME", default=None,
                        help="the column of galaxy ids, when it is not named id_str")
    parser.add_argument("--file-column", metavar="NAME", default=None,
                        help="the column of image paths, when it is not named file_loc")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Print the catalog summary and what to do next; 0 when it is usable, 1 otherwise."""
    console = make_console()
    with console.status("checking the catalog" + ("" if args.quick else " and reading its images")):
        frame, summary = _inspect(args)
    _print_summary(console, summary)
    if summary.usable:
        _print_next_steps(console, args, summary, frame)
    return 0 if summary.usable else 1


def _inspect(args: argparse.Namespace) -> tuple[pd.DataFrame, CatalogSummary]:
    """The catalog as the jobs will read it (columns renamed; of a partitioned one, image
    paths only), and what the checks found."""
    from pathlib import Path

    from galmorph.data.catalog import read_catalog
    from galmorph.data.validation import inspect_catalog
    from galmorph.inference.partitions import find_partitions, is_partitioned

    if is_partitioned(args.catalog):
        from galmorph.data.table_checks import plural
        from galmorph.inference.partition_checks import check_partitions

        partitions = find_partitions(args.catalog)
        summary, files = check_partitions(
            partitions, args.schema, id_column=args.id_column,
            file_column=args.file_column, drop=args.skip_missing_images,
            decode_images=not args.quick, progress=False)
        summary.source = f"{args.catalog} ({plural(len(partitions), 'partition')})"
        return files.to_frame("file_loc"), summary
    frame = read_catalog(args.catalog, args.id_column, args.file_column)
    return inspect_catalog(
        frame, args.schema, str(args.catalog), Path(args.catalog).parent, check_images=True,
        drop=args.skip_missing_images, decode_images=not args.quick,
    )


def _image_sizes(shapes: dict[tuple[int, ...], int]) -> str:
    """``128x128 px, 3 channels (all)`` or the most common sizes with their counts."""
    def size(shape: tuple[int, ...]) -> str:
        height, width, channels = shape
        return f"{width}x{height} px, {channels} channel{'s' if channels > 1 else ''}"

    if len(shapes) == 1:
        return f"{size(next(iter(shapes)))} (all)"
    from galmorph.data.table_checks import plural

    listed = [f"{size(shape)}: {n}" for shape, n in list(shapes.items())[:3]]
    more = f"; {plural(len(shapes) - 3, 'more size')}" if len(shapes) > 3 else ""
    advice = []
    if len({shape[:2] for shape in shapes}) > 1:
        advice.append("a model sees each image's centre resized to its input, so galaxies look "
                      "larger or smaller with each cutout's scale; cut every image the same "
                      "way (field of view and pixel scale)")
    if len({shape[2] for shape in shapes}) > 1:
        advice.append("grey and colour images are mixed: each is converted to the channels the "
                      "model learnt, so the grey ones show it no colour; give every galaxy the "
                      "same bands")
    return f"{len(shapes)} sizes ({'; '.join(listed)}{more}): {'; '.join(advice)}"


def _print_summary(console: Console, s: CatalogSummary) -> None:
    from galmorph.data.table_checks import plural

    console.print(Text.assemble(("Catalog  ", "bold"), s.source))
    schema = (
        f"{s.schema.name} ({plural(s.schema.n_questions, 'question')}, "
        f"{plural(s.schema.n_answers, 'answer')})"
        if s.schema is not None else "none given: vote columns not checked (--schema NAME)"
    )
    console.print(Text.assemble(("Schema   ", "bold"), schema))
    facts = Table.grid(padding=(0, 3))
    facts.add_row("Galaxies (rows)", str(s.n_rows))
    if s.n_images_found is None:
        facts.add_row("Images", "not checked (no rows)" if s.n_rows == 0
                      else f"not checked (no {s.file_column} column)")
    else:
        facts.add_row("Images found", str(s.n_images_found))
        facts.add_row("Images missing", str(s.n_images_missing))
        if s.n_images_elsewhere:
            facts.add_row("Images elsewhere", f"{s.n_images_elsewhere} (web addresses or "
                          "another computer's drives)")
        if s.image_shapes:
            facts.add_row("Image sizes", _image_sizes(s.image_shapes))
    if s.votes_question is not None:
        facts.add_row(
            "Votes per galaxy",
            f"median {s.votes_median:g}, min {s.votes_min}, max {s.votes_max} "
            f"(total votes on {s.votes_question})",
        )
    console.print()
    console.print(facts)
    if s.schema is not None:
        _print_questions(console, s)
    _print_verdict(console, s)


def _print_questions(console: Console, s: CatalogSummary) -> None:
    assert s.schema is not None
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


def _print_verdict(console: Console, s: CatalogSummary) -> None:
    if s.warnings:
        console.print()
        console.print(styled("Notes", "bold yellow"))
        for message in s.warnings:
            console.print(Text(f"  - {message}"), soft_wrap=True)
    console.print()
    if s.usable:
        skipped = s.n_rows - s.n_rows_kept
        console.print(styled(
            "Ready to use:", "bold green", f" {s.n_rows_kept} "
            + ("galaxy" if s.n_rows_kept == 1 else "galaxies")
            + (f" (skipping {skipped} without an image file)." if skipped else ".")
            + ("" if s.schema is not None else
               " Vote counts were not checked: add --schema NAME before train or evaluate.")
        ))
        _print_rows_note(console, s)
        return
    console.print(styled(f"Not usable: {len(s.errors)} problem{'s' if len(s.errors) > 1 else ''}",
                         "bold red"))
    for number, message in enumerate(s.errors, 1):
        console.print(Text(f"  {number}. {message}"), soft_wrap=True)
    _print_rows_note(console, s)


def _print_rows_note(console: Console, s: CatalogSummary) -> None:
    """How a table's rows are numbered, when a message names one (a folder of images has
    no rows to find in a spreadsheet: its messages name the files)."""
    if Path(s.source).is_dir():
        return
    if any(names_rows(message) for message in s.errors + s.warnings):
        console.print(Text(ROWS_NOTE, style="dim"), soft_wrap=True)


def _print_next_steps(console: Console, args: argparse.Namespace, s: CatalogSummary,
                      frame: pd.DataFrame) -> None:
    """Notes on the images for the shipped model, and the commands to run next."""
    import shlex

    notes = _image_notes(s, frame, shlex.quote(args.catalog))
    renamed = args.id_column or args.file_column
    if renamed and (s.schema is not None or any("galmorph adapt" in n for n in notes)):
        notes.append("adapt, train and evaluate read the columns id_str and file_loc only: "
                     "rename yours in the catalog for them")
    console.print()
    for note in notes:
        console.print(Text(f"Note: {note}"), soft_wrap=True)
    console.print(styled("Next", "bold", ", for example:"))
    for command in _next_commands(args, s):
        console.print(Text(f"  {command}"), soft_wrap=True)


def _next_commands(args: argparse.Namespace, s: CatalogSummary) -> list[str]:
    """Train (and evaluate) with a schema, else predict and embed, with the options used."""
    import shlex

    catalog = shlex.quote(args.catalog)
    skip = " --skip-missing-images" if s.n_rows_kept < s.n_rows else ""
    if s.schema is not None:
        from galmorph.models.defaults import DEFAULT_MODEL_SCHEMAS

        train = f"galmorph train {catalog} --schema {shlex.quote(args.schema)} -o run{skip}"
        scored = not skip and args.schema in DEFAULT_MODEL_SCHEMAS  # the shipped model's tree
        return [train, f"galmorph evaluate {catalog}"] if scored else [train]
    columns = "".join(f" --{option}-column {shlex.quote(name)}" for option, name in
                      (("id", args.id_column), ("file", args.file_column)) if name)
    from galmorph.inference.partitions import is_partitioned

    if is_partitioned(args.catalog):  # outputs are folders; Dask workers share the work
        return [f"galmorph {job} {catalog}{columns}{skip} -o {out} --workers 2" for job, out
                in (("predict", "predictions"), ("embed", "embeddings"))]
    return [f"galmorph {job} {catalog}{columns}{skip} -o {out}" for job, out in
            (("predict", "predictions.parquet"), ("embed", "embeddings.parquet"))]


def _image_notes(s: CatalogSummary, frame: pd.DataFrame, catalog: str) -> list[str]:
    """FITS mixed with other images; images unlike the shipped starter model's."""
    from galmorph.data.fits_images import FITS_SUFFIXES
    from galmorph.data.image_config import ImageConfig
    from galmorph.data.table_checks import plural

    notes = []
    paths = frame["file_loc"].tolist()
    fits = sum(str(p).lower().endswith(FITS_SUFFIXES) for p in paths)
    if 0 < fits < len(paths):
        others = len(paths) - fits
        notes.append(
            f"{plural(fits, 'image')} {'is' if fits == 1 else 'are'} FITS and {others} "
            f"{'is' if others == 1 else 'are'} not: galmorph stretches FITS "
            "data (asinh) but reads JPEG, PNG and other 8-bit images as they are, so a model "
            "sees the two kinds differently; use one kind for a catalog")
    sdss = ImageConfig.for_sdss_gz2()
    side = round(sdss.field_of_view / sdss.pixel_scale)
    if any(shape[:2] != (side, side) for shape in s.image_shapes):
        notes.append(
            f"the shipped model (gz2-starter) learnt {side}x{side} px {sdss.survey} cutouts "
            f"({sdss.field_of_view:g}\" at {sdss.pixel_scale:g}\"/px); for images of another "
            f"survey or scale, adapt it first: galmorph adapt {catalog} -o adapted.pt "
            "(then --model adapted.pt)")
    return notes
