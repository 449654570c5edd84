"""``galmorph finetune``: adapt a pretrained model to your own labels.

Trains a new head (and, with ``--n-blocks``, the top blocks of the encoder) to
predict a label column: classes (``--task classification``, the default), a
number (``--task regression``), or the votes of a new decision tree
(``--task votes --schema TREE.yaml``). The output folder gets ``model.pt`` (the
best weights, self-describing), ``best.ckpt``, ``last.ckpt`` and CSV logs; use
the model with ``galmorph predict --model DIR/model.pt``: a classifier writes
``prob_<class>`` per class and ``predicted_label``, a regressor ``prediction``.

Example::

    galmorph finetune rings.csv --label ring -o runs/rings --n-blocks 2
    galmorph predict new.csv --model runs/rings/model.pt -o rings.parquet
"""

from __future__ import annotations

import argparse
import shlex
from typing import TYPE_CHECKING

from galmorph.cli._common import (
    add_encoder_image_options,
    add_num_workers,
    add_source_options,
    fraction,
    make_console,
    model_with_image,
    no_new_empty_dir,
    non_negative_float,
    positive_float,
    positive_int,
    seed_number,
    source_options,
    styled,
    whole_number,
)
from galmorph.cli.validate import validate_hint
from galmorph.data.image_config import MIN_IMAGE_SIZE

if TYPE_CHECKING:
    from galmorph.training.finetune import FinetuneResult


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``finetune`` sub-command."""
    from galmorph.models.defaults import DEFAULT_MODEL
    from galmorph.training.defaults import (
        ACCELERATOR_HELP,
        DEFAULT_N_BLOCKS,
        DEVICES_HELP,
        PRECISION_HELP,
    )

    parser = subparsers.add_parser(
        "finetune",
        help="fine-tune a pretrained model to your own labels",
        description=(
            "Fine-tune a pretrained model on a catalog with a label column (classes or numbers) "
            "or the vote counts of a new decision tree. Writes model.pt (the best weights), "
            "best.ckpt, last.ckpt and logs in the output folder; use the model with "
            "'galmorph predict --model DIR/model.pt'."
        ),
    )
    parser.add_argument(
        "catalog", metavar="CATALOG",
        help="catalog with id_str, file_loc and labels; or a folder of images sorted into "
        "subfolders, one per class (with --label folder)"
    )
    parser.add_argument(
        "--label", metavar="COLUMN",
        help="the column to learn: classes, as numbers or words (rows left blank are skipped), "
        "or with --task regression a number per galaxy; for a folder of images, 'folder' "
        "(the subfolder each image is in)",
    )
    parser.add_argument("-o", "--output", required=True, metavar="DIR", help="output folder")
    parser.add_argument(
        "--task", choices=("classification", "regression", "votes"), default="classification",
        help="classes of --label, a number per galaxy, or votes of --schema "
        "(default: classification)",
    )
    parser.add_argument("--schema", help="decision tree of the vote columns (--task votes)")

    start = parser.add_argument_group("starting point")
    start.add_argument(
        "-m", "--model", default=DEFAULT_MODEL,
        help="pretrained model: a shipped name, a model file or training folder, "
        "hf_hub:ORG/NAME, or an external timm encoder (folder or hf_hub: repository with "
        f"config.json) (default: {DEFAULT_MODEL}); with --from-scratch, --imagenet or "
        "--imagenet-weights only its architecture and image settings are used",
    )
    init = start.add_mutually_exclusive_group()
    init.add_argument("--from-scratch", action="store_true",
                      help="random weights (a baseline to compare with)")
    init.add_argument("--imagenet", action="store_true",
                      help="start from ImageNet weights of the encoder (offline for "
                      "tf_efficientnet_lite0/1/2; others need --imagenet-weights or network)")
    init.add_argument("--imagenet-weights", metavar="FILE",
                      help="start from timm's ImageNet weights of the encoder, saved in FILE")
    start.add_argument("--encoder", help="timm encoder name instead of --model's "
                       "(with --from-scratch, --imagenet or --imagenet-weights)")

    fit = parser.add_argument_group("training")
    fit.add_argument(
        "--n-blocks", type=whole_number(-1), default=None, metavar="N",
        help="encoder blocks to train, from the top; 0 trains only the new output layer (the "
        "head) on the encoder as it is, "
        f"-1 all (default: {DEFAULT_N_BLOCKS}; all with --from-scratch)",
    )
    fit.add_argument(
        "--head-init", choices=("random", "probe"), default="random",
        help="random: a new head with random weights (default); probe: a classifier's head "
        "starts as a logistic regression on the pretrained features, and if no epoch beats "
        "its validation loss that probe is kept (regression and votes: always random)",
    )
    fit.add_argument("--epochs", type=positive_int, default=30,
                     help="passes over the training galaxies (default: 30)")
    fit.add_argument("--patience", type=positive_int, default=None,
                     help="stop after this many epochs without a better validation loss")
    fit.add_argument("--val-fraction", type=fraction, default=0.2, metavar="F",
                     help="galaxies held out for validation, stratified by class; 0: none, "
                     "keep the last epoch (default: 0.2)")
    fit.add_argument("--lr", type=positive_float, default=1e-3,
                     help="learning rate of the head: the size of each training step "
                     "(default: 1e-3)")
    fit.add_argument("--lr-decay", type=positive_float, default=0.5,
                     help="each block down from the top trains at this times the learning rate "
                     "of the one above (default: 0.5)")
    fit.add_argument("--weight-decay", type=non_negative_float, default=0.05,
                     help="AdamW weight decay, which keeps weights small against overfitting "
                     "(default: 0.05)")
    fit.add_argument("--dropout", type=fraction, default=0.2,
                     help="fraction of the head's inputs dropped at random while training, "
                     "against overfitting (default: 0.2)")
    fit.add_argument("--label-smoothing", type=fraction, default=0.0,
                     help="from 0 up to (not including) 1: trains towards slightly less "
                     "than certain answers, for labels that may be wrong (classification; "
                     "default: 0)")
    fit.add_argument("--class-weights", choices=("balanced",), default=None,
                     help="weight classes inversely to their frequency (classification)")
    fit.add_argument("--loss", choices=("mse", "mae"), default="mse",
                     help="regression: mean squared (mse) or absolute (mae) error "
                     "(default: mse)")
    fit.add_argument("--squash", action="store_true",
                     help="predict values in [0, 1] through a sigmoid (regression)")
    fit.add_argument("--batch-size", type=positive_int, default=32, help="(default: 32)")
    fit.add_argument("--image-size", type=whole_number(MIN_IMAGE_SIZE), default=None,
                     help=f"input side in pixels, {MIN_IMAGE_SIZE} or more (default: the "
                     "pretrained model's)")
    fit.add_argument(
        "--crop-fraction", type=float, nargs=2, default=None, metavar=("MIN", "MAX"),
        help="side of the training crop as a fraction of the image side (evaluation: their "
        "mean); smaller zooms in, to give galaxies the size the pretrained model saw "
        "(default: the pretrained model's, scaled to the measured galaxy size when the new "
        "images have other conventions)",
    )
    fit.add_argument("--no-augment", action="store_true",
                     help="no random rotations, flips and crops while training")
    fit.add_argument("--seed", type=seed_number, default=0,
                     help="seed of the head and augmentation (default: 0)")
    fit.add_argument("--split-seed", type=seed_number, default=0,
                     help="seed of the validation split (default: 0)")

    add_source_options(parser)

    run_options = parser.add_argument_group("hardware")
    run_options.add_argument("--accelerator", default="auto", help=ACCELERATOR_HELP)
    run_options.add_argument("--devices", default="auto", help=DEVICES_HELP)
    run_options.add_argument("--precision", default=None, help=PRECISION_HELP)
    add_num_workers(run_options)
    run_options.add_argument("--no-cache", action="store_true",
                             help="decode images every epoch instead of once into memory")
    parser.add_argument("--skip-missing-images", action="store_true",
                        help="leave out rows whose image file is missing (with a warning) "
                        "instead of stopping")
    parser.add_argument("--name", default=None,
                        help="model name stored in its metadata (default: the output folder's)")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    add_encoder_image_options(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Fine-tune and report where the model is; 0 on success."""
    from galmorph.exceptions import GalmorphError
    from galmorph.training.finetune import finetune

    if args.task == "votes":
        if args.schema is None or args.label is not None:
            raise GalmorphError("--task votes needs --schema (the new decision tree), not --label")
    elif args.label is None:
        raise GalmorphError(f"--task {args.task} needs --label COLUMN (the column to learn)")
    imagenet = args.imagenet or args.imagenet_weights is not None
    init = "scratch" if args.from_scratch else "imagenet" if imagenet else "pretrained"
    if args.encoder is not None and init == "pretrained":
        raise GalmorphError("--encoder needs --from-scratch, --imagenet or --imagenet-weights")
    devices = int(args.devices) if str(args.devices).isdigit() else args.devices
    with no_new_empty_dir(args.output), validate_hint(args.catalog):
        try:
            result = finetune(
                args.catalog,
                args.output,
                task=args.task,
                label=args.label,
                schema=args.schema,
                model=model_with_image(args),
                init=init,
                encoder=args.encoder,
                imagenet_weights=args.imagenet_weights,
                n_blocks=args.n_blocks,
                head_init=args.head_init,
                learning_rate=args.lr,
                lr_decay=args.lr_decay,
                weight_decay=args.weight_decay,
                dropout=args.dropout,
                label_smoothing=args.label_smoothing,
                class_weights=args.class_weights,
                loss=args.loss,
                squash=args.squash,
                epochs=args.epochs,
                patience=args.patience,
                batch_size=args.batch_size,
                val_fraction=args.val_fraction,
                split_seed=args.split_seed,
                seed=args.seed,
                image_size=args.image_size,
                crop_fraction=tuple(args.crop_fraction) if args.crop_fraction else None,
                source=source_options(args),
                augment=not args.no_augment,
                accelerator=args.accelerator,
                devices=devices,
                precision=args.precision,
                num_workers=args.num_workers,
                cache_images=not args.no_cache,
                skip_missing_images=args.skip_missing_images,
                name=args.name,
                progress=not args.no_progress,
            )
        except ValueError as err:  # inconsistent options, e.g. --squash with a classifier
            raise GalmorphError(str(err)) from None
        except KeyboardInterrupt:
            make_console(stderr=True).print(f"no new model.pt was written in {args.output}; run "
                                            "the command again to start afresh")
            raise
    _report(result)
    return 0


def _report(result: FinetuneResult) -> None:
    """Print how the run went, its validation scores, and how to use the model."""
    from galmorph.cli.train import print_learning_curves, vote_baseline, vote_loss_report
    from galmorph.models.label_metrics import versus_constant_answer, versus_median
    from galmorph.training.trainer import hardware_summary

    console = make_console()
    training = result.metadata["training"]
    votes = result.metadata["task"] == "votes"  # its loss is compared on lines of its own
    if result.best_val_loss is None:
        loss = " (no validation: last epoch kept)"
    else:
        loss = "" if votes else f"; best validation loss {result.best_val_loss:.3f}"
    epochs, seconds = result.epochs_completed, result.seconds
    took = f"{seconds:.2g} s" if seconds < 90 else f"{seconds / 60:.1f} min"
    console.print(
        f"fine-tuned {training['n_blocks']} of {training['encoder_blocks']} encoder blocks "
        f"for {epochs} epoch{'' if epochs == 1 else 's'} in {took} on "
        f"{hardware_summary(training['hardware'])}{loss}"
    )
    for line in vote_loss_report(training) if votes else ():
        console.print(line)
    scores = training.get("best_val_metrics") or {}
    n_val = training["split"]["sizes"]["val"]
    classes = result.metadata.get("classes", [])
    if "val_accuracy" in scores:
        val_counts = result.metadata["val_class_counts"]
        common = max(range(len(classes)), key=result.metadata["class_counts"].__getitem__)
        per_class = ", ".join(f"{c!r}: {n}" for c, n in zip(classes, val_counts, strict=True))
        console.print(
            f"validation accuracy {scores['val_accuracy']:.1%} on {n_val} galaxies ({per_class}; "
            f"one view each); always answering {classes[common]!r} would score "
            f"{val_counts[common] / n_val:.1%}",
        )
        if "val_balanced_accuracy" in scores:
            console.print(versus_constant_answer(scores["val_balanced_accuracy"], val_counts),
                          markup=False)
    elif "val_mae" in scores:
        baseline = result.metadata.get("val_median_mae")
        verdict = "" if baseline is None or "val_median_p_value" not in scores else versus_median(
            {"mae": scores["val_mae"], "median_mae": baseline, "n_test": n_val,
             "median_p_value": scores["val_median_p_value"]})
        console.print(
            f"validation mean absolute error {scores['val_mae']:.4g} on {n_val} galaxies (one "
            "view each)" + ("" if baseline is None else
                            f"; always answering the training median, "
                            f"{result.metadata['train_median']:.4g}, would score {baseline:.4g}")
            + verdict)
    if training.get("kept") == "probe":
        console.print("no epoch beat the validation loss of the probe the head started from: "
                      "model.pt holds that probe on the pretrained encoder")
    columns = (", ".join(f"prob_{c}" for c in classes) + " and predicted_label" if classes
               else "prediction" if result.metadata["task"] == "regression"
               else "the vote fractions of every answer")
    console.print(styled(f"model: {result.model_path}", "bold"))
    console.print(f"use it: galmorph predict CATALOG --model {shlex.quote(str(result.model_path))} "
                  f"-o predictions.parquet  (columns {columns})")
    if result.metrics_file is not None:
        console.print(f"per-epoch losses and scores: {result.metrics_file}")
    task = result.metadata["task"]
    to_beat = None  # the level the right panel's scores must beat
    present = sum(n > 0 for n in result.metadata.get("val_class_counts") or [])
    if present:  # the classes with validation galaxies, as the balanced accuracy counts
        to_beat = (1 / present, "balanced accuracy of one answer for all")
    elif result.metadata.get("val_median_mae") is not None:
        to_beat = (result.metadata["val_median_mae"], "always the training median")
    print_learning_curves(console, result.model_path.parent, {
        "classification": "cross-entropy", "votes": "summed NLL of the votes",
        "regression": "mean squared error" if result.metadata.get("loss") == "mse"
        else "mean absolute error"}[task],
        loss_reference=vote_baseline(training) if votes else None, score_reference=to_beat)
    if classes or task == "regression":
        console.print(f"see the galaxies it gets most wrong: galmorph evaluate CATALOG --model "
                      f"{shlex.quote(str(result.model_path))} --grid worst.png")
