"""Features of the baselines that the tag-retrieval evaluation compares embeddings with.

``pixels`` (PCA of the images at :data:`PIXEL_SIZE` px), ``untrained`` (an
encoder of the same architecture with random weights, seed 0) and ``votes`` (the
model's own predicted vote fractions); ``random`` neighbours need no features.
Each baseline averages over the same orientations of every image as the
embeddings did (their ``views``), so orientation-invariance favours none of them.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import torch

from galmorph.data.image_config import ImageConfig
from galmorph.data.views import average_over_views
from galmorph.exceptions import GalmorphError
from galmorph.inference.defaults import DEFAULT_BATCH_SIZE
from galmorph.inference.loop import run_over_images
from galmorph.inference.pca import fit_pca
from galmorph.models.checkpoint import LoadedModel, build_model
from galmorph.search.defaults import BASELINES

#: Side (px) of the images behind the raw-pixel baseline.
PIXEL_SIZE = 32
#: Column headings of the methods in the evaluation table.
METHOD_LABELS = {
    "random": "random",
    "pixels": "pixel PCA",
    "untrained": "untrained",
    "votes": "votes",
    "model": "model",
}


def _vote_fractions(loaded: LoadedModel) -> Callable[[torch.Tensor], torch.Tensor]:
    """Batch → expected vote fractions ``(b, n_answers)`` of a vote-count model."""
    groups = [(q.start, q.stop) for q in loaded.learnt_questions]

    def forward(images: torch.Tensor) -> torch.Tensor:
        alpha = loaded.model(images)
        return torch.cat([alpha[:, a:b] / alpha[:, a:b].sum(1, keepdim=True) for a, b in groups],
                         dim=1)

    return forward


def baseline_features(
    name: str, frame: pd.DataFrame, loaded: LoadedModel, n_components: int | None, *,
    device: torch.device, batch_size: int = DEFAULT_BATCH_SIZE, num_workers: int | None = None,
    progress: bool = True, seed: int = 0, views: int = 1,
) -> np.ndarray:
    """Features ``(len(frame), d)`` of a baseline for the rows of a catalog.

    ``pixels``: the model's evaluation crop at :data:`PIXEL_SIZE` px, flattened,
    PCA to ``n_components``; ``untrained``: the pooled features of
    the model's architecture with random weights (torch seed ``seed``), PCA to
    ``n_components`` when given; ``votes``: the model's expected vote fractions.
    """
    run = {"device": device, "batch_size": batch_size, "num_workers": num_workers,
           "progress": progress, "description": f"Baseline: {METHOD_LABELS[name]}"}
    config = loaded.image_config
    if name == "votes":
        if loaded.task != "votes" or loaded.schema is None:
            raise GalmorphError(f"{loaded.name} is not a vote-count model: no vote fractions")
        loaded.model.eval()
        return run_over_images(frame, average_over_views(_vote_fractions(loaded), views),
                               config, **run)
    if name == "pixels":
        small = ImageConfig.from_dict({**config.to_dict(), "size": PIXEL_SIZE})
        raw = run_over_images(frame, average_over_views(lambda x: x.flatten(1), views), small,
                              **run)
    elif name == "untrained":
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            untrained = build_model(loaded.metadata).to(device).eval()
        raw = run_over_images(frame, average_over_views(untrained.embedder(), views), config, **run)
    else:
        raise GalmorphError(f"unknown baseline {name!r}: use {', '.join(BASELINES)}")
    if n_components is None:
        return raw
    n_components = min(n_components, *raw.shape)
    return fit_pca([raw], n_components).transform(raw)
