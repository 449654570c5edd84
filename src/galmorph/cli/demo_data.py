"""``galmorph demo-data``: copy the bundled demo galaxies to a folder of your own."""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from galmorph.cli._common import make_console, styled
from galmorph.data.bundled import demo_dir
from galmorph.exceptions import GalmorphError


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``demo-data`` sub-command."""
    parser = subparsers.add_parser(
        "demo-data",
        help="copy the bundled demo galaxies (catalog + images) to a folder",
        description=(
            "Copy the 630 bundled SDSS galaxies with Galaxy Zoo 2 votes (catalog.csv, "
            "images/, PROVENANCE.md) into FOLDER, to try every command on real data."
        ),
    )
    parser.add_argument("folder", type=Path,
                        help="folder to create (or an empty one); an existing folder with "
                        "files in it is refused, never overwritten")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Copy the bundled demo galaxies into an empty folder; 0 on success."""
    target: Path = args.folder
    if target.exists() and any(target.iterdir()):
        raise GalmorphError(f"{target} already exists and is not empty: choose a new folder")
    shutil.copytree(demo_dir(), target, dirs_exist_ok=True)
    catalog = target / "catalog.csv"
    console = make_console()
    console.print(styled(f"demo catalog: {catalog}", "bold", " (630 galaxies)"))
    console.print(f"Next: galmorph validate {catalog} --schema gz2 (check it), "
                  f"galmorph demo --data {catalog} (every step, with a report), or the "
                  f"commands of README.md, e.g. galmorph predict {catalog} -o "
                  f"{target / 'predictions.parquet'}")
    return 0
