"""Write one GZ2 training catalog from several: ids, coordinates, images and vote counts.

Concatenates GZ2 catalogs (e.g. ``../shared/data/gz2_sdss`` and ``gz2_sdss_more``),
keeps ``id_str``, ``ra``, ``dec``, ``file_loc`` and the ``_count`` columns, and
writes ``OUT/catalog.csv`` with every ``file_loc`` relative to ``OUT``. With
``--copy-images`` the images are copied to ``OUT/<set>/images/`` (a folder that
travels alone); otherwise ``file_loc`` points back at the originals.

The starter models split this catalog with ``--split-seed 1``: the id-keyed split
(:mod:`galmorph.data.splits`) keeps the bundled demo galaxies in the test split.

Example::

    python scripts/gz2_catalog.py ../shared/data/gz2_sdss ../shared/data/gz2_sdss_more \\
        -o runs/gz2-all --copy-images
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path

import pandas as pd

KEEP = ("id_str", "ra", "dec", "file_loc")


def combine(folders: list[Path], out: Path, copy_images: bool, limit: int | None) -> Path:
    """Write ``out/catalog.csv`` from the catalogs of ``folders``; its path."""
    frames = []
    for folder in folders:
        catalog = folder / "catalog.csv"
        if not catalog.is_file():
            sys.exit(f"error: {catalog} does not exist")
        frame = pd.read_csv(catalog, dtype={"id_str": str, "file_loc": str})
        if limit is not None:
            frame = frame.head(limit)
        absent = [c for c in ("id_str", "file_loc") if c not in frame.columns]
        if absent:
            sys.exit(f"error: {catalog} has no column {', '.join(absent)}")
        counts = [c for c in frame.columns if c.endswith("_count")]
        frame = frame[[c for c in KEEP if c in frame.columns] + counts].copy()
        sources = [folder / loc for loc in frame["file_loc"]]
        if copy_images:
            missing = [str(s) for s in sources if not s.is_file()]
            if missing:
                sys.exit(f"error: {catalog}: image {missing[0]} does not exist "
                         f"({len(missing)} missing)")
            target = out / folder.name
            for source, loc in zip(sources, frame["file_loc"], strict=True):
                (target / loc).parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(source, target / loc)
            frame["file_loc"] = [f"{folder.name}/{loc}" for loc in frame["file_loc"]]
        else:
            frame["file_loc"] = [os.path.relpath(s.resolve(), out.resolve()) for s in sources]
        frames.append(frame)
    combined = pd.concat(frames, ignore_index=True)
    duplicated = combined["id_str"].duplicated()
    if duplicated.any():
        repeated = combined["id_str"][duplicated].tolist()[:5]
        sys.exit(f"error: ids in more than one catalog: {repeated}")
    out.mkdir(parents=True, exist_ok=True)
    path = out / "catalog.csv"
    tmp = path.with_suffix(".csv.tmp")
    combined.to_csv(tmp, index=False)
    tmp.replace(path)
    return path


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folders", nargs="+", type=Path, help="folders holding catalog.csv")
    parser.add_argument("-o", "--out", type=Path, required=True, help="output folder")
    parser.add_argument("--copy-images", action="store_true")
    parser.add_argument("--limit", type=int, default=None, help="first N galaxies of each")
    args = parser.parse_args(argv)
    path = combine(args.folders, args.out, args.copy_images, args.limit)
    print(f"{path}: {len(pd.read_csv(path, usecols=['id_str']))} galaxies")


if __name__ == "__main__":
    main()
