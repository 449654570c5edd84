"""``galmorph cutouts``: a catalog of positions to images other commands take."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from tests._cutout_server import cutout_server

from galmorph.cli import main


def _targets(path: Path, ids: list[str]) -> Path:
    pd.DataFrame({"ID": ids, "ra": [150.0 + i for i in range(len(ids))],
                  "dec": [2.0] * len(ids)}).to_csv(path, index=False)
    return path


def test_cutouts_then_validate_and_the_exit_status_says_whether_some_failed(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    targets = _targets(tmp_path / "targets.csv", ["g1", "g2", "missing3"])
    out = tmp_path / "cut"
    with cutout_server() as server:
        options = ["--url", server.template + "&s={pixel_scale}", "--size", "32",
                   "--pixel-scale", "0.25",
                   "--id-column", "id", "--no-progress"]
        status = main(["cutouts", str(targets), "-o", str(out), *options])
        captured = capsys.readouterr()
        assert status == 1
        assert "Fetched 2 images from 127.0.0.1" in captured.out
        assert "(jpg, 32 px at 0.25 arcsec/px: 8 arcsec across)" in captured.out
        assert f"Catalog: {out / 'catalog.csv'} (2 of 3 galaxies with an image)" in " ".join(
            captured.out.split())
        assert ("1 of 3 galaxies have no image, listed with the reason in "
                f"{out / 'failed.csv'} (e.g. missing3: HTTP 404") in " ".join(captured.err.split())
        assert "run the same command again" not in captured.err  # a 404 stays a 404

        _targets(targets, ["g1", "g2"])  # the galaxy without an image taken out
        grid = tmp_path / "sheet.png"
        assert main(["cutouts", str(targets), "-o", str(out), *options, "--grid",
                     str(grid)]) == 0
        printed = capsys.readouterr().out
        assert "Fetched 0 images" in printed and server.requests["g1"] == 1
        assert f"Drew the first galaxies with an image in {grid}" in " ".join(printed.split())
        assert grid.stat().st_size > 1000
        assert not (out / "failed.csv").exists()
    assert main(["validate", str(out / "catalog.csv")]) == 0
    assert "Ready to use: 2 galaxies" in capsys.readouterr().out


@pytest.mark.parametrize(("options", "message"), [
    (["--service", "sdss", "--format", "fits"], "the sdss service gives jpg images, not fits"),
    (["--url", "https://x.org/c?ra={ra}&dec={dec}&zoom={zoom}"], "names zoom"),
    (["--service", "legacy", "--id-column", "name"], "has no column 'name'"),
    (["--service", "legacy", "--grid", "sheet.txt"], "cannot draw sheet.txt"),
])
def test_cutouts_refuses_bad_options_with_one_error_line(
        options: list[str], message: str, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    targets = _targets(tmp_path / "targets.csv", ["g1"])
    assert main(["cutouts", str(targets), "-o", str(tmp_path / "out"), *options]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert err.startswith("error:") and message in err
    assert not (tmp_path / "out").exists()


def test_cutouts_with_each_galaxys_pixel_scale_from_a_column(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    targets = tmp_path / "targets.csv"
    pd.DataFrame({"id_str": ["g1", "g2"], "ra": [1.0, 2.0], "dec": [0.0, 0.0],
                  "scale": [0.2, 0.4]}).to_csv(targets, index=False)
    with cutout_server() as server:
        status = main(["cutouts", str(targets), "-o", str(tmp_path / "out"), "--url",
                       server.template + "&s={pixel_scale}", "--size", "16",
                       "--pixel-scale-column", "scale", "--no-progress"])
        assert status == 0 and server.queries["g2"]["s"] == "0.4"
    assert "(jpg, 16 px, arcsec/px from column scale)" in capsys.readouterr().out


def test_legacy_galaxies_without_images_north_of_dr10_are_pointed_to_dr9(
        tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    from dataclasses import replace

    from galmorph.data.cutout_services import SERVICES

    targets = tmp_path / "targets.csv"
    pd.DataFrame({"id_str": ["g1", "blank2", "blank3"], "ra": [1.0, 2.0, 3.0],
                  "dec": [10.0, 50.0, 20.0]}).to_csv(targets, index=False)
    with cutout_server() as server:  # the legacy service, answered locally
        monkeypatch.setitem(SERVICES, "legacy", replace(SERVICES["legacy"],
                                                        urls={"jpg": server.template}))
        assert main(["cutouts", str(targets), "-o", str(tmp_path / "out"), "--service",
                     "legacy", "--no-progress"]) == 1
    err = " ".join(capsys.readouterr().err.split())
    assert "2 of 3 galaxies have no image" in err
    assert "1 of them lie north of Dec +32.375, where DR10 has no images" in err
    assert "layer=ls-dr9" in err


def test_a_machine_without_network_is_told_so(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    import socket

    def no_dns(*args: object, **kwargs: object) -> None:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", no_dns)
    targets = _targets(tmp_path / "targets.csv", ["g1", "g2"])
    status = main(["cutouts", str(targets), "-o", str(tmp_path / "cut"), "--service", "legacy",
                   "--id-column", "id", "--no-progress"])  # 3 retries by default: not used
    err = " ".join(capsys.readouterr().err.split())
    assert status == 1
    assert ("(e.g. g1: cannot look up the service's address (Name or service not known) "
            "(after 1 try)); this machine cannot reach the service: check its internet "
            "connection") in err
    assert "again later" not in err
