"""The Map tab's data: map rows aligned to the gallery, colour values, polygon selections."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from galmorph.exceptions import GalmorphError
from galmorph.inference.maps import GalaxyMap, map_path
from galmorph.web.gallery import Gallery, NoSession
from galmorph.web.map_view import (
    MAX_POLYGON_VERTICES,
    MapView,
    align_map,
    answer_title,
    float32_bytes,
    inside_polygon,
    parse_polygon,
)


@pytest.fixture
def copied(web_files: dict[str, Path], tmp_path: Path) -> Path:
    """The 40-galaxy embeddings in a folder of their own (the map is cached beside them)."""
    shutil.copyfile(web_files["embeddings"], tmp_path / "emb.parquet")
    return tmp_path / "emb.parquet"


def test_map_rows_follow_the_gallery_by_id() -> None:
    ids = np.array(["a", "b", "c", "d"])
    map_ids = np.array(["c", "x", "a", "c", "b"], dtype=object)  # shuffled, extra, repeated
    xy = np.array([[3, 3], [9, 9], [1, 1], [7, 7], [2, 2]], dtype=np.float32)
    aligned = align_map(ids, map_ids, xy)
    assert aligned.dtype == np.float32 and aligned.shape == (4, 2)
    np.testing.assert_array_equal(aligned[:3], [[1, 1], [2, 2], [3, 3]])  # first "c" wins
    assert np.isnan(aligned[3]).all()  # "d" is not on the map
    same = align_map(ids, ids.astype(object), xy[:4])
    np.testing.assert_array_equal(same, xy[:4])
    with pytest.raises(GalmorphError, match="shares no galaxy"):
        align_map(ids, np.array(["p", "q"]), xy[:2])


def test_answers_are_titled_with_their_question() -> None:
    assert answer_title("yes", "t02_edgeon_a04_yes") == "edge-on: yes"
    assert answer_title("a10_no_bulge", "t05_bulge_prominence_a10_no_bulge") == (
        "bulge prominence: no bulge")
    assert answer_title("ring", "ring") == "ring"  # not a GZ name


@pytest.mark.parametrize(("text", "message"), [
    ("", "no polygon"),
    ("1,2,3,4", "2 vertices"),
    ("1,2,3,4,5", "5 numbers"),
    ("0,0,1,0,one,1", "'one' where a number belongs"),
    ("0,0,1,0,1,nan", "finite"),
    ("0,0,1,0,1,inf", "finite"),
    (",".join(["1"] * (2 * MAX_POLYGON_VERTICES + 2)), f"{MAX_POLYGON_VERTICES + 1} vertices"),
    ("1," * 50_000, "longer than"),
])
def test_bad_polygons_are_refused(text: str, message: str) -> None:
    with pytest.raises(GalmorphError, match=message):
        parse_polygon(text)


def test_a_concave_lasso_selects_only_what_it_encloses() -> None:
    from matplotlib.path import Path as Outline

    u_shape = parse_polygon("0,0, 3,0, 3,3, 2,3, 2,1, 1,1, 1,3, 0,3")  # a U, open at the top
    points = np.array([[0.5, 2.5], [2.5, 2.5], [1.5, 0.5], [1.5, 2.0], [1.5, 3.5], [4, 1],
                       [np.nan, 1.0]], dtype=np.float32)
    assert inside_polygon(points, u_shape).tolist() == [True, True, True, False, False, False,
                                                        False]
    rng = np.random.default_rng(0)
    angles = np.sort(rng.uniform(0, 2 * np.pi, 40))
    radii = rng.uniform(0.3, 1.0, 40)  # a jagged star: concave almost everywhere
    star = np.column_stack([radii * np.cos(angles), radii * np.sin(angles)])
    cloud = rng.uniform(-1, 1, (5000, 2)).astype(np.float32)
    expected = Outline(star).contains_points(cloud.astype(np.float64))
    np.testing.assert_array_equal(inside_polygon(cloud, star), expected)


def test_a_self_crossing_lasso_uses_the_even_odd_rule() -> None:
    bow_tie = parse_polygon("0,0, 2,2, 2,0, 0,2")
    points = np.array([[0.2, 1.0], [1.8, 1.0], [1.0, 0.2], [1.0, 1.8]], dtype=np.float32)
    assert inside_polygon(points, bow_tie).tolist() == [True, True, False, False]


def test_the_map_of_a_gallery(copied: Path, web_files: dict[str, Path]) -> None:
    gallery = Gallery(copied, predictions=web_files["predictions"])
    computed: list[tuple[str, int]] = []
    view = MapView.load(gallery, method="pca", on_compute=lambda *a: computed.append(a))
    assert computed == [("pca", 40)] and map_path(copied).is_file()
    assert view.xy.shape == (40, 2) and np.isfinite(view.xy).all()
    meta = view.meta()
    assert (meta["count"], meta["placed"], meta["method"]) == (40, 40, "pca")
    low, high = view.xy.min(axis=0), view.xy.max(axis=0)
    assert meta["bounds"] == pytest.approx([low[0], low[1], high[0], high[1]])
    names = [c["name"] for c in meta["colours"]]
    assert names == gallery.table.names() and "score" not in names
    edgeon = next(c["name"] for c in meta["colours"] if c["label"] == "edge-on: yes")
    np.testing.assert_array_equal(view.colour(edgeon),
                                  gallery.table.values("t02_edgeon_a04_yes_fraction"))
    assert np.frombuffer(float32_bytes(view.xy), "<f4").reshape(-1, 2).tolist() == view.xy.tolist()

    again = MapView.load(gallery, method="auto", on_compute=lambda *a: computed.append(a))
    assert len(computed) == 1 and np.array_equal(again.xy, view.xy)  # the cached map

    np.testing.assert_array_equal(view.colour(names[0]), gallery.table.values(names[0]))
    assert view.colour(names[0]).dtype == np.float32
    with pytest.raises(GalmorphError, match="unknown name 'nonsense'"):
        view.colour("nonsense")
    with pytest.raises(NoSession, match="--session"):
        view.colour("interest")

    everything = parse_polygon(f"{low[0] - 1},{low[1] - 1},{high[0] + 1},{low[1] - 1},"
                               f"{high[0] + 1},{high[1] + 1},{low[0] - 1},{high[1] + 1}")
    chosen = view.select(everything)
    assert chosen["id_str"].tolist() == gallery.ids.tolist()
    assert {"x", "y", "ra", "dec"} <= set(chosen.columns)
    left = view.select(parse_polygon(f"{low[0] - 1},{low[1] - 1},0,{low[1] - 1},0,"
                                     f"{high[1] + 1},{low[0] - 1},{high[1] + 1}"))
    assert left["id_str"].tolist() == gallery.ids[view.xy[:, 0] < 0].tolist()
    gallery.close()


def test_a_map_of_other_galaxies_is_aligned_or_refused(copied: Path) -> None:
    gallery = Gallery(copied)
    reversed_map = GalaxyMap(ids=gallery.ids[::-1].astype(object),
                             xy=np.arange(80, dtype=np.float32).reshape(40, 2), method="umap",
                             info={})
    view = MapView(gallery, reversed_map)
    assert view.xy[0].tolist() == [78.0, 79.0] and view.method == "umap"
    with pytest.raises(GalmorphError, match="shares no galaxy"):
        MapView(gallery, GalaxyMap(ids=np.array(["elsewhere"], dtype=object),
                                   xy=np.zeros((1, 2), np.float32), method="pca", info={}))
    gallery.close()


def test_colour_by_label_score_and_interest(copied: Path, tmp_path: Path) -> None:
    gallery = Gallery(copied, session=tmp_path / "hunt.db", batch_size=4)
    view = MapView.load(gallery, method="pca")
    assert [c["name"] for c in view.meta()["colours"]][-2:] == ["score", "interest"]
    assert np.isnan(view.colour("score")).all()
    gallery.label(gallery.ids[3], 5)
    gallery.label(gallery.ids[7], 1)
    gallery.label(gallery.ids[3], 4)  # the latest score counts
    score = view.colour("score")
    assert score[3] == 4 and score[7] == 1 and np.isnan(np.delete(score, [3, 7])).all()
    interest = view.colour("interest")
    ranking = gallery.ranking_table()
    rows = gallery.rows.get_indexer(ranking["id_str"])
    np.testing.assert_allclose(interest[rows], ranking["interest"], rtol=1e-6)
    assert interest[3] == 4 and interest[7] == 1
    gallery.close()
