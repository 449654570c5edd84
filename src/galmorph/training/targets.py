"""Labelled targets for fine-tuning: the catalog's labels, datasets carrying them, the split.

:func:`labelled_catalog` reads a catalog and checks its label column;
:func:`normalise_classes` turns labels into classes, :func:`stratified_split`
holds out a validation set per class, and :func:`class_loss_weights` weighs the
classes in the loss. :class:`TargetDataset` and :class:`TargetDataModule` give
batches whose items carry ``target``: a class index or a value.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import torch

from galmorph.data.catalog import CatalogSource, load_catalog
from galmorph.data.datasets import GalaxyDataModule
from galmorph.data.galaxy_dataset import GalaxyDataset, Transform
from galmorph.data.image_config import ImageConfig
from galmorph.data.transforms import eval_transform, train_transform
from galmorph.data.tree import Schema
from galmorph.exceptions import CatalogError, GalmorphWarning


class TargetDataset(GalaxyDataset):
    """A :class:`GalaxyDataset` whose items also hold ``target``: a class index or value."""

    def __init__(
        self,
        catalog: pd.DataFrame,
        targets: np.ndarray,
        transform: Transform,
        *,
        channels: int,
        cache: bool,
    ) -> None:
        super().__init__(catalog, None, transform, channels=channels, cache=cache)
        self.targets = torch.as_tensor(targets)

    def __getitem__(self, index: int) -> dict[str, Any]:
        item = super().__getitem__(index)
        item["target"] = self.targets[index]
        return item


class TargetDataModule(GalaxyDataModule):
    """Train/validation loaders over explicit catalogs whose items carry ``target``."""

    def __init__(
        self,
        train: pd.DataFrame,
        val: pd.DataFrame,
        targets: Mapping[str, np.ndarray],
        image_config: ImageConfig,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            image_config=image_config,
            train_catalog=train,
            val_catalog=val if len(val) else None,
            **kwargs,
        )
        self.targets = dict(targets)

    def dataset(self, name: str) -> GalaxyDataset:
        if name not in self._datasets and name in self.targets:
            config = self.image_config
            make = train_transform if name == "train" and self.augment else eval_transform
            self._datasets[name] = TargetDataset(
                self.catalogs[name], self.targets[name], make(config),
                channels=config.channels, cache=self.cache,
            )
        return super().dataset(name)


def normalise_classes(values: pd.Series) -> pd.Series:
    """Class labels as Python ints (whole numbers, bools) or as text.

    Raises:
        CatalogError: for numbers that are not whole (a regression target).
    """
    if pd.api.types.is_bool_dtype(values):
        return values.astype(int).astype(object)
    if pd.api.types.is_numeric_dtype(values):
        numbers = values.astype(float)
        if not (numbers == np.round(numbers)).all():
            raise CatalogError(
                f"label column {values.name!r} holds numbers that are not whole, not classes: "
                "use task='regression' (--task regression) to predict them"
            )
        return numbers.astype(int).astype(object)
    return values.astype(str)


def stratified_split(
    strata: pd.Series, ids: pd.Series, fraction: float, seed: int
) -> np.ndarray:
    """Boolean mask of validation rows: ``fraction`` of each stratum (rounded half up,
    leaving at least one row of each in training), chosen by ``seed`` independently
    of the row order."""
    is_val = np.zeros(len(ids), dtype=bool)
    if fraction <= 0:
        return is_val
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({"stratum": strata.to_numpy(), "id": ids.to_numpy()})
    for _, group in frame.groupby("stratum", sort=True):
        ordered = group.sort_values("id").index.to_numpy()
        n_val = min(math.floor(fraction * len(ordered) + 0.5), len(ordered) - 1)
        is_val[rng.permutation(ordered)[:n_val]] = True
    return is_val


def class_loss_weights(
    option: str | Mapping[Any, float] | Sequence[float] | None,
    classes: list[Any],
    counts: np.ndarray,
) -> torch.Tensor | None:
    """Per-class loss weights: ``balanced`` (n / (k n_c)), per class or in class order."""
    if option is None:
        return None
    if isinstance(option, str):
        if option != "balanced":
            raise ValueError(
                f"class_weights must be 'balanced', a mapping or a list, got {option!r}"
            )
        weights = counts.sum() / (len(classes) * np.maximum(counts, 1))
    elif isinstance(option, Mapping):
        keys = {str(k): float(v) for k, v in option.items()}
        missing = [c for c in classes if str(c) not in keys]
        if missing:
            raise ValueError(f"class_weights has no weight for classes {missing}")
        weights = np.array([keys[str(c)] for c in classes])
    else:
        weights = np.asarray(option, dtype=float)
        if weights.shape != (len(classes),):
            raise ValueError(f"class_weights needs {len(classes)} values (classes {classes})")
    return torch.tensor(weights, dtype=torch.float32)


def labelled_catalog(
    catalog: CatalogSource, task: str, label: str | None, schema: Schema | None
) -> pd.DataFrame:
    """The catalog with its label checked; rows without a label dropped, with a warning."""
    frame = load_catalog(catalog, schema)
    if task == "votes":
        return frame
    if label is None:
        raise ValueError(f"a {task} model needs label= (the catalog column to learn)")
    if label not in frame:
        raise CatalogError(
            f"the catalog has no label column {label!r}; its columns: {', '.join(frame.columns)}"
        )
    if task == "regression":
        values = pd.to_numeric(frame[label], errors="coerce")
        bad = frame[label].notna() & values.isna()
        if bad.any():
            raise CatalogError(
                f"label column {label!r} must hold numbers; it has "
                f"{', '.join(map(repr, frame.loc[bad, label].unique()[:5]))}"
            )
        infinite = np.isinf(values.to_numpy(dtype=float))
        if infinite.any():
            rows = np.flatnonzero(infinite)
            raise CatalogError(
                f"label column {label!r} must hold finite numbers; "
                + ", ".join(f"row {i} ({frame['id_str'].iat[i]})" for i in rows[:5])
                + (" ..." if len(rows) > 5 else "") + " hold infinity"
            )
        frame[label] = values
    missing = frame[label].isna()
    if missing.all():
        raise CatalogError(f"label column {label!r} is empty")
    if missing.any():
        warnings.warn(
            f"skipping {int(missing.sum())} of {len(frame)} galaxies without a {label!r} label",
            GalmorphWarning, stacklevel=3,
        )
        frame = frame[~missing].reset_index(drop=True)
    return frame
