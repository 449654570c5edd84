"""``galmorph train``: train a vote-count model on a Galaxy Zoo catalog."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from galmorph.cli._common import (
    add_num_workers,
    check_crop_fraction,
    fraction,
    make_console,
    no_new_empty_dir,
    non_negative_float,
    number_below,
    positive_float,
    positive_int,
    seed_number,
    styled,
    whole_number,
)
from galmorph.cli.validate import validate_hint
from galmorph.data.image_config import MIN_IMAGE_SIZE
from galmorph.models.defaults import MIN_CONCENTRATION
from galmorph.training.defaults import (
    ACCELERATOR_HELP,
    DEVICES_HELP,
    PRECISION_HELP,
    PRETRAINED_LR_DECAY,
)

if TYPE_CHECKING:
    from pathlib import Path

    from rich.console import Console

    from galmorph.training.train import TrainResult


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``train`` sub-command."""
    parser = subparsers.add_parser(
        "train",
        help="train a model on Galaxy Zoo vote counts",
        description=(
            "Train a network (CNN) to predict every answer of a Galaxy Zoo decision tree from "
            "volunteer vote counts (Dirichlet-multinomial loss: how well the predicted vote "
            "fractions explain the votes, given how many volunteers answered). Writes "
            "model.pt (what --model and --init take), best.ckpt, last.ckpt, CSV logs and "
            "learning_curves.png in the output folder."
        ),
        epilog=(
            "The shipped starter model was trained with: --init imagenet --encoder "
            "tf_efficientnet_lite0 --lr-decay 1 --image-size 128 --rotation right-angles "
            "--crop-fraction 1 1 --centre-jitter 0 --epochs 18 (2 hours on 2 CPU cores)."
        ),
    )
    parser.add_argument("catalog", help="catalog with id_str, file_loc and vote-count columns")
    parser.add_argument("--schema", default="gz2",
                        help="decision tree: built-in name or YAML (default: gz2)")
    parser.add_argument("-o", "--output", required=True, help="output folder")
    parser.add_argument("--encoder", default=None,
                        help="timm model name, for --init scratch or imagenet (default: "
                        "convnext_atto)")
    parser.add_argument(
        "--init", default="scratch", metavar="{scratch,imagenet,MODEL}",
        help="where the encoder starts (default: scratch): random weights, ImageNet weights "
        "(offline for tf_efficientnet_lite0/1/2), or a model: a shipped name, a galmorph "
        "file, a timm encoder folder or hf_hub:ORG/NAME (a vote model of the same "
        "questions starts the answers too)",
    )
    parser.add_argument("--imagenet-weights", default=None, metavar="FILE",
                        help="local timm ImageNet weights for --init imagenet")
    parser.add_argument(
        "--lr-decay", type=positive_float, default=None,
        help="layer-wise learning-rate decay per encoder block from the top (default: "
        f"{PRETRAINED_LR_DECAY:g} for pretrained starts, none from scratch)",
    )
    parser.add_argument("--image-size", type=whole_number(MIN_IMAGE_SIZE), default=96,
                        help=f"side of the square image the network sees (px, {MIN_IMAGE_SIZE} or "
                        "more; default: 96; the starter: 128)")
    parser.add_argument("--channels", type=int, choices=(1, 3), default=3,
                        help="colour (3) or greyscale (1) images (default: 3)")
    parser.add_argument(
        "--rotation", choices=("any", "right-angles"), default="any",
        help="training rotations: any angle, or multiples of 90 degrees (no interpolation; "
        "default: any)",
    )
    parser.add_argument(
        "--crop-fraction", type=positive_float, nargs=2, default=(0.8, 0.95),
        metavar=("MIN", "MAX"),
        help="side of the random training crop near the centre, as a fraction of the image "
        "(default: 0.8 0.95)",
    )
    parser.add_argument("--centre-jitter", type=number_below(0.5), default=0.04,
                        help="largest shift of the crop centre, as a fraction of the image "
                        "(default: 0.04)")
    parser.add_argument("--epochs", type=positive_int, default=20,
                        help="passes over the training galaxies (default: 20)")
    parser.add_argument("--batch-size", type=positive_int, default=64,
                        help="galaxies per training step; lower it if memory runs out "
                        "(default: 64)")
    parser.add_argument("--lr", type=positive_float, default=1e-3,
                        help="learning rate: the size of each training step (AdamW; "
                        "default: 0.001)")
    parser.add_argument("--weight-decay", type=non_negative_float, default=0.05,
                        help="AdamW weight decay, which keeps weights small against "
                        "overfitting (default: 0.05)")
    parser.add_argument("--lr-schedule", "--scheduler", dest="scheduler",
                        choices=("cosine", "plateau"), default="cosine",
                        help="how the learning rate changes: cosine falls smoothly to 0 "
                        "by the last epoch; plateau divides it by 5 after 2 epochs without "
                        "a better validation loss (default: cosine; --scheduler is the "
                        "same option, not the Dask scheduler of predict and embed)")
    parser.add_argument("--dropout", type=fraction, default=0.2,
                        help="fraction of the head's inputs dropped at random while "
                        "training, against overfitting (default: 0.2)")
    parser.add_argument(
        "--min-concentration", type=positive_float, default=None, metavar="BOUND",
        help=f"lower bound of the head's Dirichlet concentrations (default: "
        f"{MIN_CONCENTRATION:g}; 1 reproduces models trained before it was lowered)",
    )
    parser.add_argument("--seed", type=seed_number, default=0,
                        help="seed of weights and augmentation (default: 0)")
    parser.add_argument("--split-seed", type=seed_number, default=0,
                        help="seed of the split, which hashes each id with it "
                        "(default: 0)")
    parser.add_argument(
        "--split", type=float, nargs=3, default=(0.8, 0.1, 0.1),
        metavar=("TRAIN", "VAL", "TEST"),
        help="fractions of the galaxies for training, validation and test, summing to 1 "
        "(default: 0.8 0.1 0.1)",
    )
    parser.add_argument("--patience", type=positive_int, default=None,
                        help="stop after this many epochs without a better validation loss")
    parser.add_argument("--max-minutes", type=positive_float, default=None,
                        help="stop training after this many minutes, keeping the best model")
    parser.add_argument("--accelerator", default="auto", help=ACCELERATOR_HELP)
    parser.add_argument("--devices", default="auto", help=DEVICES_HELP)
    parser.add_argument("--strategy", default="auto",
                        help="how several devices share the work, e.g. ddp: one process "
                        "per GPU (default: auto)")
    parser.add_argument("--num-nodes", type=positive_int, default=1,
                        help="machines for ddp (default: 1)")
    parser.add_argument("--precision", default=None, help=PRECISION_HELP)
    add_num_workers(parser)
    parser.add_argument("--skip-missing-images", action="store_true",
                        help="leave out rows whose image file is missing (with a warning) "
                        "instead of stopping")
    parser.add_argument("--no-cache", action="store_true",
                        help="decode images every epoch instead of once into memory")
    parser.add_argument("--resume", action="store_true", help="continue from OUTPUT/last.ckpt")
    parser.add_argument("--name", default=None, help="model name stored in its metadata")
    parser.add_argument("--no-progress", action="store_true",
                        help="hide the progress bar and model summary (e.g. for log files)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Train a vote-count model and write it to the output folder; 0 on success."""
    from galmorph.data.splits import check_fractions
    from galmorph.exceptions import GalmorphError
    from galmorph.training.trainer import hardware_summary

    try:
        check_fractions(args.split)
    except ValueError:
        raise GalmorphError(
            f"--split {' '.join(f'{f:g}' for f in args.split)}: expected three fractions "
            "TRAIN VAL TEST, each 0 or more, summing to 1 (e.g. --split 0.8 0.1 0.1)"
        ) from None
    check_crop_fraction(args.crop_fraction)
    if args.encoder is not None and args.init not in ("scratch", "imagenet"):
        raise GalmorphError(f"--encoder {args.encoder} needs --init scratch or imagenet: "
                            f"--init {args.init} starts from that model's own encoder")
    if args.imagenet_weights is not None and args.init != "imagenet":
        raise GalmorphError(f"--imagenet-weights {args.imagenet_weights} needs --init imagenet "
                            f"(the encoder starts from them), not --init {args.init}")
    from pathlib import Path

    from galmorph.training.trainer import LAST_NAME

    last = Path(args.output) / f"{LAST_NAME}.ckpt"
    resumed = args.resume and last.is_file()
    with no_new_empty_dir(args.output), validate_hint(args.catalog):
        try:
            result = _train(args)
        except KeyboardInterrupt:
            make_console(stderr=True).print(
                f"no new model.pt was written in {args.output}; "
                + (f"{last.name} holds the last finished epoch: run the command again with "
                   "--resume to go on" if last.exists() else
                   "no epoch had finished, so there is nothing to resume: run the command "
                   "again to start over"))
            raise
    console = make_console()
    epochs = result.epochs_completed
    training = result.metadata["training"]
    took = f"{result.seconds / 60:.1f} min"
    console.print(
        (f"trained to epoch {epochs} (this run: {took})" if resumed else
         f"trained {epochs} epoch{'' if epochs == 1 else 's'} in {took}")
        + f" on {hardware_summary(training['hardware'])}"
    )
    for line in vote_loss_report(training):
        console.print(line)
    console.print(styled(f"model: {result.model_path}", "bold", "  (use it with --model)"))
    print_learning_curves(console, result.model_path.parent, "summed NLL of the votes",
                          loss_reference=vote_baseline(training))
    return 0


def vote_baseline(training: dict[str, Any]) -> tuple[float, str] | None:
    """The validation loss of the catalog's average votes given to every galaxy, the
    level a vote model must beat, for its learning curves; None when not recorded."""
    baseline = training.get("baseline_val_loss")
    return None if baseline is None else (baseline, "to beat: average votes, no image")


def print_learning_curves(console: Console, run_dir: Path, loss_name: str,
                          loss_reference: tuple[float, str] | None = None,
                          score_reference: tuple[float, str] | None = None) -> None:
    """Draw a finished run's learning curves in its folder, with the levels to beat, and
    say where they are."""
    from galmorph.report.learning_curves import write_learning_curves

    path = write_learning_curves(run_dir, loss_name, loss_reference, score_reference)
    if path is not None:
        console.print(f"learning curves (loss by epoch, training and validation): {path}")


def vote_loss_report(training: dict[str, Any]) -> list[str]:
    """A vote model's best validation loss beside the untrained model's and the no-image
    baseline's (when recorded in its metadata ``training``), and whether it beats them."""
    best = training.get("best_val_loss")
    if best is None:
        return []
    initial, baseline = training.get("initial_val_loss"), training.get("baseline_val_loss")
    compared = [*([f"{initial:.3f} before training"] if initial is not None else []),
                *([f"{baseline:.3f} for the catalog's average votes given to every galaxy"]
                  if baseline is not None else [])]
    lines = [f"best validation loss {best:.3f} on {training['split']['sizes']['val']} galaxies "
             "(summed NLL per galaxy, lower is better)" + "".join(f"; {c}" for c in compared)]
    if baseline is not None and best >= baseline:
        lines.append("the model does not yet beat the average votes, which ignore the images: "
                     "train for more epochs, or on more galaxies, before using it")
    elif initial is not None and best >= initial:  # e.g. training on from a finished model
        lines.append("no epoch beat the model it started from (its validation loss "
                     f"{initial:.3f} before training): keep using that model, or train again "
                     "with a lower --lr")
    return lines


def _train(args: argparse.Namespace) -> TrainResult:
    """Run :func:`galmorph.training.train.train` with the command's options."""
    from galmorph.data.image_config import ImageConfig
    from galmorph.training.train import train

    devices = int(args.devices) if str(args.devices).isdigit() else args.devices
    return train(
        args.catalog,
        args.schema,
        args.output,
        **({"encoder": args.encoder} if args.encoder else {}),
        image_config=ImageConfig.for_sdss_gz2(
            size=args.image_size,
            channels=args.channels,
            rotation=args.rotation,
            crop_fraction=tuple(args.crop_fraction),
            centre_jitter=args.centre_jitter,
        ),
        epochs=args.epochs,
        batch_size=args.batch_size,
        learning_rate=args.lr,
        weight_decay=args.weight_decay,
        scheduler=args.scheduler,
        dropout=args.dropout,
        min_concentration=(MIN_CONCENTRATION if args.min_concentration is None
                           else args.min_concentration),
        seed=args.seed,
        split_seed=args.split_seed,
        split_fractions=tuple(args.split),
        patience=args.patience,
        accelerator=args.accelerator,
        devices=devices,
        strategy=args.strategy,
        num_nodes=args.num_nodes,
        precision=args.precision,
        num_workers=args.num_workers,
        cache_images=not args.no_cache,
        skip_missing_images=args.skip_missing_images,
        resume=args.resume,
        name=args.name,
        progress=not args.no_progress,
        init=args.init,
        imagenet_weights=args.imagenet_weights,
        lr_decay=args.lr_decay,
        max_minutes=args.max_minutes,
    )
