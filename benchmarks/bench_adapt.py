"""Does ``galmorph adapt`` help a model on another survey's images? Measured without its labels.

The 330 shared DECaLS galaxies carry GZ DECaLS volunteers' vote fractions for three
questions the GZ2 starter also answers (featured, not edge-on, no spiral arms) and a
ring label. For each ``--repeats`` draw, the galaxies are split in two random halves;
the model is adapted (:func:`galmorph.training.adapt.adapt_model`) on the first half's
images only, and judged on the second half, three ways:

* ``as it is``: the model with its own crop and statistics (what ``predict`` does today);
* ``crop only``: the adapted crop, the original BatchNorm statistics;
* ``adapted``: the adapted model.

Figures: Spearman rank correlation of each predicted fraction with the volunteers'
(these galaxies are all featured, face-on and mostly without spiral arms, so the ranges
are narrow), and the ring probe's accuracy (logistic regression on the embeddings,
5-fold cross-validation x 3 on the second half). Printed as mean (min-max) over draws.

Usage::

    .venv/bin/python benchmarks/bench_adapt.py [--model gz2-starter] [--repeats 3]
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import spearmanr
from sklearn.model_selection import StratifiedKFold

from galmorph.exceptions import GalmorphWarning
from galmorph.inference.embed import embed_catalog
from galmorph.inference.embeddings import FEATURE_PREFIX
from galmorph.inference.predict import predict_catalog
from galmorph.models.checkpoint import LoadedModel, load_model
from galmorph.training.adapt import adapt_model
from galmorph.training.probe import fit_probe

RINGS = Path(__file__).resolve().parents[2] / "shared" / "data" / "rings_decals" / "catalog.csv"
#: GZ DECaLS volunteer fraction column -> the GZ2 answer predicted for it.
ANSWERS = {
    "smooth-or-featured_featured-or-disk_fraction": "t01_smooth_or_features_a02_features_or_disk",
    "disk-edge-on_no_fraction": "t02_edgeon_a05_no",
    "has-spiral-arms_no_fraction": "t04_spiral_a09_no_spiral",
}


def probe_accuracy(features: np.ndarray, labels: np.ndarray, repeats: int = 3) -> float:
    """Mean accuracy of the logistic probe over 5-fold cross-validation, ``repeats`` times."""
    scores = []
    for repeat in range(repeats):
        for train, test in StratifiedKFold(5, shuffle=True, random_state=repeat).split(
                features, labels):
            fitted = fit_probe(features[train], labels[train])
            scores.append(float((fitted.predict(features[test]) == labels[test]).mean()))
    return float(np.mean(scores))


def judge(model: LoadedModel, frame: pd.DataFrame) -> dict[str, float]:
    """Rank correlations with the volunteers and the ring probe's accuracy on ``frame``."""
    predicted = predict_catalog(frame, model, progress=False)
    row = {column.split("_")[0]: float(spearmanr(predicted[f"{answer}_fraction"],
                                                 frame[column]).statistic)
           for column, answer in ANSWERS.items()}
    embedded = embed_catalog(frame, model, progress=False)
    columns = [c for c in embedded.columns if c.startswith(FEATURE_PREFIX)]
    features = embedded[columns].to_numpy(dtype=np.float64)
    row["ring probe"] = probe_accuracy(features, frame["ring"].to_numpy())
    return row


def row_line(row: dict[str, Any]) -> str:
    """One judged model of one draw as a line of figures to 3 decimals."""
    figures = "  ".join(f"{key} {value:.3f}" for key, value in row.items()
                        if key not in ("model", "repeat"))
    return f"draw {row['repeat']}, {row['model']:<9}  {figures}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--catalog", type=Path, default=RINGS)
    parser.add_argument("--model", default="gz2-starter")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    warnings.simplefilter("ignore", GalmorphWarning)  # the size warning the first row shows

    frame = pd.read_csv(args.catalog)
    frame["file_loc"] = [str(args.catalog.parent / loc) for loc in frame["file_loc"]]
    original = load_model(args.model)
    rows = []
    folder = Path(tempfile.mkdtemp(prefix="galmorph-bench-adapt-"))
    for repeat in range(args.repeats):
        order = np.random.default_rng(repeat).permutation(len(frame))
        fit, judged = (frame.iloc[np.sort(half)].reset_index(drop=True)
                       for half in np.array_split(order, 2))
        adapted = load_model(adapt_model(original, fit, folder / f"adapted-{repeat}.pt").model_path)
        crop_only = LoadedModel(original.model, {**original.metadata, "image":
                                                 adapted.metadata["image"]}, original.path)
        for name, model in (("as it is", original), ("crop only", crop_only),
                            ("adapted", adapted)):
            rows.append({"model": name, "repeat": repeat, **judge(model, judged)})
            print(row_line(rows[-1]), flush=True)
    shutil.rmtree(folder)
    table = pd.DataFrame(rows).drop(columns="repeat").groupby("model", sort=False)
    summary = table.mean().round(3).astype(str) + " (" + table.min().round(2).astype(str) + \
        "-" + table.max().round(2).astype(str) + ")"
    print(f"\n{args.model} on {len(frame) // 2} DECaLS galaxies, adapted on the other "
          f"{len(frame) - len(frame) // 2}; mean (min-max) over {args.repeats} draws:")
    print(summary.to_string())


if __name__ == "__main__":
    from _cli import run_main

    run_main(main)
