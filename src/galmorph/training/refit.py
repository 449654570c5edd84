"""Refit the head of a trained vote model on its frozen encoder.

Vote models trained with the legacy concentration bound of 1
(:data:`galmorph.models.model.LEGACY_MIN_CONCENTRATION`) cannot predict a vote fraction
above one half for an answer whose concentration sits at that bound. Refitting the
head with the current bound fixes that without touching the encoder, so embeddings,
and everything built on them, stay the same.

Example:
    >>> from galmorph.models.checkpoint import save_model
    >>> from galmorph.training.refit import refit_vote_head
    >>> model, meta = refit_vote_head("runs/gz2/model.pt", "catalog.csv")  # doctest: +SKIP
    >>> save_model(model, meta, "runs/gz2/refit.pt")  # doctest: +SKIP
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import torch
from torch import nn

from galmorph.data.catalog import CatalogSource, load_catalog
from galmorph.data.splits import assign_splits
from galmorph.exceptions import GalmorphError
from galmorph.inference.defaults import DEFAULT_BATCH_SIZE
from galmorph.inference.embed import embed_catalog
from galmorph.inference.embeddings import FEATURE_PREFIX
from galmorph.inference.loading import ModelSpec
from galmorph.models.checkpoint import LoadedModel, load_model
from galmorph.models.losses import vote_loss
from galmorph.models.model import MIN_CONCENTRATION, ConcentrationHead, GalaxyModel


def refit_vote_head(
    model: ModelSpec,
    catalog: CatalogSource,
    *,
    min_concentration: float = MIN_CONCENTRATION,
    max_steps: int = 2000,
    learning_rate: float = 1e-3,
    eval_every: int = 100,
    batch_size: int = DEFAULT_BATCH_SIZE,
    num_workers: int | None = None,
    progress: bool = True,
) -> tuple[GalaxyModel, dict[str, Any]]:
    """Refit a vote model's head on its frozen encoder, with a new concentration bound.

    For models trained with the legacy bound of 1 (see :data:`MIN_CONCENTRATION`).
    The encoder's features (one view, no augmentation) of the galaxies that the
    model's recorded seeded split puts in ``train`` and ``val`` are computed once;
    a new head starting from the old head's weights is fitted to the training
    galaxies' votes by full-batch Adam, and the step with the lowest validation loss
    (summed NLL per galaxy, checked every ``eval_every`` steps) is kept. Test
    galaxies are not used. The encoder is shared, unchanged.

    Returns:
        The model and its metadata, with ``min_concentration`` and
        ``training.head_refit`` (steps, validation loss before and after); write
        them with :func:`galmorph.models.checkpoint.save_model`.
    """
    loaded = model if isinstance(model, LoadedModel) else load_model(model)
    schema = loaded.schema
    split = (loaded.metadata.get("training") or {}).get("split") or {}
    if loaded.task != "votes" or schema is None or split.get("method") != "seeded":
        raise GalmorphError(f"{loaded.name} is not a vote model with a recorded seeded split")
    frame = load_catalog(catalog, schema)
    where = assign_splits(frame["id_str"], split["fractions"], split["seed"])
    data = {}
    for part in ("train", "val"):
        rows = frame[where == part].reset_index(drop=True)
        if rows.empty:
            raise GalmorphError(f"the catalog has no galaxies in {loaded.name}'s {part} split")
        table = embed_catalog(rows, loaded, views=1, batch_size=batch_size,
                              num_workers=num_workers, progress=progress)
        features = table[[c for c in table.columns if c.startswith(FEATURE_PREFIX)]]
        data[part] = (torch.tensor(features.to_numpy(np.float32)),
                      torch.tensor(rows[schema.label_cols].to_numpy(np.float32)))
    old = loaded.model.head
    head = ConcentrationHead(old.linear.in_features, schema.n_answers, old.dropout.p,
                             min_concentration)
    head.linear.load_state_dict(old.linear.state_dict())
    head.eval()  # full-batch fit without dropout; early stopping regularises
    groups = schema.question_index_groups

    def val_loss(candidate: nn.Module) -> float:
        with torch.no_grad():
            return float(vote_loss(data["val"][1], candidate(data["val"][0]), groups))

    before = val_loss(old)
    best_loss, best_state, best_step = val_loss(head), copy.deepcopy(head.state_dict()), 0
    optimizer = torch.optim.Adam(head.parameters(), lr=learning_rate)
    for step in range(1, max_steps + 1):
        loss = vote_loss(data["train"][1], head(data["train"][0]), groups)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if step % eval_every == 0 and (current := val_loss(head)) < best_loss:
            best_loss, best_state, best_step = current, copy.deepcopy(head.state_dict()), step
    head.load_state_dict(best_state)
    training = {**loaded.metadata.get("training", {}), "head_refit": {
        "min_concentration_before": old.min_concentration, "steps": best_step,
        "learning_rate": learning_rate, "val_loss_before": before, "val_loss_after": best_loss,
        "n_train": len(data["train"][0]), "n_val": len(data["val"][0]),
    }}
    metadata = {**loaded.metadata, "min_concentration": min_concentration, "training": training}
    return GalaxyModel(loaded.model.encoder, head), metadata
