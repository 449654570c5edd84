"""``galmorph adapt``: a model adapted to another survey's images, with no labels.

Example::

    galmorph adapt decals/catalog.csv -o decals-starter.pt --survey "DECaLS DR5"
    galmorph embed decals/catalog.csv -m decals-starter.pt -o decals.parquet
"""

from __future__ import annotations

import argparse
from typing import Any

from galmorph.cli._common import (
    add_num_workers,
    add_source_options,
    check_crop_fraction,
    make_console,
    positive_float,
    positive_int,
    seed_number,
    source_options,
    writable_file,
)
from galmorph.cli.validate import validate_hint


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``adapt`` sub-command."""
    from galmorph.data.views import VIEW_CHOICES
    from galmorph.inference.defaults import DEFAULT_VIEWS
    from galmorph.models.defaults import DEFAULT_MODEL
    from galmorph.training.defaults import DEFAULT_ADAPT_IMAGES

    parser = subparsers.add_parser(
        "adapt",
        help="adapt a model to another survey's images (no labels needed)",
        description=(
            "Write a copy of a model for the images of a catalog from another survey or "
            "image pipeline: its crop is set so that their galaxies appear at the size the "
            "model learnt, and its BatchNorm layers' statistics are re-estimated on them. "
            "The learnt weights are unchanged. Use the new file with --model in predict, "
            "embed, similar, anomaly or finetune."
        ),
        epilog=(
            "Measured with gz2-starter on 165 DECaLS galaxies, adapted on 165 others (3 "
            "draws): its featured and not-edge-on answers' rank correlation with DECaLS "
            "volunteers rose from -0.00 and 0.25 (as it is) to 0.38 and 0.60 "
            "(benchmarks/bench_adapt.py)."
        ),
    )
    parser.add_argument("catalog", metavar="CATALOG",
                        help="table of the new galaxies (id_str, file_loc)")
    parser.add_argument("-o", "--output", required=True, metavar="OUT.pt",
                        help="adapted model file to write (atomically)")
    parser.add_argument("-m", "--model", default=DEFAULT_MODEL,
                        help=("galmorph model to adapt: a shipped name, a model file or "
                              f"hf_hub:ORG/NAME (default: {DEFAULT_MODEL})"))
    parser.add_argument(
        "--crop-fraction", type=positive_float, nargs=2, metavar=("MIN", "MAX"), default=None,
        help="side of the crop as a fraction of the image side (evaluation: their mean; "
             "default: the model's, scaled to the measured galaxy size when the images "
             "have other conventions)",
    )
    parser.add_argument("--max-images", type=positive_int, default=DEFAULT_ADAPT_IMAGES,
                        metavar="N", help="images drawn to estimate the statistics "
                        f"(default: {DEFAULT_ADAPT_IMAGES})")
    parser.add_argument("--views", type=int, choices=VIEW_CHOICES, default=DEFAULT_VIEWS,
                        help=f"orientations of each image (default: {DEFAULT_VIEWS})")
    parser.add_argument("--seed", type=seed_number, default=0,
                        help="seed of the images drawn (default: 0)")
    parser.add_argument("--name", default=None,
                        help="the adapted model's name (default: the model's + '-adapted')")
    parser.add_argument("--device", default="auto",
                        help="auto, cpu, cuda, cuda:N or mps (default: auto)")
    add_num_workers(parser)
    parser.add_argument("--skip-missing-images", action="store_true",
                        help="leave out rows whose image file is missing (with a warning)")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    add_source_options(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Adapt the model and say what changed; 0 on success."""
    import shlex

    from galmorph.exceptions import GalmorphError
    from galmorph.training.adapt import adapt_model

    _check_output(args.output)
    crop = args.crop_fraction
    check_crop_fraction(crop)
    with validate_hint(args.catalog):
        try:
            result = adapt_model(
                args.model, args.catalog, args.output, crop_fraction=crop,
                max_images=args.max_images, views=args.views, source=source_options(args),
                seed=args.seed, name=args.name, drop_missing_images=args.skip_missing_images,
                device=args.device, num_workers=args.num_workers,
                progress=not args.no_progress,
            )
        except ValueError as err:
            raise GalmorphError(str(err)) from None
    record = result.record
    console = make_console()
    console.print(f"Adapted {record['from']} to the images of {args.catalog} (no labels used):")
    console.print(f"  crop       {_crop_text(record)}", soft_wrap=True)
    console.print(f"  BatchNorm  {_batchnorm_text(record)}", soft_wrap=True)
    console.print("  weights    unchanged")
    console.print(f"Wrote {result.model_path}; use it with --model, e.g.\n  galmorph predict "
                  f"{shlex.quote(args.catalog)} --model {shlex.quote(str(result.model_path))} "
                  "-o predictions.parquet", soft_wrap=True)
    return 0


def _check_output(output: str) -> None:
    """The adapted model's path must be a ``.pt`` file name, not a folder, where a file
    can be written (checked before the images are read)."""
    from pathlib import Path

    from galmorph.exceptions import GalmorphError

    path = Path(output)
    if path.is_dir():
        raise GalmorphError(f"{output} is a folder: give the adapted model's file name, "
                            f"e.g. {path / 'adapted.pt'}")
    if path.suffix != ".pt":
        raise GalmorphError(f"name the adapted model .pt, not {path.name} "
                            f"(e.g. {path.with_suffix('.pt').name})")
    writable_file(output, "-o")


def _crop_text(record: dict[str, Any]) -> str:
    """The crop chosen, and why, in words."""
    low, high = record["crop_fraction"]
    middle = (low + high) / 2
    text = "the whole image" if middle == 1 else f"the central {middle:g} of each image's side"
    if low != high:
        text += f" (training crops {low:g}-{high:g})"
    if "galaxy_fill" in record:
        filled = (f"the galaxies fill {record['galaxy_fill']:g} of these images' side and "
                  f"{record['reference_fill']:g} of the model's training images'")
        if middle == 1 and record["galaxy_fill"] > record["reference_fill"]:
            return (f"{text}: {filled}; a crop cannot make them smaller, so they appear "
                    "larger than the model learnt (cutouts of a wider field would not)")
        return f"{text}: {filled}, so they now appear at the size it learnt"
    reason = record.get("crop_reason", "")
    if reason == "given":
        return f"{text}, as given (--crop-fraction)"
    return f"{text}, the model's own ({reason})" if reason else text


def _batchnorm_text(record: dict[str, Any]) -> str:
    """What was re-estimated, on how many images, in words."""
    layers, images, rows = record["batchnorm_layers"], record["images"], record["catalog_rows"]
    if not layers:
        return "none in this model: only the crop was adapted"
    drawn = (f"all {images} images" if images == rows else
             f"{images} of the {rows} images, drawn at random (--max-images, --seed)")
    views = record["views"]
    return (f"running statistics of {layers} layers re-estimated on {drawn}, "
            f"{views} orientation{'s' if views > 1 else ''} each")
