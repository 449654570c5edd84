"""ONNX export of external encoders, the output checked before the export, and the
on-the-fly export cache when its folder cannot be written or holds another file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx as onnx_lib
import pandas as pd
import pytest
import timm
import torch
from timm.models import save_for_hf

from galmorph.cli import main
from galmorph.exceptions import GalmorphError, GalmorphWarning, ModelError
from galmorph.models import checkpoint, onnx_backend
from galmorph.models import onnx as gonnx
from galmorph.models.checkpoint import load_model
from galmorph.models.onnx import ATOL, RTOL, OnnxModel, export_onnx
from galmorph.models.onnx_backend import cached_onnx_model


@pytest.fixture(scope="module")
def timm_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny encoder written by timm itself (``config.json`` and weights)."""
    torch.manual_seed(5)
    folder = tmp_path_factory.mktemp("timm") / "my-encoder"
    save_for_hf(timm.create_model("test_convnext", num_classes=3).eval(), folder)
    return folder


def _one_error_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: "), err
    return err[0]


def test_an_external_encoder_exports_its_features(
    timm_folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Its ``full`` model is the encoder: the export is ``encoder`` unless asked otherwise,
    never ``full`` with one label ``prediction`` for all the features."""
    loaded = load_model(timm_folder)
    with pytest.raises(GalmorphError, match="encoder without a head"):
        export_onnx(loaded, tmp_path / "full.onnx", what="full")
    assert main(["export", "-m", str(timm_folder), "-o", str(tmp_path / "full.onnx"),
                 "--what", "full"]) == 2
    assert "export them with --what encoder" in _one_error_line(capsys)
    assert not (tmp_path / "full.onnx").exists()

    out = tmp_path / "enc.onnx"
    assert main(["export", "-m", str(timm_folder), "-o", str(out), "--input-size", "48"]) == 0
    assert "Wrote" in capsys.readouterr().out
    exported = OnnxModel(out)
    n_features = loaded.model.encoder.num_features
    assert exported.what == "encoder"
    assert exported.export["labels"] == [f"feat_{i}" for i in range(n_features)]
    assert exported.image_config.size == 48  # --input-size, as embed takes it
    assert exported.session.get_inputs()[0].shape[2:] == [48, 48]
    images = torch.randn(1, 3, 48, 48)
    with torch.no_grad():
        expected = loaded.model(images).numpy()
    np.testing.assert_allclose(exported(images).numpy(), expected, rtol=RTOL, atol=ATOL)


def test_export_checks_its_output_before_reading_the_model(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_load(*args: object, **kwargs: object) -> None:
        raise AssertionError("the model was read before the output was checked")

    monkeypatch.setattr(checkpoint, "load_model", no_load)
    (tmp_path / "taken").write_text("a file, not a folder")
    assert main(["export", "-o", str(tmp_path / "taken" / "m.onnx")]) == 2
    assert "cannot write -o" in _one_error_line(capsys)


def test_an_unwritable_cache_runs_the_export_from_memory(
    untrained_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A read-only or full cache folder (a cluster's home) costs an export per run, not the
    run: ``backend="auto"`` would otherwise fail where PyTorch works."""
    (tmp_path / "taken").write_text("a file, not a folder")
    monkeypatch.setenv(onnx_backend.CACHE_ENV, str(tmp_path / "taken" / "cache"))
    loaded = load_model(untrained_model)
    with pytest.warns(GalmorphWarning, match=f"set {onnx_backend.CACHE_ENV} to a writable folder"):
        model = cached_onnx_model(loaded, "full")
    images = torch.randn(3, 3, 32, 32)
    with torch.no_grad():
        expected = loaded.model(images).numpy()
    np.testing.assert_allclose(model(images).numpy(), expected, rtol=RTOL, atol=ATOL)
    assert [p.name for p in tmp_path.iterdir()] == ["taken"]


def _rewrite_export_metadata(path: Path, value: str) -> None:
    """Replace the ``galmorph_export`` metadata of an ONNX file with ``value``."""
    proto = onnx_lib.load(path)
    for prop in proto.metadata_props:
        if prop.key == gonnx.EXPORT_KEY:
            prop.value = value
    onnx_lib.save(proto, path)


def test_a_cached_file_with_other_metadata_is_exported_again(
    untrained_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(onnx_backend.CACHE_ENV, str(tmp_path))
    loaded = load_model(untrained_model)
    path = cached_onnx_model(loaded, "encoder").path
    for value in ('{"what": "encoder"}', "[1, 2]", "{not json"):  # an older or damaged file
        _rewrite_export_metadata(path, value)
        assert cached_onnx_model(loaded, "encoder").export["source"][
            "galmorph_model_sha256"] == loaded.checksum
    _rewrite_export_metadata(path, "{not json")
    with pytest.raises(ModelError, match="unreadable galmorph metadata"):
        OnnxModel(path)


def test_the_stated_crop_is_galmorphs_for_any_image_shape() -> None:
    """The metadata's crop, followed literally, cuts the pixels galmorph cuts, also for
    non-square images and halves (a pixel off changed outputs by 3% of their value)."""
    from galmorph.data.image_config import ImageConfig
    from galmorph.data.transforms import eval_preparation

    config = ImageConfig.for_sdss_gz2(size=32)
    fraction = config.eval_crop_fraction
    assert fraction < 1
    text = gonnx.preprocessing_text(config)
    assert (f"the centred S x S square (offsets (width - S) // 2, (height - S) // 2), then its "
            f"centre C x C, C = round({fraction:g} S), at offset round((S - C) / 2) in it "
            "(halves to even)") in text
    for height, width in ((200, 257), (257, 200), (216, 216), (131, 140)):
        image = torch.arange(height * width, dtype=torch.int32).reshape(1, height, width)
        side = min(height, width)
        keep = round(fraction * side)
        top = (height - side) // 2 + round((side - keep) / 2)
        left = (width - side) // 2 + round((side - keep) / 2)
        expected = image[:, top:top + keep, left:left + keep]
        assert torch.equal(eval_preparation(config)(image), expected), (height, width)


def test_a_new_galmorph_version_exports_again(
    untrained_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The cached graph is galmorph's model code of its time: after an upgrade, the ONNX
    backend must not keep running the old code's export of an unchanged model file."""
    monkeypatch.setenv(onnx_backend.CACHE_ENV, str(tmp_path))
    loaded = load_model(untrained_model)
    first = cached_onnx_model(loaded, "encoder").path
    assert cached_onnx_model(loaded, "encoder").path == first  # reused
    monkeypatch.setattr(onnx_backend, "__version__", "99.0.0")
    second = cached_onnx_model(loaded, "encoder").path
    assert second != first and second.is_file()


def test_the_outputs_say_how_to_match_predicts_default_views(
    untrained_model: Path, demo_catalog: pd.DataFrame, demo_dir: Path, tmp_path: Path
) -> None:
    """predict averages the outputs over 8 orientations by default: one pass of the file
    differed from its fractions by up to 0.18 on the starter, and nothing said so. The
    recipe the ``outputs`` metadata states reproduces predict's default."""
    from galmorph.data.images import load_image, to_channels
    from galmorph.data.transforms import eval_transform
    from galmorph.inference.predict import predict_catalog

    exported = OnnxModel(export_onnx(untrained_model, tmp_path / "m.onnx"))
    meaning = exported.session.get_modelmeta().custom_metadata_map["outputs"]
    assert "galmorph predict --views 1" in meaning and "(--views 8)" in meaning
    assert "np.rot90(images, k, axes=(2, 3))" in meaning and "[..., ::-1]" in meaning
    frame = demo_catalog.head(4).assign(file_loc=lambda f: [str(demo_dir / p)
                                                            for p in f["file_loc"]])
    config = exported.image_config
    prepare = eval_transform(config)
    images = torch.stack([
        prepare(torch.from_numpy(to_channels(load_image(p), config.channels)).permute(2, 0, 1))
        for p in frame["file_loc"]]).numpy()
    turned = [np.rot90(images, k, axes=(2, 3)) for k in range(4)]
    views = [view for r in turned for view in (r, r[..., ::-1])]
    averaged = sum(exported.run(np.ascontiguousarray(v)) for v in views) / 8
    table = predict_catalog(frame, untrained_model, backend="torch", num_workers=0,
                            progress=False)
    columns = [f"{label}_concentration" for label in exported.export["labels"]]
    np.testing.assert_allclose(averaged, table[columns].to_numpy(), rtol=RTOL, atol=ATOL)
    assert not np.allclose(exported.run(images), table[columns].to_numpy(), rtol=RTOL,
                           atol=ATOL)


def test_a_quoted_home_folder_in_the_output_is_expanded(
    untrained_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str]
) -> None:
    """``-o '~/m.onnx'`` (quoted, from a script) wrote the file under the home folder, then
    failed reading it back from ``~/m.onnx`` with ONNX Runtime's NO_SUCHFILE error."""
    monkeypatch.setenv("HOME", str(tmp_path))
    assert main(["export", "-m", str(untrained_model), "-o", "~/m.onnx"]) == 0
    assert f"Wrote {tmp_path / 'm.onnx'} " in " ".join(capsys.readouterr().out.split())
    assert [p.name for p in tmp_path.iterdir()] == ["m.onnx"]
    assert export_onnx(untrained_model, "~/m.onnx", what="encoder") == tmp_path / "m.onnx"
    assert main(["export", "-m", str(untrained_model), "-o", str(tmp_path / ".onnx")]) == 2
    assert "give the output file a name before .onnx" in _one_error_line(capsys)
