"""The Lightning data module that feeds galaxy images to models.

:class:`GalaxyDataModule` reads a catalog once, splits it into
train/validation/test by a keyed hash of ``id_str`` (or takes explicit split
catalogs) and builds the data loaders, recording the split in
:attr:`GalaxyDataModule.split_summary` for checkpoints.

Decoding runs in DataLoader worker processes that prefetch batches, so it
overlaps the model's compute. Training images leave the workers only prepared
(``uint8``, square, at the working size); their random views are drawn for the
whole batch at once in :meth:`GalaxyDataModule.on_after_batch_transfer`, on the
batch's device, so that the workers take little CPU from the model. On the
bundled 128 px SDSS JPEGs one core decodes and augments over ten times faster
than a 2-core CPU trains (see
``benchmarks/bench_data.py``), so the decoded-image cache (``cache=True``) is
off by default; it helps with large images or slow disks. For a GPU, predict
images can leave the workers as ``uint8`` crops too (``finish_on_device``). The
datasets themselves are :class:`~galmorph.data.galaxy_dataset.GalaxyDataset`.

Examples
--------
>>> from importlib.resources import files
>>> from galmorph.data.datasets import GalaxyDataModule
>>> demo = files("galmorph") / "demo_data" / "gz2_demo" / "catalog.csv"
>>> dm = GalaxyDataModule(demo, "gz2-no-odd", batch_size=8, num_workers=0, seed=1)
>>> dm.split_summary["sizes"]
{'train': 0, 'val': 0, 'test': 630}
>>> batch = next(iter(dm.test_dataloader()))
>>> batch["image"].shape, batch["counts"].shape
(torch.Size([8, 3, 96, 96]), torch.Size([8, 28]))
"""

from __future__ import annotations

import hashlib
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import lightning as L
import pandas as pd
import torch
from torch.utils.data import DataLoader

from galmorph.data.catalog import CatalogSource, load_catalog
from galmorph.data.galaxy_dataset import (
    PREDICT_PREFETCH,
    GalaxyDataset,
    default_num_workers,
    galaxy_loader,
    predict_dataset,
)
from galmorph.data.id_sets import ID_HASH_SCHEME, MAX_RECORDED_IDS, encode_ids
from galmorph.data.image_config import ImageConfig
from galmorph.data.schemas import get_schema
from galmorph.data.splits import SPLIT_NAMES, assign_splits
from galmorph.data.transforms import (
    TrainAugmentation,
    eval_transform,
    train_preparation,
)
from galmorph.data.tree import Schema
from galmorph.exceptions import CatalogError, GalmorphWarning


def _source_name(source: CatalogSource) -> str:
    return "DataFrame" if isinstance(source, pd.DataFrame) else str(source)


def _id_digest(ids: pd.Series) -> str:
    """First 16 hex digits of the SHA-256 of the sorted ids, one per line."""
    return hashlib.sha256("\n".join(sorted(ids.astype(str))).encode()).hexdigest()[:16]


class GalaxyDataModule(L.LightningDataModule):
    """Train/validation/test/predict loaders over a galaxy catalog.

    Give ``catalog`` to split it by :func:`galmorph.data.splits.assign_splits` on
    ``id_str`` with ``fractions`` and ``seed`` (``seed=1`` reproduces the split
    of the ``gz2-starter`` model), or ``train_catalog`` (and optionally
    ``val_catalog``, ``test_catalog``) to use your own split. Catalogs are read
    and checked once, here, by :func:`galmorph.data.catalog.load_catalog`.

    Args:
        catalog: catalog file or DataFrame to split.
        schema: decision tree of the vote columns (name, YAML path or Schema);
            None for unlabelled catalogs (prediction only).
        image_config: image size, channels and normalisation; default
            :meth:`ImageConfig.for_sdss_gz2`.
        train_catalog, val_catalog, test_catalog: explicit split catalogs,
            instead of ``catalog``.
        predict_catalog: catalog to predict on, which needs no vote columns;
            default ``catalog``.
        fractions: train, validation and test fractions of the seeded split.
        seed: seed of the split.
        batch_size: galaxies per batch.
        num_workers: loader worker processes; default :func:`default_num_workers`.
        cache: decode each split's images once into memory (see
            :class:`GalaxyDataset`).
        augment: random training augmentation (:func:`galmorph.data.transforms.train_preparation`
            in the loader, :class:`galmorph.data.transforms.TrainAugmentation` batch-wise);
            False trains on the evaluation transform.
        drop_missing_images: skip rows whose image file is missing, with a warning.
        finish_on_device: predict batches leave the loader workers as ``uint8``
            centre crops, finished on the model's device (see
            :func:`~galmorph.data.galaxy_dataset.predict_dataset`).
    """

    def __init__(
        self,
        catalog: CatalogSource | None = None,
        schema: Schema | str | None = None,
        image_config: ImageConfig | None = None,
        *,
        train_catalog: CatalogSource | None = None,
        val_catalog: CatalogSource | None = None,
        test_catalog: CatalogSource | None = None,
        predict_catalog: CatalogSource | None = None,
        fractions: Sequence[float] = (0.8, 0.1, 0.1),
        seed: int = 0,
        batch_size: int = 64,
        num_workers: int | None = None,
        cache: bool = False,
        augment: bool = True,
        drop_missing_images: bool = False,
        finish_on_device: bool = False,
    ) -> None:
        super().__init__()
        self.finish_on_device = finish_on_device
        self.schema = get_schema(schema) if schema is not None else None
        self.image_config = image_config or ImageConfig.for_sdss_gz2()
        self.batch_size = batch_size
        self.num_workers = default_num_workers() if num_workers is None else num_workers
        self.cache = cache
        self.augment = augment
        self._augmentation = TrainAugmentation(self.image_config)
        self._datasets: dict[str, GalaxyDataset] = {}

        def load(source: CatalogSource, schema: Schema | None) -> pd.DataFrame:
            return load_catalog(source, schema, drop_missing_images=drop_missing_images)

        #: Catalogs by split name (``train``, ``val``, ``test``, ``predict``), RangeIndex.
        self.catalogs: dict[str, pd.DataFrame] = {}
        #: The split, as plain data for checkpoints: method, catalog, seed, fractions,
        #: schema, sizes, ``id_digests`` (hash of each split's sorted ids) and
        #: ``id_hashes`` (the train and validation ids, :mod:`galmorph.data.id_sets`).
        self.split_summary: dict[str, Any] = {
            "method": "none", "catalog": None, "seed": None, "fractions": None
        }
        explicit = {"train": train_catalog, "val": val_catalog, "test": test_catalog}
        if catalog is not None and any(v is not None for v in explicit.values()):
            raise ValueError("give either catalog (to split) or train/val/test catalogs, not both")
        if train_catalog is None and (val_catalog is not None or test_catalog is not None):
            raise ValueError("val_catalog and test_catalog need a train_catalog")
        if catalog is not None:
            frame = load(catalog, self.schema)
            split = assign_splits(frame["id_str"], fractions, seed)
            for name in SPLIT_NAMES:
                self.catalogs[name] = frame[split == name].reset_index(drop=True)
            self.catalogs["predict"] = frame
            self.split_summary.update(
                method="seeded",
                catalog=_source_name(catalog),
                seed=seed,
                fractions=[float(f) for f in fractions],
            )
        elif train_catalog is not None:
            for name, source in explicit.items():
                if source is not None:
                    self.catalogs[name] = load(source, self.schema)
            for name in SPLIT_NAMES:  # a split not given is empty, so Lightning skips it
                self.catalogs.setdefault(name, self.catalogs["train"].iloc[:0])
            self.split_summary.update(
                method="explicit",
                catalog={n: _source_name(s) for n, s in explicit.items() if s is not None},
            )
        elif predict_catalog is None:
            raise ValueError("give a catalog, a train_catalog or a predict_catalog")
        if predict_catalog is not None:
            self.catalogs["predict"] = load(predict_catalog, None)
        self.split_summary.update(
            schema=self.schema.name if self.schema else None,
            sizes={n: len(self.catalogs.get(n, ())) for n in SPLIT_NAMES},
            id_digests={
                n: _id_digest(self.catalogs[n]["id_str"]) for n in SPLIT_NAMES
                if n in self.catalogs
            },
        )
        seen = {n: self.catalogs[n]["id_str"] for n in ("train", "val") if n in self.catalogs}
        if seen and sum(map(len, seen.values())) <= MAX_RECORDED_IDS:
            self.split_summary["id_hashes"] = {
                "scheme": ID_HASH_SCHEME, **{n: encode_ids(ids) for n, ids in seen.items()}
            }

    # ---------------------------------------------------------------- datasets
    def dataset(self, name: str) -> GalaxyDataset:
        """The dataset of split ``name`` (train, val, test or predict), built once.

        Predict items never carry ``counts``.
        """
        if name not in self._datasets:
            if name not in self.catalogs:
                raise CatalogError(f"no {name} catalog was given to the data module")
            if name == "train" and self.schema is None:
                raise CatalogError("training needs a schema for the vote counts")
            if name == "predict":
                self._datasets[name] = predict_dataset(
                    self.catalogs[name], self.image_config, cache=self.cache,
                    finish_on_device=self.finish_on_device,
                )
            else:
                augmented = name == "train" and self.augment  # finished batch-wise, see below
                make = train_preparation if augmented else eval_transform
                self._datasets[name] = GalaxyDataset(
                    self.catalogs[name], self.schema, make(self.image_config),
                    channels=self.image_config.channels, cache=self.cache,
                    bands=self.image_config.bands,
                )
        return self._datasets[name]

    def on_after_batch_transfer(self, batch: dict[str, Any], dataloader_idx: int
                                ) -> dict[str, Any]:
        """Finish training batches on their device: random views, grey, normalisation.

        Training items leave the loader as prepared ``uint8`` images
        (:func:`~galmorph.data.transforms.train_preparation`); augmenting whole batches here
        costs the loader workers (which share the CPU with the model) nothing.
        Predict batches of ``uint8`` crops (``finish_on_device``) get the predict
        dataset's ``finish``. Other batches are float already and pass through.
        """
        if batch["image"].dtype == torch.uint8:
            predicting = self.trainer is not None and self.trainer.predicting
            finish = self.dataset("predict").finish if predicting else self._augmentation
            batch["image"] = finish(batch["image"])  # type: ignore[misc]
        return batch

    def setup(self, stage: str) -> None:
        """Build (and cache, if asked) the datasets a Lightning stage needs."""
        needs = {"fit": ("train", "val"), "validate": ("val",), "test": ("test",),
                 "predict": ("predict",)}
        for name in needs[stage]:
            self.dataset(name)

    def _loader(self, name: str) -> DataLoader:
        return galaxy_loader(self.dataset(name), self.batch_size, self.num_workers,
                             shuffle=name == "train", persistent=name in ("train", "val"),
                             prefetch=PREDICT_PREFETCH if name == "predict" else 2)

    def train_dataloader(self) -> DataLoader:
        """Shuffled, augmented batches; the last partial batch is dropped."""
        return self._loader("train")

    def val_dataloader(self) -> DataLoader:
        return self._loader("val")

    def test_dataloader(self) -> DataLoader:
        return self._loader("test")

    def predict_dataloader(self) -> DataLoader:
        """Batches of ``image`` and ``index`` (row in ``catalogs["predict"]``), in order.

        See :func:`~galmorph.data.galaxy_dataset.predict_loader`.
        """
        return self._loader("predict")

    # ------------------------------------------------------- checkpoint state
    def state_dict(self) -> dict[str, Any]:
        """What Lightning stores in checkpoints: the split record."""
        return {"split_summary": self.split_summary}

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Warn when resuming from a checkpoint trained on a different split."""
        saved = state_dict.get("split_summary")
        if saved is not None and saved.get("id_digests") != self.split_summary["id_digests"]:
            warnings.warn(
                f"the checkpoint was trained on a different split ({saved.get('sizes')}, seed "
                f"{saved.get('seed')}) than this data module's ({self.split_summary['sizes']}, "
                f"seed {self.split_summary['seed']})",
                GalmorphWarning,
                stacklevel=2,
            )
