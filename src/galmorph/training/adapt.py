"""Adapt a model to another survey's images without labels: crop and normalisation statistics.

A model trained on GZ2 SDSS cutouts sees images of another survey at another scale,
colour balance and depth. :func:`adapt_model` makes a copy for the new images:

* the evaluation crop that gives their galaxies the apparent size the model learnt
  (:func:`galmorph.training.conventions.auto_crop`, as ``finetune`` does);
* the running statistics of every BatchNorm layer re-estimated on the new images
  ("AdaBN", Li et al. 2018, Pattern Recognition 80, 109), over all their
  orientations, every image counting once; the learnt weights are unchanged.

No label is needed: use the adapted model with ``--model`` for ``predict``, ``embed``,
``similar``, ``anomaly`` or as the start of ``finetune``. Encoders without BatchNorm
(e.g. ConvNeXt's LayerNorm) only get the crop. Images of several sizes, grey images
for a colour model, and fewer than :data:`FEW_IMAGES` images are adapted to with a
warning; fewer than 2 images cannot give BatchNorm statistics.

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
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from galmorph.data.catalog import load_catalog
from galmorph.data.image_config import ImageConfig
from galmorph.data.images import load_image
from galmorph.data.views import average_over_views
from galmorph.exceptions import GalmorphWarning, ModelError
from galmorph.inference.defaults import DEFAULT_VIEWS
from galmorph.inference.loop import run_over_images
from galmorph.models.checkpoint import LoadedModel, load_model, save_model
from galmorph.models.device import resolve_device
from galmorph.models.external import ENCODER_TASK
from galmorph.training.conventions import (
    SOURCE_FIELDS,
    auto_crop,
    same_conventions,
    source_conventions,
)
from galmorph.training.defaults import DEFAULT_ADAPT_IMAGES

#: Below this many images the BatchNorm statistics are noisy (a warning): the starter
#: adapted on 1, 3, 10, 30 and 100 of 230 DECaLS galaxies (one view) ranked 100 others'
#: featured votes with a Spearman correlation of 0.33, 0.32, 0.47, 0.44 and 0.44, and
#: their not-edge-on votes with 0.46, 0.64, 0.57, 0.67 and 0.65.
FEW_IMAGES = 30
#: Images whose size and channels are checked, drawn like those of the statistics.
SHAPE_CHECKS = 200


@dataclass
class AdaptResult:
    """An adapted model file and what was changed (also in its metadata, ``adaptation``)."""

    model_path: Path
    record: dict[str, Any]


def batchnorm_layers(module: nn.Module) -> list[nn.modules.batchnorm._BatchNorm]:
    """The BatchNorm layers of ``module`` that keep running statistics, in order."""
    return [m for m in module.modules()
            if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats]


def even_batch_size(n: int, largest: int) -> int:
    """A batch size up to ``largest`` that leaves no last batch of one image of ``n``:
    BatchNorm cannot normalise one image where a feature map is 1x1."""
    for size in range(min(largest, n), 1, -1):
        if n % size != 1:
            return size
    return n


def _counting_each_image_once(
    encoder: nn.Module, layers: Sequence[nn.modules.batchnorm._BatchNorm]
) -> Callable[[torch.Tensor], torch.Tensor]:
    """``encoder``, with its layers' running statistics the average over every image seen
    so far: each batch weighs as many images as it has (a short last batch too)."""
    seen = 0

    def forward(images: torch.Tensor) -> torch.Tensor:
        nonlocal seen
        seen += len(images)
        for layer in layers:
            layer.momentum = len(images) / seen
        return encoder(images)

    return forward


def reestimate_batchnorm(
    encoder: nn.Module, frame: pd.DataFrame, config: ImageConfig, *, views: int,
    device: torch.device, batch_size: int = 64, num_workers: int | None = None,
    progress: bool = False,
) -> int:
    """Replace the encoder's BatchNorm running statistics by those of ``frame``'s images.

    Every layer's mean and variance become the average over all images (each seen
    in ``views`` orientations, in batches of up to ``batch_size``) of its inputs'
    per-channel batch statistics, each batch weighted by its number of images;
    weights, and every other layer, are unchanged. The encoder is left in eval
    mode on its original device.

    Returns:
        The number of layers re-estimated.

    Raises:
        ValueError: for fewer than 2 images (when there are layers to re-estimate).
    """
    layers = batchnorm_layers(encoder)
    if not layers:
        return 0
    if len(frame) < 2:
        raise ValueError(f"BatchNorm statistics need at least 2 images, got {len(frame)}: "
                         "adapt on a catalog of the survey's images (hundreds are best)")
    home = next(encoder.parameters()).device
    momenta = [layer.momentum for layer in layers]
    encoder.to(device).eval()
    for layer in layers:
        layer.reset_running_stats()
        layer.train()
    try:
        run_over_images(frame, average_over_views(_counting_each_image_once(encoder, layers),
                                                  views),
                        config, device=device, batch_size=even_batch_size(len(frame), batch_size),
                        num_workers=num_workers, progress=progress,
                        description="Re-estimating BatchNorm")
    finally:
        for layer, momentum in zip(layers, momenta, strict=True):
            layer.momentum = momentum
        encoder.eval().to(home)
    return len(layers)


def image_shapes(paths: Sequence[str], n: int = SHAPE_CHECKS, seed: int = 0
                 ) -> dict[str, tuple[int, ...]]:
    """``(height, width, channels)`` of ``n`` images drawn by ``seed`` (all when fewer)."""
    chosen = np.random.default_rng(seed).permutation(len(paths))[:n]
    return {paths[i]: load_image(paths[i]).shape for i in sorted(chosen)}


def _typical_first(paths: list[str], shapes: dict[str, tuple[int, ...]]) -> list[str]:
    """``paths`` with an image of the most common shape first (the crop and conventions
    are chosen from the first image's size), swapped with the first when it is not."""
    common = Counter(shapes.values()).most_common(1)[0][0]
    if shapes.get(paths[0]) == common:
        return paths
    typical = paths.index(next(p for p, s in shapes.items() if s == common))
    ordered = list(paths)
    ordered[0], ordered[typical] = ordered[typical], ordered[0]
    return ordered


def choose_crop(
    config: ImageConfig, paths: list[str], given: tuple[float, float] | None,
    source: dict[str, Any] | None = None,
) -> tuple[tuple[float, float] | None, dict[str, Any]]:
    """The crop for the new images (None: the model's) and what to record of the choice:
    ``crop_reason``, and the galaxy sizes when they were measured. ``source`` holds the
    conventions given for the images (a ``pixel_scale`` other than the model's means
    other conventions whatever the images' side)."""
    if given is not None:
        return given, {"crop_reason": "given"}
    automatic = auto_crop(config, paths, source)
    if automatic is not None:
        return automatic[0], {"crop_reason": "measured", **automatic[1]}
    sdss = ImageConfig.for_sdss_gz2()
    if any(getattr(config, f) != getattr(sdss, f) for f in SOURCE_FIELDS):
        reason = "kept: the model did not learn GZ2 SDSS cutouts, whose galaxy size is known"
    elif same_conventions(config, paths[0], source):
        reason = "kept: the images have the size of the model's training images"
    else:
        reason = "kept: the galaxies' size could not be measured"
    return None, {"crop_reason": reason}


def _shape_warnings(shapes: dict[str, tuple[int, ...]], config: ImageConfig, name: str
                    ) -> list[str]:
    """Notes on images of several sizes, or grey images for a colour model."""
    notes = []
    sizes = Counter(s[:2] for s in shapes.values())
    if len(sizes) > 1:
        listed = ", ".join(f"{w}x{h} px: {n}" for (h, w), n in sizes.most_common(4))
        (h, w), _ = sizes.most_common(1)[0]
        notes.append(
            f"the images have {len(sizes)} sizes ({listed}, of {len(shapes)} checked): one "
            f"crop, a fraction of each image's side, serves them all, chosen for the {w}x{h} "
            "px images; images from different surveys or pixel scales each need their own "
            "adapted model (one catalog per survey)")
    if config.channels == 3 and all(s[2] == 1 for s in shapes.values()):
        notes.append(f"the images are grey (1 channel) but {name} learnt colour images: "
                     "they are repeated in 3 channels, and its statistics re-estimated on them")
    return notes


def _sample_notes(encoder: nn.Module, name: str, n_images: int, n_rows: int) -> list[str]:
    """A note when the encoder has no BatchNorm or the images are few for its statistics.

    Raises:
        ValueError: for fewer than 2 images and BatchNorm layers to re-estimate.
    """
    if not batchnorm_layers(encoder):
        return [f"{name} has no BatchNorm layers: only the crop was adapted"]
    drawn = " (--max-images)" if n_images < n_rows else ""
    if n_images < 2:
        raise ValueError(f"BatchNorm statistics need at least 2 images, got {n_images}{drawn}: "
                         "adapt on a catalog of the survey's images (hundreds are best)")
    if n_images < FEW_IMAGES:
        return [f"BatchNorm statistics from only {n_images} images{drawn} are noisy: adapt on "
                f"at least {FEW_IMAGES} of the survey's images (hundreds are best)"]
    return []


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
    drop_missing_images: bool = False,
    device: str | torch.device = "auto",
    num_workers: int | None = None,
    progress: bool = False,
) -> AdaptResult:
    """Write a copy of a galmorph model adapted to a catalog's images (no labels needed).

    Args:
        model: a shipped name, model file or hub id (see
            :func:`galmorph.models.checkpoint.load_model`), or a loaded model.
        catalog: the new images (``id_str``, ``file_loc``); a table file or DataFrame.
        output: the model file to write (atomically); not the model's own file.
        crop_fraction: ``(min, max)`` training crop as a fraction of the image side
            (evaluation uses their mean). Default: the model's, scaled to the
            measured galaxy size when the images have other conventions.
        max_images: at most this many images, drawn by ``seed``, estimate the
            statistics.
        views: orientations of each image (1, 4 or 8).
        source: conventions of the new images (``survey``, ``bands``,
            ``pixel_scale``, ``field_of_view``, ``stretch``) to record.
        name: the adapted model's name (default: the model's, with ``-adapted``).
        drop_missing_images: leave out rows whose image file is missing (with a
            warning) instead of raising.
        device: where to run (``auto``: a GPU when there is one).
        progress: show a progress bar while the statistics are estimated.

    Raises:
        ModelError: for an external encoder (fine-tune it first) or a bad model.
        CatalogError: for a bad catalog.
        ValueError: for bad options, ``output`` naming the model's file, or fewer
            than 2 images for a model with BatchNorm.
    """
    if max_images < 1:
        raise ValueError(f"max_images must be at least 1, got {max_images}")
    loaded = model if isinstance(model, LoadedModel) else load_model(model)
    if loaded.task == ENCODER_TASK:
        raise ModelError(
            f"{loaded.name} is an external encoder with no galmorph metadata to adapt; "
            "fine-tune it (galmorph finetune) and adapt the result"
        )
    if Path(output).resolve() == loaded.path.resolve():
        raise ValueError(f"{output} is the model being adapted: write the adapted copy to "
                         "another file, so that the original is kept")
    frame = load_catalog(catalog, drop_missing_images=drop_missing_images)
    shapes = image_shapes(frame["file_loc"].tolist(), seed=seed)
    paths = _typical_first(frame["file_loc"].tolist(), shapes)
    crop_fraction, choice = choose_crop(loaded.image_config, paths, crop_fraction, source)
    config = ImageConfig.from_dict({
        **loaded.image_config.to_dict(),
        **({"crop_fraction": list(crop_fraction)} if crop_fraction else {}),
        **source_conventions(loaded.image_config, paths[0], source),
    })
    sample = frame.sample(min(len(frame), max_images), random_state=seed)
    network = copy.deepcopy(loaded.model)
    notes = [*_shape_warnings(shapes, loaded.image_config, loaded.name),
             *_sample_notes(network.encoder, loaded.metadata["encoder"], len(sample),
                            len(frame))]
    for note in notes:
        warnings.warn(note, GalmorphWarning, stacklevel=2)
    layers = reestimate_batchnorm(network.encoder, sample, config, views=views,
                                  device=resolve_device(device), num_workers=num_workers,
                                  progress=progress)
    record = {"from": loaded.name, **choice, "catalog_rows": len(frame), "images": len(sample),
              "views": views, "seed": seed, "batchnorm_layers": layers,
              "crop_fraction": list(config.crop_fraction)}
    metadata = {**loaded.metadata, "name": name or f"{loaded.name}-adapted",
                "image": config.to_dict(), "adaptation": record}
    return AdaptResult(save_model(network, metadata, output), record)
