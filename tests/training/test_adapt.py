"""Adapting a model to another survey's images (galmorph.training.adapt, ``galmorph adapt``).

Models are tiny and untrained (``bn_model``: ``test_resnet``, with BatchNorm;
``untrained_model``: ``test_convnext``, without); the new images are bundled galaxies
in images twice as wide (``wide_field_catalog``).
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from galmorph.cli import main
from galmorph.data import bundled
from galmorph.data.views import average_over_views
from galmorph.exceptions import GalmorphWarning, ModelError
from galmorph.inference.loop import run_over_images
from galmorph.inference.predict import predict_catalog
from galmorph.models.checkpoint import load_model
from galmorph.training.adapt import adapt_model, batchnorm_layers, reestimate_batchnorm

CPU = {"device": "cpu", "num_workers": 0}
# most tests adapt on 16 images: fewer than adapt_model's advice
pytestmark = pytest.mark.filterwarnings("ignore:BatchNorm statistics from only")


def _frame(catalog: Path) -> pd.DataFrame:
    frame = pd.read_csv(catalog)
    frame["file_loc"] = [str(catalog.parent / loc) for loc in frame["file_loc"]]
    return frame


def test_batchnorm_statistics_become_those_of_the_new_images(
    tmp_path: Path, bn_model: Path, wide_field_catalog: Path
) -> None:
    result = adapt_model(bn_model, wide_field_catalog, tmp_path / "a.pt", views=4, **CPU)
    adapted = load_model(result.model_path)
    original = load_model(bn_model)
    first = batchnorm_layers(adapted.model.encoder)[0]
    seen: list[torch.Tensor] = []
    first.register_forward_hook(lambda module, inputs, output: seen.append(inputs[0]))
    run_over_images(_frame(wide_field_catalog), average_over_views(adapted.model.encoder, 4),
                    adapted.image_config, device=torch.device("cpu"), num_workers=0,
                    progress=False)
    inputs = torch.cat(seen)  # 4 views of 16 images, one batch each
    mean = inputs.mean((0, 2, 3))
    variance = torch.stack([v.var((0, 2, 3)) for v in seen]).mean(0)  # averaged per batch
    torch.testing.assert_close(first.running_mean, mean, rtol=2e-3, atol=2e-3)
    torch.testing.assert_close(first.running_var, variance, rtol=2e-3, atol=2e-3)
    old_first = batchnorm_layers(original.model.encoder)[0]
    assert not torch.allclose(old_first.running_mean, first.running_mean, atol=1e-2)
    assert result.record["batchnorm_layers"] == len(batchnorm_layers(original.model.encoder))
    # the learnt weights are those of the original model
    old = dict(original.model.named_parameters())
    for name, value in adapted.model.named_parameters():
        assert torch.equal(value, old[name]), name


def test_reestimation_leaves_the_callers_layers_as_they_were_set(
    bn_model: Path, wide_field_catalog: Path
) -> None:
    loaded = load_model(bn_model)
    encoder = loaded.model.encoder
    layers = batchnorm_layers(encoder)
    momenta = [layer.momentum for layer in layers]
    n = reestimate_batchnorm(encoder, _frame(wide_field_catalog), loaded.image_config, views=1,
                             device=torch.device("cpu"), num_workers=0)
    assert n == len(layers)
    assert [layer.momentum for layer in layers] == momenta  # not left cumulative
    assert not any(module.training for module in encoder.modules())


def test_crop_follows_the_galaxies_and_is_recorded(
    tmp_path: Path, bn_model: Path, wide_field_catalog: Path
) -> None:
    original = load_model(bn_model)
    result = adapt_model(original, wide_field_catalog, tmp_path / "a.pt", views=1,
                         source={"survey": "Wide"}, **CPU)
    meta = load_model(result.model_path).metadata
    scale = result.record["galaxy_fill"] / result.record["reference_fill"]
    assert 0.4 < scale < 0.65  # galaxies fill half as much of the wider images
    expected = [round(c * scale, 3) for c in original.image_config.crop_fraction]
    assert meta["image"]["crop_fraction"] == pytest.approx(expected, abs=1e-3)
    assert meta["adaptation"] == result.record and result.record["images"] == 16
    assert meta["image"]["survey"] == "Wide" and meta["image"]["pixel_scale"] is None
    assert meta["name"] == "tiny-bn-adapted" and meta["schema"] == original.metadata["schema"]

    chosen = adapt_model(original, wide_field_catalog, tmp_path / "b.pt", views=1,
                         crop_fraction=(0.3, 0.5), max_images=5, **CPU)
    assert chosen.record["crop_fraction"] == [0.3, 0.5] and chosen.record["images"] == 5
    assert "galaxy_fill" not in chosen.record


def test_adapted_model_predicts_the_new_images_without_the_size_warning(
    tmp_path: Path, bn_model: Path, wide_field_catalog: Path
) -> None:
    options = {"views": 1, "progress": False, "num_workers": 0}
    with pytest.warns(GalmorphWarning, match="galmorph adapt"):
        before = predict_catalog(wide_field_catalog, bn_model, **options)
    adapted = adapt_model(bn_model, wide_field_catalog, tmp_path / "a.pt", views=1, **CPU)
    with warnings.catch_warnings():
        warnings.simplefilter("error", GalmorphWarning)
        after = predict_catalog(wide_field_catalog, adapted.model_path, **options)
    column = "t01_smooth_or_features_a01_smooth_fraction"
    assert len(after) == 16 and not np.allclose(before[column], after[column])


def test_encoder_without_batchnorm_only_gets_the_crop(
    tmp_path: Path, untrained_model: Path, wide_field_catalog: Path
) -> None:
    with pytest.warns(GalmorphWarning, match="no BatchNorm layers: only the crop"):
        result = adapt_model(untrained_model, wide_field_catalog, tmp_path / "a.pt",
                             views=1, **CPU)
    assert result.record["batchnorm_layers"] == 0
    adapted, original = load_model(result.model_path), load_model(untrained_model)
    for (name, value), old in zip(adapted.model.state_dict().items(),
                                  original.model.state_dict().values(), strict=True):
        assert torch.equal(value, old), name
    assert adapted.image_config.crop_fraction != original.image_config.crop_fraction


def test_bad_requests_are_clear(tmp_path: Path, bn_model: Path, wide_field_catalog: Path) -> None:
    import timm
    from timm.models import save_for_hf

    folder = tmp_path / "timm"
    save_for_hf(timm.create_model("test_resnet"), folder)
    with pytest.raises(ModelError, match="external encoder"):
        adapt_model(folder, wide_field_catalog, tmp_path / "a.pt", **CPU)
    with pytest.raises(ValueError, match="max_images"):
        adapt_model(bn_model, wide_field_catalog, tmp_path / "a.pt", max_images=0, **CPU)
    assert not (tmp_path / "a.pt").exists()


def test_adapt_command(tmp_path: Path, bn_model: Path, wide_field_catalog: Path,
                       capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "wide.pt"
    base = ["adapt", str(wide_field_catalog), "-m", str(bn_model), "--views", "1",
            "--device", "cpu", "--num-workers", "0"]
    assert main([*base, "-o", str(out), "--survey", "Wide", "--pixel-scale", "0.1"]) == 0
    printed = " ".join(capsys.readouterr().out.split())
    assert f"Adapted tiny-bn to the images of {wide_field_catalog}" in printed
    assert "crop the central 0." in printed and "of these images' side" in printed
    layers = len(batchnorm_layers(load_model(bn_model).model.encoder))
    assert f"statistics of {layers} layers re-estimated on all 16 images, 1 orientation" in printed
    assert f"galmorph predict {wide_field_catalog} --model {out}" in printed
    meta = load_model(out).metadata
    assert meta["image"]["survey"] == "Wide" and meta["image"]["pixel_scale"] == 0.1

    assert main([*base, "-o", str(tmp_path / "wide.onnx")]) == 2
    assert "name the adapted model .pt" in capsys.readouterr().err
    assert main([*base, "-o", str(out), "--crop-fraction", "0.6", "0.4"]) == 2
    assert "MIN <= MAX <= 1" in capsys.readouterr().err
    assert main([*base, "-o", str(tmp_path)]) == 2
    assert f"{tmp_path} is a folder: give the adapted model's file name" in capsys.readouterr().err
    assert main([*base, "--max-images", "1", "-o", str(tmp_path / "one.pt")]) == 2
    assert "need at least 2 images, got 1 (--max-images)" in capsys.readouterr().err


@pytest.mark.parametrize("n", [17, 18])
def test_statistics_count_every_image_once_whatever_the_batches(
    bn_model: Path, make_catalog, n: int
) -> None:
    """17 or 18 images in batches of up to 8: no batch of one image (which a 1x1 feature
    map cannot normalise), and a short last batch weighs its images, not a third."""
    loaded = load_model(bn_model)
    first = batchnorm_layers(loaded.model.encoder)[0]
    frame = _frame(make_catalog(n))
    reestimate_batchnorm(loaded.model.encoder, frame, loaded.image_config, views=1,
                         device=torch.device("cpu"), batch_size=8, num_workers=0)
    seen: list[torch.Tensor] = []
    first.register_forward_hook(lambda module, inputs, output: seen.append(inputs[0]))
    run_over_images(frame, loaded.model.encoder, loaded.image_config,
                    device=torch.device("cpu"), num_workers=0, progress=False)
    torch.testing.assert_close(first.running_mean, torch.cat(seen).mean((0, 2, 3)),
                               rtol=1e-4, atol=1e-5)


def test_output_may_not_be_the_model_itself(tmp_path: Path, bn_model: Path,
                                            wide_field_catalog: Path) -> None:
    mine = tmp_path / "mine.pt"
    mine.write_bytes(bn_model.read_bytes())
    with pytest.raises(ValueError, match="is the model being adapted"):
        adapt_model(mine, wide_field_catalog, mine, views=1, **CPU)
    assert mine.read_bytes() == bn_model.read_bytes()


def test_too_few_images(tmp_path: Path, bn_model: Path, wide_field_catalog: Path) -> None:
    with pytest.raises(ValueError, match="need at least 2 images, got 1"):
        adapt_model(bn_model, _frame(wide_field_catalog).head(1), tmp_path / "a.pt", **CPU)
    with pytest.warns(GalmorphWarning, match="from only 3 images are noisy"):
        adapt_model(bn_model, _frame(wide_field_catalog).head(3), tmp_path / "a.pt", views=1,
                    **CPU)


def test_mixed_sizes_are_cropped_for_the_most_common(
    tmp_path: Path, bn_model: Path, wide_field_catalog: Path, demo_catalog: pd.DataFrame
) -> None:
    """Two GZ2-sized images first, then 16 twice as wide: the crop is measured for the
    wide ones (it was kept as the model's when the first image decided), with a warning."""
    gz2 = demo_catalog.tail(2)[["id_str", "file_loc"]].copy()
    gz2["file_loc"] = [str(bundled.demo_dir() / loc) for loc in gz2["file_loc"]]
    frame = pd.concat([gz2, _frame(wide_field_catalog)[["id_str", "file_loc"]]])
    with pytest.warns(GalmorphWarning, match=r"2 sizes \(256x256 px: 16, 128x128 px: 2"):
        result = adapt_model(bn_model, frame, tmp_path / "a.pt", views=1, **CPU)
    assert result.record["crop_reason"] == "measured" and result.record["catalog_rows"] == 18
    assert result.record["crop_fraction"][0] < load_model(bn_model).image_config.crop_fraction[0]


def test_grey_images_for_a_colour_model_are_noted(
    tmp_path: Path, bn_model: Path, wide_field_catalog: Path
) -> None:
    from PIL import Image

    frame = _frame(wide_field_catalog)
    for i, path in enumerate(frame["file_loc"]):
        frame.loc[i, "file_loc"] = str(tmp_path / f"{i}.png")
        Image.open(path).convert("L").save(frame.loc[i, "file_loc"])
    with pytest.warns(GalmorphWarning, match="grey .1 channel. but tiny-bn learnt colour"):
        adapt_model(bn_model, frame, tmp_path / "a.pt", views=1, **CPU)


def test_adapt_skips_missing_images_as_its_error_advises(
    tmp_path: Path, bn_model: Path, wide_field_catalog: Path
) -> None:
    """The missing-image error says --skip-missing-images: adapt must accept it."""
    frame = pd.read_csv(wide_field_catalog, dtype={"id_str": str})
    frame["file_loc"] = [str(wide_field_catalog.parent / p) for p in frame["file_loc"]]
    frame.loc[0, "file_loc"] = str(tmp_path / "missing.png")
    catalog = tmp_path / "holes.csv"
    frame.to_csv(catalog, index=False)
    base = ["adapt", str(catalog), "-m", str(bn_model), "--views", "1", "--no-progress",
            "--device", "cpu"]
    assert main([*base, "-o", str(tmp_path / "no.pt")]) == 2
    out = tmp_path / "holes.pt"
    with pytest.warns(GalmorphWarning):
        assert main([*base, "-o", str(out), "--skip-missing-images"]) == 0
    assert load_model(out).metadata["adaptation"]["catalog_rows"] == len(frame) - 1
