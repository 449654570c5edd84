"""One catalog's galaxy images as a torch dataset, and how its batches are completed.

:class:`GalaxyDataset` turns catalog rows into dicts ``{"image", "counts",
"index"}``, decoding each image when it is asked for (in a loader worker) or
once for all (:func:`decode_images`). Items can leave the workers only prepared
(``uint8``); the dataset's ``finish`` then completes whole batches on their
device: :class:`CollateCrops` batches such items and :func:`batch_finisher`
gives the finishing step of a loader. :func:`galaxy_loader` makes the loaders and
:func:`predict_loader` the loader that prediction and embedding read. Nothing
here needs Lightning (:class:`~galmorph.data.datasets.GalaxyDataModule` builds
training's datasets and loaders from these).

Examples
--------
>>> from importlib.resources import files
>>> import pandas as pd
>>> from galmorph.data.galaxy_dataset import GalaxyDataset
>>> demo = files("galmorph") / "demo_data" / "gz2_demo"
>>> frame = pd.read_csv(demo / "catalog.csv", nrows=2)
>>> frame["file_loc"] = [str(demo / p) for p in frame["file_loc"]]
>>> GalaxyDataset(frame, None)[1]["image"].shape
torch.Size([3, 128, 128])
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch.utils.data import DataLoader, Dataset, default_collate

from galmorph.data.defaults import MAX_DEFAULT_WORKERS
from galmorph.data.image_config import ImageConfig
from galmorph.data.images import load_image, to_channels
from galmorph.data.transforms import EvalFinish, eval_preparation, eval_transform
from galmorph.data.tree import Schema
from galmorph.exceptions import CatalogError, GalmorphError, ImageError
from galmorph.numbers import whole_number

Transform = Callable[[torch.Tensor], torch.Tensor]

#: Batches each worker prepares ahead when predicting, so decoding overlaps compute.
PREDICT_PREFETCH = 4

#: Side (px) of the black image standing in for an unreadable one before any image
#: was read (:class:`GalaxyDataset` with ``skip_unreadable``).
BLANK_SIDE = 64


def usable_cores() -> int:
    """CPU cores this process may run on (its affinity, where the system reports one)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def default_num_workers() -> int:
    """Loader worker processes: one fewer than the usable cores, from 1 to 4, or to 16
    when a CUDA GPU is present (the model then runs there, not on the cores)."""
    most = MAX_DEFAULT_WORKERS["cuda" if torch.cuda.is_available() else "cpu"]
    return max(1, min(most, usable_cores() - 1))


@contextmanager
def galaxy_named(galaxy: object) -> Iterator[None]:
    """Image errors raised in the block start with ``galaxy ID:`` (unless ``galaxy`` is None)."""
    try:
        yield
    except ImageError as err:
        if galaxy is None:
            raise
        raise ImageError(f"galaxy {galaxy}: {err}") from None


def read_galaxy_image(path: str | Path, channels: int, galaxy: object = None,
                      bands: str = "") -> np.ndarray:
    """:func:`~galmorph.data.images.load_image` (``bands`` from cubes of more) as
    ``channels`` channels; errors name ``galaxy`` (its id) when given."""
    with galaxy_named(galaxy):
        return to_channels(load_image(path, bands), channels)


def decode_images(
    paths: Sequence[str | Path], channels: int, ids: Sequence[object] | None = None,
    bands: str = "",
) -> np.ndarray:
    """Decode images once into one ``uint8`` array ``(N, H, W, channels)`` (``bands``:
    as :func:`read_galaxy_image`).

    At 128 x 128 x 3 this takes 48 kB per galaxy (300 MB for 6,000).

    Raises:
        ImageError: when an image cannot be read (naming the galaxy when ``ids``, one per
            path, are given); GalmorphError when one differs in size from the first.
    """
    if not paths:
        return np.zeros((0, 0, 0, channels), dtype=np.uint8)
    names = ids if ids is not None else [None] * len(paths)
    first = read_galaxy_image(paths[0], channels, names[0], bands)
    cache = np.empty((len(paths), *first.shape), dtype=np.uint8)
    cache[0] = first
    for i, path in enumerate(paths[1:], start=1):
        image = read_galaxy_image(path, channels, names[i], bands)
        if image.shape != first.shape:
            raise GalmorphError(  # not an ImageError: both files read, but differ
                f"{path} is {image.shape[1]}x{image.shape[0]} px but {paths[0]} is "
                f"{first.shape[1]}x{first.shape[0]}: the decoded-image cache needs images "
                "of one size (turn the cache off: cache_images=False, --no-cache)"
            )
        cache[i] = image
    return cache


class GalaxyDataset(Dataset[dict[str, Any]]):
    """Catalog rows as ``{"image", "counts", "index"}`` dicts.

    Args:
        catalog: rows with absolute ``file_loc`` paths (see
            :func:`galmorph.data.catalog.load_catalog`) and, when ``schema`` is given,
            its vote-count columns.
        schema: decision tree whose ``label_cols`` give ``counts``; None for
            unlabelled catalogs (items then have no ``counts``).
        transform: maps a ``uint8`` tensor ``(channels, H, W)`` to the model input;
            None returns that tensor.
        channels: channels images are converted to when read (1 or 3).
        cache: True to decode every image now into a ``uint8`` array (shared with
            fork-started workers), or such an array ``(N, H, W, channels)``.
        finish: completes batches of this dataset's items on their device when
            ``transform`` leaves them ``uint8`` (e.g.
            :class:`~galmorph.data.transforms.EvalFinish` after
            :func:`~galmorph.data.transforms.eval_preparation`); None when items
            are model inputs already. Loaders use :class:`CollateCrops` for it.
        bands: the bands taken from FITS cubes of more than 3 (a model's
            :attr:`~galmorph.data.image_config.ImageConfig.bands`; see
            :func:`~galmorph.data.images.load_image`).
        skip_unreadable: an image that cannot be read gives a black image and its
            error in the item's ``unreadable`` (an empty string for the others),
            instead of raising; for prediction, whose loop then leaves the galaxy out.

    Items:
        ``image``: the transformed image; ``counts``: ``float32`` votes
        ``(n_answers,)`` in ``schema.label_cols`` order; ``index``: row position
        in ``catalog``; with ``skip_unreadable``, ``unreadable``.
    """

    def __init__(
        self,
        catalog: pd.DataFrame,
        schema: Schema | None,
        transform: Transform | None = None,
        *,
        channels: int = 3,
        cache: np.ndarray | bool = False,
        finish: torch.nn.Module | None = None,
        skip_unreadable: bool = False,
        bands: str = "",
    ) -> None:
        self.paths: list[str] = catalog["file_loc"].astype(str).tolist()
        self.ids: list[object] | None = (
            catalog["id_str"].tolist() if "id_str" in catalog else None)
        self.transform = transform
        self.finish = finish
        self.channels = channels
        self.bands = bands
        self.skip_unreadable = skip_unreadable
        self._blank_shape = (BLANK_SIDE, BLANK_SIDE, channels)
        self.counts: np.ndarray | None = None
        if schema is not None:
            missing = [c for c in schema.label_cols if c not in catalog]
            if missing:
                raise CatalogError(
                    f"catalog lacks {len(missing)} vote columns of schema {schema.name!r}: "
                    + ", ".join(missing[:5])
                    + (" ..." if len(missing) > 5 else "")
                )
            self.counts = np.array(catalog[schema.label_cols].to_numpy(dtype=np.float32))
        self.cache: np.ndarray | None = None
        if isinstance(cache, np.ndarray):
            shape_ok = cache.ndim == 4 and cache.shape[0] == len(self.paths)
            if not shape_ok or cache.dtype != np.uint8 or cache.shape[-1] != channels:
                raise ValueError(
                    f"cache must be uint8 (N={len(self.paths)}, H, W, {channels}), "
                    f"got {cache.dtype} {cache.shape}"
                )
            self.cache = cache
        elif cache:
            self.cache = decode_images(self.paths, channels, self.ids, bands)

    def __len__(self) -> int:
        return len(self.paths)

    def _read(self, index: int) -> tuple[np.ndarray, str]:
        """The image ``(H, W, channels)`` of row ``index``, and why it could not be read
        (with ``skip_unreadable``: then black, of the last image's size; else raised)."""
        if self.cache is not None:
            image = self.cache[index]
            return (image if image.flags.writeable else image.copy()), ""  # copy a memory map
        galaxy = None if self.ids is None else self.ids[index]
        try:
            image = read_galaxy_image(self.paths[index], self.channels, galaxy, self.bands)
        except ImageError as err:
            if not self.skip_unreadable:
                raise
            return np.zeros(self._blank_shape, dtype=np.uint8), str(err)
        self._blank_shape = image.shape
        return image, ""

    def __getitem__(self, index: int) -> dict[str, Any]:
        image, problem = self._read(index)
        tensor = torch.from_numpy(image).permute(2, 0, 1)
        item: dict[str, Any] = {
            "image": self.transform(tensor) if self.transform is not None else tensor,
            "index": index,
        }
        if self.skip_unreadable:
            item["unreadable"] = problem
        if self.counts is not None:
            item["counts"] = torch.from_numpy(self.counts[index])
        return item


class CollateCrops:
    """Collate ``uint8`` items that a batch function finishes on the device.

    Crops of one shape (images of one size) are stacked as they are, so a
    batch crosses to the device as ``uint8``; a batch with several shapes is
    finished here instead, in the loader worker, one image at a time.
    """

    def __init__(self, finish: torch.nn.Module) -> None:
        self.finish = finish

    def __call__(self, items: list[dict[str, Any]]) -> dict[str, Any]:
        if len({item["image"].shape for item in items}) > 1:
            items = [{**item, "image": self.finish(item["image"][None])[0]} for item in items]
        return default_collate(items)


def batch_finisher(loader: DataLoader) -> Transform:
    """What completes a loader's image batches on their device: the dataset's ``finish``
    (``uint8`` crops to model inputs, see :class:`GalaxyDataset`), or nothing."""
    finish = getattr(loader.dataset, "finish", None)
    return finish if finish is not None else (lambda images: images)


def galaxy_loader(
    dataset: GalaxyDataset, batch_size: int, num_workers: int | None = None, *,
    shuffle: bool = False, persistent: bool = False, prefetch: int = 2,
) -> DataLoader:
    """A loader over ``dataset`` in worker processes (none for an empty dataset).

    With ``shuffle`` (training) the rows are shuffled and a last partial batch is
    dropped; without it they come in order. Each worker prepares ``prefetch``
    batches ahead, so decoding overlaps the model's compute; ``persistent`` keeps
    the workers between passes (epochs). Items left ``uint8`` for a ``finish``
    are batched by :class:`CollateCrops`.

    Raises:
        ValueError: naming ``batch_size`` below 1 or ``num_workers`` below 0.
    """
    batch_size = whole_number(batch_size, "batch_size", 1)
    workers = (default_num_workers() if num_workers is None
               else whole_number(num_workers, "num_workers", 0))
    workers = workers if len(dataset) else 0
    return DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=shuffle,
        drop_last=shuffle and len(dataset) > batch_size,
        num_workers=workers,
        persistent_workers=workers > 0 and persistent,
        prefetch_factor=prefetch if workers else None,
        pin_memory=torch.cuda.is_available(),
        collate_fn=CollateCrops(dataset.finish) if dataset.finish is not None else None,
    )


def predict_dataset(
    catalog: pd.DataFrame, config: ImageConfig, *, cache: np.ndarray | bool = False,
    finish_on_device: bool = False, skip_unreadable: bool = False,
) -> GalaxyDataset:
    """The evaluation-transformed images of a loaded catalog, without vote counts.

    With ``finish_on_device`` the items are ``uint8`` centre crops
    (:func:`~galmorph.data.transforms.eval_preparation`) and the dataset's
    ``finish`` (:class:`~galmorph.data.transforms.EvalFinish`) completes them
    batch-wise on the model's device: for GPUs, whose loader workers then only
    decode, and a quarter of the bytes or less crosses to the device. The inputs
    are the same as :func:`~galmorph.data.transforms.eval_transform`'s. With
    ``skip_unreadable`` items carry ``unreadable`` (see :class:`GalaxyDataset`).
    """
    return GalaxyDataset(
        catalog, None,
        (eval_preparation if finish_on_device else eval_transform)(config),
        channels=config.channels, cache=cache,
        finish=EvalFinish(config) if finish_on_device else None,
        skip_unreadable=skip_unreadable, bands=config.bands,
    )


def predict_loader(
    catalog: pd.DataFrame, config: ImageConfig, *, batch_size: int,
    num_workers: int | None = None, finish_on_device: bool = False,
    skip_unreadable: bool = False,
) -> DataLoader:
    """Batches of ``image`` and ``index`` (row in ``catalog``), in order, for a model.

    ``catalog`` is loaded already (:func:`~galmorph.data.catalog.load_catalog`:
    absolute ``file_loc``, a RangeIndex). See :func:`predict_dataset` and
    :func:`galaxy_loader`.
    """
    dataset = predict_dataset(catalog, config, finish_on_device=finish_on_device,
                              skip_unreadable=skip_unreadable)
    return galaxy_loader(dataset, batch_size, num_workers, prefetch=PREDICT_PREFETCH)
