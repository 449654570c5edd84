"""``galmorph serve`` and the server's guards: where it listens and to which names, the map
it computes before listening, errors without stack traces, a catalog sharing no galaxy."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from fastapi.testclient import TestClient

import galmorph.cli.serve as serve_cli
from galmorph.cli import main
from galmorph.web.app import create_app
from galmorph.web.gallery import Gallery


def test_internal_errors_have_no_stack_trace(gallery: Gallery, monkeypatch: pytest.MonkeyPatch
                                             ) -> None:
    def broken(*args: object) -> None:
        raise RuntimeError("secret detail")

    monkeypatch.setattr(gallery, "page", broken)
    answer = TestClient(create_app(gallery), raise_server_exceptions=False).get("/api/galaxies")
    assert answer.status_code == 500
    assert answer.json() == {"detail": "internal error (RuntimeError)"}


def test_catalog_without_common_galaxies_is_refused(web_files: dict[str, Path],
                                                    tmp_path: Path) -> None:
    frame = pd.read_csv(web_files["catalog"])
    frame["id_str"] = "other-" + frame["id_str"].astype(str)
    frame["file_loc"] = [str(web_files["root"] / p) for p in frame["file_loc"]]
    frame.to_csv(tmp_path / "other.csv", index=False)
    with pytest.raises(Exception, match="shares no id_str"):
        Gallery(web_files["embeddings"], catalog=tmp_path / "other.csv")


def test_serve_command_binds_locally(web_files: dict[str, Path], monkeypatch: pytest.MonkeyPatch,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    import uvicorn

    calls = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kwargs: calls.append(kwargs))
    monkeypatch.setattr(serve_cli, "check_can_listen", lambda host, port: port)
    assert main(["serve", str(web_files["embeddings"]), "--port", "8123",
                 "--map-method", "pca"]) == 0
    assert calls[0]["host"] == "127.0.0.1" and calls[0]["port"] == 8123
    assert "http://127.0.0.1:8123/" in capsys.readouterr().out
    assert main(["serve", str(web_files["embeddings"]), "--host", "0.0.0.0", "--no-map"]) == 0
    assert "other computers" in capsys.readouterr().out
    assert main(["serve", str(web_files["root"] / "missing.parquet")]) == 2


def test_a_local_server_answers_to_local_names_only(
        web_files: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    import uvicorn

    apps = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kwargs: apps.append(app))
    monkeypatch.setattr(serve_cli, "check_can_listen", lambda host, port: port)
    for host in ("127.0.0.1", "0.0.0.0"):
        assert main(["serve", str(web_files["embeddings"]), "--host", host, "--no-map"]) == 0
    local, everywhere = (TestClient(app, base_url="http://127.0.0.1:8000") for app in apps)
    for name in ("127.0.0.1:8000", "localhost:8000", "[::1]:8000", "LOCALHOST"):
        assert local.get("/api/info", headers={"host": name}).status_code == 200, name
    # another site's name pointing here (DNS rebinding) is not this server's
    refused = local.get("/api/info", headers={"host": "attacker.example:8000"})
    assert refused.status_code == 400 and "not attacker.example" in refused.json()["detail"]
    assert local.get("/api/info", headers={"host": "[::1"}).status_code == 400  # malformed
    assert everywhere.get("/api/info", headers={"host": "galaxies.lab:8000"}).status_code == 200


def test_serve_computes_the_map_before_it_listens(
        web_files: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    import shutil

    import uvicorn

    from galmorph.inference.maps import map_path

    emb = tmp_path / "emb.parquet"
    shutil.copyfile(web_files["embeddings"], emb)
    apps = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kwargs: apps.append(app))
    monkeypatch.setattr(serve_cli, "check_can_listen", lambda host, port: port)
    assert main(["serve", str(emb), "--map-method", "pca"]) == 0
    out = capsys.readouterr().out
    assert "computing the PCA map of 40 galaxies" in out and map_path(emb).is_file()
    assert out.index("computing") < out.index("http://127.0.0.1:8000/")
    local = "http://127.0.0.1:8000"  # the server answers to local names only
    assert TestClient(apps[0], base_url=local).get("/api/map/info").json()["count"] == 40
    assert main(["serve", str(emb)]) == 0  # auto: the cached map
    assert "computing" not in capsys.readouterr().out
    assert main(["serve", str(emb), "--no-map"]) == 0
    assert TestClient(apps[2], base_url=local).get("/api/map/info").status_code == 409
