"""``galmorph cutouts``: fetch an image per galaxy of a catalog of sky positions.

Writes a folder every other command takes (:mod:`galmorph.data.cutouts`): the images,
and a catalog of the galaxies that have one, with ``file_loc``. Run it again to fetch
the images that failed or were not reached.

Example::

    galmorph cutouts targets.csv -o targets --service legacy
    galmorph predict targets/catalog.csv -o targets/predictions.csv
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from galmorph.cli._common import (
    make_console,
    positive_float,
    styled,
    whole_number,
    writable_file,
)
from galmorph.data.defaults import (
    CUTOUT_FORMATS,
    CUTOUT_RETRIES,
    CUTOUT_SERVICES,
    CUTOUT_TIMEOUT,
    CUTOUT_WORKERS,
    DR10_NORTH_LIMIT,
)


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``cutouts`` sub-command."""
    parser = subparsers.add_parser(
        "cutouts",
        help="fetch an image of each galaxy of a catalog from a survey's cutout service",
        description=(
            "Fetch an image centred on each galaxy of CATALOG (ids and ra/dec in degrees) "
            "from a survey's cutout service into OUT/images, and write OUT/catalog.csv: "
            "the catalog's rows that have an image, with file_loc, ready for validate, "
            "predict, embed and the other commands. Galaxies without an image (outside "
            "the survey, or the service failed) are listed in OUT/failed.csv with the "
            "reason; run the same command again to fetch only what is missing. Needs the "
            "network."),
        epilog=(
            "Services: sdss (SDSS DR17 SkyServer, gri colour; defaults 128 px at 0.2 "
            "arcsec/px, as the shipped model's images) and legacy (the DESI Legacy Imaging "
            "Surveys' viewer, layer ls-dr10: colour, or g, r, i, z bands with --format "
            "fits; defaults 256 px at 0.262 arcsec/px; DR10 covers the sky south of about "
            "Dec +32 deg, elsewhere the images are blank: for the north, --url with "
            "layer=ls-dr9). Any other service: --url with {ra}, {dec} (degrees), {size} "
            "(px), {pixel_scale} (arcsec/px) and {id}, e.g. "
            "'https://example.org/cutout?ra={ra}&dec={dec}&size={size}' --size 128 (a "
            "template has no default size or scale). Images are kept "
            "between runs when they came from the same URL (OUT/sources.csv)."),
    )
    parser.add_argument("catalog", metavar="CATALOG",
                        help="table (CSV, FITS, parquet, VOTable...) with an id and ra, dec "
                             "in degrees per galaxy")
    parser.add_argument("-o", "--output", required=True, metavar="OUT",
                        help="folder for the images and catalog.csv: new, empty, or of an "
                             "earlier run to complete")
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--service", choices=CUTOUT_SERVICES, default=None,
                       help=f"survey to fetch from (default: {CUTOUT_SERVICES[0]})")
    where.add_argument("--url", metavar="TEMPLATE",
                       help="URL of any other cutout service, with {ra} and {dec} (see below)")
    parser.add_argument("--format", choices=tuple(CUTOUT_FORMATS), default="jpg", dest="fmt",
                        help="image format (default: jpg; fits: legacy or --url only)")
    parser.add_argument("--size", type=whole_number(1), metavar="PX",
                        help="side of each image in pixels (default: the service's)")
    scale = parser.add_mutually_exclusive_group()
    scale.add_argument("--pixel-scale", type=positive_float, metavar="ARCSEC",
                       help="arcsec per pixel (default: the service's)")
    scale.add_argument("--pixel-scale-column", metavar="COLUMN",
                       help="the catalog's column of each galaxy's arcsec per pixel, e.g. "
                            "to fit each galaxy's size as Galaxy Zoo DECaLS did")
    parser.add_argument("--id-column", metavar="COLUMN",
                        help="column of unique galaxy ids, when it is not id_str (matched "
                             "in any case); it is called id_str in OUT/catalog.csv")
    parser.add_argument("--workers", type=whole_number(1, 32), default=CUTOUT_WORKERS,
                        metavar="N", help=f"downloads at once (default: {CUTOUT_WORKERS})")
    parser.add_argument("--retries", type=whole_number(0, 20), default=CUTOUT_RETRIES,
                        metavar="N", help="tries after the first when the service is busy "
                                          f"or does not answer (default: {CUTOUT_RETRIES})")
    parser.add_argument("--timeout", type=positive_float, default=CUTOUT_TIMEOUT, metavar="S",
                        help="seconds for each try in all: connecting, waiting and reading the "
                             f"image (default: {CUTOUT_TIMEOUT:g})")
    parser.add_argument("--retry-failed", action="store_true",
                        help="also try again the galaxies an earlier run into OUT found "
                             "without an image for a lasting reason (HTTP 404, blank: "
                             "outside the survey); those the service did not answer are "
                             "always tried again")
    parser.add_argument("--grid", metavar="OUT.png",
                        help=f"also draw the first {GRID_GALAXIES} galaxies with an image, "
                             "with their ids, to check the images' scale and quality")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    parser.set_defaults(func=run)


#: Galaxies ``--grid`` draws.
GRID_GALAXIES = 36


def _service(args: argparse.Namespace) -> Any:
    from galmorph.data.cutout_services import custom_service, get_service

    if args.url is not None:
        return custom_service(args.url, args.fmt)
    return get_service(args.service or CUTOUT_SERVICES[0])


def _described(settings: dict[str, Any]) -> str:
    """``jpg, 128 px at 0.2 arcsec/px: 25.6 arcsec across``, with what is known."""
    size, scale = settings["size"], settings["pixel_scale"]
    parts = [settings["format"]]
    if size is not None:
        parts.append(f"{size} px")
    if isinstance(scale, str):
        parts.append(f"arcsec/px from column {scale}")
    elif scale is not None and size is not None:
        parts[-1] += f" at {scale:g} arcsec/px: {size * scale:g} arcsec across"
    elif scale is not None:
        parts.append(f"{scale:g} arcsec/px")
    return ", ".join(parts)


def _draw(catalog: Path, path: str) -> None:
    """The first :data:`GRID_GALAXIES` galaxies of ``catalog`` with their ids, to ``path``."""
    import pandas as pd

    from galmorph.report.plots import galaxy_grid

    first = pd.read_csv(catalog, nrows=GRID_GALAXIES, dtype={"id_str": str})
    galaxy_grid([str(catalog.parent / f) for f in first["file_loc"]], first["id_str"],
                path=path, panel_size=1.6,
                title=f"The first {len(first)} galaxies with an image ({catalog})")


def run(args: argparse.Namespace) -> int:
    """Fetch the images and say what was done; 0, or 1 when some galaxies have none."""
    from galmorph.data.cutout_fetch import NO_ADDRESS
    from galmorph.data.cutouts import download_cutouts
    from galmorph.inference.progress import progress_bar

    service = _service(args)
    if args.grid:
        from galmorph.report.plots import check_figure_path

        writable_file(str(check_figure_path(args.grid)), "--grid")
    bar = progress_bar("images", enabled=not args.no_progress)
    task = bar.add_task("Fetching", total=None, visible=False)

    def progress(done: int, total: int) -> None:  # shown once the checks have passed
        if not bar.live.is_started:
            bar.start()
        bar.update(task, completed=done, total=total, visible=True)

    try:
        summary = download_cutouts(
            args.catalog, args.output, service=service, fmt=args.fmt, size=args.size,
            pixel_scale=args.pixel_scale_column or args.pixel_scale,
            id_column=args.id_column, workers=args.workers,
            retries=args.retries, timeout=args.timeout, retry_failed=args.retry_failed,
            progress=progress)
    finally:
        if bar.live.is_started:
            bar.stop()
    console = make_console()
    kept = (f"; {summary.kept} {'was' if summary.kept == 1 else 'were'} there already"
            if summary.kept else "")
    console.print(f"Fetched {summary.downloaded} image{'' if summary.downloaded == 1 else 's'} "
                  f"from {service.title} ({_described(summary.settings)}){kept}")
    if summary.catalog is not None and args.grid:
        _draw(summary.catalog, args.grid)
        console.print(f"Drew the first galaxies with an image in {args.grid}")
    if summary.catalog is not None:
        have = summary.n_galaxies - len(summary.failed)
        console.print(styled(f"Catalog: {summary.catalog}", "bold",
                             f" ({have} of {summary.n_galaxies} galaxies with an image)"))
        console.print(f"Next: galmorph validate {summary.catalog}, then e.g. galmorph "
                      f"predict {summary.catalog} -o predictions.csv")
    if summary.failed.empty:
        return 0
    failed = summary.failed
    first = failed.iloc[0]
    temporary = int(failed["temporary"].sum())
    again = (f"; {temporary} of them because the service did not answer or was busy: run "
             "the same command again later to fetch them" if temporary else "")
    if failed["reason"].str.startswith(NO_ADDRESS).all():
        again = ("; this machine cannot reach the service: check its internet connection "
                 "(a cluster's compute nodes often have none: run it on a login node, which "
                 "does, then use the folder from the compute nodes)")
    errors = make_console(stderr=True)
    errors.print(styled(
        "error:", "bold red",
        f" {len(failed)} of {summary.n_galaxies} galaxies have no image, listed with the "
        f"reason in {summary.failed_path} (e.g. {first['id_str']}: {first['reason']}){again}"))
    north = int((failed["dec"] > DR10_NORTH_LIMIT).sum()) if service.name == "legacy" else 0
    if north:
        errors.print(f"{north} of them lie north of Dec +{DR10_NORTH_LIMIT:g}, where DR10 has "
                     "no images: fetch them from DR9 with --url 'https://www.legacysurvey.org/"
                     "viewer/cutout.jpg?ra={ra}&dec={dec}&layer=ls-dr9&pixscale={pixel_scale}"
                     "&size={size}' --size 256 --pixel-scale 0.262 (another -o folder)")
    return 1
