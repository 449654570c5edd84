"""Fuzzed catalogs: random catalogs give galmorph's own errors, or a well-formed result.

Hypothesis draws catalogs with missing, repeated and unknown columns, values of
the wrong type, NaN and infinities, unicode and empty ids, numbers far beyond
int64, and image paths that exist, do not, or hold random bytes. Whatever the
input, each entry point (``load_catalog``, ``galmorph validate``, ``predict_catalog``,
``galmorph predict``) must succeed with a well-formed result or raise a
:class:`~galmorph.exceptions.GalmorphError` with a message: never another exception.
Every test counts the cases it tried, by outcome, and asserts a minimum number;
``pytest -s`` prints the counts. The settings and checks are in ``tests/_fuzz.py``.
"""

from __future__ import annotations

import gzip
import itertools
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st
from tests._fuzz import IMAGES, expect_galmorph_error, fuzz_settings, quiet, report

from galmorph.cli import main
from galmorph.data.catalog import load_catalog
from galmorph.data.schemas import get_schema
from galmorph.exceptions import GalmorphError
from galmorph.inference.predict import predict_catalog
from galmorph.models.checkpoint import load_model

SCHEMA = get_schema("gz2-no-odd")
QUESTION = SCHEMA.questions[0]  # t01: 3 answers
_serial = itertools.count()


# --------------------------------------------------------------- catalogs
@pytest.fixture(scope="module")
def garbage_files(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """Image files that are not images: empty, random bytes, a folder."""
    folder = tmp_path_factory.mktemp("garbage")
    rng = np.random.default_rng(0)
    (folder / "empty.jpg").write_bytes(b"")
    (folder / "noise.png").write_bytes(rng.integers(0, 256, 300, dtype=np.uint8).tobytes())
    (folder / "text.fits").write_text("SIMPLE  = not really\n")
    (folder / "dir.jpg").mkdir()
    return [str(p) for p in sorted(folder.iterdir())]


EXTREMES = [2**31, 2**53 + 1, 2**63 - 1, 2**63, 2**64, 10**30, -(2**63), 1e19, 1e300, -0.0]
huge_ints = st.one_of(st.integers(min_value=-(2**80), max_value=2**80), st.sampled_from(EXTREMES))
floats = st.floats(allow_nan=True, allow_infinity=True)
texts = st.text(max_size=12)  # any unicode but surrogates; "" and whitespace included
scalars = st.one_of(st.none(), st.booleans(), huge_ints, floats, texts, st.binary(max_size=6),
                    st.lists(st.integers(0, 3), max_size=2))


def paths(extra: list[str]) -> st.SearchStrategy:
    real = [str(p) for p in IMAGES]
    return st.one_of(
        st.sampled_from(real + extra + [p.name for p in IMAGES]),  # names: relative, missing
        st.sampled_from(["", " ", "nowhere.jpg", "/", "\x00bad.jpg", "a" * 5000 + ".jpg"]),
        texts,
    )


def column_values(kind: str, n: int, extra: list[str]) -> st.SearchStrategy:
    element = {
        "ints": st.integers(min_value=0, max_value=60),
        "huge": huge_ints,
        "floats": floats,
        "text": texts,
        "mixed": scalars,
        "paths": paths(extra),
        "ids": st.one_of(texts, st.integers(0, 5), st.none()),
    }[kind]
    return st.lists(element, min_size=n, max_size=n)


def _random_frame(draw: st.DrawFn, n: int, extra: list[str]) -> pd.DataFrame:
    """Random column names (repeats allowed), each with values of a random kind."""
    known = ["id_str", "file_loc", "ra", "dec", *QUESTION.columns]
    names = draw(st.lists(st.one_of(st.sampled_from(known), texts, st.integers(0, 3)),
                          max_size=8))
    if draw(st.booleans()):
        names = ["id_str", "file_loc", *names]
    columns = []
    for name in names:
        default = {"id_str": "ids", "file_loc": "paths"}.get(name, "ints")
        kind = draw(st.sampled_from([default, default, "huge", "floats", "text", "mixed"]))
        values = draw(column_values(kind, n, extra))
        if kind in ("ints", "floats") and draw(st.booleans()):
            series = pd.Series(values, dtype="float64" if kind == "floats" else "int64")
        else:
            series = pd.Series(values, dtype=object)
        columns.append(series)
    frame = pd.concat(columns, axis=1) if columns else pd.DataFrame(index=range(n))
    frame.columns = names
    return frame


def _near_valid_frame(draw: st.DrawFn, n: int, extra: list[str]) -> pd.DataFrame:
    """A valid catalog (unicode ids, real images, t01 votes) with a few random edits."""
    n = max(n, 1)
    frame = pd.DataFrame({
        "id_str": draw(st.lists(st.text(min_size=1, max_size=10), min_size=n, max_size=n,
                                unique=True)),
        "file_loc": draw(st.lists(  # now and then a file that is not an image
            st.sampled_from([str(p) for p in IMAGES] * 4 + extra), min_size=n, max_size=n)),
        **{c: draw(st.lists(st.integers(0, 60), min_size=n, max_size=n))
           for c in QUESTION.columns},
    })
    for _ in range(draw(st.integers(0, 3))):
        edit = draw(st.sampled_from(["cell", "cell", "vote", "drop", "add", "retype"]))
        column = draw(st.sampled_from(list(frame.columns))) if len(frame.columns) else None
        votes = [c for c in QUESTION.columns if c in frame.columns]
        if edit == "vote" and votes:  # a count that is not a count, or one far too large
            column = draw(st.sampled_from(votes))
            frame[column] = frame[column].astype(object)
            frame.at[draw(st.integers(0, n - 1)), column] = draw(
                st.one_of(st.sampled_from([*EXTREMES, -1, 0.5, float("nan"), "7", True]), scalars)
            )
        elif edit == "cell" and column is not None:
            frame[column] = frame[column].astype(object)
            value = draw(st.one_of(scalars, paths(extra)) if column == "file_loc" else scalars)
            frame.at[draw(st.integers(0, n - 1)), column] = value
        elif edit == "drop" and column is not None:
            frame = frame.drop(columns=column)
        elif edit in ("add", "retype"):
            name = draw(st.one_of(texts, st.sampled_from(["ra", "dec", *QUESTION.columns])))
            if edit == "retype" and column is not None:
                name = column
            kind = draw(st.sampled_from(["huge", "floats", "text", "mixed", "ids"]))
            frame[name] = pd.Series(draw(column_values(kind, n, extra)), dtype=object)
    return frame


@st.composite
def catalogs(draw: st.DrawFn, extra: list[str]) -> pd.DataFrame:
    """A random catalog: anything at all, or a valid one with a few random edits."""
    n = draw(st.integers(min_value=0, max_value=6))
    if draw(st.booleans()):
        return _random_frame(draw, n, extra)
    return _near_valid_frame(draw, n, extra)


def check_loaded(frame: pd.DataFrame, with_votes: bool) -> None:
    """What a catalog load_catalog accepted looks like."""
    assert isinstance(frame.index, pd.RangeIndex) and len(frame) > 0
    assert frame["id_str"].map(type).eq(str).all() and frame["id_str"].is_unique
    assert all(Path(p).is_absolute() and Path(p).is_file() for p in frame["file_loc"])
    if with_votes:
        for column in SCHEMA.label_cols:
            assert frame[column].dtype == np.int64, column
            assert (frame[column] >= 0).all(), column


def test_random_catalog_frames(garbage_files: list[str], tmp_path: Path) -> None:
    outcomes: Counter = Counter()

    @fuzz_settings(600)
    @given(frame=catalogs(garbage_files), with_votes=st.booleans())
    def check(frame: pd.DataFrame, with_votes: bool) -> None:
        try:
            with quiet():
                loaded = load_catalog(frame, SCHEMA if with_votes else None, base_dir=tmp_path)
        except GalmorphError as err:
            outcomes[expect_galmorph_error(err, GalmorphError)] += 1
        else:
            check_loaded(loaded, with_votes)
            outcomes["loaded"] += 1

    check()
    report("catalog DataFrames", outcomes, 400)
    assert outcomes["loaded"] > 0


TABLE_SUFFIXES = [".csv", ".csv.gz", ".parquet", ".fits", ".ecsv", ".xml"]


def _write_random_file(path: Path, content: bytes) -> None:
    path.write_bytes(gzip.compress(content) if path.name.endswith(".gz") else content)


@st.composite
def catalog_files(draw: st.DrawFn, folder: Path, extra: list[str]) -> Path:
    """A table file: a random catalog in some format, or random text or bytes."""
    suffix = draw(st.sampled_from(TABLE_SUFFIXES))
    path = folder / f"catalog-{next(_serial)}{suffix}"
    how = draw(st.sampled_from(["frame", "frame", "text", "bytes"]))
    if how == "bytes":
        _write_random_file(path, draw(st.binary(max_size=300)))
        return path
    if how == "text":
        lines = draw(st.lists(st.text(max_size=40), max_size=6))
        _write_random_file(path, "\n".join(["id_str,file_loc", *lines]).encode("utf-8", "replace"))
        return path
    frame = draw(catalogs(extra))
    frame.columns = [str(c) for c in frame.columns]
    try:
        with quiet():
            if suffix.startswith(".csv"):
                frame.to_csv(path, index=False)
            elif suffix == ".parquet":
                frame.to_parquet(path, index=False)
            else:
                from astropy.table import Table

                Table.from_pandas(frame).write(
                    path, format={".fits": "fits", ".ecsv": "ascii.ecsv", ".xml": "votable"}[suffix]
                )
    except Exception:  # the writer cannot store this frame: write its CSV text instead
        _write_random_file(path, frame.to_csv(index=False).encode("utf-8", "replace"))
    return path


def test_random_catalog_files_and_validate(garbage_files: list[str], tmp_path: Path) -> None:
    outcomes: Counter = Counter()
    statuses: Counter = Counter()

    @fuzz_settings(250)
    @given(path=catalog_files(tmp_path, garbage_files),
           schema=st.sampled_from([None, "gz2-no-odd", "gz2"]))
    def check(path: Path, schema: str | None) -> None:
        try:
            with quiet():
                loaded = load_catalog(path, schema)
        except GalmorphError as err:
            outcomes[expect_galmorph_error(err)] += 1
        else:
            check_loaded(loaded, with_votes=False)
            outcomes["loaded"] += 1
        with quiet():  # the command line: a status, never a traceback
            status = main(["validate", str(path), "--schema", schema or "gz2"])
        assert status in (0, 1, 2)
        statuses[f"validate exit {status}"] += 1

    check()
    report("catalog files", outcomes, 150)
    print(f"galmorph validate: {dict(statuses)}")


# ------------------------------------------------------------- predict
def test_random_catalogs_to_predict(
    garbage_files: list[str], untrained_model: Path, tmp_path: Path
) -> None:
    loaded_model = load_model(untrained_model)
    outcomes: Counter = Counter()
    fast = {"num_workers": 0, "progress": False, "device": "cpu", "batch_size": 4}

    not_images = [p for p in garbage_files if Path(p).is_file()]  # inference must reject them

    @fuzz_settings(60)
    @given(frame=catalogs(not_images), via_cli=st.booleans())
    def check(frame: pd.DataFrame, via_cli: bool) -> None:
        if via_cli:  # the catalog as a CSV file, through galmorph predict
            frame.columns = [str(c) for c in frame.columns]
            source = tmp_path / f"predict-{next(_serial)}.csv"
            frame.to_csv(source, index=False)
            out = source.with_suffix(".out.parquet")
            with quiet():
                status = main(["predict", str(source), "-m", str(untrained_model), "-o", str(out),
                               "--num-workers", "0", "--device", "cpu", "--no-progress"])
            assert status in (0, 2)
            assert out.exists() == (status == 0)
            outcomes[f"cli exit {status}"] += 1
            return
        try:
            with quiet():
                table = predict_catalog(frame, loaded_model, **fast)
        except GalmorphError as err:
            outcomes[expect_galmorph_error(err)] += 1
        else:
            assert table["id_str"].is_unique and len(table) > 0
            assert np.isfinite(table.drop(columns="id_str").to_numpy(dtype=np.float64)).all()
            outcomes["predicted"] += 1

    check()
    report("predict", outcomes, 40)
    assert outcomes["predicted"] and outcomes["ImageError"]  # both paths were exercised
