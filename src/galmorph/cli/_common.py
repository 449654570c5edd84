"""Argument types and helpers shared by the sub-commands."""

from __future__ import annotations

import argparse
import os
import re
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from galmorph.exceptions import GalmorphError

if TYPE_CHECKING:
    import pandas as pd
    from rich.console import Console
    from rich.text import Text


def whole_number(low: int, high: int | None = None) -> Callable[[str], int]:
    """An argparse type: an integer from ``low`` (to ``high``), with a clear message otherwise."""
    allowed = f"from {low} to {high}" if high is not None else f"of {low} or more"

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        if value < low or (high is not None and value > high):
            raise argparse.ArgumentTypeError(f"expected a whole number {allowed}, got {value}")
        return value

    return parse


def names_rows(message: str) -> bool:
    """Whether a message names a catalog's rows by number (``row 3``, ``rows 0, 1``)."""
    return re.search(r"\brows? \d", message) is not None


def make_console(*, stderr: bool = False) -> Console:
    """The console a command prints its messages on (stdout, or stderr).

    Numbers and paths are not coloured, and no line breaks are added inside long lines,
    so a path printed stays whole to copy (the terminal wraps it for display only). Text
    is printed as written: ``[...]`` in a message or a path is not read as rich markup
    (style a part with :func:`styled`).
    """
    from rich.console import Console

    return Console(stderr=stderr, highlight=False, soft_wrap=True, markup=False)


def styled(label: str, style: str, rest: str = "") -> Text:
    """``label`` in ``style`` (e.g. ``"bold red"``), then ``rest`` as written."""
    from rich.text import Text

    return Text.assemble((label, style), rest)


def writable_file(path: str, option: str) -> Path:
    """``path`` if a file can be written there (missing folders are made later).

    Raises:
        GalmorphError: naming ``option`` when ``path`` is a folder or under no writable one.
    """
    target = Path(path)
    if target.is_dir():
        raise GalmorphError(f"{option} {path} is a folder: give a file name in it")
    folder = next(p for p in target.absolute().parents if p.exists())
    if not folder.is_dir():
        raise GalmorphError(f"cannot write {option} {path}: {folder} is a file, not a folder")
    try:
        with tempfile.TemporaryFile(dir=folder):  # a real write: permissions alone can lie
            pass
    except OSError as err:
        raise GalmorphError(f"cannot write {option} {path}: {folder} is not a writable folder "
                            f"({err.strerror or err})") from None
    return target


#: argparse types: counts above 0, counts from 0 (e.g. worker processes), TCP ports.
positive_int = whole_number(1)
non_negative_int = whole_number(0)


def add_num_workers(parser: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
    """``--num-workers N``, image-decoding processes (None: the loaders' default)."""
    from galmorph.data.defaults import MAX_DEFAULT_WORKERS

    parser.add_argument(
        "--num-workers", type=non_negative_int, default=None, metavar="N",
        help="image-decoding processes; 0 decodes in the main process (default: one fewer "
             f"than the cores, at most {MAX_DEFAULT_WORKERS['cpu']}, or "
             f"{MAX_DEFAULT_WORKERS['cuda']} with a CUDA GPU)")
port_number = whole_number(0, 65535)


@contextmanager
def no_new_empty_dir(path: str | Path) -> Iterator[None]:
    """On an error inside the block, remove ``path`` (and parents) created in it, if empty.

    A failed command leaves no empty output folder behind; folders that existed before
    the block, or that hold anything, are kept.
    """
    path = Path(path).absolute()
    new = [folder for folder in (path, *path.parents) if not folder.exists()]
    try:
        yield
    except BaseException:
        for folder in new:  # deepest first
            if not folder.is_dir():
                continue
            try:
                folder.rmdir()  # only an empty folder goes
            except OSError:
                break
        raise


def _number(text: str) -> float:
    """``text`` as a number, or an argparse error saying it is not one."""
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None


def finite_float(text: str) -> float:
    """An argparse type: any finite number (not nan or inf)."""
    value = _number(text)
    if not abs(value) < float("inf"):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text}")
    return value


def positive_float(text: str) -> float:
    """An argparse type: a finite number > 0, with a clear message otherwise."""
    value = _number(text)
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"expected a number above 0, got {text}")
    return value


def non_negative_float(text: str) -> float:
    """An argparse type: a finite number from 0."""
    value = _number(text)
    if not 0 <= value < float("inf"):
        raise argparse.ArgumentTypeError(f"expected a number of 0 or more, got {value}")
    return value


def number_below(high: float) -> Callable[[str], float]:
    """An argparse type: a number from 0 up to (not including) ``high``."""

    def parse(text: str) -> float:
        value = _number(text)
        if not 0 <= value < high:
            raise argparse.ArgumentTypeError(
                f"expected a number from 0 up to (not including) {high:g}, got {value}")
        return value

    return parse


#: argparse types: a fraction in [0, 1) (dropout, held-out share), a seed numpy accepts.
fraction = number_below(1)
seed_number = whole_number(0, 2**32 - 1)


def check_crop_fraction(crop: tuple[float, float] | None) -> None:
    """Raises GalmorphError unless ``--crop-fraction MIN MAX`` (each > 0) has MIN <= MAX <= 1."""
    if crop is not None and not crop[0] <= crop[1] <= 1:
        raise GalmorphError(f"--crop-fraction needs MIN <= MAX <= 1, got {crop[0]} {crop[1]}")


def json_file(path: str | None, what: str, option: str = "--json") -> Path | None:
    """The ``--json`` file, checked before any work: a ``.json`` name in a writable folder
    (so that no input, such as the embeddings, is overwritten by it); None when not given.
    ``what`` names what is written in the message (e.g. "the metrics").

    Raises:
        GalmorphError: naming the option and the file.
    """
    if path is None:
        return None
    target = writable_file(path, option)
    if target.suffix.lower() != ".json":
        raise GalmorphError(f"{option} {path}: {what} are written as JSON: name the file "
                            f"{target.with_suffix('.json').name}")
    return target


def check_not_input(output: str | Path, inputs: dict[str, str | Path]) -> None:
    """Raises GalmorphError when the file ``output`` is one of ``inputs`` (by what they are)."""
    if not os.path.exists(output):
        return
    for what, path in inputs.items():
        if os.path.exists(path) and os.path.samefile(path, output):
            raise GalmorphError(f"the output {output} would overwrite the {what}: nothing was "
                                "written; name another file")


def refuse_replacing_an_image(output: str | Path, images: Any, named: str, where: str) -> None:
    """Raises GalmorphError when ``output`` is one of ``images`` (None: none known), naming
    it as ``named`` (``--grid g.png``) and them as the ``where``'s (``catalog``)."""
    from galmorph.files import is_one_of

    if images is not None and is_one_of(output, images):
        raise GalmorphError(f"{named} is the image of a galaxy in the {where}: writing there "
                            "would replace it; name another file")


def add_encoder_image_options(parser: argparse.ArgumentParser) -> None:
    """``--input-size``, ``--mean`` and ``--std``: image settings of an external encoder."""
    group = parser.add_argument_group(
        "external encoders",
        "image settings for a timm-format encoder (a folder or hf_hub: repository with "
        "config.json) where its config lacks them or you want others; a galmorph model "
        "carries its own",
    )
    group.add_argument("--input-size", type=positive_int, default=None, metavar="PX",
                       help="input side in pixels")
    group.add_argument("--mean", type=finite_float, nargs="+", default=None,
                       help="per-channel mean of pixels scaled to [0, 1]")
    group.add_argument("--std", type=positive_float, nargs="+", default=None,
                       help="per-channel standard deviation of pixels scaled to [0, 1]")


def encoder_image(args: argparse.Namespace) -> dict[str, Any] | None:
    """The ``--input-size/--mean/--std`` settings given, or None when none is."""
    given = {"size": args.input_size, "mean": args.mean, "std": args.std}
    return {k: v for k, v in given.items() if v is not None} or None


def add_source_options(parser: argparse.ArgumentParser) -> None:
    """``--survey``, ``--bands``, ``--pixel-scale``, ``--field-of-view``: image conventions."""
    group = parser.add_argument_group(
        "source images",
        "conventions of the new images, recorded in the model (default: the starting model's "
        "when the images have the same size and pixel scale (--pixel-scale, or a FITS "
        "image's WCS header), else unknown)",
    )
    group.add_argument("--survey", help="e.g. 'DECaLS DR5'")
    group.add_argument("--bands", help="filters in channel order, e.g. grz")
    group.add_argument("--pixel-scale", type=positive_float, help="arcsec per pixel")
    group.add_argument("--field-of-view", type=positive_float, help="image side in arcsec")


def source_options(args: argparse.Namespace) -> dict[str, Any]:
    """The source conventions given by :func:`add_source_options`' flags, by field name."""
    given = {"survey": args.survey, "bands": args.bands, "pixel_scale": args.pixel_scale,
             "field_of_view": args.field_of_view}
    return {k: v for k, v in given.items() if v is not None}


def model_with_image(args: argparse.Namespace) -> Any:
    """``args.model`` loaded with the external-encoder image settings, when any is given.

    Raises:
        GalmorphError: when they are given for a galmorph model, which has its own.
    """
    image = encoder_image(args)
    if image is None:
        return args.model
    from galmorph.models.checkpoint import load_model

    return _checked_encoder(load_model(args.model, image=image))


def _checked_encoder(loaded: Any) -> Any:
    """``loaded`` if it is an external encoder, which takes image settings.

    Raises:
        GalmorphError: for a galmorph model, which has its own.
    """
    from galmorph.models.external import ENCODER_TASK

    if loaded.task != ENCODER_TASK:
        raise GalmorphError(
            f"--input-size, --mean and --std are for external encoders; {loaded.name} is a "
            "galmorph model with its own image settings"
        )
    return loaded


def add_partition_options(parser: argparse.ArgumentParser) -> None:
    """``--workers`` and ``--scheduler`` (partitioned catalogs), ``--id-column`` and
    ``--file-column`` (any catalog)."""
    group = parser.add_argument_group(
        "partitioned catalogs",
        "CATALOG may be a folder of parquet files at any depth (a HATS catalog's "
        "Norder=*/Dir=*/Npix=*.parquet included) or a quoted glob; OUT is then a folder that "
        "mirrors it, one parquet file per partition, and OUT/_manifest.json lists the "
        "partitions done. A re-run skips them. Relative image paths are read from the "
        "catalog's folder. Without --workers or --scheduler the partitions are done one "
        "after another in this process",
    )
    group.add_argument("--workers", type=positive_int, default=None, metavar="N",
                       help="start a local Dask cluster of N worker processes (127.0.0.1)")
    group.add_argument("--scheduler", default=None, metavar="ADDRESS",
                       help="run on the Dask cluster of this scheduler (e.g. tcp://host:8786); "
                            "every worker needs the catalog, the images and the model, and "
                            "one thread (dask worker --nthreads 1)")
    parser.add_argument("--id-column", default=None, metavar="NAME",
                        help="the catalog's column of galaxy ids, when it is not id_str")
    parser.add_argument("--file-column", default=None, metavar="NAME",
                        help="the catalog's column of image paths, when it is not file_loc")


def reject_options(given: dict[str, bool], why: str) -> None:
    """Raises GalmorphError naming the options of ``given`` that are set, and ``why``."""
    named = [option for option, used in given.items() if used]
    if named:
        raise GalmorphError(f"{', '.join(named)}: {why}")


def single_file_catalog(args: argparse.Namespace) -> str | pd.DataFrame:
    """The catalog of one file: its path, or with ``--id-column``/``--file-column`` the
    table with those columns renamed (read by :func:`galmorph.data.catalog.read_catalog`).

    Raises:
        GalmorphError: when Dask options, which are for partitioned catalogs, are given.
    """
    reject_options(
        {"--workers": args.workers is not None, "--scheduler": args.scheduler is not None},
        f"for partitioned catalogs (a folder or a glob), and {args.catalog} is a file",
    )
    if args.id_column is None and args.file_column is None:
        return args.catalog
    from galmorph.data.catalog import read_catalog

    return read_catalog(args.catalog, args.id_column, args.file_column)


def run_partitioned(args: argparse.Namespace, kind: str, options: dict[str, Any]) -> int:
    """Predict or embed a partitioned catalog into the folder ``args.output``.

    ``options`` are the keyword arguments of predict_catalog or embed_catalog.
    Prints what was done; lists failed partitions on stderr.

    Returns:
        0, or 1 when a partition failed.
    """
    from galmorph.inference.dask_run import run_partitions
    from galmorph.inference.loading import check_has_head
    from galmorph.inference.partition_task import PartitionJob, job_model
    from galmorph.inference.partitions import check_output_dir, find_partitions

    on_dask = args.workers is not None or args.scheduler is not None
    reject_options({"--num-workers": on_dask and bool(args.num_workers)},
                   "each Dask worker decodes its images itself; add workers with --workers")
    partitions = find_partitions(args.catalog)
    out_dir = check_output_dir(partitions, args.output)
    image = encoder_image(args) if kind == "embed" else None
    # on Dask the model is loaded here only to check it and take its checksum
    loaded = job_model(args.model, image, "cpu" if on_dask else args.device)
    if image is not None:
        _checked_encoder(loaded)
    if kind == "predict":
        check_has_head(loaded)
    job = PartitionJob(kind, str(args.model), loaded.checksum, out_dir, options, image,
                       args.id_column, args.file_column,
                       args.skip_missing_images or args.skip_bad_images, args.skip_bad_images)
    summary = run_partitions(partitions, job, scheduler=args.scheduler, workers=args.workers)
    done = len(summary.computed)
    left_out = summary.rows_read - summary.rows_written
    text = (f"Wrote {done} partition{'' if done == 1 else 's'} ({summary.rows_written} "
            f"galax{'y' if summary.rows_written == 1 else 'ies'}"
            + (f" of {summary.rows_read}; {left_out} left out: image missing or unreadable"
               if left_out else "")
            + f") to {out_dir} (model {loaded.name}, sha256 {loaded.checksum[:12]})")
    if summary.skipped:
        text += f"; skipped {len(summary.skipped)} already complete"
    if summary.empty:
        text += (f"; {len(summary.empty)} had no rows (nothing written for "
                 f"{'it' if len(summary.empty) == 1 else 'them'})")
    make_console().print(text)
    if not summary.failed:
        return 0
    errors = make_console(stderr=True)
    errors.print(styled("error:", "bold red", f" {len(summary.failed)} of {len(partitions)} "
                        "partitions failed (run again to retry them):"))
    for name, message in summary.failed.items():  # most messages name the partition file
        errors.print(f"  - {message}" if name in message else f"  - {name}: {message}")
    if summary.unreadable and not args.skip_bad_images:
        errors.print("To leave out galaxies whose image file cannot be read, add "
                     "--skip-bad-images.")
    return 1
