"""Prediction (galmorph.inference.predict): the table of a catalog, MC dropout and views.

A tiny untrained ``test_convnext`` vote model at 32 px stands in for a real one
(``tests/inference/conftest.py``): the checks here are about the bookkeeping around
the model, not its skill.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image
from scipy import stats

from galmorph.data.image_config import ImageConfig
from galmorph.data.schemas import get_schema
from galmorph.data.tree import Schema
from galmorph.exceptions import GalmorphError, GalmorphWarning
from galmorph.inference.predict import predict_catalog
from galmorph.models.checkpoint import LoadedModel, load_model, save_model
from galmorph.models.model import GalaxyModel
from galmorph.training.train import model_metadata

SCHEMA = get_schema("gz2")
N_GALAXIES = 12  # galaxies of the catalog fixture

EvalImages = Callable[[list[str], ImageConfig], torch.Tensor]


@pytest.fixture(scope="module")
def table(catalog: pd.DataFrame, loaded: LoadedModel) -> pd.DataFrame:
    return predict_catalog(catalog, loaded, batch_size=5, num_workers=0, progress=False, views=1)


def _columns(table: pd.DataFrame, suffix: str) -> np.ndarray:
    """``(N, n_answers)`` values of one per-answer column kind, in schema order."""
    return table[[f"{a.full_name}_{suffix}" for a in SCHEMA.answers]].to_numpy(np.float64)


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
    table: pd.DataFrame, catalog: pd.DataFrame, loaded: LoadedModel, eval_images: EvalImages
) -> None:
    # batches of 5 over 12 galaxies: rows must land where the catalog has them
    with torch.no_grad():
        alpha = loaded.model(eval_images(catalog["file_loc"].tolist(), loaded.image_config))
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
    result = predict_catalog(bare, loaded, num_workers=0, progress=False, views=1)
    pd.testing.assert_frame_equal(result, table.head(4), check_exact=False, atol=1e-6)


def test_model_by_path_and_worker_processes(
    catalog: pd.DataFrame, model_path: Path, table: pd.DataFrame
) -> None:
    result = predict_catalog(catalog, model_path, batch_size=4, num_workers=1, progress=False,
                             views=1)
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


# ------------------------------------------------------------------ views
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
    one = _columns(predict_catalog(frame, loaded, views=1, **run), "concentration")
    eight = predict_catalog(frame, loaded, **run)  # the default: 8 views
    assert eight.attrs["galmorph"]["galmorph_views"] == "8"
    values = _columns(eight, "concentration")
    np.testing.assert_allclose(values, np.repeat(values[:1], 3, axis=0), rtol=1e-4)
    assert np.abs(one[1] - one[0]).max() > 1e-4  # one view: turning the image changes it


# ------------------------------------------------------------ custom trees
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


def test_questions_without_training_votes_have_no_columns(
    tmp_path: Path, catalog: pd.DataFrame, model_path: Path, table: pd.DataFrame
) -> None:
    payload = torch.load(model_path, weights_only=False)
    payload["galmorph"]["questions_without_votes"] = ["t10_arms_winding", "t11_arms_number"]
    torch.save(payload, tmp_path / "no_arms.pt")
    loaded = load_model(tmp_path / "no_arms.pt")
    assert loaded.learnt_schema.n_questions == SCHEMA.n_questions - 2
    predicted = predict_catalog(catalog, loaded, num_workers=0, progress=False, views=1)
    assert not [c for c in predicted.columns if c.startswith(("t10_", "t11_"))]
    kept = [c for c in table.columns if not c.startswith(("t10_", "t11_"))]
    assert list(predicted.columns) == kept
    # t04 spiral (t10's parent) is still predicted, and the same as with every column
    np.testing.assert_allclose(predicted[kept].drop(columns="id_str").to_numpy(),
                               table[kept].drop(columns="id_str").to_numpy(), rtol=1e-5)


def test_a_dataframe_keeps_its_index_so_results_line_up_with_its_rows(
    tmp_path: Path, catalog: pd.DataFrame, loaded: LoadedModel, table: pd.DataFrame
) -> None:
    from galmorph.inference.embed import embed_catalog

    column = "t01_smooth_or_features_a01_smooth_fraction"
    subset = catalog.iloc[[7, 2, 5, 9]].copy()            # labels 7, 2, 5, 9, in that order
    subset.loc[5, "file_loc"] = str(tmp_path / "gone.jpg")  # dropped: no image
    options = {"num_workers": 0, "progress": False, "views": 1, "drop_missing_images": True}
    with pytest.warns(GalmorphWarning, match="missing"):
        predicted = predict_catalog(subset, loaded, **options)
    assert list(predicted.index) == [7, 2, 9]
    subset["smooth"] = predicted[column]                  # pandas aligns on the labels
    expected = table.set_index(catalog.index)[column]
    assert subset["smooth"].to_dict() == pytest.approx(
        {7: expected[7], 2: expected[2], 5: np.nan, 9: expected[9]}, nan_ok=True)
    with pytest.warns(GalmorphWarning, match="missing"):
        embedded = embed_catalog(subset, loaded, **options)
    assert list(embedded.index) == [7, 2, 9]
    assert embedded["id_str"].tolist() == catalog["id_str"].iloc[[7, 2, 9]].tolist()
    # a file's rows are numbered from 0
    subset.drop(index=5).to_csv(tmp_path / "subset.csv", index=False)
    from_file = predict_catalog(tmp_path / "subset.csv", loaded, **options)
    assert list(from_file.index) == [0, 1, 2]
