"""Few-shot fine-tuning benchmark: accuracy and ROC AUC against the number of labels.

On a labelled catalog (default: the 330 DECaLS ring / not-ring galaxies of
``../shared/data/rings_decals``) a fixed, class-balanced test split is held out
(``--test-size`` galaxies drawn by ``--test-seed``). From the rest, class-balanced
training sets of each ``--sizes`` (``all``: every remaining galaxy) are drawn with
each of ``--seeds``, and every method is trained on each:

* ``probe``: logistic regression on the pretrained model's frozen embeddings
  (its regularisation chosen by cross-validation on the training set; with
  ``--probe-stages``, earlier encoder stages' pooled features too, as
  ``galmorph embed --stages``);
* ``frozen``: the pretrained model, new head only (linear probe, augmented);
* ``unfrozen``: the pretrained model with its top ``--n-blocks`` blocks trained;
* ``scratch``: the same encoder from random weights, every block trained;
* ``imagenet``: ``--imagenet-encoder`` (default ``tf_efficientnet_lite0``, the
  paper's ImageNet baseline) from ImageNet weights, every block trained, at the
  pretrained model's input size; offline for EfficientNet-Lite
  (:mod:`galmorph.models.imagenet`), otherwise from ``--imagenet-weights FILE``;
* ``imagenet-scratch``: that architecture from random weights, when it is not the
  pretrained model's (so that no comparison mixes architectures silently).

Sets of up to ``--max-fixed`` galaxies train for a fixed budget of about
``--steps`` optimizer steps with no validation (early stopping on one or two
validation galaxies is noise) and keep the last epoch; larger sets hold out
``--val-fraction`` for validation and keep the best epoch of ``--epochs``.
Test galaxies are predicted, and the probe's embeddings made, averaged over
``--views`` orientations of each image (default 8: right-angle rotations and
their mirror images; :func:`galmorph.data.views.average_over_views`).

Results: one row per run in ``OUT/runs.csv``; per method and size the mean and
spread over seeds, and the 95% Wilson interval of the accuracy on the test set
(the test-sampling uncertainty of one run at that accuracy), in
``OUT/summary.csv``, printed as a table; and ``OUT/accuracy.png``, accuracy
against labels (mean, with the range over seeds shaded). Finished runs of the
same setup (test split, image settings, budgets, and the pretrained encoder's weights
for the methods that start from it: :func:`weights_key`) are read back from
``runs.csv``, so an interrupted benchmark resumes and a new pretrained encoder re-runs
only the methods that use it.

Usage::

    .venv/bin/python benchmarks/bench_finetune.py [--model gz2-starter] [--out DIR]
        [--imagenet-encoder NAME] [--imagenet-weights FILE] [--quick]

``--quick`` is a CI-size smoke run: 40 test galaxies, sizes 10 (fixed budget)
and 20 (with validation), one seed, a step or two, 32 px images.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import tempfile
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from galmorph.data.catalog import load_catalog
from galmorph.data.views import VIEW_CHOICES
from galmorph.inference.defaults import DEFAULT_VIEWS
from galmorph.inference.embed import embed_catalog
from galmorph.inference.embeddings import FEATURE_PREFIX
from galmorph.inference.predict import predict_catalog
from galmorph.models.checkpoint import LoadedModel, load_model
from galmorph.models.defaults import DEFAULT_MODEL
from galmorph.models.imagenet import has_offline_weights
from galmorph.models.label_metrics import wilson_interval
from galmorph.training.conventions import auto_crop
from galmorph.training.defaults import DEFAULT_N_BLOCKS
from galmorph.training.finetune import finetune
from galmorph.training.probe import classification_metrics, probe
from galmorph.training.targets import stratified_split

RINGS = Path(__file__).resolve().parents[2] / "shared" / "data" / "rings_decals" / "catalog.csv"
METHODS = ("probe", "frozen", "unfrozen", "scratch", "imagenet", "imagenet-scratch")
IMAGENET_ENCODER = "tf_efficientnet_lite0"
RUN_KEYS = ["setup", "method", "n_labels", "seed"]


def balanced_sample(pool: pd.DataFrame, label: str, n: int | None, seed: int) -> pd.DataFrame:
    """``n`` galaxies with equal numbers per class (the whole pool for None), by seed."""
    if n is None:
        return pool
    classes = sorted(pool[label].unique())
    per_class, extra = divmod(n, len(classes))
    rng = np.random.default_rng(seed)
    parts = []
    for i, value in enumerate(classes):
        members = pool[pool[label] == value].sort_values("id_str")
        take = per_class + (1 if i < extra else 0)
        if take > len(members):
            raise ValueError(f"only {len(members)} galaxies of class {value!r} for n={n}")
        parts.append(members.iloc[rng.choice(len(members), take, replace=False)])
    return pd.concat(parts).reset_index(drop=True)


def weights_key(method: str, starter: LoadedModel, imagenet_encoder: str = IMAGENET_ENCODER
                ) -> str:
    """What a method's starting weights depend on: a checksum of the pretrained
    encoder's weights for the methods that start from it (each gets a new head, so a
    refitted vote head leaves their runs valid), only the encoder's name for
    ``scratch``, ``imagenet`` and ``imagenet-scratch`` (their runs stay valid when
    the pretrained model changes)."""
    if method == "scratch":
        return f"{starter.metadata['encoder']}/scratch"
    if method in ("imagenet", "imagenet-scratch"):
        return f"{imagenet_encoder}/{method.removeprefix('imagenet-')}"
    digest = hashlib.sha256()
    for name, value in starter.model.encoder.state_dict().items():
        stored = value.half() if value.is_floating_point() else value
        digest.update(name.encode())
        digest.update(stored.cpu().contiguous().numpy().tobytes())
    return f"encoder-{digest.hexdigest()[:12]}"


def epochs_for(n_train: int, batch_size: int, steps: int) -> int:
    """Epochs giving about ``steps`` optimizer steps on ``n_train`` galaxies (the last
    partial batch is dropped when there is more than one batch)."""
    per_epoch = n_train // batch_size if n_train > batch_size else 1
    return max(1, round(steps / per_epoch))


def parse_size(text: str) -> int | None:
    return None if text == "all" else int(text)


def run_method(
    method: str,
    train_set: pd.DataFrame,
    test: pd.DataFrame,
    args: argparse.Namespace,
    starter: LoadedModel,
    features: dict[str, np.ndarray],
    seed: int,
) -> dict[str, Any]:
    """Train one method on ``train_set``; its metrics on ``test``."""
    label = args.label
    if method == "probe":
        train_x = np.stack([features[i] for i in train_set["id_str"]])
        test_x = np.stack([features[i] for i in test["id_str"]])
        return probe(train_x, train_set[label], test_x, test[label])
    fixed = len(train_set) <= args.max_fixed
    epochs = epochs_for(len(train_set), args.batch_size, args.steps) if fixed else args.epochs
    options: dict[str, Any] = {
        "frozen": {"n_blocks": 0},
        "unfrozen": {"n_blocks": args.n_blocks},
        "scratch": {"init": "scratch"},
        "imagenet": {"init": "imagenet", "encoder": args.imagenet_encoder,
                     "imagenet_weights": args.imagenet_weights, "n_blocks": -1},
        "imagenet-scratch": {"init": "scratch", "encoder": args.imagenet_encoder},
    }[method]
    with tempfile.TemporaryDirectory() as folder:
        result = finetune(
            train_set, folder, label=label, model=starter, epochs=epochs,
            val_fraction=0 if fixed else args.val_fraction, batch_size=args.batch_size,
            image_size=args.image_size, crop_fraction=args.crop_fraction, seed=seed,
            split_seed=seed, num_workers=args.num_workers, progress=False, **options,
        )
        table = predict_catalog(test, result.model_path, num_workers=args.num_workers,
                                progress=False, views=args.views)
        classes = result.metadata["classes"]
    probabilities = table[[f"prob_{c}" for c in classes]].to_numpy()
    return {**classification_metrics(test[label].to_numpy(), probabilities, classes),
            "epochs": result.epochs_completed}


def summarise(runs: pd.DataFrame) -> pd.DataFrame:
    """Mean, spread over seeds and Wilson interval per method and training-set size."""
    rows = []
    for (method, n_labels), group in runs.groupby(["method", "n_labels"], sort=False):
        accuracy = group["accuracy"]
        n_test = int(group["n_test"].iloc[0])
        low, high = wilson_interval(round(accuracy.mean() * n_test), n_test)
        rows.append({
            "method": method, "n_labels": n_labels, "runs": len(group),
            "accuracy": accuracy.mean(), "accuracy_sd": accuracy.std(ddof=0),
            "accuracy_min": accuracy.min(), "accuracy_max": accuracy.max(),
            "wilson_low": low, "wilson_high": high,
            "roc_auc": group["roc_auc"].mean(), "roc_auc_sd": group["roc_auc"].std(ddof=0),
            "minutes": group["seconds"].sum() / 60,
        })
    return pd.DataFrame(rows)


def print_table(summary: pd.DataFrame, sizes: Sequence[int]) -> None:
    """Accuracy (mean ± sd over seeds) [Wilson 95%] and ROC AUC per method and size."""
    print("\naccuracy: mean ± sd over seeds [95% Wilson interval of the test set];  AUC: mean")
    header = f"{'method':<9}" + "".join(f"{str(n) + ' labels':>30}" for n in sizes)
    print(header)
    for method, group in summary.groupby("method", sort=False):
        cells = []
        by_size = group.set_index("n_labels")
        for n in sizes:
            if n not in by_size.index:
                cells.append(f"{'-':>30}")
                continue
            r = by_size.loc[n]
            cells.append(
                f"{r.accuracy:.3f}±{r.accuracy_sd:.3f} [{r.wilson_low:.2f},{r.wilson_high:.2f}]"
                f" {r.roc_auc:.3f}".rjust(30)
            )
        print(f"{method:<9}" + "".join(cells))


def plot(summary: pd.DataFrame, path: Path, title: str) -> None:
    """Accuracy against training labels per method: mean, seed range shaded."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(6.4, 4.4))
    for method, group in summary.groupby("method", sort=False):
        group = group.sort_values("n_labels")
        line = axes.plot(group["n_labels"], group["accuracy"], marker="o", label=method)[0]
        axes.fill_between(group["n_labels"], group["accuracy_min"], group["accuracy_max"],
                          color=line.get_color(), alpha=0.2)
    axes.axhline(0.5, color="grey", lw=0.8, ls=":")
    axes.set_xscale("log")
    axes.set_xlabel("training labels (class-balanced)")
    axes.set_ylabel("test accuracy")
    axes.set_title(title, fontsize=10)
    axes.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def main(argv: Sequence[str] | None = None) -> pd.DataFrame:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--catalog", type=Path, default=RINGS)
    parser.add_argument("--label", default="ring")
    parser.add_argument("--model", default=DEFAULT_MODEL, help="pretrained galmorph model")
    parser.add_argument("--imagenet-encoder", default=IMAGENET_ENCODER,
                        help="architecture of methods imagenet and imagenet-scratch")
    parser.add_argument("--imagenet-weights", type=Path, default=None,
                        help="timm ImageNet weights file of --imagenet-encoder (needed for "
                        "encoders without offline weights)")
    parser.add_argument("--methods", nargs="+", choices=METHODS, default=list(METHODS))
    parser.add_argument("--sizes", nargs="+", type=parse_size, default=[10, 25, 50, 100, None],
                        help="training labels per set; 'all' for the whole pool")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--test-size", type=int, default=100)
    parser.add_argument("--test-seed", type=int, default=0)
    parser.add_argument("--n-blocks", type=int, default=DEFAULT_N_BLOCKS,
                        help="blocks trained by method unfrozen")
    parser.add_argument("--steps", type=int, default=150,
                        help="optimizer steps of a fixed-budget run")
    parser.add_argument("--max-fixed", type=int, default=100,
                        help="largest set trained for a fixed budget without validation")
    parser.add_argument("--epochs", type=int, default=30, help="epochs of larger sets")
    parser.add_argument("--val-fraction", type=float, default=0.2)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--image-size", type=int, default=None)
    parser.add_argument("--crop-fraction", type=float, nargs=2, default=None,
                        metavar=("MIN", "MAX"),
                        help="training crop (default: galmorph.training.conventions.auto_crop's, "
                        "measured on the whole catalog)")
    parser.add_argument("--views", type=int, choices=VIEW_CHOICES, default=DEFAULT_VIEWS,
                        help="orientations of each test image (and probe embedding) averaged "
                        f"over (default: {DEFAULT_VIEWS})")
    parser.add_argument("--probe-stages", type=int, nargs="+", default=[], metavar="S",
                        help="earlier encoder stages whose pooled features the probe also uses")
    parser.add_argument("--num-workers", type=int, default=None)
    parser.add_argument("--out", type=Path, default=Path("runs/finetune"),
                        help="folder of runs.csv, summary.csv, accuracy.png "
                        "(default: %(default)s, which git ignores)")
    parser.add_argument("--quick", action="store_true", help="CI-size smoke run")
    args = parser.parse_args(argv)
    if args.quick:
        args.sizes, args.seeds, args.test_size, args.max_fixed = [10, 20], [0], 40, 10
        args.steps, args.epochs, args.image_size = 2, 1, args.image_size or 32
    warnings.filterwarnings("ignore", module="lightning")
    if ("imagenet" in args.methods and args.imagenet_weights is None
            and not has_offline_weights(args.imagenet_encoder)):
        print(f"method imagenet skipped: {args.imagenet_encoder} has no offline ImageNet "
              "weights; give a timm weights file (--imagenet-weights)")
        args.methods = [m for m in args.methods if m != "imagenet"]

    catalog = load_catalog(args.catalog)
    if args.label not in catalog:
        parser.error(f"{args.catalog} has no column {args.label!r} (--label)")
    is_test = stratified_split(
        catalog[args.label], catalog["id_str"], args.test_size / len(catalog), args.test_seed
    )
    test, pool = catalog[is_test].reset_index(drop=True), catalog[~is_test].reset_index(drop=True)
    starter = load_model(args.model)
    if args.crop_fraction is None:  # galmorph finetune's automatic zoom, once for every run
        automatic = auto_crop(starter.image_config, catalog["file_loc"].tolist())
        args.crop_fraction = list(automatic[0]) if automatic else None
    image = {**starter.metadata["image"],
             **({"size": args.image_size} if args.image_size else {}),
             **({"crop_fraction": args.crop_fraction} if args.crop_fraction else {})}
    args.image_size = image["size"]  # every method, the ImageNet one too, at this size
    # the probe embeds with the same image settings as the fine-tuned models
    embedder = dataclasses.replace(starter, metadata={**starter.metadata, "image": image})
    print(f"{args.catalog}: {len(catalog)} galaxies; test {len(test)} "
          f"({test[args.label].value_counts().to_dict()}, seed {args.test_seed}); "
          f"pool {len(pool)}; model {starter.name} ({starter.metadata['encoder']}); "
          f"{image['size']} px, crop {image['crop_fraction']}")
    features: dict[str, np.ndarray] = {}
    if "probe" in args.methods:
        table = embed_catalog(catalog, embedder, num_workers=args.num_workers, progress=False,
                              views=args.views, stages=args.probe_stages)
        values = table[[c for c in table.columns if c.startswith(FEATURE_PREFIX)]].to_numpy()
        features = dict(zip(table["id_str"], values, strict=True))

    # runs of another test split, image setting or training budget are not reused, nor
    # runs of another pretrained model by the methods that start from its weights
    settings = (f"{args.catalog.name} test={args.test_size}/"
                f"{args.test_seed} px={image['size']} crop={image['crop_fraction']} "
                f"steps={args.steps}/{args.max_fixed} epochs={args.epochs} "
                f"blocks={args.n_blocks} batch={args.batch_size} views={args.views} probe=cv")
    if starter.metadata["encoder"] == args.imagenet_encoder:  # scratch is that already
        args.methods = [m for m in args.methods if m != "imagenet-scratch"]
    setups = {method: f"{weights_key(method, starter, args.imagenet_encoder)} {settings}"
              for method in METHODS}
    if args.probe_stages:
        setups["probe"] += f" stages={','.join(map(str, sorted(args.probe_stages)))}"
    args.out.mkdir(parents=True, exist_ok=True)
    runs_path = args.out / "runs.csv"
    rows = pd.read_csv(runs_path).to_dict("records") if runs_path.is_file() else []
    done = {tuple(str(r[k]) for k in RUN_KEYS) for r in rows}
    sizes = [len(pool) if n is None else n for n in args.sizes]
    for n_labels, requested in zip(sizes, args.sizes, strict=True):
        for seed in args.seeds:
            train_set = balanced_sample(pool, args.label, requested, seed)
            for method in args.methods:
                setup = setups[method]
                if (setup, method, str(n_labels), str(seed)) in done:
                    continue
                began = time.perf_counter()
                metrics = run_method(method, train_set, test, args, starter, features, seed)
                row = {"setup": setup, "method": method, "n_labels": n_labels, "seed": seed,
                       "accuracy": metrics["accuracy"], "n_correct": metrics["n_correct"],
                       "n_test": metrics["n_test"], "roc_auc": metrics["roc_auc"],
                       "epochs": metrics.get("epochs"),
                       "seconds": round(time.perf_counter() - began, 1)}
                print(f"{method:<9} {n_labels:>4} labels seed {seed}: accuracy "
                      f"{row['accuracy']:.3f}, AUC {row['roc_auc']:.3f} ({row['seconds']:.0f} s)",
                      flush=True)
                rows.append(row)
                pd.DataFrame(rows).to_csv(runs_path, index=False)
    runs = pd.DataFrame(rows)
    selected = runs[runs["setup"].isin([setups[m] for m in args.methods])
                    & runs["method"].isin(args.methods)
                    & runs["n_labels"].isin(sizes) & runs["seed"].isin(args.seeds)]
    summary = summarise(selected.astype({"n_labels": int}))
    summary.to_csv(args.out / "summary.csv", index=False)
    print_table(summary, sizes)
    plot(summary, args.out / "accuracy.png",
         f"{args.catalog.parent.name}: test {len(test)}, model {starter.name}, "
         f"{len(args.seeds)} seeds")
    print(f"\nwrote {runs_path}, {args.out / 'summary.csv'}, {args.out / 'accuracy.png'}")
    return summary


if __name__ == "__main__":
    from _cli import run_main

    run_main(main)
