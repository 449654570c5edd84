"""Atomic table output (galmorph.inference.outputs): formats, metadata and failed writes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from galmorph.data.table_files import read_table
from galmorph.exceptions import GalmorphError
from galmorph.inference import outputs
from galmorph.inference.outputs import read_metadata, write_table


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
    sidecar = [path.with_name("out.csv.meta.json")] if suffix == ".csv" else []
    assert sorted(tmp_path.joinpath("sub").iterdir()) == [path, *sidecar]
    if suffix == ".parquet":
        import pyarrow.parquet as pq

        back = pd.read_parquet(path)
        assert pq.read_schema(path).metadata[b"galmorph_model"] == b"gz2-starter"
    elif suffix == ".csv":
        assert path.read_text().startswith("id_str,x_fraction\n")
        back = pd.read_csv(path, dtype={"id_str": str})
    else:
        from astropy.io import fits

        header = fits.getheader(path, 1)
        assert header["galmorph_model"] == "gz2-starter"  # a keyword, as astropy reads it
        assert "galmorph_model_sha256" not in header  # too long for one card: HISTORY only
        back = read_table(path)  # decodes FITS text columns
    assert back["id_str"].tolist() == ["J1", "J2", "007"]
    np.testing.assert_allclose(back["x_fraction"], frame["x_fraction"])


def test_unknown_extension_fails_before_writing(tmp_path: Path, frame: pd.DataFrame) -> None:
    for name in ("out.txt", "out"):
        with pytest.raises(GalmorphError, match=r"\.parquet, \.csv, \.ecsv or \.fits"):
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


def test_bad_arguments_are_named(tmp_path: Path, frame: pd.DataFrame) -> None:
    with pytest.raises(TypeError, match="writes a pandas DataFrame, not a list"):
        write_table([1, 2], tmp_path / "t.csv")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="metadata must be a mapping"):
        write_table(frame, tmp_path / "t.csv", "abc")  # type: ignore[arg-type]
    folder = tmp_path / "table.parquet"
    folder.mkdir()
    with pytest.raises(GalmorphError, match=r"table\.parquet: it is a folder; name the output "
                                            r"file, e\.g\. .*table\.parquet/predictions"):
        write_table(frame, folder)
    assert list(folder.iterdir()) == [] and not list(tmp_path.glob(".*.tmp"))


def test_a_path_under_the_home_folder_may_start_with_a_tilde(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, catalog: pd.DataFrame,
    model_path: Path,
) -> None:
    from galmorph.data.catalog import load_catalog, read_catalog
    from galmorph.inference.embed import embed_to_file
    from galmorph.inference.embeddings import read_embeddings

    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.chdir(tmp_path.parent)  # where a folder named ~ would appear
    table = pd.DataFrame({"id_str": ["a"], "x": [1.5]})
    write_table(table, "~/out/t.parquet", {"note": "home"})
    assert read_metadata("~/out/t.parquet")["note"] == "home"
    assert read_table("~/out/t.parquet")["x"].tolist() == [1.5]
    catalog.to_csv(tmp_path / "catalog.csv", index=False)
    assert read_catalog("~/catalog.csv")["id_str"].tolist() == catalog["id_str"].tolist()
    assert len(load_catalog("~/catalog.csv")) == len(catalog)
    embed_to_file("~/catalog.csv", "~/emb.parquet", model_path, views=1,
                  num_workers=0, progress=False)
    assert len(read_embeddings("~/emb.parquet").ids) == len(catalog)
    assert not list(Path.cwd().glob("~*"))
