"""The browse table (galmorph.web.table): names, alignment, filters, sorts and their caches."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from galmorph.data.schemas import get_schema
from galmorph.web.query import FilterError
from galmorph.web.table import MAX_SELECTIONS, GalaxyTable, _order


def gz2_predictions(ids: list[str], seed: int = 0, schema: str = "gz2") -> pd.DataFrame:
    """A ``galmorph predict``-shaped table with the real schema's column names."""
    rng = np.random.default_rng(seed)
    columns: dict[str, object] = {"id_str": ids}
    for question in get_schema(schema).questions:
        columns[f"{question.name}_asked"] = rng.random(len(ids)).astype(np.float32)
        for answer in question.answers:
            fraction = rng.random(len(ids)).astype(np.float32)
            fraction[rng.random(len(ids)) < 0.1] = np.nan
            stem = answer.full_name
            columns[f"{stem}_fraction"] = fraction
            columns[f"{stem}_concentration"] = (fraction * 10).astype(np.float32)
            columns[f"{stem}_lower90"] = (fraction * 0.8).astype(np.float32)
            columns[f"{stem}_upper90"] = np.minimum(fraction * 1.3, 1).astype(np.float32)
    return pd.DataFrame(columns)


IDS = [f"G{i:03d}" for i in range(50)]


@pytest.fixture(scope="module")
def frames() -> tuple[pd.DataFrame, pd.DataFrame]:
    predictions = gz2_predictions(IDS[:45]).sample(frac=1, random_state=1)  # 5 not predicted
    rng = np.random.default_rng(2)
    catalog = pd.DataFrame({"id_str": IDS[::-1] + ["G000"],  # reversed, one id twice
                            "redshift": np.append(rng.random(50), 99.0),
                            "n_votes": np.append(rng.integers(0, 5, 50), 0),
                            "survey": ["sdss"] * 51})
    return predictions, catalog


@pytest.fixture
def table(frames: tuple[pd.DataFrame, pd.DataFrame]) -> GalaxyTable:
    predictions, catalog = frames
    return GalaxyTable(np.array(IDS), predictions=predictions, catalog=catalog,
                       columns={"ra": np.arange(50.0), "dec": None})


def by_id(frame: pd.DataFrame, column: str) -> np.ndarray:
    first = frame.drop_duplicates("id_str").set_index("id_str")[column]
    return first.reindex(IDS).to_numpy(dtype=np.float64)


def test_answer_names_for_any_schema(table: GalaxyTable) -> None:
    names = table.names()
    assert len(names) == get_schema("gz2").n_answers
    assert {"bar", "spiral", "smooth", "a10_no_bulge", "a27_no_bulge", "a04_yes", "a14_yes",
            "a31_1", "cant_tell"} <= set(names)
    decals = GalaxyTable(np.array(IDS[:3]),
                         predictions=gz2_predictions(IDS[:3], schema="gz-decals-dr5"))
    names = decals.names()
    assert {"disk-edge-on_yes", "has-spiral-arms_yes", "strong", "spiral-arm-count_1",
            "more-than-4"} <= set(names)
    assert np.array_equal(decals.values("disk-edge-on.yes"),
                          decals.values("disk-edge-on_yes_fraction"), equal_nan=True)
    for name in names:  # every listed name can be typed in a filter
        decals.select(f"{name} > 0.5 and {name}.uncertainty < 1 and {name}.share < 1")


def test_values_are_aligned_by_id(table: GalaxyTable,
                                  frames: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    predictions, catalog = frames
    bar = by_id(predictions, "t03_bar_a06_bar_fraction")
    assert np.isnan(bar[45:]).all()  # not in the predictions
    for name in ("bar", "a06_bar", "t03_bar_a06_bar", "t03_bar_a06_bar_fraction", "BAR",
                 "bar.bar", "t03_bar.a06_bar", " bar "):
        assert np.array_equal(table.values(name), bar, equal_nan=True), name
    assert table.values("bar").dtype == np.float32
    width = by_id(predictions, "t03_bar_a06_bar_upper90") - by_id(
        predictions, "t03_bar_a06_bar_lower90")
    for name in ("bar.uncertainty", "a06_bar.UNCERTAINTY", "t03_bar_a06_bar_fraction.uncertainty"):
        assert np.allclose(table.values(name), width, equal_nan=True)
    share = bar * by_id(predictions, "t03_bar_asked")  # of all volunteers, not of those asked
    for name in ("bar.share", "a06_bar.SHARE", "t03_bar_a06_bar_fraction.share"):
        assert np.allclose(table.values(name), share, equal_nan=True)
    assert table.select("bar.share > 0.5").tolist() == np.flatnonzero(share > 0.5).tolist()
    assert np.array_equal(table.values("redshift"), by_id(catalog, "redshift"))  # first row
    assert table.values("n_votes").dtype == np.float64
    assert np.array_equal(table.values("t03_bar_asked"), by_id(predictions, "t03_bar_asked"),
                          equal_nan=True)
    assert np.array_equal(table.values("ra"), np.arange(50.0))
    with pytest.raises(ValueError, match="read-only"):
        table.values("bar")[0] = 1


@pytest.mark.parametrize(("name", "message"), [
    ("no_bulge", "'no_bulge' could mean 2 answers: t05_bulge_prominence_a10_no_bulge, "
                 "t09_bulge_shape_a27_no_bulge; write one of a10_no_bulge, a27_no_bulge"),
    ("yes", "could mean 2 answers: t02_edgeon_a04_yes, t06_odd_a14_yes"),
    ("barr", "unknown name 'barr'; did you mean bar"),
    ("redshft", "did you mean redshift?"),
    ("spiral.uncertainy", "unknown name 'spiral.uncertainy'"),
    ("survey", "'survey' is a text column: filters and sorts use number columns"),
    ("ra.uncertainty", "'ra.uncertainty': only predicted answers have a 90% interval"),
    ("ra.share", "'ra.share': only predicted answers have a share of all volunteers"),
    ("dec", "unknown name 'dec'"),  # a column given as None is left out
])
def test_bad_names_say_why(table: GalaxyTable, name: str, message: str) -> None:
    with pytest.raises(FilterError) as caught:
        table.values(name)
    assert message in str(caught.value)


def test_unknown_names_list_what_there_is() -> None:
    predicted = GalaxyTable(np.array(IDS[:3]), predictions=gz2_predictions(IDS[:3]))
    with pytest.raises(FilterError, match=r"names are the predicted answers \(smooth, "):
        predicted.select("nothing > 1")
    bare = GalaxyTable(np.array(IDS[:3]), columns={"ra": np.zeros(3)})
    with pytest.raises(FilterError, match=r"no predictions are loaded \(galmorph serve "
                                          r"--predictions FILE\); number columns: ra"):
        bare.select("bar > 1")
    assert bare.names() == [] and bare.select("ra < 1").tolist() == [0, 1, 2]
    lacking = gz2_predictions(IDS[:3]).drop(columns=["t03_bar_a06_bar_lower90"])
    with pytest.raises(FilterError, match="needs the columns t03_bar_a06_bar_lower90 and"):
        GalaxyTable(np.array(IDS[:3]), predictions=lacking).values("bar.uncertainty")


def test_filters_where_the_names_were_bad_say_where(table: GalaxyTable) -> None:
    with pytest.raises(FilterError, match="'no_bulge' at character 18 could mean 2"):
        table.select("spiral > 0.1 and no_bulge > 0.2")
    with pytest.raises(FilterError, match="unknown name 'barr' in sort"):
        table.select("", "-barr")
    with pytest.raises(FilterError, match="names nothing"):
        table.select("", "-")


@pytest.mark.parametrize(("where", "expected"), [
    ("bar > 0.6 and spiral > 0.8",
     lambda d: (d.bar > 0.6) & (d.spiral > 0.8)),
    ("not (bar <= 0.3 or smooth > 0.5) and redshift >= 0.2",
     lambda d: ~((d.bar <= 0.3) | (d.smooth > 0.5)) & (d.redshift >= 0.2)),
    ("0.5 < a10_no_bulge or a27_no_bulge < 0.1 and not n_votes > 2",
     lambda d: (d.nb10 > 0.5) | ((d.nb27 < 0.1) & ~(d.n_votes > 2))),
    ("bar.uncertainty < 0.2 or ra >= 40",
     lambda d: ((d.bar_upper - d.bar_lower) < 0.2) | (d.ra >= 40)),
])
def test_filters_match_pandas(frames: tuple[pd.DataFrame, pd.DataFrame], where: str,
                              expected: object) -> None:
    for seed in range(3):  # different random tables
        predictions = gz2_predictions(IDS[:45], seed).sample(frac=1, random_state=seed)
        table = GalaxyTable(np.array(IDS), predictions=predictions, catalog=frames[1],
                            columns={"ra": np.arange(50.0)})
        merged = pd.DataFrame({"id_str": IDS}).merge(predictions, how="left").merge(
            frames[1].drop_duplicates("id_str"), how="left")
        data = pd.DataFrame({
            "bar": merged["t03_bar_a06_bar_fraction"], "spiral": merged[
                "t04_spiral_a08_spiral_fraction"],
            "smooth": merged["t01_smooth_or_features_a01_smooth_fraction"],
            "nb10": merged["t05_bulge_prominence_a10_no_bulge_fraction"],
            "nb27": merged["t09_bulge_shape_a27_no_bulge_fraction"],
            "bar_lower": merged["t03_bar_a06_bar_lower90"],
            "bar_upper": merged["t03_bar_a06_bar_upper90"],
            "redshift": merged["redshift"], "n_votes": merged["n_votes"],
            "ra": np.arange(50.0)})
        assert table.select(where).tolist() == np.flatnonzero(expected(data)).tolist()


def expected_order(values: np.ndarray, descending: bool) -> list[int]:
    """Stable sort by value, NaN last, the obvious way."""
    sign = -1 if descending else 1
    return sorted(range(len(values)),
                  key=lambda i: (np.isnan(values[i]), 0 if np.isnan(values[i])
                                 else sign * values[i], i))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sort_orders_are_stable_with_nan_last(dtype: type) -> None:
    rng = np.random.default_rng(3)
    values = rng.choice([-2.5, -0.0, 0.0, 0.25, 1.0, np.inf, -np.inf, np.nan], 300).astype(dtype)
    for descending in (False, True):
        assert _order(values, descending).tolist() == expected_order(values, descending)
    noise = rng.normal(size=1000).astype(dtype)
    assert np.array_equal(_order(noise, False), np.argsort(noise, kind="stable"))


def test_select_sorts_filters_and_searches_ids(table: GalaxyTable) -> None:
    bar, spiral = table.values("bar"), table.values("spiral")
    assert table.select().tolist() == list(range(50))
    assert table.select("", "-bar").tolist() == expected_order(bar, True)
    assert table.select("", "+bar").tolist() == expected_order(bar, False)
    width = table.values("spiral.uncertainty")
    chosen = table.select("bar > 0.3", "spiral.uncertainty")
    passing = {i for i in range(50) if bar[i] > 0.3}
    assert chosen.tolist() == [i for i in expected_order(width, False) if i in passing]
    assert table.select("bar > 0.3", "-spiral", "g00").tolist() == [
        i for i in expected_order(spiral, True) if i in passing and i < 10]
    assert table.select("", "", "G04").tolist() == list(range(40, 50))
    lower = GalaxyTable(np.array(["ab1", "xy2", "élan"]))
    assert [lower.select(q=q).tolist() for q in ("B1", "y", "ÉL", "zz")] == [[0], [1], [2], []]
    assert table.select("bar > 2").tolist() == []


def test_selections_and_orders_are_cached(table: GalaxyTable,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    first = table.select("bar > 0.5", "-spiral")
    assert table.select(" bar > 0.5 ", "-spiral ") is first  # paging: no work again
    with pytest.raises(ValueError, match="read-only"):
        first[0] = 3
    sorts = []
    monkeypatch.setattr("galmorph.web.table._order", lambda values, descending: sorts.append(
        descending) or np.argsort(values, kind="stable"))
    table.select("bar > 0.2", "-a08_spiral")  # another filter, the same sort: order reused
    assert sorts == []
    for i in range(MAX_SELECTIONS + 1):
        table.select(f"bar > {i / 100}", "smooth")
    assert sorts == [False]  # one order for all those selections
    assert table.select("bar > 0.5", "-spiral") is not first  # pushed out of the cache
