"""Argument types and helpers shared by the sub-commands."""

from __future__ import annotations

import argparse
from typing import Any


def positive_int(text: str) -> int:
    """An argparse type: an integer > 0, with a clear message otherwise."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a number above 0, got {value}")
    return value


def positive_float(text: str) -> float:
    """An argparse type: a finite number > 0, with a clear message otherwise."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"expected a number above 0, got {text}")
    return value


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
    group.add_argument("--mean", type=float, nargs="+", default=None,
                       help="per-channel mean of pixels scaled to [0, 1]")
    group.add_argument("--std", type=float, nargs="+", default=None,
                       help="per-channel standard deviation of pixels scaled to [0, 1]")


def encoder_image(args: argparse.Namespace) -> dict[str, Any] | None:
    """The ``--input-size/--mean/--std`` settings given, or None when none is."""
    given = {"size": args.input_size, "mean": args.mean, "std": args.std}
    return {k: v for k, v in given.items() if v is not None} or None


def model_with_image(args: argparse.Namespace) -> Any:
    """``args.model`` loaded with the external-encoder image settings, when any is given.

    Raises:
        GalmorphError: when they are given for a galmorph model, which has its own.
    """
    image = encoder_image(args)
    if image is None:
        return args.model
    from galmorph.exceptions import GalmorphError
    from galmorph.models.checkpoint import load_model
    from galmorph.models.external import ENCODER_TASK

    loaded = load_model(args.model, image=image)
    if loaded.task != ENCODER_TASK:
        raise GalmorphError(
            f"--input-size, --mean and --std are for external encoders; {loaded.name} is a "
            "galmorph model with its own image settings"
        )
    return loaded
