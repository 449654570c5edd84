"""Tests of galmorph.training.targets: the stratified split and batches carrying targets."""

from __future__ import annotations

import numpy as np
import pandas as pd

from galmorph.data.catalog import load_catalog
from galmorph.data.image_config import ImageConfig
from galmorph.training.targets import TargetDataModule, stratified_split


def test_stratified_split_keeps_class_proportions_and_ignores_row_order() -> None:
    labels = pd.Series([0] * 30 + [1] * 10)
    ids = pd.Series([f"G{i:03d}" for i in range(40)])
    is_val = stratified_split(labels, ids, 0.25, seed=3)
    assert is_val[:30].sum() == 8 and is_val[30:].sum() == 3  # rounded half up
    shuffled = np.random.default_rng(0).permutation(40)
    again = stratified_split(labels[shuffled].reset_index(drop=True),
                             ids[shuffled].reset_index(drop=True), 0.25, seed=3)
    assert set(ids[shuffled][again]) == set(ids[is_val])
    assert set(ids[stratified_split(labels, ids, 0.25, seed=4)]) != set(ids[is_val])
    tiny = stratified_split(pd.Series([0, 0, 1]), pd.Series(["a", "b", "c"]), 0.5, seed=0)
    assert tiny.tolist().count(True) == 1 and not tiny[2]  # a class of one stays in training
    assert not stratified_split(labels, ids, 0, seed=0).any()


def test_target_data_module_batches_carry_targets(ring_frame: pd.DataFrame) -> None:
    frame = load_catalog(ring_frame)
    targets = {"train": np.arange(40), "val": np.arange(8)}
    module = TargetDataModule(frame.head(40), frame.tail(8), targets,
                              ImageConfig.for_sdss_gz2(size=32), batch_size=8, num_workers=0)
    batch = next(iter(module.val_dataloader()))
    assert batch["image"].shape == (8, 3, 32, 32)
    assert batch["target"].tolist() == list(range(8))
