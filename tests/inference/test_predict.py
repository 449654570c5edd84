"""Prediction (galmorph.inference.predict) and atomic table output (galmorph.inference.outputs).

A tiny untrained ``test_convnext`` vote model at 32 px stands in for a real one:
the checks here are about the bookkeeping around the model, not its skill.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image
from scipy import stats
from scipy.special import betainc
from torch import nn

from galmorph.data.bundled import demo_dir
from galmorph.data.catalog import read_table
from galmorph.data.datasets import GalaxyDataModule
from galmorph.data.images import ImageConfig, eval_transform, load_image, to_channels
from galmorph.data.schemas import Schema, get_schema
from galmorph.exceptions import CatalogError, GalmorphError, GalmorphWarning
from galmorph.inference import outputs
from galmorph.inference.outputs import read_metadata, write_table
from galmorph.inference.predict import (
    check_image_conventions,
    evaluate_catalog,
    infer,
    model_outputs,
    predict_catalog,
    resolve_device,
    sample_outputs,
)
from galmorph.models.checkpoint import LoadedModel, load_model, save_model
from galmorph.models.model import GalaxyModel
from galmorph.models.tasks import beta_mixture_quantile, vote_columns
from galmorph.training.train import model_metadata

DEMO = demo_dir()
SCHEMA = get_schema("gz2")
N_GALAXIES = 12


def make_model_file(path: Path, dropout: float = 0.2, channels: int = 3) -> Path:
    """A untrained test_convnext vote model for 32 px GZ2 images, saved like a real one."""
    torch.manual_seed(0)
    config = ImageConfig.for_sdss_gz2(size=32, channels=channels)
    model = GalaxyModel.for_votes("test_convnext", SCHEMA.n_answers, channels, dropout)
    metadata = model_metadata(
        SCHEMA, config, "test_convnext", dropout, {}, np.full(SCHEMA.n_answers, 3.0), "tiny"
    )
    return save_model(model, metadata, path)


@pytest.fixture(scope="module")
def model_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_model_file(tmp_path_factory.mktemp("model") / "tiny.pt")


@pytest.fixture(scope="module")
def loaded(model_path: Path) -> LoadedModel:
    return load_model(model_path)


@pytest.fixture(scope="module")
def catalog() -> pd.DataFrame:
    """The first demo galaxies with absolute image paths and their vote columns."""
    frame = pd.read_csv(DEMO / "catalog.csv", nrows=N_GALAXIES, dtype={"id_str": str})
    frame["file_loc"] = [str(DEMO / p) for p in frame["file_loc"]]
    return frame


@pytest.fixture(scope="module")
def table(catalog: pd.DataFrame, loaded: LoadedModel) -> pd.DataFrame:
    return predict_catalog(catalog, loaded, batch_size=5, num_workers=0, progress=False)


def _columns(table: pd.DataFrame, suffix: str) -> np.ndarray:
    """``(N, n_answers)`` values of one per-answer column kind, in schema order."""
    return table[[f"{a.full_name}_{suffix}" for a in SCHEMA.answers]].to_numpy(np.float64)


def _images(paths: list[str], config: ImageConfig) -> torch.Tensor:
    transform = eval_transform(config)
    arrays = [to_channels(load_image(p), config.channels) for p in paths]
    return torch.stack([transform(torch.from_numpy(a).permute(2, 0, 1)) for a in arrays])


# ------------------------------------------------------------ the table
def test_column_names_and_order(table: pd.DataFrame, catalog: pd.DataFrame) -> None:
    expected = ["id_str"]
    for question in SCHEMA.questions:
        expected.append(f"{question.name}_asked")
        for answer in question.answers:
            stem = answer.column.removesuffix("_count")
            expected += [f"{stem}_{k}" for k in ("fraction", "concentration", "lower90", "upper90")]
    assert list(table.columns) == expected
    assert table.shape == (N_GALAXIES, 1 + SCHEMA.n_questions + 4 * SCHEMA.n_answers)
    assert "t01_smooth_or_features_a01_smooth_fraction" in table
    assert table["id_str"].tolist() == catalog["id_str"].tolist()
    assert all(table[c].dtype == np.float32 for c in expected[1:])


def test_values_match_the_model_row_by_row(
    table: pd.DataFrame, catalog: pd.DataFrame, loaded: LoadedModel
) -> None:
    # batches of 5 over 12 galaxies: rows must land where the catalog has them
    with torch.no_grad():
        alpha = loaded.model(_images(catalog["file_loc"].tolist(), loaded.image_config))
    alpha = alpha.double().numpy()
    np.testing.assert_allclose(_columns(table, "concentration"), alpha, rtol=1e-5)
    for q in SCHEMA.questions:
        block = alpha[:, q.start : q.stop]
        fractions = _columns(table, "fraction")[:, q.start : q.stop]
        np.testing.assert_allclose(fractions, block / block.sum(1, keepdims=True), atol=1e-6)
        # one sample: the interval is that of the single Beta marginal
        total = block.sum(1, keepdims=True)
        np.testing.assert_allclose(
            _columns(table, "lower90")[:, q.start : q.stop],
            stats.beta.ppf(0.05, block, total - block),
            atol=1e-6,
        )


def test_fractions_intervals_and_asked(table: pd.DataFrame) -> None:
    fractions = _columns(table, "fraction")
    for q in SCHEMA.questions:
        np.testing.assert_allclose(fractions[:, q.start : q.stop].sum(1), 1.0, atol=1e-5)
    lower, upper = _columns(table, "lower90"), _columns(table, "upper90")
    assert (lower <= fractions).all() and (fractions <= upper).all()
    assert (lower >= 0).all() and (upper <= 1).all() and (upper - lower > 0.01).all()
    assert (_columns(table, "concentration") > 1).all()
    asked = table[[f"{q.name}_asked" for q in SCHEMA.questions]].to_numpy(np.float64)
    np.testing.assert_allclose(asked, SCHEMA.prob_asked(fractions), atol=1e-6)
    assert (asked[:, 0] == 1).all() and (asked[:, 1] < 1).all()


def test_metadata_attached(table: pd.DataFrame, loaded: LoadedModel) -> None:
    meta = table.attrs["galmorph"]
    assert meta["galmorph_model"] == "tiny"
    assert meta["galmorph_model_sha256"] == loaded.checksum
    assert meta["galmorph_model_version"] == loaded.metadata["galmorph_version"]
    assert meta["galmorph_mc_samples"] == "1"


def test_catalog_without_vote_columns(
    catalog: pd.DataFrame, loaded: LoadedModel, table: pd.DataFrame
) -> None:
    bare = catalog[["id_str", "file_loc"]].head(4)
    result = predict_catalog(bare, loaded, num_workers=0, progress=False)
    pd.testing.assert_frame_equal(result, table.head(4), check_exact=False, atol=1e-6)


def test_model_by_path_and_worker_processes(
    catalog: pd.DataFrame, model_path: Path, table: pd.DataFrame
) -> None:
    result = predict_catalog(catalog, model_path, batch_size=4, num_workers=1, progress=False)
    pd.testing.assert_frame_equal(result, table, check_exact=False, atol=1e-6)


def test_unknown_task_rejected(loaded: LoadedModel, catalog: pd.DataFrame) -> None:
    other = LoadedModel(loaded.model, {**loaded.metadata, "task": "segmentation"}, loaded.path)
    with pytest.raises(GalmorphError, match="segmentation"):
        predict_catalog(catalog, other, progress=False)


# -------------------------------------------------------------- MC dropout
def test_mc_dropout(catalog: pd.DataFrame, loaded: LoadedModel, table: pd.DataFrame) -> None:
    kwargs = {"mc_samples": 6, "num_workers": 0, "progress": False}
    first = predict_catalog(catalog.head(4), loaded, seed=3, **kwargs)
    again = predict_catalog(catalog.head(4), loaded, seed=3, **kwargs)
    other = predict_catalog(catalog.head(4), loaded, seed=4, **kwargs)
    pd.testing.assert_frame_equal(first, again)  # the seed makes samples reproducible
    assert not np.allclose(_columns(first, "fraction"), _columns(other, "fraction"))
    assert not np.allclose(_columns(first, "fraction"), _columns(table.head(4), "fraction"))
    assert first.attrs["galmorph"]["galmorph_mc_samples"] == "6"
    fractions = _columns(first, "fraction")
    assert (_columns(first, "lower90") <= fractions).all()
    assert (fractions <= _columns(first, "upper90")).all()
    # dropout is off again afterwards
    assert not any(m.training for m in loaded.model.modules())


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


def test_mc_without_dropout_warns(tmp_path: Path, catalog: pd.DataFrame) -> None:
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


# ------------------------------------------------------- mixture intervals
def test_quantile_of_one_beta_is_scipys() -> None:
    a = np.array([[1.0], [2.5], [40.0], [100.0]])
    b = np.array([[1.0], [90.0], [3.0], [100.0]])
    for q in (0.05, 0.5, 0.95):
        np.testing.assert_allclose(
            beta_mixture_quantile(a, b, q), stats.beta.ppf(q, a[:, 0], b[:, 0]), rtol=1e-10
        )


def test_quantile_of_identical_components_is_the_component() -> None:
    a, b = np.full((3, 5), 7.0), np.full((3, 5), 19.0)
    np.testing.assert_allclose(
        beta_mixture_quantile(a, b, 0.95), stats.beta.ppf(0.95, 7.0, 19.0), atol=1e-8
    )


def test_quantile_of_disagreeing_samples_is_the_mixtures() -> None:
    a = np.array([[2.0, 40.0], [5.0, 8.0]])
    b = np.array([[40.0, 2.0], [30.0, 9.0]])
    rng = np.random.default_rng(1)
    for q in (0.05, 0.95):
        x = beta_mixture_quantile(a, b, q)
        np.testing.assert_allclose(betainc(a, b, x[:, None]).mean(1), q, atol=1e-9)
        for row in range(2):
            draws = np.concatenate([rng.beta(a[row, s], b[row, s], 200_000) for s in range(2)])
            assert x[row] == pytest.approx(np.quantile(draws, q), abs=3e-3)
    # two confident samples that disagree: the interval spans both, unlike the
    # interval of the Beta with the mean concentrations (21, 21)
    lo, hi = beta_mixture_quantile(a, b, 0.05)[0], beta_mixture_quantile(a, b, 0.95)[0]
    mean_lo, mean_hi = stats.beta.ppf([0.05, 0.95], 21.0, 21.0)
    assert lo < 0.02 and hi > 0.98
    assert mean_lo > 0.3 and mean_hi < 0.7


def test_quantiles_vectorised_over_many_shapes() -> None:
    rng = np.random.default_rng(2)
    a, b = rng.uniform(1, 101, (50, 7, 4)), rng.uniform(1, 300, (50, 7, 4))
    x = beta_mixture_quantile(a, b, 0.05)
    assert x.shape == (50, 7)
    np.testing.assert_allclose(betainc(a, b, x[..., None]).mean(-1), 0.05, atol=1e-9)


def test_vote_columns_use_the_mixture(loaded: LoadedModel) -> None:
    # galaxy 0's two samples disagree about t01; galaxy 1's agree
    raw = np.full((2, SCHEMA.n_answers, 2), 2.0)
    raw[0, 0:3, 0] = [60.0, 2.0, 1.0]
    raw[0, 0:3, 1] = [2.0, 60.0, 1.0]
    columns = vote_columns(raw, loaded)
    smooth = "t01_smooth_or_features_a01_smooth"
    assert columns[f"{smooth}_fraction"][0] == pytest.approx((60 / 63 + 2 / 63) / 2)
    assert columns[f"{smooth}_concentration"][0] == pytest.approx(31.0)
    lower = columns[f"{smooth}_lower90"][0]
    upper = columns[f"{smooth}_upper90"][0]
    assert lower == pytest.approx(
        beta_mixture_quantile(np.array([60.0, 2.0]), np.array([3.0, 61.0]), 0.05), abs=1e-6
    )
    mean_interval = stats.beta.ppf([0.05, 0.95], 31.0, 32.0)
    assert lower < mean_interval[0] - 0.3 and upper > mean_interval[1] + 0.3
    # agreeing samples: the interval of the single Beta(2, 4) (three answers of 2)
    assert columns[f"{smooth}_lower90"][1] == pytest.approx(stats.beta.ppf(0.05, 2, 4), abs=1e-6)


# ------------------------------------------------------------- inference loop
def test_infer_puts_rows_in_catalog_order_and_channels_last(catalog: pd.DataFrame) -> None:
    datamodule = GalaxyDataModule(
        predict_catalog=catalog, image_config=ImageConfig.for_sdss_gz2(size=32),
        batch_size=5, num_workers=0,
    )
    loader = datamodule.predict_dataloader()
    means = infer(loader, lambda images: images.mean((1, 2, 3)), torch.device("cpu"),
                  progress=False)
    assert means.shape == (N_GALAXIES,)
    expected = _images(catalog["file_loc"].tolist(), datamodule.image_config).mean((1, 2, 3))
    np.testing.assert_allclose(means, expected.numpy(), atol=1e-5)
    conv = nn.Conv2d(3, 2, 3).eval()
    plain = infer(loader, conv, torch.device("cpu"), progress=False)
    fast = infer(loader, conv.to(memory_format=torch.channels_last), torch.device("cpu"),
                 channels_last=True, progress=False)
    np.testing.assert_allclose(plain, fast, atol=1e-5)


def test_resolve_device() -> None:
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto").type in ("cpu", "cuda", "mps")
    with pytest.raises(GalmorphError, match="unknown device"):
        resolve_device("quantum")
    if not torch.cuda.is_available():
        with pytest.raises(GalmorphError, match="no CUDA GPU"):
            resolve_device("cuda")


# ------------------------------------------------------- image conventions
def test_conventions_of_the_training_images_give_no_warning(
    catalog: pd.DataFrame, loaded: LoadedModel
) -> None:
    assert check_image_conventions(catalog["file_loc"].tolist(), loaded.image_config) == []
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
    channels = next(m for m in messages if "1 channel" in m)
    assert "3-channel" in channels
    assert len(result) == 2


def test_grey_model_accepts_colour_jpegs_it_was_trained_on(
    tmp_path: Path, catalog: pd.DataFrame
) -> None:
    grey = load_model(make_model_file(tmp_path / "grey.pt", channels=1))
    # trained on luminance of gri colour JPEGs: colour files are the convention
    assert check_image_conventions(catalog["file_loc"].tolist(), grey.image_config) == []
    config = ImageConfig(size=32, channels=1, pixel_scale=0.2, field_of_view=25.6)
    assert "3 channels" in check_image_conventions(catalog["file_loc"].tolist(), config)[0]


@pytest.mark.parametrize("backend", ["torch", "onnx"])
def test_views_make_predictions_independent_of_orientation(
    tmp_path: Path, catalog: pd.DataFrame, loaded: LoadedModel, backend: str
) -> None:
    image = np.asarray(Image.open(catalog["file_loc"][0]).convert("RGB"))
    turned = [image, np.rot90(image), np.rot90(image, 3)[:, ::-1]]
    for number, pixels in enumerate(turned):
        Image.fromarray(np.ascontiguousarray(pixels)).save(tmp_path / f"{number}.png")
    frame = pd.DataFrame({"id_str": ["a", "b", "c"],
                          "file_loc": [str(tmp_path / f"{n}.png") for n in range(3)]})
    run = {"num_workers": 0, "progress": False, "backend": backend}
    one = _columns(predict_catalog(frame, loaded, **run), "concentration")
    eight = predict_catalog(frame, loaded, views=8, **run)
    assert eight.attrs["galmorph"]["galmorph_views"] == "8"
    values = _columns(eight, "concentration")
    np.testing.assert_allclose(values, np.repeat(values[:1], 3, axis=0), rtol=1e-4)
    assert np.abs(one[1] - one[0]).max() > 1e-4  # one view: turning the image changes it


# ------------------------------------------------------------------ evaluate
def test_evaluate_catalog(catalog: pd.DataFrame, loaded: LoadedModel) -> None:
    with pytest.warns(GalmorphWarning, match="t10_arms_winding"):  # no t10/t11 columns
        result = evaluate_catalog(catalog, loaded, num_workers=0, progress=False)
    assert set(result["questions"]) == {q.name for q in SCHEMA.questions}
    assert result["n_galaxies"] == N_GALAXIES and result["n_samples"] == 1
    assert np.isfinite(result["mean_nll"]) and np.isfinite(result["baseline_mean_nll"])
    assert result["model"]["galmorph_model"] == "tiny"
    assert result["model"]["galmorph_views"] == "1"
    smooth = result["questions"]["t01_smooth_or_features"]
    assert {"nll", "mae", "accuracy_confident", "n_confident"} <= set(smooth)


def test_evaluate_needs_vote_columns(catalog: pd.DataFrame, loaded: LoadedModel) -> None:
    with pytest.raises(CatalogError, match="vote columns"):
        evaluate_catalog(catalog[["id_str", "file_loc"]], loaded, progress=False)


def test_evaluate_rejects_models_without_votes(
    catalog: pd.DataFrame, loaded: LoadedModel
) -> None:
    other = LoadedModel(loaded.model, {**loaded.metadata, "task": "regression"}, loaded.path)
    with pytest.raises(GalmorphError, match="regression"):
        evaluate_catalog(catalog, other, progress=False)


# ------------------------------------------------------------------ outputs
@pytest.fixture
def frame() -> pd.DataFrame:
    return pd.DataFrame(
        {"id_str": ["J1", "J2", "007"], "x_fraction": np.float32([0.25, 0.5, 1.0])}
    )


META = {
    "galmorph_model": "gz2-starter", "galmorph_model_sha256": "ab" * 32, "galmorph_note": "a\nb"
}


@pytest.mark.parametrize("suffix", [".parquet", ".csv", ".fits"])
def test_write_table_round_trip(tmp_path: Path, frame: pd.DataFrame, suffix: str) -> None:
    path = write_table(frame, tmp_path / "sub" / f"out{suffix}", META)
    assert read_metadata(path) == {**META, "galmorph_note": "a b"}
    assert list(tmp_path.joinpath("sub").iterdir()) == [path]
    if suffix == ".parquet":
        import pyarrow.parquet as pq

        back = pd.read_parquet(path)
        assert pq.read_schema(path).metadata[b"galmorph_model"] == b"gz2-starter"
    elif suffix == ".csv":
        assert path.read_text().startswith("# galmorph_model: gz2-starter\n")
        back = pd.read_csv(path, comment="#", dtype={"id_str": str})
    else:
        from astropy.io import fits

        assert fits.getheader(path, 1)["galmorph_model_sha256"] == "ab" * 32
        back = read_table(path)  # decodes FITS text columns
    assert back["id_str"].tolist() == ["J1", "J2", "007"]
    np.testing.assert_allclose(back["x_fraction"], frame["x_fraction"])


def test_unknown_extension_fails_before_writing(tmp_path: Path, frame: pd.DataFrame) -> None:
    for name in ("out.txt", "out"):
        with pytest.raises(GalmorphError, match=r"\.parquet, \.csv or \.fits"):
            write_table(frame, tmp_path / "new" / name, META)
    assert not (tmp_path / "new").exists()


@pytest.mark.parametrize("error", [RuntimeError, KeyboardInterrupt])
def test_failed_write_leaves_old_file_and_no_temporary(
    tmp_path: Path, frame: pd.DataFrame, monkeypatch: pytest.MonkeyPatch, error: type
) -> None:
    path = tmp_path / "out.csv"
    path.write_text("old\n")

    def half_then_fail(frame: pd.DataFrame, target: Path, metadata: dict[str, str]) -> None:
        target.write_text("id_str,x\nJ1,")
        raise error("disk full")

    monkeypatch.setitem(outputs._WRITERS, "csv", half_then_fail)
    with pytest.raises(error):
        write_table(frame, path, META)
    assert list(tmp_path.iterdir()) == [path]
    assert path.read_text() == "old\n"


def test_schema_free_catalog_of_a_custom_tree(tmp_path: Path, catalog: pd.DataFrame) -> None:
    schema = Schema.from_dict(
        {"name": "two", "questions": [
            {"name": "shape", "answers": ["round", "flat"]},
            {"name": "arms", "asked_after": "shape/flat", "answers": ["yes", "no", "maybe"]},
        ]}
    )
    config = ImageConfig.for_sdss_gz2(size=32)
    torch.manual_seed(1)
    model = GalaxyModel.for_votes("test_convnext", schema.n_answers)
    meta = model_metadata(schema, config, "test_convnext", 0.2, {}, np.ones(5), None)
    path = save_model(model, meta, tmp_path / "two.pt", half=False)
    result = predict_catalog(catalog.head(3), path, num_workers=0, progress=False)
    assert list(result.columns[:6]) == [
        "id_str", "shape_asked", "shape_round_fraction", "shape_round_concentration",
        "shape_round_lower90", "shape_round_upper90",
    ]
    assert result.shape == (3, 1 + 2 + 4 * 5)
    np.testing.assert_allclose(
        result["arms_asked"], result["shape_flat_fraction"], rtol=1e-6
    )
    assert result.attrs["galmorph"]["galmorph_model"] == "two"  # file stem without a name
