"""Tag-retrieval evaluation (galmorph.search.evaluation).

Checked on a hand-made toy example and, end to end, with a tiny untrained model.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from galmorph.data.bundled import demo_dir
from galmorph.data.image_config import ImageConfig
from galmorph.data.schemas import get_schema
from galmorph.exceptions import CatalogError, GalmorphError, GalmorphWarning
from galmorph.files import write_json
from galmorph.inference.embed import embed_to_file
from galmorph.inference.embeddings import Embeddings
from galmorph.models.checkpoint import build_model, save_model
from galmorph.search.evaluation import evaluate_similarity, neighbour_table, precision_at_k
from galmorph.search.tags import derive_tags
from galmorph.training.train import model_metadata


def test_precision_at_k_on_a_toy_example() -> None:
    neighbours = np.array([[1, 2, 3, 4], [0, 2, 5, -1], [5, 4, 3, 1]])
    tagged = np.array([True, True, False, True, False, False])
    np.testing.assert_allclose(precision_at_k(neighbours, tagged), [0.5, 0.25, 0.5])
    # two tight groups on a line: every neighbour of a group member is in its group
    features = np.array([[0.0], [0.1], [0.25], [0.45], [10.0], [10.15], [10.4]])
    table = neighbour_table(features, 2, "euclidean")
    assert table.tolist() == [[1, 2], [0, 2], [1, 3], [2, 1], [5, 6], [4, 6], [5, 4]]
    group = np.array([True] * 4 + [False] * 3)
    assert precision_at_k(table[group], group).tolist() == [1.0] * 4


def _tiny_embeddings(folder: Path, n: int, **split: object) -> tuple[Path, pd.DataFrame]:
    """Embeddings (PCA 6) of the first ``n`` bundled galaxies by a tiny untrained model
    (its split record: seeded, with ``split`` added), and their catalog."""
    schema = get_schema("gz2-no-odd")
    metadata = model_metadata(
        schema, ImageConfig.for_sdss_gz2(size=32), "test_convnext", 0.2,
        {"split": {"method": "seeded", "seed": 1, "fractions": [0.8, 0.1, 0.1], **split}},
        np.full(schema.n_answers, 3.0), "tiny",
    )
    torch.manual_seed(5)
    model = save_model(build_model(metadata), metadata, folder / "tiny.pt")
    catalog = pd.read_csv(demo_dir() / "catalog.csv", nrows=n, dtype={"id_str": str})
    catalog["file_loc"] = [str(demo_dir() / p) for p in catalog["file_loc"]]
    return embed_to_file(catalog, folder / "emb.parquet", model, pca=6, num_workers=0,
                         progress=False), catalog


def test_the_galaxies_a_model_records_make_its_splits(tmp_path: Path) -> None:
    """Recorded training ids, not the id hash: the demo galaxies hash to the starter's test
    split, but this model records 10 of them as trained on."""
    from galmorph.data.id_sets import ID_HASH_SCHEME, encode_ids

    ids = pd.read_csv(demo_dir() / "catalog.csv", nrows=12, dtype={"id_str": str})["id_str"]
    emb, catalog = _tiny_embeddings(tmp_path, 40, id_hashes={
        "scheme": ID_HASH_SCHEME, "train": encode_ids(ids[:10]), "val": encode_ids(ids[10:])})
    with pytest.warns(GalmorphWarning, match="12 of the 40 galaxies were in the training or "
                                             "validation split of tiny"):
        everything = evaluate_similarity(emb, catalog, k=5, baselines=["random"],
                                         num_workers=0, progress=False)
    assert everything["model_split_counts"] == {"train": 10, "val": 2, "test": 28}
    unseen = evaluate_similarity(emb, catalog, k=5, baselines=["random"], num_workers=0,
                                 progress=False, split="test")
    assert unseen["n_galaxies"] == 28


def test_evaluate_similarity_end_to_end(tmp_path: Path) -> None:
    emb, catalog = _tiny_embeddings(tmp_path, 40)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = evaluate_similarity(emb, catalog, k=5, num_workers=0, progress=False,
                                     split="test")
    assert not [w for w in caught if issubclass(w.category, GalmorphWarning)]
    assert result["methods"] == ["random", "pixels", "untrained", "votes", "model"]
    assert result["n_galaxies"] == 40 and result["model_split_counts"] == {"test": 40}
    smooth = next(t for t in result["tags"] if t["name"] == "smooth")
    n_smooth = int(derive_tags(catalog, ["smooth"])[0]["smooth"].sum())
    assert smooth["n"] == n_smooth
    assert smooth["precision"]["random"] == pytest.approx((n_smooth - 1) / 39)
    assert set(result["means"]) == {"all", "trained", "transfer"}
    for values in result["means"].values():
        assert all(0 <= v <= 1 for v in values.values())
    scored = [t for t in result["tags"] if t["n"] >= 2]
    assert result["means"]["all"]["model"] == pytest.approx(
        np.mean([t["precision"]["model"] for t in scored]))
    assert all(math.isnan(v) for t in result["tags"] if t["n"] < 2
               for v in t["precision"].values())
    write_json(result, tmp_path / "eval.json")  # JSON-ready




def vote_catalog(folder: Path, n: int = 10) -> pd.DataFrame:
    """``n`` galaxies G0, G1, ... with (empty) image files and GZ2 vote counts, half smooth."""
    catalog = pd.DataFrame({"id_str": [f"G{i}" for i in range(n)],
                            "file_loc": [str(folder / f"G{i}.jpg") for i in range(n)]})
    for path in catalog["file_loc"]:
        Path(path).touch()
    schema = get_schema("gz2")
    votes = pd.DataFrame(0, index=catalog.index, columns=schema.label_cols)
    votes[schema.answer("t01_smooth_or_features/a01_smooth").column] = [20, 0] * (n // 2)
    votes[schema.answer("t01_smooth_or_features/a02_features_or_disk").column] = [0, 20] * (n // 2)
    return pd.concat([catalog, votes], axis=1)


@pytest.mark.parametrize(("bad", "shown"), [("abc", "abc"), (None, "nan"), (-4, "-4")])
def test_bad_vote_counts_are_errors_as_in_evaluate(
        tmp_path: Path, make_embeddings: Callable[..., Embeddings], bad: object,
        shown: str) -> None:
    catalog = vote_catalog(tmp_path)
    column = get_schema("gz2").answer("t01_smooth_or_features/a01_smooth").column
    catalog[column] = catalog[column].astype(object)
    catalog.loc[3, column] = bad
    catalog.to_csv(tmp_path / "votes.csv", index=False)
    emb = make_embeddings(np.random.default_rng(0).normal(size=(10, 4)))
    with pytest.raises(GalmorphError) as caught:
        evaluate_similarity(emb, tmp_path / "votes.csv", baselines=["random"], k=3,
                            progress=False)
    assert str(caught.value) == (
        f"{tmp_path / 'votes.csv'}: column {column!r} must hold vote counts (whole numbers "
        f"from 0 to 2**53) but has 1 bad value: row 3 (G3): {shown}")


def test_text_or_empty_custom_tags_are_errors(
        tmp_path: Path, make_embeddings: Callable[..., Embeddings]) -> None:
    catalog = vote_catalog(tmp_path).assign(lab=["a", "b"] * 5)
    catalog.to_csv(tmp_path / "tags.csv", index=False)
    emb = make_embeddings(np.random.default_rng(0).normal(size=(10, 4)))
    with pytest.raises(GalmorphError, match=r"tags.csv: column 'lab' must be a boolean \(0/1\) "
                                            r"tag column but has 10 other values: row 0 \(G0\): a"):
        evaluate_similarity(emb, tmp_path / "tags.csv", tags=["lab"], baselines=["random"],
                            progress=False)


def test_no_tag_of_two_galaxies_is_warned_of(tmp_path: Path) -> None:
    """Before: a table of dashes and exit status 0, with nothing said."""
    emb, catalog = _tiny_embeddings(tmp_path, 10)
    catalog = catalog.assign(lab=[1] + [0] * 9)
    with pytest.warns(GalmorphWarning, match="no tag is carried by 2 or more of the 10 "
                                             "galaxies, so no precision could be measured"):
        result = evaluate_similarity(emb, catalog, tags=["lab"], k=3, baselines=["random"],
                                     num_workers=0, progress=False)
    assert result["means"] == {}



def test_the_table_caption_explains_only_the_columns_shown() -> None:
    from rich.console import Console

    from galmorph.search.evaluation import print_tag_evaluation

    precision = {"random": 0.1, "model": 0.5}
    result = {"k": 10, "metric": "cosine", "n_galaxies": 20, "methods": ["random", "model"],
              "tags": [{"name": "ring", "kind": "transfer", "n": 5, "precision": precision}],
              "means": {"all": precision}}
    console = Console(record=True, width=300)
    print_tag_evaluation(result, console)
    text = " ".join(console.export_text().split())  # the caption wraps to the table
    assert "random: the tag's prevalence" in text and "×random: model / random" in text
    assert "votes" not in text and "pixels" not in text.lower()


def test_a_catalog_without_votes_points_at_its_0_1_columns(
        tmp_path: Path, make_embeddings: Callable[..., Embeddings]) -> None:
    catalog = vote_catalog(tmp_path)[["id_str", "file_loc"]].assign(
        ring=[0, 1] * 5, fraction=np.linspace(0, 1, 10))
    catalog.to_csv(tmp_path / "rings.csv", index=False)
    emb = make_embeddings(np.random.default_rng(0).normal(size=(10, 4)))
    with pytest.raises(GalmorphError, match=r"no tags to evaluate: the built-in tags need GZ2 vote "
                       r"counts \(smooth: no vote columns .*\); .*rings\.csv has 0/1 columns to "
                       r"evaluate instead: --tags ring$"):
        evaluate_similarity(emb, tmp_path / "rings.csv", baselines=["random"], progress=False)


def test_random_neighbours_alone_need_no_model(
        tmp_path: Path, make_embeddings: Callable[..., Embeddings]) -> None:
    """Before: embeddings whose model was replaced (e.g. by an upgrade) could not be
    evaluated at all, though random neighbours and the stored features need no model."""
    vote_catalog(tmp_path).to_csv(tmp_path / "votes.csv", index=False)
    emb = make_embeddings(np.random.default_rng(0).normal(size=(10, 4)))  # model "-": none
    with pytest.warns(GalmorphWarning, match="Evaluated without it, so which galaxies it was "
                                             "trained on is unknown"):
        result = evaluate_similarity(emb, tmp_path / "votes.csv", baselines=["random"], k=3,
                                     progress=False)
    assert result["methods"] == ["random", "model"] and result["model_split_counts"] is None
    assert result["model"]["galmorph_model"] == "-"
    for needs_model in ({"baselines": ["pixels"]}, {"baselines": ["random"], "split": "test"}):
        with pytest.raises(GalmorphError, match="model '-' not found"):
            evaluate_similarity(emb, tmp_path / "votes.csv", k=3, progress=False, **needs_model)


def test_vote_columns_in_upper_case_give_the_same_tags(tmp_path: Path) -> None:
    emb, catalog = _tiny_embeddings(tmp_path, 40)
    upper = catalog.rename(columns={c: c.upper() for c in catalog.columns if "_count" in c})
    options = {"k": 5, "baselines": ["random"], "num_workers": 0, "progress": False}
    same = evaluate_similarity(emb, catalog, **options)
    assert evaluate_similarity(emb, upper, **options)["tags"] == same["tags"]


def test_random_neighbours_alone_need_no_image_files(tmp_path: Path) -> None:
    """The embeddings hold what the model saw: only the other baselines read images."""
    emb, catalog = _tiny_embeddings(tmp_path, 40)
    moved = catalog.assign(file_loc=[str(tmp_path / "gone" / Path(p).name)
                                     for p in catalog["file_loc"]])
    options = {"k": 5, "num_workers": 0, "progress": False}
    result = evaluate_similarity(emb, moved, baselines=["random"], **options)
    assert result["n_galaxies"] == 40
    with pytest.raises(CatalogError, match="gone"):
        evaluate_similarity(emb, moved, baselines=["random", "pixels"], **options)
