"""Similarity search and tag-retrieval evaluation (galmorph.search.search).

Search is checked on synthetic vectors against brute-force numpy; the evaluation
on a hand-made toy example and, end to end, with a tiny untrained model.
"""

from __future__ import annotations

import math
import os
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from astropy.coordinates import SkyCoord
from PIL import Image

from galmorph.data.bundled import demo_dir
from galmorph.data.images import ImageConfig
from galmorph.data.schemas import get_schema
from galmorph.exceptions import GalmorphError, GalmorphWarning
from galmorph.inference.embed import EmbeddingInfo, Embeddings, embed_to_file
from galmorph.models.checkpoint import build_model, load_model, save_model
from galmorph.models.metrics import write_json
from galmorph.search import search as search_module
from galmorph.search.search import (
    SimilaritySearch,
    angular_separation,
    baseline_features,
    build_index,
    derive_tags,
    evaluate_similarity,
    index_files,
    neighbour_table,
    precision_at_k,
    search_vectors,
    select_neighbours,
)
from galmorph.training.train import model_metadata

ARCSEC = 1 / 3600


def make_embeddings(features: np.ndarray, ra: np.ndarray | None = None,
                    dec: np.ndarray | None = None, path: Path | None = None) -> Embeddings:
    n, d = features.shape
    info = EmbeddingInfo(model={"spec": "-", "path": "-", "name": "-", "sha256": "-"},
                         encoder="-", feature_dim=d, image={}, n_features=d)
    return Embeddings(ids=np.array([f"G{i}" for i in range(n)], dtype=object),
                      features=features.astype(np.float32), info=info, ra=ra, dec=dec, path=path)


def brute_force(features: np.ndarray, row: int, k: int, metric: str) -> tuple[np.ndarray,
                                                                              np.ndarray]:
    x = features.astype(np.float64)
    q = x[row]
    if metric == "cosine":
        d = 1 - (x @ q) / (np.linalg.norm(x, axis=1) * np.linalg.norm(q))
    elif metric == "euclidean":
        d = np.sqrt(((x - q) ** 2).sum(axis=1))
    else:
        d = np.abs(x - q).sum(axis=1)
    d[row] = np.inf
    order = np.argsort(d, kind="stable")[:k]
    return order, d[order]


@pytest.fixture(scope="module")
def random_features() -> np.ndarray:
    return np.random.default_rng(0).normal(size=(400, 8)) * np.linspace(3, 0.5, 8)


@pytest.mark.parametrize("metric", ["cosine", "euclidean", "manhattan"])
def test_exact_search_matches_brute_force(random_features: np.ndarray, metric: str) -> None:
    search = SimilaritySearch(make_embeddings(random_features), metric)
    assert search.index.kind == "exact"
    for row in (0, 17, 399):
        result = search.by_row(row, k=7)
        rows, distances = brute_force(random_features, row, 7, metric)
        assert result.neighbours["row"].tolist() == rows.tolist()
        np.testing.assert_allclose(result.neighbours["distance"], distances, rtol=1e-5, atol=1e-6)
        assert result.neighbours["rank"].tolist() == list(range(1, 8))


def test_excludes_the_query_and_same_object_entries() -> None:
    rng = np.random.default_rng(1)
    features = rng.normal(size=(40, 4))
    ra = rng.uniform(100, 200, 40)
    dec = rng.uniform(-10, 10, 40)
    features[1] = features[0] + 1e-4  # the query entered twice, 1 arcsec apart
    ra[1], dec[1] = ra[0], dec[0] + ARCSEC
    features[2] = features[0] + 2e-4  # a look-alike 10 arcsec away: a different object
    ra[2], dec[2] = ra[0], dec[0] + 10 * ARCSEC
    features[3] = features[0] + 3e-4  # another object entered twice (3 and 4, 0.5 arcsec apart)
    features[4] = features[0] + 4e-4
    ra[4], dec[4] = ra[3], dec[3] + 0.5 * ARCSEC
    search = SimilaritySearch(make_embeddings(features, ra, dec), "euclidean")
    rows = search.by_id("G0", k=5).neighbours["row"].tolist()
    assert rows[:2] == [2, 3] and not {0, 1, 4} & set(rows) and len(rows) == 5
    no_sky = SimilaritySearch(make_embeddings(features), "euclidean")
    assert no_sky.by_id("G0", k=4).neighbours["row"].tolist() == [1, 2, 3, 4]


def test_select_neighbours_and_separation() -> None:
    a, b = SkyCoord(150.0, 2.0, unit="deg"), SkyCoord(150.001, 2.0005, unit="deg")
    assert angular_separation(150.0, 2.0, 150.001, 2.0005) == pytest.approx(
        a.separation(b).arcsec, rel=1e-9)
    ra = np.array([10.0, 10.0, 10.0, 10.0])
    dec = np.array([0.0, 5 * ARCSEC, 5.5 * ARCSEC, 20 * ARCSEC])
    picked = select_neighbours(np.array([1, 2, -1, 3]), 3, exclude={0}, centre=(10.0, 0.0),
                               ra=ra, dec=dec)
    assert picked == [1, 3]  # 2 duplicates 1; -1 is padding


def test_query_by_position_and_bad_queries(random_features: np.ndarray) -> None:
    n = len(random_features)
    ra, dec = np.linspace(10, 50, n), np.zeros(n)
    search = SimilaritySearch(make_embeddings(random_features, ra, dec), "cosine")
    result = search.by_position(ra[5] + 2 * ARCSEC, 0.0, k=3)
    assert result.query["id_str"] == "G5"
    assert result.query["separation_arcsec"] == pytest.approx(2.0, rel=1e-3)
    assert 5 not in result.neighbours["row"].tolist()
    with pytest.raises(GalmorphError, match="no galaxy within 5 arcsec.*nearest is G5"):
        search.by_position(ra[5] + 30 * ARCSEC, 0.0)
    with pytest.raises(GalmorphError, match="no galaxy with id 'J1'"):
        search.by_id("J1")
    with pytest.raises(GalmorphError, match="similar ids: G0, G1, G2"):
        search.by_id("G")
    with pytest.raises(GalmorphError, match="no ra/dec"):
        SimilaritySearch(make_embeddings(random_features)).by_position(10.0, 0.0)


@pytest.mark.parametrize("kind", ["ivf", "hnsw"])
def test_approximate_index_is_saved_and_reused(kind: str, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    features = np.random.default_rng(2).normal(size=(3000, 8)).astype(np.float32)
    source = tmp_path / "emb.parquet"
    source.write_bytes(b"stands in for the embeddings file")
    emb = make_embeddings(features, path=source)
    first = SimilaritySearch(emb, "euclidean", kind)
    index_path, json_path = index_files(source, kind, "euclidean")
    assert index_path.is_file() and json_path.is_file()
    assert first.index.params["calibration_recall_at_10"] >= search_module.TARGET_RECALL
    exact = SimilaritySearch(make_embeddings(features), "euclidean", "exact")
    hits = [len(set(first.by_row(r, 10).neighbours["row"]) & set(exact.by_row(r, 10)
                                                                  .neighbours["row"]))
            for r in range(0, 3000, 60)]
    assert np.mean(hits) / 10 >= 0.9

    built: list[str] = []
    real_build = search_module.build_index
    monkeypatch.setattr(search_module, "build_index",
                        lambda *a, **kw: built.append("x") or real_build(*a, **kw))
    again = SimilaritySearch(emb, "euclidean", kind)
    assert built == [] and again.index.params == first.index.params
    assert again.by_row(7).neighbours.equals(first.by_row(7).neighbours)
    os.utime(source, ns=(0, 0))  # the embeddings changed: the saved index is stale
    SimilaritySearch(emb, "euclidean", kind)
    assert built == ["x"]


def test_manhattan_is_exact_only(random_features: np.ndarray,
                                 monkeypatch: pytest.MonkeyPatch) -> None:
    emb = make_embeddings(random_features)
    for kind in ("ivf", "hnsw"):
        with pytest.raises(GalmorphError, match="manhattan metric is searched exactly only"):
            SimilaritySearch(emb, "manhattan", kind)
    monkeypatch.setattr(search_module, "EXACT_MAX_ROWS", 100)
    with pytest.warns(GalmorphWarning, match="manhattan distances are searched exactly"):
        search = SimilaritySearch(emb, "manhattan", "auto")
    assert search.index.kind == "exact"
    assert SimilaritySearch(emb, "cosine", "auto").index.kind == "ivf"


def test_calibration_reaches_its_target() -> None:
    vectors = search_vectors(np.random.default_rng(3).normal(size=(4000, 6)), "cosine")
    index = build_index(vectors, "cosine", "ivf", target_recall=0.99)
    assert index.params["calibration_recall_at_10"] >= 0.99
    assert 1 <= index.params["nprobe"] <= index.params["nlist"]


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


def gz2_row(**counts: int) -> dict[str, int]:
    row = dict.fromkeys(get_schema("gz2").without("t10_arms_winding", "t11_arms_number")
                        .label_cols, 0)
    for key, value in counts.items():
        row[get_schema("gz2").answer(key).column] = value
    return row


def test_tags_follow_their_definitions() -> None:
    votes = pd.DataFrame([
        gz2_row(**{"t01_smooth_or_features/a01_smooth": 40, "t01_smooth_or_features/"
                   "a02_features_or_disk": 5, "t07_rounded/a18_cigar_shaped": 30,
                   "t06_odd/a15_no": 40}),
        gz2_row(**{"t01_smooth_or_features/a02_features_or_disk": 30, "t02_edgeon/a05_no": 30,
                   "t03_bar/a06_bar": 20, "t03_bar/a07_no_bar": 10, "t04_spiral/a08_spiral": 29,
                   "t04_spiral/a09_no_spiral": 1, "t06_odd/a14_yes": 20, "t06_odd/a15_no": 10,
                   "t08_odd_feature/a19_ring": 9, "t08_odd_feature/a24_merger": 9}),
        gz2_row(**{"t01_smooth_or_features/a02_features_or_disk": 30, "t02_edgeon/a04_yes": 29,
                   "t02_edgeon/a05_no": 1, "t06_odd/a14_yes": 4, "t06_odd/a15_no": 26,
                   "t08_odd_feature/a24_merger": 4, "t08_odd_feature/a19_ring": 2}),
    ])
    tags, kinds, skipped = derive_tags(votes)
    assert skipped == {} and kinds["ring"] == "transfer" and kinds["bar"] == "trained"
    expected = {
        "smooth": [1, 0, 0], "completely-round": [0, 0, 0], "cigar-shaped": [1, 0, 0],
        "edge-on": [0, 0, 1], "bar": [0, 1, 0], "spiral": [0, 1, 0], "odd": [0, 1, 0],
        "ring": [0, 1, 0], "merger": [0, 1, 1],
    }
    assert {k: v.astype(int).tolist() for k, v in tags.items()} == expected
    custom, kinds, _ = derive_tags(votes.assign(mine=[1, 0, 1]), ["mine", "bar"])
    assert custom["mine"].tolist() == [True, False, True] and kinds["mine"] == "custom"
    with pytest.raises(GalmorphError, match="unknown tag 'nope'"):
        derive_tags(votes, ["nope"])
    _, _, skipped = derive_tags(votes.drop(columns=get_schema("gz2").question("t08_odd_feature")
                                           .columns))
    assert set(skipped) == {"ring", "merger"}


def test_ring_tag_equals_the_bundled_ring_column() -> None:
    catalog = pd.read_csv(demo_dir() / "catalog.csv")
    tags, _, _ = derive_tags(catalog, ["ring"])
    assert tags["ring"].tolist() == (catalog["ring"] == 1).tolist()


def test_evaluate_similarity_end_to_end(tmp_path: Path) -> None:
    schema = get_schema("gz2-no-odd")
    metadata = model_metadata(
        schema, ImageConfig.for_sdss_gz2(size=32), "test_convnext", 0.2,
        {"split": {"method": "seeded", "seed": 1, "fractions": [0.8, 0.1, 0.1]}},
        np.full(schema.n_answers, 3.0), "tiny",
    )
    torch.manual_seed(5)
    model = save_model(build_model(metadata), metadata, tmp_path / "tiny.pt")
    catalog = pd.read_csv(demo_dir() / "catalog.csv", nrows=40, dtype={"id_str": str})
    catalog["file_loc"] = [str(demo_dir() / p) for p in catalog["file_loc"]]
    emb = embed_to_file(catalog, tmp_path / "emb.parquet", model, pca=6, num_workers=0,
                        progress=False)
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


@pytest.mark.parametrize("name", ["pixels", "untrained", "votes"])
def test_baselines_average_over_the_embeddings_views(name: str, untrained_model: Path,
                                                     tmp_path: Path) -> None:
    image = np.asarray(Image.open(demo_dir() / pd.read_csv(demo_dir() / "catalog.csv",
                                                           nrows=1)["file_loc"][0]))
    for turns in range(3):
        turned = np.ascontiguousarray(np.rot90(image, turns))
        Image.fromarray(turned).save(tmp_path / f"{turns}.png")
    frame = pd.DataFrame({"id_str": ["0", "1", "2"],
                          "file_loc": [str(tmp_path / f"{t}.png") for t in range(3)]})
    loaded = load_model(untrained_model)
    run = {"device": torch.device("cpu"), "num_workers": 0, "progress": False}
    one = baseline_features(name, frame, loaded, None, views=1, **run)
    eight = baseline_features(name, frame, loaded, None, views=8, **run)
    np.testing.assert_allclose(eight, np.repeat(eight[:1], 3, axis=0), atol=1e-5)
    assert np.abs(one[1] - one[0]).max() > 1e-4  # one view: turning the image changes it
