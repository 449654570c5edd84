"""Tests for galmorph.data.datasets: GalaxyDataset and GalaxyDataModule on real bundled images."""

from __future__ import annotations

import json
import warnings
from importlib.resources import files
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from galmorph.data.datasets import GalaxyDataModule
from galmorph.data.galaxy_dataset import GalaxyDataset, batch_finisher, decode_images
from galmorph.data.image_config import ImageConfig
from galmorph.data.images import load_image, to_channels
from galmorph.data.schemas import get_schema
from galmorph.data.splits import assign_splits
from galmorph.data.transforms import eval_transform
from galmorph.data.tree import Schema
from galmorph.exceptions import CatalogError, GalmorphError, GalmorphWarning, ImageError

DEMO = Path(str(files("galmorph") / "demo_data" / "gz2_demo"))
# the questions whose vote columns the bundled table has (no t10/t11)
SCHEMA = get_schema("gz2-no-odd").without("t10_arms_winding", "t11_arms_number", name="t01-t09")
SMALL = ImageConfig.for_sdss_gz2(size=32)


@pytest.fixture(scope="module")
def catalog() -> pd.DataFrame:
    """40 demo galaxies with absolute image paths and GZ2 vote columns."""
    frame = pd.read_csv(DEMO / "catalog.csv", nrows=40)
    frame["file_loc"] = [str(DEMO / p) for p in frame["file_loc"]]
    return frame


@pytest.fixture(scope="module")
def unlabelled(catalog: pd.DataFrame) -> pd.DataFrame:
    return catalog[["id_str", "file_loc"]].head(10).copy()


# ----------------------------------------------------------------- dataset
def test_counts_follow_schema_order(catalog: pd.DataFrame) -> None:
    # questions in the opposite order to the catalog's columns
    schema = Schema.from_dict(
        {
            "name": "two",
            "questions": [
                {"name": "t07_rounded", "answers": [
                    {"name": n, "column": f"t07_rounded_{n}_count"}
                    for n in ("a16_completely_round", "a17_in_between", "a18_cigar_shaped")]},
                {"name": "t02_edgeon", "answers": [
                    {"name": n, "column": f"t02_edgeon_{n}_count"}
                    for n in ("a04_yes", "a05_no")]},
            ],
        }
    )
    dataset = GalaxyDataset(catalog, schema, None)
    for i in (0, 7, 39):
        item = dataset[i]
        assert item["index"] == i
        assert item["counts"].dtype == torch.float32
        expected = catalog.loc[i, schema.label_cols].to_numpy(dtype=np.float32)
        assert np.array_equal(item["counts"].numpy(), expected)
        assert item["image"].shape == (3, 128, 128) and item["image"].dtype == torch.uint8


def test_dataset_without_schema_has_no_counts(unlabelled: pd.DataFrame) -> None:
    item = GalaxyDataset(unlabelled, None, eval_transform(SMALL))[3]
    assert set(item) == {"image", "index"}
    assert item["image"].shape == (3, 32, 32)


def test_dataset_missing_vote_columns(unlabelled: pd.DataFrame) -> None:
    with pytest.raises(CatalogError, match="lacks 19 vote columns"):
        GalaxyDataset(unlabelled, SCHEMA, None)


def test_dataset_converts_channels(catalog: pd.DataFrame) -> None:
    item = GalaxyDataset(catalog, None, None, channels=1)[2]
    expected = to_channels(load_image(catalog.loc[2, "file_loc"]), 1)
    assert item["image"].shape == (1, 128, 128)
    assert np.array_equal(item["image"].permute(1, 2, 0).numpy(), expected)


@pytest.mark.parametrize("channels", [1, 3])
def test_cache_gives_the_same_tensors(catalog: pd.DataFrame, channels: int) -> None:
    config = ImageConfig.for_sdss_gz2(size=32, channels=channels)
    subset = catalog.head(12)
    decoded = GalaxyDataset(subset, SCHEMA, eval_transform(config), channels=channels)
    cached = GalaxyDataset(
        subset, SCHEMA, eval_transform(config), channels=channels, cache=True
    )
    assert cached.cache is not None and cached.cache.shape == (12, 128, 128, channels)
    for i in range(12):
        a, b = decoded[i], cached[i]
        assert torch.equal(a["image"], b["image"])
        assert torch.equal(a["counts"], b["counts"])


def test_given_cache_array_is_used_and_checked(catalog: pd.DataFrame) -> None:
    subset = catalog.head(4)
    array = decode_images(subset["file_loc"].tolist(), 3)
    array.flags.writeable = False  # like a read-only memory map
    dataset = GalaxyDataset(subset, None, None, cache=array)
    assert np.array_equal(dataset[1]["image"].permute(1, 2, 0).numpy(), array[1])
    with pytest.raises(ValueError, match="cache must be uint8"):
        GalaxyDataset(subset, None, None, cache=array[:3])
    with pytest.raises(ValueError, match="cache must be uint8"):
        GalaxyDataset(subset, None, None, channels=1, cache=array)


def test_decode_images_needs_one_size(catalog: pd.DataFrame, tmp_path: Path) -> None:
    other = tmp_path / "small.png"
    Image.new("RGB", (64, 64)).save(other)
    with pytest.raises(GalmorphError, match=r"one size \(turn the cache off: "
                       r"cache_images=False, --no-cache\)") as raised:
        decode_images([catalog.loc[0, "file_loc"], str(other)], 3)
    assert not isinstance(raised.value, ImageError)  # both read: not "mend the files"


# ------------------------------------------------------------- data module
def split_ids(dm: GalaxyDataModule) -> dict[str, set[str]]:
    return {n: set(dm.catalogs[n]["id_str"]) for n in ("train", "val", "test")}


def test_seeded_split_is_reproducible_and_disjoint(catalog: pd.DataFrame) -> None:
    first = GalaxyDataModule(catalog, SCHEMA, SMALL, seed=0, num_workers=0)
    again = GalaxyDataModule(catalog, SCHEMA, SMALL, seed=0, num_workers=0)
    other = GalaxyDataModule(catalog, SCHEMA, SMALL, seed=5, num_workers=0)
    ids = split_ids(first)
    assert ids == split_ids(again)
    assert ids != split_ids(other)
    assert not (ids["train"] & ids["val"] or ids["train"] & ids["test"] or ids["val"] & ids["test"])
    assert set().union(*ids.values()) == set(catalog["id_str"])
    expected = assign_splits(catalog["id_str"], (0.8, 0.1, 0.1), 0)
    assert ids["train"] == set(catalog["id_str"][expected == "train"])
    assert len(ids["train"]) > len(ids["val"]) > 0 and len(ids["test"]) > 0

    summary = json.loads(json.dumps(first.split_summary))  # plain data, checkpointable
    assert summary["method"] == "seeded" and summary["seed"] == 0
    assert summary["fractions"] == [0.8, 0.1, 0.1] and summary["schema"] == "t01-t09"
    assert summary["sizes"] == {n: len(ids[n]) for n in ids}
    assert summary["id_digests"] == again.split_summary["id_digests"]
    assert summary["id_digests"] != other.split_summary["id_digests"]


def test_bundled_galaxies_are_the_starter_models_test_split(catalog: pd.DataFrame) -> None:
    """The bundled galaxies are the test split of seed 1, the starter model's."""
    with pytest.warns(GalmorphWarning, match="t10_arms_winding, t11_arms_number"):
        dm = GalaxyDataModule(DEMO / "catalog.csv", "gz2", seed=1, num_workers=0)
    assert dm.split_summary["sizes"] == {"train": 0, "val": 0, "test": 630}
    assert dm.split_summary["catalog"] == str(DEMO / "catalog.csv")
    assert Path(dm.catalogs["test"].loc[0, "file_loc"]).is_absolute()
    # t10/t11 are absent from the table: zero counts, with a warning
    assert int(dm.catalogs["test"]["t11_arms_number_a31_1_count"].sum()) == 0


def test_loaders_batch_images_and_counts(catalog: pd.DataFrame) -> None:
    dm = GalaxyDataModule(catalog, SCHEMA, SMALL, seed=0, batch_size=8, num_workers=0)
    dm.setup("fit")
    train = list(dm.train_dataloader())
    n_train = dm.split_summary["sizes"]["train"]
    assert len(train) == n_train // 8  # the partial last batch is dropped
    batch = train[0]
    prepared = batch["image"]  # finished on the device, batch-wise, as Lightning does
    assert prepared.dtype == torch.uint8 and prepared.shape[:2] == (8, 3)
    batch = dm.on_after_batch_transfer(batch, 0)
    assert batch["image"].shape == (8, 3, 32, 32) and batch["image"].dtype == torch.float32
    assert not torch.equal(batch["image"][0], batch["image"][1])  # each image its own view
    assert batch["image"].mean().abs() < 3 and batch["image"].std() < 3  # normalised
    assert batch["counts"].shape == (8, SCHEMA.n_answers)
    assert batch["counts"].dtype == torch.float32
    rows = dm.catalogs["train"].loc[batch["index"].numpy(), SCHEMA.label_cols]
    assert np.array_equal(batch["counts"].numpy(), rows.to_numpy(dtype=np.float32))
    val = next(iter(dm.val_dataloader()))
    assert torch.equal(val["image"], next(iter(dm.val_dataloader()))["image"])
    assert torch.equal(dm.on_after_batch_transfer(dict(val), 0)["image"], val["image"])


def test_explicit_split_catalogs_are_honoured(catalog: pd.DataFrame) -> None:
    train, val, test = catalog.iloc[:20], catalog.iloc[20:30], catalog.iloc[30:]
    dm = GalaxyDataModule(
        schema=SCHEMA, image_config=SMALL, train_catalog=train, val_catalog=val,
        test_catalog=test, batch_size=4, num_workers=0,
    )
    assert split_ids(dm) == {
        "train": set(train["id_str"]), "val": set(val["id_str"]), "test": set(test["id_str"])
    }
    assert dm.split_summary["method"] == "explicit"
    assert dm.split_summary["sizes"] == {"train": 20, "val": 10, "test": 10}
    batch = next(iter(dm.test_dataloader()))
    assert list(dm.catalogs["test"].loc[batch["index"].numpy(), "id_str"]) == list(
        test["id_str"][:4]
    )

    only_train = GalaxyDataModule(
        schema=SCHEMA, image_config=SMALL, train_catalog=train, num_workers=0
    )
    assert only_train.split_summary["sizes"] == {"train": 20, "val": 0, "test": 0}
    assert len(only_train.val_dataloader()) == 0


def test_bad_arguments(catalog: pd.DataFrame) -> None:
    with pytest.raises(ValueError, match="not both"):
        GalaxyDataModule(catalog, SCHEMA, train_catalog=catalog)
    with pytest.raises(ValueError, match="need a train_catalog"):
        GalaxyDataModule(schema=SCHEMA, val_catalog=catalog)
    with pytest.raises(ValueError, match="give a catalog"):
        GalaxyDataModule(schema=SCHEMA)
    dm = GalaxyDataModule(catalog, None, SMALL, num_workers=0)
    with pytest.raises(CatalogError, match="needs a schema"):
        dm.train_dataloader()


def test_predict_without_vote_columns_in_workers(unlabelled: pd.DataFrame) -> None:
    dm = GalaxyDataModule(predict_catalog=unlabelled, image_config=SMALL, batch_size=4,
                          num_workers=1)
    dm.setup("predict")
    loader = dm.predict_dataloader()
    assert loader.num_workers == 1 and loader.prefetch_factor >= 2
    batches = list(loader)
    assert [len(b["index"]) for b in batches] == [4, 4, 2]
    assert all(set(b) == {"image", "index"} for b in batches)
    assert torch.cat([b["index"] for b in batches]).tolist() == list(range(10))
    expected = eval_transform(SMALL)(torch.from_numpy(load_image(unlabelled.iloc[5, 1])).permute(
        2, 0, 1))
    assert torch.allclose(batches[1]["image"][1], expected)


def test_predict_batches_finished_on_the_device_equal_the_worker_transform(
    unlabelled: pd.DataFrame, tmp_path: Path
) -> None:
    """finish_on_device: uint8 crops leave the workers; finished, they are the usual inputs."""
    frame = unlabelled.copy()
    odd = tmp_path / "odd.png"  # one image of another size, in the second batch
    Image.fromarray(load_image(frame.iloc[6, 1])[:100, :90]).save(odd)
    frame.iloc[6, 1] = str(odd)
    kwargs = {"predict_catalog": frame, "image_config": SMALL, "batch_size": 4,
              "num_workers": 1}
    plain = list(GalaxyDataModule(**kwargs).predict_dataloader())
    dm = GalaxyDataModule(**kwargs, finish_on_device=True)
    loader = dm.predict_dataloader()
    crops = list(loader)
    assert crops[0]["image"].dtype == torch.uint8 and crops[0]["image"].shape == (4, 3, 112, 112)
    assert crops[1]["image"].dtype == torch.float32  # mixed sizes: finished in the worker
    finish = batch_finisher(loader)
    for crop, expected in zip(crops, plain, strict=True):
        assert torch.equal(crop["index"], expected["index"])
        assert torch.allclose(finish(crop["image"]), expected["image"], atol=1e-5)
    assert batch_finisher(GalaxyDataModule(**kwargs).predict_dataloader())(crops[0]["image"]) \
        is crops[0]["image"]
    dm.trainer = SimpleNamespace(predicting=True)  # as in Lightning's predict loop
    finished = dm.on_after_batch_transfer(dict(crops[0]), 0)["image"]
    assert torch.allclose(finished, plain[0]["image"], atol=1e-5)


def test_predict_defaults_to_whole_catalog_without_counts(catalog: pd.DataFrame) -> None:
    dm = GalaxyDataModule(catalog, SCHEMA, SMALL, batch_size=64, num_workers=0)
    batch = next(iter(dm.predict_dataloader()))
    assert "counts" not in batch and len(batch["index"]) == len(catalog)


def test_cached_module_matches_uncached(catalog: pd.DataFrame) -> None:
    kwargs = {"seed": 0, "batch_size": 16, "num_workers": 0}
    plain = GalaxyDataModule(catalog, SCHEMA, SMALL, **kwargs)
    cached = GalaxyDataModule(catalog, SCHEMA, SMALL, cache=True, **kwargs)
    cached.setup("test")
    assert cached.dataset("test").cache is not None
    a, b = next(iter(plain.test_dataloader())), next(iter(cached.test_dataloader()))
    assert torch.equal(a["image"], b["image"]) and torch.equal(a["counts"], b["counts"])


def test_state_dict_round_trip_warns_on_other_split(catalog: pd.DataFrame) -> None:
    dm = GalaxyDataModule(catalog, SCHEMA, SMALL, seed=0, num_workers=0)
    state = dm.state_dict()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        dm.load_state_dict(state)
    other = GalaxyDataModule(catalog, SCHEMA, SMALL, seed=3, num_workers=0)
    with pytest.warns(GalmorphWarning, match="different split"):
        other.load_state_dict(state)
