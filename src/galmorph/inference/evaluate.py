"""Evaluate a vote-count model against a catalog's volunteer votes.

:func:`evaluate_catalog` predicts every galaxy of a labelled catalog (the loop of
:mod:`galmorph.inference.loop`, as :func:`galmorph.inference.predict.predict_catalog`)
and compares the predictions with the volunteers' votes
(:func:`galmorph.models.metrics.evaluate_votes`).

Examples
--------
>>> from galmorph.inference.evaluate import evaluate_catalog
>>> result = evaluate_catalog("catalog.csv", "gz2-starter")  # doctest: +SKIP
>>> result["n_galaxies"], sorted(result["questions"])[0]  # doctest: +SKIP
(630, 't01_smooth_or_features')
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd
import torch

from galmorph.data.catalog import CatalogSource, load_catalog
from galmorph.data.galaxy_dataset import predict_loader
from galmorph.data.tree import Schema
from galmorph.exceptions import GalmorphError, GalmorphWarning
from galmorph.inference.defaults import DEFAULT_BATCH_SIZE, DEFAULT_VIEWS
from galmorph.inference.loading import ModelSpec, as_loaded, check_has_head, output_metadata
from galmorph.inference.loop import check_image_conventions, model_outputs
from galmorph.models.checkpoint import LoadedModel
from galmorph.models.device import resolve_device
from galmorph.models.metrics import evaluate_votes


def _run(
    catalog: CatalogSource,
    loaded: LoadedModel,
    *,
    mc_samples: int,
    batch_size: int,
    num_workers: int | None,
    device: torch.device,
    progress: bool,
    seed: int | None,
    drop_missing_images: bool,
    views: int = DEFAULT_VIEWS,
    backend: str = "torch",
) -> tuple[pd.DataFrame, np.ndarray]:
    """The catalog as read and the model's raw outputs for its rows, in order."""
    frame = load_catalog(catalog, None, drop_missing_images=drop_missing_images)
    for message in check_image_conventions(frame, loaded.image_config, loaded.name):
        warnings.warn(message, GalmorphWarning, stacklevel=3)
    raw = model_outputs(
        loaded,
        predict_loader(frame, loaded.image_config, batch_size=batch_size,
                       num_workers=num_workers, finish_on_device=device.type != "cpu"),
        mc_samples=mc_samples,
        device=device,
        progress=progress,
        seed=seed,
        views=views,
        backend=backend,
    )
    return frame, raw


def evaluate_catalog(
    catalog: CatalogSource,
    model: ModelSpec = None,
    *,
    mc_samples: int = 1,
    batch_size: int = DEFAULT_BATCH_SIZE,
    num_workers: int | None = None,
    device: str | torch.device = "cpu",
    progress: bool = True,
    seed: int | None = 0,
    drop_missing_images: bool = False,
    views: int = DEFAULT_VIEWS,
    backend: str = "torch",
) -> dict[str, Any]:
    """Compare a vote-count model's predictions with a catalog's volunteer votes.

    The catalog is read with the model's schema, so it needs that schema's vote
    columns (see :func:`galmorph.data.catalog.load_catalog`); arguments as
    :func:`galmorph.inference.predict.predict_catalog`. Questions the model had
    no training vote for (:attr:`LoadedModel.questions_without_votes`) are left
    out, with a warning when the catalog has vote columns for them.

    Returns:
        :func:`galmorph.models.metrics.evaluate_votes` (against the model's no-image
        baseline when it records one), plus ``model`` (its provenance).
    """
    torch_device = resolve_device(device)
    loaded = as_loaded(model, torch_device)
    check_has_head(loaded)
    schema: Schema | None = loaded.schema
    if loaded.task != "votes" or schema is None:
        raise GalmorphError(
            f"{loaded.name} is a {loaded.task!r} model; evaluation compares vote-count "
            "models with volunteer votes"
        )
    learnt = loaded.learnt_schema
    assert learnt is not None
    labelled = load_catalog(catalog, learnt, drop_missing_images=drop_missing_images)
    unlearnt = [q.name for q in schema.questions if q.name in loaded.questions_without_votes
                and any(c in labelled for c in q.columns)]
    if unlearnt:
        warnings.warn(
            f"{loaded.name} had no training votes for {', '.join(unlearnt)}: the catalog's "
            "votes for them are left out of the evaluation", GalmorphWarning, stacklevel=2,
        )
    _, raw = _run(
        labelled,
        loaded,
        mc_samples=mc_samples,
        batch_size=batch_size,
        num_workers=num_workers,
        device=torch_device,
        progress=progress,
        seed=seed,
        drop_missing_images=False,
        views=views,
        backend=backend,
    )
    keep = loaded.learnt_answers
    baseline = loaded.metadata.get("vote_baseline")
    result = evaluate_votes(
        labelled[learnt.label_cols].to_numpy(),
        raw[:, keep],
        learnt,
        baseline=np.asarray(baseline)[keep] if baseline is not None else None,
    )
    result["model"] = output_metadata(loaded, mc_samples, views)
    return result
