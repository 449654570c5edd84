"""``galmorph serve`` given files that do not match: predictions or catalogs of other
galaxies, images that moved, a busy port, and a host meaning every address."""

from __future__ import annotations

import socket
import warnings
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

import galmorph.cli.serve as serve_cli
from galmorph.cli import main
from galmorph.exceptions import GalmorphError, GalmorphWarning
from galmorph.web.app import create_app
from galmorph.web.background import BackgroundServer
from galmorph.web.gallery import Gallery


def _renamed_predictions(web_files: dict[str, Path], path: Path, keep: int | None = None,
                         prefix: str = "") -> Path:
    """The predictions with ``prefix`` before every id, or only their first ``keep`` rows."""
    frame = pd.read_parquet(web_files["predictions"])
    frame["id_str"] = prefix + frame["id_str"].astype(str)
    frame.head(keep).to_parquet(path, index=False)
    return path


def _quiet_gallery(embeddings: Path, **kwargs: object) -> Gallery:
    with warnings.catch_warnings():
        warnings.simplefilter("error", GalmorphWarning)
        return Gallery(embeddings, **kwargs)


def test_the_40_galaxies_load_without_warnings(web_files: dict[str, Path]) -> None:
    _quiet_gallery(web_files["embeddings"], predictions=web_files["predictions"],
                   catalog=web_files["catalog"]).close()


def test_predictions_of_other_galaxies_are_refused_naming_both_files(
        web_files: dict[str, Path], tmp_path: Path) -> None:
    other = _renamed_predictions(web_files, tmp_path / "other.parquet", prefix="other-")
    with pytest.raises(GalmorphError, match=rf"predictions file {other} shares no id_str with "
                                            rf"{web_files['embeddings']} \(its ids are e.g. "
                                            r"'other-"):
        Gallery(web_files["embeddings"], predictions=other)


def test_predictions_of_some_galaxies_warn_with_the_count(web_files: dict[str, Path],
                                                         tmp_path: Path) -> None:
    half = _renamed_predictions(web_files, tmp_path / "half.parquet", keep=15)
    with pytest.warns(GalmorphWarning, match=r"half.parquet lacks 25 of the 40 galaxies .*"
                                             "without predicted morphology"):
        gallery = Gallery(web_files["embeddings"], predictions=half)
    assert gallery.page(per_page=40, where="bar >= 0")["total"] == 15
    gallery.close()


def test_a_catalog_of_some_galaxies_warns(web_files: dict[str, Path], tmp_path: Path) -> None:
    frame = pd.read_csv(web_files["catalog"]).head(30)
    frame["file_loc"] = [str(web_files["root"] / p) for p in frame["file_loc"]]
    frame.to_csv(tmp_path / "part.csv", index=False)
    with pytest.warns(GalmorphWarning, match="part.csv lacks 10 of the 40 galaxies"):
        Gallery(web_files["embeddings"], catalog=tmp_path / "part.csv").close()


@pytest.mark.parametrize("name", ["missing.parquet", "folder"])
def test_a_missing_predictions_file_is_called_predictions(web_files: dict[str, Path],
                                                         tmp_path: Path, name: str) -> None:
    (tmp_path / "folder").mkdir()
    with pytest.raises(GalmorphError, match=rf"^predictions {tmp_path / name} (does not exist|"
                                            "is a folder)"):
        Gallery(web_files["embeddings"], predictions=tmp_path / name)


def test_images_that_moved_are_said_at_start_and_not_shown(web_files: dict[str, Path],
                                                           tmp_path: Path) -> None:
    table = pq.read_table(web_files["embeddings"])
    moved = [str(tmp_path / "gone" / Path(p).name) for p in table["file_loc"].to_pylist()]
    moved[3] = table["file_loc"][3].as_py()  # one is still there
    table = table.set_column(table.schema.get_field_index("file_loc"), "file_loc",
                             pa.array(moved))
    pq.write_table(table, tmp_path / "emb.parquet")
    with pytest.warns(GalmorphWarning, match=r"39 of the 40 image files checked are missing "
                                             rf"\(e.g. {tmp_path / 'gone'}.*--catalog CATALOG"):
        gallery = Gallery(tmp_path / "emb.parquet")
    galaxies = TestClient(create_app(gallery)).get("/api/galaxies").json()["galaxies"]
    assert [g["has_image"] for g in galaxies] == [i == 3 for i in range(40)]
    gallery.close()


def test_a_background_server_says_why_it_cannot_listen() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(GalmorphError, match=f"did not start on 127.0.0.1:{port}: port "
                                                f"{port} on 127.0.0.1 is in use: choose another "
                                                "with port"):
            BackgroundServer(FastAPI(), port=port, timeout=10)
    with pytest.raises(GalmorphError, match="host no-such-host.invalid: cannot listen there"):
        BackgroundServer(FastAPI(), host="no-such-host.invalid", timeout=10)


def test_every_address_is_served_with_an_address_a_browser_opens(
        web_files: dict[str, Path], monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    import uvicorn

    calls = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kwargs: calls.append(kwargs))
    monkeypatch.setattr(serve_cli, "check_can_listen", lambda host, port: port)
    assert main(["serve", str(web_files["embeddings"]), "--host", "0.0.0.0", "--port", "8123",
                 "--no-map"]) == 0
    out = capsys.readouterr().out
    assert calls[0]["host"] == "0.0.0.0"
    assert "galaxies at http://127.0.0.1:8123/" in out and "http://0.0.0.0" not in out
    assert f"other computers on the network can open these pages, at http://" \
           f"{socket.gethostname()}:8123/" in " ".join(out.split())
