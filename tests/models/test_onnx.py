"""ONNX export and the ONNX Runtime backend: metadata, dynamic batch, parity, CLI.

Parity is checked on real bundled images with the shipped starter model and a
classifier fine-tuned from it: ONNX Runtime and PyTorch agree to within
``galmorph.models.onnx.ATOL`` (1e-4 absolute) plus ``galmorph.models.onnx.RTOL`` (2e-5 of the value)
on features, concentrations and logits.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnx as onnx_lib
import pandas as pd
import pytest
import torch

from galmorph.cli import main
from galmorph.data import bundled
from galmorph.data.datasets import GalaxyDataModule
from galmorph.exceptions import GalmorphError, ModelError
from galmorph.inference.outputs import read_metadata
from galmorph.inference.predict import predict_catalog
from galmorph.models import onnx as gonnx
from galmorph.models import onnx_backend
from galmorph.models.checkpoint import LoadedModel, load_model
from galmorph.models.model import stage_channels
from galmorph.models.onnx import ATOL, RTOL, OnnxModel, export_onnx
from galmorph.training.finetune import finetune

CPU = ["--device", "cpu", "--num-workers", "0", "--no-progress"]


@pytest.fixture(autouse=True)
def onnx_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """On-the-fly exports go to one temporary folder per test session, not ~/.cache."""
    folder = tmp_path_factory.getbasetemp() / "onnx-cache"
    monkeypatch.setenv(onnx_backend.CACHE_ENV, str(folder))


@pytest.fixture(scope="module")
def starter() -> LoadedModel:
    return load_model("gz2-starter")


@pytest.fixture(scope="module")
def exports(tmp_path_factory: pytest.TempPathFactory, starter: LoadedModel) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("exports")
    return {what: export_onnx(starter, folder / f"{what}.onnx", what=what)
            for what in gonnx.WHATS}


@pytest.fixture(scope="module")
def classifier(tmp_path_factory: pytest.TempPathFactory, demo_catalog: pd.DataFrame) -> Path:
    """A ring classifier fine-tuned from the starter model: 1 epoch, 32 px, 16 galaxies."""
    frame = pd.concat([demo_catalog[demo_catalog["ring"] == v].head(8) for v in (1, 0)])
    frame["file_loc"] = [str(bundled.demo_dir() / loc) for loc in frame["file_loc"]]
    result = finetune(
        frame.reset_index(drop=True), tmp_path_factory.mktemp("classifier"), label="ring",
        image_size=32, epochs=1, batch_size=8, num_workers=0, progress=False,
    )
    return result.model_path


def real_images(loaded: LoadedModel, n: int = 12) -> torch.Tensor:
    """The first ``n`` bundled galaxies, transformed as predict and embed do."""
    datamodule = GalaxyDataModule(
        predict_catalog=bundled.demo_catalog(), image_config=loaded.image_config,
        batch_size=n, num_workers=0,
    )
    return next(iter(datamodule.predict_dataloader()))["image"]


def torch_outputs(loaded: LoadedModel, images: torch.Tensor, what: str) -> np.ndarray:
    with torch.inference_mode():
        network = loaded.model if what == "full" else loaded.model.encoder
        return network(images).numpy()


# ---------------------------------------------------------------- the file
def test_metadata_round_trips_from_the_file_alone(
    exports: dict[str, Path], starter: LoadedModel
) -> None:
    proto = onnx_lib.load(str(exports["full"]))  # plain onnx: no galmorph involved
    props = {p.key: p.value for p in proto.metadata_props}
    assert json.loads(props["galmorph"]) == starter.metadata
    config = starter.image_config
    assert int(props["image_size"]) == config.size and int(props["channels"]) == config.channels
    assert json.loads(props["mean"]) == list(config.mean)
    assert json.loads(props["std"]) == list(config.std)
    assert float(props["centre_crop_fraction"]) == config.eval_crop_fraction
    assert f"resize to {config.size}x{config.size}" in props["preprocessing"]
    assert props["galmorph_model_sha256"] == starter.checksum

    full, encoder = OnnxModel(exports["full"]), OnnxModel(exports["encoder"])
    assert full.metadata == encoder.metadata == gonnx.read_onnx_metadata(exports["full"])
    assert full.image_config == config
    assert starter.schema is not None
    assert full.export["labels"] == [a.full_name for a in starter.schema.answers]
    assert encoder.export["labels"] == [f"feat_{i}" for i in range(starter.model.feature_dim)]
    assert (full.what, encoder.what) == ("full", "encoder")
    assert props["outputs"].startswith("Dirichlet concentrations, one per answer")
    assert encoder.export["meaning"].startswith("pooled encoder features")


@pytest.mark.parametrize("batch", [1, 7])
def test_dynamic_batch(exports: dict[str, Path], starter: LoadedModel, batch: int) -> None:
    size, channels = starter.image_config.size, starter.image_config.channels
    images = np.random.default_rng(batch).normal(size=(batch, channels, size, size))
    n_answers = starter.schema.n_answers if starter.schema else 0
    assert OnnxModel(exports["full"]).run(images).shape == (batch, n_answers)
    assert OnnxModel(exports["encoder"]).run(images).shape == (batch, starter.model.feature_dim)


def test_large_batches_run_in_parts(exports: dict[str, Path], starter: LoadedModel,
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    size, channels = starter.image_config.size, starter.image_config.channels
    images = np.random.default_rng(5).normal(size=(5, channels, size, size))
    model = OnnxModel(exports["encoder"])
    whole = model.run(images)
    calls = []
    run = model.session.run
    monkeypatch.setattr(model.session, "run", lambda *a: calls.append(len(a[1]["images"]))
                        or run(*a))
    monkeypatch.setattr(gonnx, "MAX_RUN_IMAGES", 2)
    np.testing.assert_allclose(model.run(images), whole, rtol=1e-5, atol=1e-6)
    assert calls == [2, 2, 1]
    assert model.run(images[:0]).shape == (0, starter.model.feature_dim)


def test_runtime_threads_follow_torch(exports: dict[str, Path]) -> None:
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        assert OnnxModel(exports["full"]).session.get_session_options().intra_op_num_threads == 1
    finally:
        torch.set_num_threads(threads)
    assert OnnxModel(exports["full"]).session.get_session_options().intra_op_num_threads == (
        threads)


def test_not_a_galmorph_export(tmp_path: Path) -> None:
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"not onnx")
    with pytest.raises(ModelError, match="not a readable ONNX model"):
        OnnxModel(junk)


# ------------------------------------------------------------------ parity
@pytest.mark.parametrize("what", gonnx.WHATS)
def test_parity_starter_on_real_images(
    exports: dict[str, Path], starter: LoadedModel, what: str
) -> None:
    images = real_images(starter)
    expected = torch_outputs(starter, images, what)
    got = OnnxModel(exports[what])(images).numpy()
    np.testing.assert_allclose(got, expected, rtol=RTOL, atol=ATOL)


def test_parity_finetuned_classifier(
    classifier: Path, tmp_path: Path, make_catalog: Callable[..., Path]
) -> None:
    loaded = load_model(classifier)
    assert loaded.task == "classification"
    images = real_images(loaded)
    for what in gonnx.WHATS:
        exported = OnnxModel(export_onnx(loaded, tmp_path / f"{what}.onnx", what=what))
        np.testing.assert_allclose(
            exported(images).numpy(), torch_outputs(loaded, images, what), rtol=RTOL, atol=ATOL
        )
        if what == "full":
            assert exported.export["labels"] == ["0", "1"]
            assert "apply a softmax" in exported.export["meaning"]
            props = {p.key: p.value for p in onnx_lib.load(str(exported.path)).metadata_props}
            assert props["outputs"] == exported.export["meaning"]
    catalog = make_catalog(12)
    tables = {b: predict_catalog(catalog, loaded, backend=b, num_workers=0, progress=False)
              for b in ("torch", "onnx")}
    assert list(tables["onnx"].columns) == list(tables["torch"].columns)
    assert tables["onnx"]["predicted_label"].tolist() == tables["torch"]["predicted_label"].tolist()
    np.testing.assert_allclose(tables["onnx"].filter(like="prob_").to_numpy(),
                               tables["torch"].filter(like="prob_").to_numpy(), atol=ATOL)


# -------------------------------------------------------------- backends
def _two_backends(
    capsys: pytest.CaptureFixture[str], command: str, catalog: Path, suffix: str, *extra: str
) -> dict[str, Path]:
    outputs = {}
    for backend in ("torch", "onnx"):
        out = catalog.parent / f"{command}-{backend}{suffix}"
        assert main([command, str(catalog), "-o", str(out), "--backend", backend, *CPU,
                     *extra]) == 0
        outputs[backend] = out
    capsys.readouterr()
    return outputs


def test_predict_files_match_between_backends(
    capsys: pytest.CaptureFixture[str], make_catalog: Callable[..., Path]
) -> None:
    files = _two_backends(capsys, "predict", make_catalog(6), ".csv")
    torch_table, onnx_table = (pd.read_csv(files[b], comment="#", dtype={"id_str": str})
                               for b in ("torch", "onnx"))
    assert list(onnx_table.columns) == list(torch_table.columns)
    assert onnx_table["id_str"].tolist() == torch_table["id_str"].tolist()
    values = [c for c in torch_table.columns if c != "id_str"]
    np.testing.assert_allclose(onnx_table[values].to_numpy(), torch_table[values].to_numpy(),
                               rtol=RTOL, atol=ATOL)
    assert read_metadata(files["onnx"]) == read_metadata(files["torch"])


@pytest.mark.parametrize("stages", [[], ["--stages", "1", "2"]])
def test_embed_files_match_between_backends(
    capsys: pytest.CaptureFixture[str], make_catalog: Callable[..., Path], stages: list[str]
) -> None:
    files = _two_backends(capsys, "embed", make_catalog(6), ".parquet", *stages)
    torch_table, onnx_table = (pd.read_parquet(files[b]) for b in ("torch", "onnx"))
    assert list(onnx_table.columns) == list(torch_table.columns)
    # the starter's pooled features, plus those of stages 1 and 2
    encoder = load_model("gz2-starter").model.encoder
    channels = stage_channels(encoder)
    expected = encoder.num_features + (channels[1] + channels[2] if stages else 0)
    assert len(torch_table.columns) == 4 + expected  # id_str, ra, dec, file_loc
    features = [c for c in torch_table.columns if c.startswith("feat_")]
    np.testing.assert_allclose(onnx_table[features].to_numpy(),
                               torch_table[features].to_numpy(), rtol=RTOL, atol=ATOL)
    assert read_metadata(files["onnx"]) == read_metadata(files["torch"])


def test_cached_export_is_reused(
    starter: LoadedModel, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(onnx_backend.CACHE_ENV, str(tmp_path))
    first = onnx_backend.cached_onnx_model(starter, "encoder")
    assert first.path.parent == tmp_path

    def no_export(*args: object, **kwargs: object) -> bytes:
        raise AssertionError("exported again")

    monkeypatch.setattr(onnx_backend, "onnx_bytes", no_export)
    assert onnx_backend.cached_onnx_model(starter, "encoder").path == first.path


def test_mc_dropout_with_onnx_is_an_error(
    capsys: pytest.CaptureFixture[str], small_catalog: Path, starter: LoadedModel
) -> None:
    with pytest.raises(GalmorphError, match="MC-dropout"):
        predict_catalog(small_catalog, starter, mc_samples=3, backend="onnx", num_workers=0,
                        progress=False)
    out = small_catalog.parent / "p.csv"
    args = ["predict", str(small_catalog), "-o", str(out), "--mc-samples", "3", *CPU]
    assert main([*args, "--backend", "onnx"]) == 2
    assert "--backend torch" in capsys.readouterr().err and not out.exists()


def test_resolve_backend(monkeypatch: pytest.MonkeyPatch) -> None:
    cpu, gpu = torch.device("cpu"), torch.device("cuda")
    monkeypatch.setattr(onnx_backend, "ONNX_FASTER_ON_CPU", True)
    assert onnx_backend.resolve_backend("auto", cpu) == "onnx"
    assert onnx_backend.resolve_backend("auto", cpu, mc_samples=5) == "torch"
    assert onnx_backend.resolve_backend("auto", gpu) == "torch"
    assert onnx_backend.resolve_backend("auto", cpu, distributed=True) == "torch"
    assert onnx_backend.resolve_backend("torch", cpu, mc_samples=5) == "torch"
    monkeypatch.setattr(onnx_backend, "ONNX_FASTER_ON_CPU", False)
    assert onnx_backend.resolve_backend("auto", cpu) == "torch"
    with pytest.raises(GalmorphError, match=r'runs on the CPU.*device="cpu" \(--device cpu\)'):
        onnx_backend.resolve_backend("onnx", gpu)
    with pytest.raises(GalmorphError, match=r'mc_samples above 1, --mc-samples.*backend="torch"'):
        onnx_backend.resolve_backend("onnx", cpu, mc_samples=3)
    with pytest.raises(GalmorphError, match="unknown backend"):
        onnx_backend.resolve_backend("tensorrt", cpu)


def test_a_model_changed_in_memory_is_not_run_from_its_file(
    small_catalog: Path, untrained_model: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(onnx_backend, "ONNX_FASTER_ON_CPU", True)
    loaded = load_model(untrained_model)
    options = {"num_workers": 0, "progress": False, "views": 1}
    before = predict_catalog(small_catalog, loaded, **options)  # auto: ONNX Runtime
    assert not loaded.changed_since_read()
    with torch.no_grad():
        loaded.model.head.linear.bias += 1.0  # as a notebook might, after reading it
    assert loaded.changed_since_read()
    after = predict_catalog(small_catalog, loaded, **options)  # auto: PyTorch, the new weights
    in_torch = predict_catalog(small_catalog, loaded, backend="torch", **options)
    pd.testing.assert_frame_equal(after, in_torch)
    assert not np.allclose(after.iloc[:, 1:].to_numpy(float), before.iloc[:, 1:].to_numpy(float))
    with pytest.raises(GalmorphError, match="changed in memory since it was read.*save it first"):
        predict_catalog(small_catalog, loaded, backend="onnx", **options)


# --------------------------------------------------------------------- CLI
def test_cli_export(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    out = tmp_path / "starter-encoder.onnx"
    assert main(["export", "-o", str(out), "--what", "encoder"]) == 0
    printed = " ".join(capsys.readouterr().out.split())
    assert "Wrote" in printed and "): pooled encoder features, the representation" in printed
    assert OnnxModel(out).what == "encoder"
    assert [p.name for p in tmp_path.iterdir()] == [out.name]  # no temporary left

    assert main(["export", "-o", str(tmp_path / "model.pt")]) == 2
    assert "name the output .onnx" in capsys.readouterr().err
    assert main(["export", "-m", str(tmp_path / "missing.pt"), "-o", str(out)]) == 2
    assert "not found" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:
        main(["export", "-o", str(out), "--what", "head"])
    assert exit_info.value.code == 2

    staged = tmp_path / "staged.onnx"
    assert main(["export", "-o", str(staged), "--what", "encoder", "--stages", "2"]) == 0
    encoder = load_model("gz2-starter").model.encoder
    staged_features = encoder.num_features + stage_channels(encoder)[2]
    assert f"output features (batch, {staged_features})" in capsys.readouterr().out
    assert OnnxModel(staged).export["stages"] == [2]
    assert main(["export", "-o", str(staged), "--stages", "2"]) == 2
    assert "export with --what encoder" in capsys.readouterr().err


def _readme_example(model: Path, images: list[str]) -> str:
    """The README's ONNX Runtime example, reading ``model`` and predicting ``images``."""
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"^```python\n(.*?)^```", readme, flags=re.S | re.M)
    (example,) = [b for b in blocks if "ort.InferenceSession" in b]
    for old, new in (('"starter.onnx"', repr(str(model))),
                     ('["galaxy1.jpg", "galaxy2.jpg"]', repr(images))):
        assert old in example
        example = example.replace(old, new)
    return example


def test_documented_preprocessing_reproduces_predict(
    untrained_model: Path, wide_field_catalog: Path, tmp_path: Path
) -> None:
    """Cropped and resized images (256 px to 32 px) prepared as the file's metadata and the
    README's example say give predict's concentrations: the resize is of floats, not
    rounded back to 8 bits."""
    exported = OnnxModel(export_onnx(untrained_model, tmp_path / "m.onnx"))
    props = exported.session.get_modelmeta().custom_metadata_map
    assert "resize to 32x32 of the pixel values as floats" in props["preprocessing"]
    assert float(props["centre_crop_fraction"]) < 1
    frame = pd.read_csv(wide_field_catalog).head(6)
    paths = [str(wide_field_catalog.parent / loc) for loc in frame["file_loc"]]
    namespace: dict[str, object] = {}
    exec(compile(_readme_example(tmp_path / "m.onnx", paths), "README.md", "exec"), namespace)
    outputs = namespace["concentrations"]
    table = predict_catalog(frame.assign(file_loc=paths), untrained_model, views=1,
                            backend="torch", num_workers=0, progress=False)
    columns = [f"{label}_concentration" for label in exported.export["labels"]]
    np.testing.assert_allclose(outputs, table[columns].to_numpy(), rtol=RTOL, atol=ATOL)


def test_documented_preprocessing_reproduces_predict_on_oblong_images(
    untrained_model: Path, wide_field_catalog: Path, tmp_path: Path
) -> None:
    """Images wider than tall, and of odd sides, cropped as the README's example says, give
    predict's concentrations (before, its crop was a pixel off: outputs 3% off)."""
    from PIL import Image

    export_onnx(untrained_model, tmp_path / "m.onnx")
    frame = pd.read_csv(wide_field_catalog).head(4)
    paths = []
    for i, loc in enumerate(frame["file_loc"]):
        image = Image.open(wide_field_catalog.parent / loc)
        paths.append(str(tmp_path / f"oblong{i}.png"))
        image.crop((0, 20 + i, 256 - i, 237)).save(paths[-1])
    namespace: dict[str, object] = {}
    exec(compile(_readme_example(tmp_path / "m.onnx", paths), "README.md", "exec"), namespace)
    table = predict_catalog(frame.assign(file_loc=paths), untrained_model, views=1,
                            backend="torch", num_workers=0, progress=False)
    labels = OnnxModel(tmp_path / "m.onnx").export["labels"]
    np.testing.assert_allclose(namespace["concentrations"],
                               table[[f"{label}_concentration" for label in labels]].to_numpy(),
                               rtol=RTOL, atol=ATOL)


def test_cli_export_mistakes(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, untrained_model: Path
) -> None:
    assert main(["export", "-m", str(untrained_model), "-o", str(tmp_path)]) == 2
    assert f"is a folder: give the file's name, e.g. {tmp_path / 'tiny.onnx'}" in (
        capsys.readouterr().err)
    assert main(["export", "-m", str(untrained_model), "-o", str(tmp_path / "tiny")]) == 2
    assert "name the output .onnx, not tiny (e.g. tiny.onnx)" in capsys.readouterr().err
    out = tmp_path / "tiny.onnx"
    assert main(["export", "-m", str(untrained_model), "-o", str(out)]) == 0
    assert "replaced" not in capsys.readouterr().out
    assert main(["export", "-m", str(untrained_model), "-o", str(out), "--what", "encoder"]) == 0
    assert "(it replaced the file there)" in " ".join(capsys.readouterr().out.split())
    assert OnnxModel(out).what == "encoder"
