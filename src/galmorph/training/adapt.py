"""Adapt a model to another survey's images without labels: crop and normalisation statistics.

A model trained on GZ2 SDSS cutouts sees images of another survey at another scale,
colour balance and depth. :func:`adapt_model` makes a copy for the new images:

* the evaluation crop that gives their galaxies the apparent size the model learnt
  (:func:`galmorph.training.conventions.auto_crop`, as ``finetune`` does);
* the running statistics of every BatchNorm layer re-estimated on the new images
  ("AdaBN", Li et al. 2018, Pattern Recognition 80, 109), over all their
  orientations; the learnt weights are unchanged.

No label is needed: use the adapted model with ``--model`` for ``predict``, ``embed``,
``similar``, ``anomaly`` or as the start of ``finetune``. Encoders without BatchNorm
(e.g. ConvNeXt's LayerNorm) only get the crop.

Example:
    >>> from galmorph.training.adapt import adapt_model
    >>> adapted = adapt_model("gz2-starter", "decals/catalog.csv",
    ...                       "decals-starter.pt")  # doctest: +SKIP
    >>> adapted.record["images"], adapted.record["crop_fraction"]  # doctest: +SKIP
    (330, [0.459, 0.459])
"""

from __future__ import annotations

import copy
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from torch import nn

from galmorph.data.catalog import load_catalog
from galmorph.data.image_config import ImageConfig
from galmorph.data.views import average_over_views
from galmorph.exceptions import GalmorphWarning, ModelError
from galmorph.inference.defaults import DEFAULT_VIEWS
from galmorph.inference.loop import run_over_images
from galmorph.models.checkpoint import LoadedModel, load_model, save_model
from galmorph.models.device import resolve_device
from galmorph.models.external import ENCODER_TASK
from galmorph.training.conventions import auto_crop, source_conventions
from galmorph.training.defaults import DEFAULT_ADAPT_IMAGES


@dataclass
class AdaptResult:
    """An adapted model file and what was changed (also in its metadata, ``adaptation``)."""

    model_path: Path
    record: dict[str, Any]


def batchnorm_layers(module: nn.Module) -> list[nn.modules.batchnorm._BatchNorm]:
    """The BatchNorm layers of ``module`` that keep running statistics, in order."""
    return [m for m in module.modules()
            if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats]


def reestimate_batchnorm(
    encoder: nn.Module, frame: pd.DataFrame, config: ImageConfig, *, views: int,
    device: torch.device, batch_size: int = 64, num_workers: int | None = None,
) -> int:
    """Replace the encoder's BatchNorm running statistics by those of ``frame``'s images.

    Every layer's mean and variance become the average over all batches (of
    ``batch_size`` images, each seen in ``views`` orientations) of its inputs'
    per-channel batch statistics; weights, and every other layer, are unchanged.
    The encoder is left in eval mode on its original device.

    Returns:
        The number of layers re-estimated.
    """
    layers = batchnorm_layers(encoder)
    if not layers:
        return 0
    home = next(encoder.parameters()).device
    momenta = [layer.momentum for layer in layers]
    encoder.to(device).eval()
    for layer in layers:
        layer.reset_running_stats()
        layer.momentum = None  # a cumulative average over every batch
        layer.train()
    try:
        run_over_images(frame, average_over_views(encoder, views), config, device=device,
                        batch_size=batch_size, num_workers=num_workers, progress=False)
    finally:
        for layer, momentum in zip(layers, momenta, strict=True):
            layer.momentum = momentum
        encoder.eval().to(home)
    return len(layers)


def adapt_model(
    model: str | Path | LoadedModel,
    catalog: str | Path | pd.DataFrame,
    output: str | Path,
    *,
    crop_fraction: tuple[float, float] | None = None,
    max_images: int = DEFAULT_ADAPT_IMAGES,
    views: int = DEFAULT_VIEWS,
    source: dict[str, Any] | None = None,
    seed: int = 0,
    name: str | None = None,
    device: str | torch.device = "auto",
    num_workers: int | None = None,
) -> AdaptResult:
    """Write a copy of a galmorph model adapted to a catalog's images (no labels needed).

    Args:
        model: a shipped name, model file or hub id (see
            :func:`galmorph.models.checkpoint.load_model`), or a loaded model.
        catalog: the new images (``id_str``, ``file_loc``); a table file or DataFrame.
        output: the model file to write (atomically).
        crop_fraction: ``(min, max)`` training crop as a fraction of the image side
            (evaluation uses their mean). Default: the model's, scaled to the
            measured galaxy size when the images have other conventions.
        max_images: at most this many images, drawn by ``seed``, estimate the
            statistics.
        views: orientations of each image (1, 4 or 8).
        source: conventions of the new images (``survey``, ``bands``,
            ``pixel_scale``, ``field_of_view``, ``stretch``) to record.
        name: the adapted model's name (default: the model's, with ``-adapted``).
        device: where to run (``auto``: a GPU when there is one).

    Raises:
        ModelError: for an external encoder (fine-tune it first) or a bad model.
        CatalogError: for a bad catalog.
        ValueError: for bad options.
    """
    if max_images < 1:
        raise ValueError(f"max_images must be at least 1, got {max_images}")
    loaded = model if isinstance(model, LoadedModel) else load_model(model)
    if loaded.task == ENCODER_TASK:
        raise ModelError(
            f"{loaded.name} is an external encoder with no galmorph metadata to adapt; "
            "fine-tune it (galmorph finetune) and adapt the result"
        )
    frame = load_catalog(catalog)
    paths = frame["file_loc"].tolist()
    record: dict[str, Any] = {"from": loaded.name}
    if crop_fraction is None:
        automatic = auto_crop(loaded.image_config, paths)
        if automatic is not None:
            crop_fraction, fills = automatic
            record.update(fills)
    config = ImageConfig.from_dict({
        **loaded.image_config.to_dict(),
        **({"crop_fraction": list(crop_fraction)} if crop_fraction else {}),
        **source_conventions(loaded.image_config, paths[0], source),
    })
    sample = frame.sample(min(len(frame), max_images), random_state=seed)
    network = copy.deepcopy(loaded.model)
    layers = reestimate_batchnorm(network.encoder, sample, config, views=views,
                                  device=resolve_device(device), num_workers=num_workers)
    if not layers:
        warnings.warn(
            f"{loaded.metadata['encoder']} has no BatchNorm layers: only the crop was adapted",
            GalmorphWarning, stacklevel=2,
        )
    record.update(images=len(sample), views=views, seed=seed, batchnorm_layers=layers,
                  crop_fraction=list(config.crop_fraction))
    metadata = {**loaded.metadata, "name": name or f"{loaded.name}-adapted",
                "image": config.to_dict(), "adaptation": record}
    return AdaptResult(save_model(network, metadata, output), record)
