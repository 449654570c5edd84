"""Do hand-made ring measurements beat the learnt representation on the DECaLS rings?

A ring is a bright annulus around the centre, bright at every position angle and often
bluer than the disc (star formation). Each image is resampled in polar coordinates
around its centre (radii 0 to ``--max-radius`` px of the 424 px cutouts, 48 position
angles), and each radius gives:

* ``median``, ``10th percentile``: the log brightness over position angle (minus the
  centre's), the azimuthal profile, and its faintest side (a ring is bright all round,
  a bar only on two sides);
* ``uniformity``: the spread of log brightness over position angle;
* ``colour``: log red minus log blue mean brightness (DECaLS z and g).

Each set, and each with the principal components of a model's embeddings
(``--embeddings``, from ``galmorph embed``), is scored by galmorph's logistic-regression
probe (:func:`galmorph.training.probe.fit_probe`): 5-fold cross-validation, 3 repeats,
printed as mean ± standard deviation over the 15 folds. The ring label is balanced, so
always answering one class scores 0.5.

Usage::

    .venv/bin/python benchmarks/bench_ring_profiles.py [--embeddings rings-emb.parquet]
"""

from __future__ import annotations

import argparse
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.ndimage import map_coordinates
from sklearn.decomposition import PCA
from sklearn.model_selection import RepeatedStratifiedKFold
from sklearn.preprocessing import StandardScaler

from galmorph.data.catalog import load_catalog
from galmorph.data.images import load_image
from galmorph.exceptions import CatalogError
from galmorph.inference.embeddings import FEATURE_PREFIX
from galmorph.training.probe import fit_probe

RINGS = Path(__file__).resolve().parents[2] / "shared" / "data" / "rings_decals" / "catalog.csv"
#: Radii and position angles sampled.
N_RADII, N_ANGLES = 80, 48


def polar_image(pixels: np.ndarray, max_radius: float) -> np.ndarray:
    """``(H, W, C)`` pixels resampled around the image centre as ``(C, N_RADII, N_ANGLES)``
    (bilinear), radii from 0 to ``max_radius`` px."""
    centre_y, centre_x = (pixels.shape[0] - 1) / 2, (pixels.shape[1] - 1) / 2
    radius = np.linspace(0, max_radius, N_RADII)[:, None]
    angle = np.linspace(0, 2 * np.pi, N_ANGLES, endpoint=False)[None]
    rows, columns = centre_y + radius * np.sin(angle), centre_x + radius * np.cos(angle)
    return np.stack([map_coordinates(pixels[..., c].astype(np.float64), [rows, columns], order=1)
                     for c in range(pixels.shape[-1])])


def ring_measures(polar: np.ndarray) -> dict[str, np.ndarray]:
    """Per-radius measures (each ``(N_RADII,)``) of one ``(3, N_RADII, N_ANGLES)`` polar image."""
    brightness = np.log1p(polar.mean(axis=0))
    median = np.median(brightness, axis=1)
    faint = np.percentile(brightness, 10, axis=1)
    return {"median": median - median[0], "10th percentile": faint - faint[0],
            "uniformity": brightness.std(axis=1),
            "colour": np.log1p(polar[0].mean(axis=1)) - np.log1p(polar[2].mean(axis=1))}


def probe_accuracy(features: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    """Mean and standard deviation of galmorph's probe's accuracy (its regularisation
    chosen on each training fold) over 5 folds x 3 repeats."""
    folds = RepeatedStratifiedKFold(n_splits=5, n_repeats=3, random_state=0)
    scores = [fit_probe(features[train], labels[train]).score(features[test], labels[test])
              for train, test in folds.split(features, labels)]
    return float(np.mean(scores)), float(np.std(scores))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--catalog", type=Path, default=RINGS, help="ring catalog (id_str, "
                        "file_loc, ring 0/1)")
    parser.add_argument("--embeddings", type=Path, help="galmorph embed's file for the catalog")
    parser.add_argument("--max-radius", type=float, default=160, help="px (default: 160)")
    parser.add_argument("--components", type=int, default=20, help="of the embeddings "
                        "(default: 20)")
    args = parser.parse_args()
    catalog = load_catalog(args.catalog)
    if "ring" not in catalog or not catalog["ring"].isin([0, 1]).all():
        raise CatalogError(f"{args.catalog} needs a column 'ring' of 0 and 1")
    labels = catalog["ring"].to_numpy()
    measures = [ring_measures(polar_image(load_image(path), args.max_radius))
                for path in catalog["file_loc"]]
    sets = {name: np.stack([m[name] for m in measures]) for name in measures[0]}
    sets["all four"] = np.hstack(list(sets.values()))
    sets["colour + uniformity"] = np.hstack([sets["colour"], sets["uniformity"]])
    if args.embeddings is not None:
        table = pd.read_parquet(args.embeddings).set_index("id_str").loc[catalog["id_str"]]
        features = table.filter(like=FEATURE_PREFIX).to_numpy()
        components = PCA(args.components, random_state=0).fit_transform(
            StandardScaler().fit_transform(features))  # unsupervised: no label leaks
        for name in ("colour", "all four"):
            sets[f"{name} + embeddings"] = np.hstack([sets[name], components])
        sets["embeddings"] = features
    print(f"{len(labels)} galaxies, {labels.mean():.0%} rings; probe accuracy (5 folds x 3)")
    for name, values in sets.items():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # lbfgs on 1280 features: slow convergence
            mean, spread = probe_accuracy(values, labels)
        print(f"  {name:32s} {mean:.3f} ± {spread:.3f}")


if __name__ == "__main__":
    from _cli import run_main

    run_main(main)
