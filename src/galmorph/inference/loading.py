"""The model an inference job runs: how it may be given, loaded and checked, and what
output files record of it.

:data:`ModelSpec` is what the jobs' ``model`` arguments accept: a
:class:`~galmorph.models.checkpoint.LoadedModel`, or a name, path or ``hf_hub:`` id
for :func:`galmorph.models.checkpoint.load_model` (None: the shipped default).

Examples
--------
>>> from galmorph.inference.loading import as_loaded
>>> loaded = as_loaded("gz2-starter", torch.device("cpu"))  # doctest: +SKIP
>>> output_metadata(loaded, mc_samples=1)["galmorph_model"]  # doctest: +SKIP
'gz2-starter'
"""

from __future__ import annotations

from pathlib import Path

import torch

from galmorph import __version__
from galmorph.exceptions import ModelError
from galmorph.models.checkpoint import LoadedModel, load_model
from galmorph.models.external import ENCODER_TASK

ModelSpec = LoadedModel | str | Path | None


def as_loaded(model: ModelSpec, device: torch.device) -> LoadedModel:
    """Load ``model`` unless it is already loaded; either way, on ``device`` in eval mode."""
    if isinstance(model, LoadedModel):
        model.model.to(device).eval()
        return model
    return load_model(model, device)


def check_has_head(loaded: LoadedModel) -> None:
    """Raises ModelError for an external encoder, which has no head to predict with."""
    if loaded.task == ENCODER_TASK:
        raise ModelError(
            f"{loaded.name} is an encoder with no head, so it cannot predict: use it with "
            "embed, similar or serve, or train a head on it (train --init, finetune --model)"
        )


def output_metadata(loaded: LoadedModel, mc_samples: int, views: int = 1) -> dict[str, str]:
    """What output files record: the model's provenance, galmorph version, MC samples
    and the orientations averaged over."""
    return {
        **loaded.provenance(),
        "galmorph_version": __version__,
        "galmorph_mc_samples": str(mc_samples),
        "galmorph_views": str(views),
    }
