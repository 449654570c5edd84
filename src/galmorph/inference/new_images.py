"""Embed new images into an embeddings file's space, with the model the file records.

:func:`load_embedding_model` finds the model an embeddings file
(:mod:`galmorph.inference.embeddings`) was made with and checks its checksum;
:func:`embed_images` runs it over new images, with the file's orientations and
stages, and projects the features with the file's PCA.

Examples
--------
>>> from galmorph.inference.embeddings import read_embeddings
>>> from galmorph.inference.new_images import embed_images
>>> emb = read_embeddings("emb.parquet")  # doctest: +SKIP
>>> embed_images(["new_galaxy.jpg"], emb).shape  # doctest: +SKIP
(1, 10)
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from galmorph.data.fits_images import describe_missing, image_exists
from galmorph.data.views import average_over_views
from galmorph.exceptions import GalmorphWarning, ImageError, ModelError
from galmorph.files import user_path
from galmorph.inference.defaults import DEFAULT_BATCH_SIZE
from galmorph.inference.embeddings import EmbeddingInfo
from galmorph.inference.galaxy_rows import GalaxyRows
from galmorph.inference.loading import ModelSpec, as_loaded
from galmorph.inference.loop import check_image_conventions, run_over_images
from galmorph.models.checkpoint import LoadedModel, load_model
from galmorph.models.device import resolve_device


def load_embedding_model(
    info: EmbeddingInfo, model: ModelSpec = None, device: str | torch.device = "cpu"
) -> LoadedModel:
    """The model an embeddings file was made with (or ``model``), checked by checksum.

    Without ``model``, the recorded file path is tried first, then the recorded spec
    (a shipped name or ``hf_hub:`` id).

    Raises:
        ModelError: when the model cannot be found or is not the one recorded.
    """
    torch_device = resolve_device(device)
    if isinstance(model, LoadedModel):
        loaded = as_loaded(model, torch_device)
    elif model is not None:  # an external encoder gets the recorded image settings
        loaded = load_model(model, torch_device, image=info.image)
    else:
        recorded = Path(info.model["path"])
        loaded = load_model(recorded if recorded.is_file() else info.model["spec"], torch_device,
                            image=info.image)
    if loaded.checksum != info.model["sha256"]:
        raise ModelError(
            f"{loaded.path} (sha256 {loaded.checksum[:12]}) is not the model these embeddings "
            f"were made with ({info.model['name']}, sha256 {info.model['sha256'][:12]}); "
            "pass that model with --model, or embed the catalog again with this one "
            "(galmorph embed)"
        )
    return loaded


def embed_images(
    paths: Sequence[str | Path],
    embeddings: GalaxyRows,
    model: ModelSpec = None,
    *,
    device: str | torch.device = "cpu",
    batch_size: int = DEFAULT_BATCH_SIZE,
) -> np.ndarray:
    """Embed new images into an embeddings file's space (its model, then its PCA).

    Images go through the same loader, evaluation transform and orientations
    (``views``) as :func:`galmorph.inference.embed.embed_catalog`, so an image already
    in the file gets its stored row back.

    Args:
        paths: a list (or other sequence) of image file paths, str or Path (jpg, png
            or FITS); ``~`` is the home folder. One image: ``[path]``.
        embeddings: the file (or folder) whose model (see :func:`load_embedding_model`)
            and PCA to use.
        model: override the recorded model location (it must have the same checksum).

    Returns:
        ``float32 (len(paths), n_features)``.

    Raises:
        TypeError: when ``paths`` is one path, or holds something other than paths
            (e.g. an image array).
        ImageError: when an image is missing or unreadable.
    """
    paths = _image_paths(paths)
    folders = [str(p) for p in paths if p.is_dir()]
    if folders:
        raise ImageError(f"{', '.join(folders)}: a folder, not an image file: give the image "
                         "file itself")
    missing = [describe_missing(p) for p in paths if not image_exists(p)]
    if missing:
        raise ImageError(f"image file not found: {', '.join(missing)}")
    torch_device = resolve_device(device)
    loaded = load_embedding_model(embeddings.info, model, torch_device)
    # no id_str: errors name the image file alone
    frame = pd.DataFrame({"file_loc": [str(p.resolve()) for p in paths]})
    for message in check_image_conventions(frame, loaded.image_config, loaded.name):
        warnings.warn(message, GalmorphWarning, stacklevel=2)
    loaded.model.eval()
    raw = run_over_images(
        frame,
        average_over_views(loaded.model.embedder(embeddings.info.stages), embeddings.info.views),
        loaded.image_config, device=torch_device, batch_size=batch_size, num_workers=0,
        progress=False,
    )
    return embeddings.project(raw)


def _image_paths(paths: Sequence[str | Path]) -> list[Path]:
    """``paths`` as a list of Paths, ``~`` expanded.

    Raises:
        TypeError: when ``paths`` is one path, not a sequence, or holds other things.
    """
    if isinstance(paths, (str, os.PathLike)):
        raise TypeError(
            f"paths must be a list of image file paths, got one path ({str(paths)!r}): "
            "pass [path] for one image")
    if isinstance(paths, np.ndarray) and paths.dtype.kind in "fiub":
        raise TypeError(
            f"paths must be a list of image file paths, got an array of shape {paths.shape}: "
            "write the image to a file (jpg, png or FITS) and pass [path]")
    try:
        items = list(paths)
    except TypeError:
        raise TypeError(f"paths must be a list of image file paths, got "
                        f"{type(paths).__name__}") from None
    for i, item in enumerate(items):
        if not isinstance(item, (str, os.PathLike)):
            what = (f"an array of shape {item.shape}" if isinstance(item, np.ndarray)
                    else type(item).__name__)
            raise TypeError(
                f"paths must be a list of image file paths (str or Path), but item {i} is "
                f"{what}: embed_images reads image files (jpg, png or FITS)")
    return [user_path(p) for p in items]
