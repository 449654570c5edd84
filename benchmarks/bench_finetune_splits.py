"""Fine-tuning recipes compared over several validation splits of one labelled catalog.

``galmorph finetune`` keeps the epoch with the best validation loss on a split of the
labels (``--val-fraction``, drawn by ``--split-seed``). On a few hundred galaxies one
split's accuracy moves by ±0.06 with the draw alone, so a recipe is judged here on
the mean over ``--seeds`` splits. For each recipe (a name and :func:`finetune`
keyword arguments as JSON) and each split seed, the model is fine-tuned with the
command's defaults plus the recipe's settings, and its validation galaxies are
predicted averaged over ``--views`` orientations. The accuracy is that of the model
kept, on the galaxies that chose it: use it to compare recipes, not as a test score.

Results: one row per run in ``OUT/runs.csv`` (read back, so an interrupted run
resumes), and per recipe the mean, smallest and largest accuracy, printed.

Usage::

    .venv/bin/python benchmarks/bench_finetune_splits.py --out runs/recipes \\
        --recipe defaults '{}' --recipe probe-start '{"head_init": "probe"}' \\
        --recipe two-blocks '{"n_blocks": 2}' [--seeds 0 1 2 3 4] [--label ring]
"""

from __future__ import annotations

import argparse
import inspect
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd

from galmorph.data.views import VIEW_CHOICES
from galmorph.inference.predict import predict_catalog
from galmorph.training.finetune import finetune
from galmorph.training.targets import normalise_classes, stratified_split

#: finetune() arguments the benchmark sets itself (the catalog, its splits, the workers)
SET_HERE = {"catalog", "output_dir", "label", "split_seed", "val_fraction", "num_workers",
            "progress"}
#: the keyword arguments a recipe may give
FINETUNE_ARGUMENTS = frozenset(inspect.signature(finetune).parameters)
RINGS = Path(__file__).resolve().parents[2] / "shared" / "data" / "rings_decals" / "catalog.csv"


def validation_accuracy(
    frame: pd.DataFrame, label: str, model_path: Path, val_fraction: float, seed: int,
    views: int, num_workers: int | None,
) -> tuple[float, int]:
    """Accuracy of a fine-tuned classifier on the validation galaxies of split ``seed``."""
    values = normalise_classes(frame[label])
    val = frame[stratified_split(values, frame["id_str"], val_fraction, seed)]
    table = predict_catalog(val, model_path, views=views, num_workers=num_workers,
                            progress=False)
    truth = values[val.index].to_numpy()
    return float((table["predicted_label"].to_numpy() == truth).mean()), len(val)


def run_recipe(
    frame: pd.DataFrame, label: str, name: str, settings: dict, seed: int, out: Path,
    args: argparse.Namespace,
) -> dict:
    """Fine-tune one recipe on split ``seed``; its accuracy, epochs and run time."""
    began = time.perf_counter()
    result = finetune(
        frame, out / "models" / f"{name}-split{seed}", label=label, split_seed=seed,
        val_fraction=args.val_fraction, num_workers=args.num_workers, progress=False,
        **settings,
    )
    seconds = time.perf_counter() - began
    accuracy, n_val = validation_accuracy(frame, label, result.model_path, args.val_fraction,
                                          seed, args.views, args.num_workers)
    training = result.metadata["training"]
    return {"recipe": name, "settings": json.dumps(settings, sort_keys=True), "seed": seed,
            "accuracy": accuracy, "n_val": n_val, "best_val_loss": result.best_val_loss,
            "kept": training.get("kept", ""), "epochs": result.epochs_completed,
            "seconds": round(seconds, 1)}


def recipe_settings(parser: argparse.ArgumentParser, name: str, text: str) -> dict:
    """The finetune() keyword arguments of ``--recipe NAME JSON``; a usage error if not a
    JSON object."""
    try:
        settings = json.loads(text)
    except json.JSONDecodeError as err:
        parser.error(f"--recipe {name}: {text!r} is not JSON: {err}")
    if not isinstance(settings, dict):
        parser.error(f"--recipe {name}: give finetune() keyword arguments as a JSON object, "
                     f"e.g. '{{\"n_blocks\": 2}}', not {text!r}")
    unknown = sorted(set(settings) - FINETUNE_ARGUMENTS - SET_HERE)
    if unknown:
        parser.error(f"--recipe {name}: finetune() has no argument {', '.join(unknown)}")
    fixed = sorted(set(settings) & SET_HERE)
    if fixed:
        parser.error(f"--recipe {name}: {', '.join(fixed)} set by the benchmark, not a recipe")
    return settings


def main(argv: list[str] | None = None) -> pd.DataFrame:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--catalog", type=Path, default=RINGS)
    parser.add_argument("--label", default="ring")
    parser.add_argument("--recipe", nargs=2, action="append", metavar=("NAME", "JSON"),
                        required=True, help="a name and finetune() keyword arguments")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--val-fraction", type=float, default=0.2)
    parser.add_argument("--views", type=int, choices=VIEW_CHOICES, default=8)
    parser.add_argument("--num-workers", type=int, default=None)
    parser.add_argument("--out", type=Path, default=Path("runs/finetune-splits"))
    args = parser.parse_args(argv)
    recipes = [(name, recipe_settings(parser, name, text)) for name, text in args.recipe]

    frame = pd.read_csv(args.catalog, dtype={"id_str": str})
    if args.label not in frame:
        parser.error(f"{args.catalog} has no column {args.label!r} (--label)")
    frame["file_loc"] = [str(args.catalog.parent / loc) for loc in frame["file_loc"]]
    args.out.mkdir(parents=True, exist_ok=True)
    runs_file = args.out / "runs.csv"
    runs = pd.read_csv(runs_file) if runs_file.exists() else pd.DataFrame()
    for name, settings in recipes:
        for seed in args.seeds:
            done = (not runs.empty and ((runs["recipe"] == name) & (runs["seed"] == seed) & (
                runs["settings"] == json.dumps(settings, sort_keys=True))).any())
            if done:
                continue
            row = run_recipe(frame, args.label, name, settings, seed, args.out, args)
            print(json.dumps(row), flush=True)
            runs = pd.concat([runs, pd.DataFrame([row])], ignore_index=True)
            partial = runs_file.with_suffix(".part")
            runs.to_csv(partial, index=False)
            partial.replace(runs_file)
    names = [name for name, _ in args.recipe]
    chosen = runs[runs["recipe"].isin(names) & runs["seed"].isin(args.seeds)]
    summary = chosen.groupby("recipe", sort=False)["accuracy"].agg(
        ["mean", "min", "max", "count"]).reindex(names)
    print(f"\n{args.catalog} ({len(frame)} galaxies), label {args.label!r}: accuracy on "
          f"the validation galaxies of {len(args.seeds)} splits ({args.val_fraction:g}), "
          f"{args.views}-view predictions")
    for name, row in summary.iterrows():
        print(f"  {name:<20} mean {row['mean']:.3f}  (min {row['min']:.3f}, "
              f"max {row['max']:.3f}, {int(row['count'])} splits)")
    return summary.assign(spread=np.asarray(summary["max"] - summary["min"]))


if __name__ == "__main__":
    from _cli import run_main

    run_main(main)
