"""Compare starter-model candidates on one split of the GZ2 catalog: the figures that choose it.

For each model (a file, a shipped name), on the galaxies of ``--split`` (default
``val``) of the seeded id split (``--split-seed``, default 1, the starters' split):

* **summed NLL** per galaxy (:func:`galmorph.inference.evaluate.evaluate_catalog`) and
  **confident accuracy** on every question (volunteers' top answer at >= 0.8);
* **tag precision@10** of similarity search, mean over tags, beside raw-pixel PCA
  (:func:`galmorph.search.evaluation.evaluate_similarity`, features over ``--views``);
* **ring probe**: logistic regression on the model's embeddings of the 330 DECaLS
  rings, stratified 5-fold cross-validated accuracy (the embedding uses the crop
  ``galmorph finetune`` would choose, :func:`galmorph.training.conventions.auto_crop`).

Prints a table and writes every figure as JSON (``--out``), with the split, its seed and
size, and the views that made them.

Example::

    python benchmarks/bench_starter.py gz2-all/catalog.csv gz2-starter runs/lite0/model.pt \\
        --rings ../shared/data/rings_decals/catalog.csv --out candidates.json
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from galmorph.data.catalog import load_catalog
from galmorph.data.splits import assign_splits
from galmorph.data.views import VIEW_CHOICES
from galmorph.inference.embed import embed_catalog
from galmorph.inference.embeddings import FEATURE_PREFIX
from galmorph.inference.evaluate import evaluate_catalog
from galmorph.models.checkpoint import LoadedModel, load_model
from galmorph.search.evaluation import evaluate_similarity
from galmorph.training.conventions import auto_crop
from galmorph.training.probe import probe


def split_rows(catalog: Path, split: str, seed: int) -> pd.DataFrame:
    frame = load_catalog(catalog)
    return frame[assign_splits(frame["id_str"], (0.8, 0.1, 0.1), seed) == split].reset_index(
        drop=True)


def ring_probe(loaded: LoadedModel, rings: Path, views: int, folds: int = 5) -> dict[str, Any]:
    """Stratified k-fold accuracy of a logistic-regression probe on ring embeddings."""
    from sklearn.model_selection import StratifiedKFold

    frame = load_catalog(rings)
    automatic = auto_crop(loaded.image_config, frame["file_loc"].tolist())
    image = {**loaded.metadata["image"],
             **({"crop_fraction": list(automatic[0])} if automatic else {})}
    embedder = dataclasses.replace(loaded, metadata={**loaded.metadata, "image": image})
    table = embed_catalog(frame, embedder, progress=False, views=views)
    features = table[[c for c in table.columns if c.startswith(FEATURE_PREFIX)]].to_numpy()
    labels = frame["ring"].to_numpy()
    correct = 0
    for train, test in StratifiedKFold(folds, shuffle=True, random_state=0).split(features, labels):
        result = probe(features[train], labels[train], features[test], labels[test])
        correct += round(result["accuracy"] * len(test))
    return {"accuracy": correct / len(labels), "n": len(labels), "folds": folds,
            "crop_fraction": image["crop_fraction"]}


def assess(model: str, rows: pd.DataFrame, args: argparse.Namespace) -> dict[str, Any]:
    began = time.perf_counter()
    loaded = load_model(model)
    figures: dict[str, Any] = {"model": model, "name": loaded.name,
                               "encoder": loaded.metadata["encoder"],
                               "size": loaded.image_config.size,
                               "split": args.split, "split_seed": args.split_seed,
                               "n_galaxies": len(rows), "eval_views": args.eval_views,
                               "views": args.views,
                               "training": loaded.metadata.get("training", {})}
    evaluation = evaluate_catalog(rows, loaded, progress=False, views=args.eval_views)
    figures["summed_nll"] = evaluation["mean_nll"]
    figures["baseline_nll"] = evaluation["baseline_mean_nll"]
    figures["confident"] = {
        q: {"accuracy": v["accuracy_confident"], "n": v["n_confident"],
            "majority": v["majority_accuracy"]}
        for q, v in evaluation["questions"].items() if v.get("n_confident")
    }
    embeddings = embed_catalog(rows, loaded, progress=False, views=args.views)
    tags = evaluate_similarity(embeddings_table(embeddings, loaded, args), rows,
                               baselines=("pixels",), model=loaded, progress=False)
    figures["tag_precision10"] = tags["means"]["all"]
    if args.rings is not None:
        figures["ring_probe"] = ring_probe(loaded, args.rings, args.views)
    figures["seconds"] = round(time.perf_counter() - began, 1)
    return figures


def embeddings_table(table: pd.DataFrame, loaded: LoadedModel, args: argparse.Namespace) -> Any:
    """The embeddings as the file-like object evaluate_similarity reads."""
    from galmorph.inference.embeddings import EmbeddingInfo, Embeddings

    features = table[[c for c in table.columns if c.startswith(FEATURE_PREFIX)]].to_numpy()
    info = EmbeddingInfo(
        model={"spec": str(loaded.path), "path": str(loaded.path), "name": loaded.name,
               "sha256": loaded.checksum},
        encoder=loaded.metadata["encoder"], feature_dim=features.shape[1],
        image=loaded.image_config.to_dict(), n_features=features.shape[1], pca=None,
        views=args.views, stages=(),
    )
    return Embeddings(table["id_str"].to_numpy(), features.astype(np.float32), info,
                      ra=table["ra"].to_numpy() if "ra" in table else None,
                      dec=table["dec"].to_numpy() if "dec" in table else None,
                      file_loc=table["file_loc"].to_numpy())


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("catalog", type=Path, help="GZ2 catalog with vote counts")
    parser.add_argument("models", nargs="+", help="model files or shipped names")
    parser.add_argument("--split", default="val", choices=("train", "val", "test"))
    parser.add_argument("--split-seed", type=int, default=1)
    parser.add_argument("--rings", type=Path, default=None, help="ring catalog (id_str, ring)")
    parser.add_argument("--views", type=int, choices=VIEW_CHOICES, default=8,
                        help="orientations for embeddings")
    parser.add_argument("--eval-views", type=int, choices=VIEW_CHOICES, default=1,
                        help="orientations for NLL")
    parser.add_argument("--out", type=Path, default=None, help="write the figures as JSON")
    args = parser.parse_args(argv)

    rows = split_rows(args.catalog, args.split, args.split_seed)
    print(f"{args.catalog}: {len(rows)} galaxies in split {args.split} (seed {args.split_seed})")
    results = []
    for model in args.models:
        figures = assess(model, rows, args)
        results.append(figures)
        accuracy = " ".join(f"{q.split('_', 1)[1][:8]} {v['accuracy']:.3f}"
                            for q, v in figures["confident"].items())
        tags = figures["tag_precision10"]
        ratio = tags["model"] / tags["pixels"]
        ring = figures.get("ring_probe", {}).get("accuracy", float("nan"))
        print(f"{figures['name']:28s} NLL {figures['summed_nll']:.3f}  tags@10 "
              f"{tags['model']:.3f} ({ratio:.2f}x pixels)  rings {ring:.3f}  "
              f"{accuracy}  [{figures['seconds']:.0f} s]")
        if args.out:
            args.out.write_text(json.dumps(results, indent=1, default=str))
    return results


if __name__ == "__main__":
    from _cli import run_main

    run_main(main)
