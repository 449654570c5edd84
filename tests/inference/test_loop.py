"""The inference loop (galmorph.inference.loop): rows in order, MC samples, image conventions.

The tiny untrained model and demo galaxies come from ``tests/inference/conftest.py``.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image
from torch import nn

from galmorph.data.datasets import GalaxyDataModule
from galmorph.data.image_config import ImageConfig
from galmorph.data.schemas import get_schema
from galmorph.exceptions import GalmorphWarning
from galmorph.inference.loop import check_image_conventions, infer, model_outputs, sample_outputs
from galmorph.inference.predict import predict_catalog
from galmorph.models.checkpoint import LoadedModel, load_model
from galmorph.models.model import GalaxyModel

SCHEMA = get_schema("gz2")
N_GALAXIES = 12  # galaxies of the catalog fixture

EvalImages = Callable[[list[str], ImageConfig], torch.Tensor]


# ------------------------------------------------------------- inference loop
@pytest.mark.parametrize("finish_on_device", [False, True])
def test_infer_puts_rows_in_catalog_order_and_channels_last(
    catalog: pd.DataFrame, eval_images: EvalImages, finish_on_device: bool
) -> None:
    datamodule = GalaxyDataModule(
        predict_catalog=catalog, image_config=ImageConfig.for_sdss_gz2(size=32),
        batch_size=5, num_workers=0, finish_on_device=finish_on_device,
    )
    loader = datamodule.predict_dataloader()
    means = infer(loader, lambda images: images.mean((1, 2, 3)), torch.device("cpu"),
                  progress=False)
    assert means.shape == (N_GALAXIES,)
    expected = eval_images(catalog["file_loc"].tolist(), datamodule.image_config).mean((1, 2, 3))
    np.testing.assert_allclose(means, expected.numpy(), atol=1e-5)
    conv = nn.Conv2d(3, 2, 3).eval()
    plain = infer(loader, conv, torch.device("cpu"), progress=False)
    fast = infer(loader, conv.to(memory_format=torch.channels_last), torch.device("cpu"),
                 channels_last=True, progress=False)
    np.testing.assert_allclose(plain, fast, atol=1e-5)


# -------------------------------------------------------------- MC dropout
def test_mc_samples_of_the_head_only_and_of_a_stochastic_encoder() -> None:
    torch.manual_seed(0)

    class Encoder(nn.Sequential):
        num_features = 8

    head = nn.Sequential(nn.Dropout(0.5), nn.Linear(8, 3))
    deterministic = GalaxyModel(Encoder(nn.Flatten(), nn.Linear(12, 8)), head)
    stochastic = GalaxyModel(Encoder(nn.Flatten(), nn.Dropout(0.5), nn.Linear(12, 8)), head)
    images = torch.randn(5, 3, 2, 2)
    for model in (deterministic, stochastic):
        model.train()
        samples = sample_outputs(model, 4)(images)
        assert samples.shape == (5, 3, 4)
        assert not torch.allclose(samples[..., 0], samples[..., 1])
    encoder_calls = []
    deterministic.encoder.register_forward_hook(lambda *_: encoder_calls.append(1))
    sample_outputs(deterministic, 4)(images)
    assert len(encoder_calls) == 1  # head sampled 4 times on one encoder pass
    stochastic.eval()
    assert torch.allclose(sample_outputs(stochastic, 1)(images)[..., 0], stochastic(images))


def test_mc_without_dropout_warns(
    tmp_path: Path, catalog: pd.DataFrame, make_model_file: Callable[..., Path]
) -> None:
    loaded = load_model(make_model_file(tmp_path / "nodrop.pt", dropout=0.0))
    datamodule = GalaxyDataModule(
        predict_catalog=catalog.head(2), image_config=loaded.image_config, num_workers=0
    )
    with pytest.warns(GalmorphWarning, match="no dropout"):
        raw = model_outputs(
            loaded, datamodule.predict_dataloader(), mc_samples=3, device=torch.device("cpu"),
            progress=False,
        )
    assert raw.shape == (2, SCHEMA.n_answers, 3)
    np.testing.assert_array_equal(raw[..., 0], raw[..., 2])


# ------------------------------------------------------- image conventions
def test_conventions_of_the_training_images_give_no_warning(
    catalog: pd.DataFrame, loaded: LoadedModel
) -> None:
    assert check_image_conventions(catalog, loaded.image_config) == []
    with warnings.catch_warnings():
        warnings.simplefilter("error", GalmorphWarning)
        predict_catalog(catalog.head(2), loaded, num_workers=0, progress=False)


def test_other_sizes_and_channels_warn(
    tmp_path: Path, catalog: pd.DataFrame, loaded: LoadedModel
) -> None:
    paths = []
    for i, (size, mode) in enumerate([((64, 64), "RGB"), ((128, 128), "L")]):
        path = tmp_path / f"odd{i}.png"
        Image.open(catalog["file_loc"][i]).convert(mode).resize(size).save(path)
        paths.append(str(path))
    odd = pd.DataFrame({"id_str": ["small", "grey"], "file_loc": paths})
    with pytest.warns(GalmorphWarning) as caught:
        result = predict_catalog(odd, loaded, num_workers=0, progress=False)
    messages = [str(w.message) for w in caught if issubclass(w.category, GalmorphWarning)]
    assert len(messages) == 2
    size = next(m for m in messages if "64x64 px" in m)
    assert "tiny" in size and "128x128 px" in size and "SDSS DR16 gri" in size
    assert "galmorph adapt CATALOG -o adapted.pt, then --model adapted.pt" in size
    channels = next(m for m in messages if "1 channel" in m)
    assert "3-channel" in channels
    assert len(result) == 2


def test_grey_model_accepts_colour_jpegs_it_was_trained_on(
    tmp_path: Path, catalog: pd.DataFrame, make_model_file: Callable[..., Path]
) -> None:
    grey = load_model(make_model_file(tmp_path / "grey.pt", channels=1))
    # trained on luminance of gri colour JPEGs: colour files are the convention
    assert check_image_conventions(catalog, grey.image_config) == []
    config = ImageConfig(size=32, channels=1, pixel_scale=0.2, field_of_view=25.6)
    assert "3 channels" in check_image_conventions(catalog, config)[0]


def test_16_bit_colour_files_are_told_to_be_read_at_8_bits(
    tmp_path: Path, loaded: LoadedModel, write_rgb16: Callable[[Path, np.ndarray], Path]
) -> None:
    side = round(loaded.image_config.field_of_view / loaded.image_config.pixel_scale)
    data = (np.arange(side * side * 3).reshape(side, side, 3) % 1000).astype(np.uint16)
    deep = write_rgb16(tmp_path / "deep.tif", data)
    shallow = tmp_path / "shallow.tif"
    Image.fromarray((data % 256).astype(np.uint8)).save(shallow)
    config = loaded.image_config
    only = check_image_conventions(pd.DataFrame({"file_loc": [str(shallow), str(deep)]}),
                                   config)
    assert len(only) == 1 and f"{deep} stores colour at 16 bits per channel" in only[0]
    assert "save such images as FITS" in only[0]
    assert check_image_conventions(pd.DataFrame({"file_loc": [str(shallow)]}), config) == []


def test_fits_files_are_told_when_the_model_learnt_another_stretch(
    tmp_path: Path, loaded: LoadedModel
) -> None:
    from dataclasses import replace

    from astropy.io import fits

    from galmorph.data.images import ASINH_STRETCH

    side = round(loaded.image_config.field_of_view / loaded.image_config.pixel_scale)
    cube = tmp_path / "cube.fits"
    fits.PrimaryHDU(np.random.default_rng(0).random((3, side, side))).writeto(cube)
    frame = pd.DataFrame({"file_loc": [str(cube)]})
    told = check_image_conventions(frame, loaded.image_config, "tiny")
    assert len(told) == 1 and f"{cube} is FITS" in told[0] and "galmorph adapt" in told[0]
    for stretch in (ASINH_STRETCH, ""):  # learnt on galmorph's FITS stretch, or unknown
        config = replace(loaded.image_config, stretch=stretch)
        assert check_image_conventions(frame, config) == []
