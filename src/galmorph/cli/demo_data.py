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
    parser.add_argument("folder", type=Path, help="folder to create")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Copy the bundled demo galaxies into an empty folder; 0 on success."""
    target: Path = args.folder
    if target.exists() and any(target.iterdir()):
        raise GalmorphError(f"{target} already exists and is not empty: choose a new folder")
    shutil.copytree(demo_dir(), target, dirs_exist_ok=True)
    make_console().print(styled(f"demo catalog: {target / 'catalog.csv'}", "bold",
                                " (630 galaxies)"))
    return 0
