"""Fixtures shared by the inference tests: a tiny model, demo galaxies and their embeddings.

A tiny untrained ``test_convnext`` vote model at 32 px stands in for a real one:
the checks are about the bookkeeping around the model, not its skill.

- ``make_model_file(path, dropout=0.2, channels=3, seed=0)``: saves such a model for
  GZ2 images, like a real one.
- ``model_path``, ``loaded``: one of them (seed 0), saved and loaded, once per test module.
- ``catalog``: the first 12 demo galaxies, image paths absolute, with their vote columns.
- ``eval_images(paths, config)``: the images as a model sees them, one tensor.
- ``raw_file``, ``pca_file``: embeddings files of ``catalog`` by ``model_path`` (raw
  features; 5 PCA components, fitted over chunks of 5 galaxies).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from galmorph.data.bundled import demo_dir
from galmorph.data.image_config import ImageConfig
from galmorph.data.images import load_image, to_channels
from galmorph.data.schemas import get_schema
from galmorph.data.transforms import eval_transform
from galmorph.inference.embed import embed_to_file
from galmorph.models.checkpoint import LoadedModel, load_model, save_model
from galmorph.models.model import GalaxyModel
from galmorph.training.train import model_metadata

DEMO = demo_dir()
SCHEMA = get_schema("gz2")
N_GALAXIES = 12
FAST = {"num_workers": 0, "progress": False, "batch_size": 5}


def _make_model_file(
    path: Path, dropout: float = 0.2, channels: int = 3, seed: int = 0
) -> Path:
    """A untrained test_convnext vote model for 32 px GZ2 images, saved like a real one."""
    torch.manual_seed(seed)
    config = ImageConfig.for_sdss_gz2(size=32, channels=channels)
    model = GalaxyModel.for_votes("test_convnext", SCHEMA.n_answers, channels, dropout)
    metadata = model_metadata(
        SCHEMA, config, "test_convnext", dropout, {}, np.full(SCHEMA.n_answers, 3.0), "tiny"
    )
    return save_model(model, metadata, path)


@pytest.fixture(scope="session")
def make_model_file() -> Callable[..., Path]:
    """Saves a tiny untrained vote model: ``make_model_file(path, dropout, channels, seed)``."""
    return _make_model_file


@pytest.fixture(scope="module")
def model_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _make_model_file(tmp_path_factory.mktemp("model") / "tiny.pt")


@pytest.fixture(scope="module")
def loaded(model_path: Path) -> LoadedModel:
    return load_model(model_path)


@pytest.fixture(scope="module")
def catalog() -> pd.DataFrame:
    """The first demo galaxies with absolute image paths and their vote columns."""
    frame = pd.read_csv(DEMO / "catalog.csv", nrows=N_GALAXIES, dtype={"id_str": str})
    frame["file_loc"] = [str(DEMO / p) for p in frame["file_loc"]]
    return frame


def _images(paths: list[str], config: ImageConfig) -> torch.Tensor:
    transform = eval_transform(config)
    arrays = [to_channels(load_image(p), config.channels) for p in paths]
    return torch.stack([transform(torch.from_numpy(a).permute(2, 0, 1)) for a in arrays])


@pytest.fixture(scope="session")
def eval_images() -> Callable[[list[str], ImageConfig], torch.Tensor]:
    """``eval_images(paths, config)``: the images as a model with ``config`` sees them."""
    return _images


@pytest.fixture(scope="module")
def raw_file(tmp_path_factory: pytest.TempPathFactory, catalog: pd.DataFrame,
             model_path: Path) -> Path:
    out = tmp_path_factory.mktemp("emb") / "raw.parquet"
    return embed_to_file(catalog, out, model_path, **FAST)


@pytest.fixture(scope="module")
def pca_file(tmp_path_factory: pytest.TempPathFactory, catalog: pd.DataFrame,
             model_path: Path) -> Path:
    out = tmp_path_factory.mktemp("emb") / "pca.parquet"
    return embed_to_file(catalog, out, model_path, pca=5, chunk_size=5, **FAST)
