"""Fetching cutouts for a catalog of sky positions, from a local service (no network)."""

from __future__ import annotations

import io
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from astropy.io import fits
from tests._cutout_server import CutoutServer, cutout_server

from galmorph.data import cutout_fetch
from galmorph.data.catalog import load_catalog
from galmorph.data.cutout_fetch import image_problem
from galmorph.data.cutout_services import custom_service, get_service
from galmorph.data.cutout_targets import file_names
from galmorph.data.cutouts import download_cutouts
from galmorph.exceptions import CatalogError, GalmorphError, GalmorphWarning

FAST = {"retries": 2, "retry_wait": 0.0, "timeout": 10.0}


@pytest.fixture
def server() -> Iterator[CutoutServer]:
    with cutout_server() as running:
        yield running


def _targets(ids: list[str]) -> pd.DataFrame:
    """Galaxy ``i`` at RA 10 + 2i, Dec -5 + i (degrees), however many there are."""
    return pd.DataFrame({"objid": ids, "RA": 10.0 + 2 * np.arange(len(ids)),
                         "Dec": -5.0 + np.arange(len(ids))})


def _fetch(server: CutoutServer, catalog: pd.DataFrame | Path, out: Path, **options):
    return download_cutouts(catalog, out, service=custom_service(server.template, "jpg"),
                            size=24, id_column=options.pop("id_column", "objid"),
                            **{**FAST, **options})


def test_builtin_services_build_the_urls_of_sdss_and_the_legacy_surveys() -> None:
    sdss = get_service("sdss").url("jpg", ra=150.1, dec=-2.25, size=128, pixel_scale=0.2)
    assert sdss == ("https://skyserver.sdss.org/dr17/SkyServerWS/ImgCutout/getjpeg?"
                    "ra=150.1000000&dec=-2.2500000&scale=0.2&width=128&height=128")
    legacy = get_service("legacy").url("fits", ra=1.0, dec=2.0, size=256, pixel_scale=0.262)
    assert legacy == ("https://www.legacysurvey.org/viewer/cutout.fits?ra=1.0000000"
                      "&dec=2.0000000&layer=ls-dr10&pixscale=0.262&size=256&bands=griz")
    with pytest.raises(GalmorphError, match="gives jpg images, not fits"):
        get_service("sdss").url("fits", ra=1.0, dec=2.0, size=64, pixel_scale=0.4)
    with pytest.raises(GalmorphError, match="known: sdss, legacy"):
        get_service("hst")


@pytest.mark.parametrize(("template", "message"), [
    ("ftp://x.org/c?ra={ra}&dec={dec}", "must start with http"),
    ("https://x.org/c?ra={ra}&dec={dec}&zoom={zoom}", "names zoom, which galmorph does not"),
    ("https://x.org/c?ra={ra}", r"has no \{dec\}"),
    ("https://x.org/c?ra={ra}&dec={dec}&q={", "cannot read the URL template"),
    ("https://x.org/c?ra={ra:.3f}&dec={dec}", r"has \{ra:.3f\}: give each value as"),
    ("https://x.org/c?ra={ra!r}&dec={dec}&{}", r"has \{ra!r\}, \{\}: give each value"),
    ("https://x.org/c?ra={ra}&dec={dec}&q=a b", "has spaces"),
])
def test_url_templates_are_checked_before_any_download(template: str, message: str) -> None:
    with pytest.raises(GalmorphError, match=message):
        custom_service(template, "jpg")


def test_a_catalog_gets_its_images_a_catalog_of_them_and_a_table_of_failures(
        server: CutoutServer, tmp_path: Path) -> None:
    ids = ["J1", "NGC 1300", "missing1", "busy1", "down1", "blank1", "page1"]
    summary = _fetch(server, _targets(ids), tmp_path / "out")
    out = tmp_path / "out"
    assert sorted(p.name for p in (out / "images").iterdir()) == [
        "J1.jpg", "NGC_1300.jpg", "busy1.jpg"]
    assert (summary.downloaded, summary.kept, summary.n_galaxies) == (3, 0, 7)
    assert server.requests["busy1"] == 3  # two busy answers, then the image
    assert server.queries["J1"] == {"ra": "10.0000000", "dec": "-5.0000000", "size": "24"}
    catalog = load_catalog(summary.catalog)  # every command can take it as it is
    assert list(catalog["id_str"]) == ["J1", "NGC 1300", "busy1"]
    assert list(pd.read_csv(summary.catalog)["file_loc"]) == [
        "images/J1.jpg", "images/NGC_1300.jpg", "images/busy1.jpg"]
    failed = pd.read_csv(summary.failed_path).set_index("id_str")
    assert list(failed.index) == ["missing1", "down1", "blank1", "page1"]
    assert failed.at["missing1", "reason"] == "HTTP 404 Not Found: No image here"
    assert failed.at["down1", "reason"].endswith("(after 3 tries)")
    assert "outside the survey's footprint" in failed.at["blank1", "reason"]
    assert failed.at["page1", "reason"] == "not a JPEG image (Service under maintenance)"
    assert list(failed["temporary"]) == [False, True, False, False]
    assert failed.at["missing1", "url"].endswith("/cut/missing1.jpg?ra=14.0000000"
                                                 "&dec=-3.0000000&size=24")


def test_running_again_fetches_only_the_galaxies_without_an_image(
        server: CutoutServer, tmp_path: Path) -> None:
    _fetch(server, _targets(["a1", "b2", "missing3", "down4"]), tmp_path / "out", retries=0)
    summary = _fetch(server, _targets(["a1", "b2", "missing3", "down4", "c5"]),
                     tmp_path / "out", retries=0)
    assert (summary.downloaded, summary.kept, len(summary.failed)) == (1, 2, 2)
    # a lasting failure (404) is not asked again, one that may pass later (500) is
    assert [server.requests[g] for g in ("a1", "missing3", "down4", "c5")] == [1, 1, 2, 1]
    assert summary.failed["reason"][0] == ("HTTP 404 Not Found: No image here (an earlier "
                                           "run; --retry-failed tries again)")
    assert list(pd.read_csv(summary.catalog)["id_str"]) == ["a1", "b2", "c5"]
    again = _fetch(server, _targets(["a1", "b2", "missing3", "down4", "c5"]),
                   tmp_path / "out", retries=0, retry_failed=True)
    assert (server.requests["missing3"], server.requests["a1"]) == (2, 1)
    assert again.failed["reason"][0] == "HTTP 404 Not Found: No image here"


def test_a_run_stopped_part_way_keeps_its_whole_images_and_is_completed_by_the_next(
        server: CutoutServer, tmp_path: Path) -> None:
    def stop(done: int, total: int) -> None:
        if done == 2:
            raise KeyboardInterrupt

    out = tmp_path / "out"
    with pytest.raises(KeyboardInterrupt):
        _fetch(server, _targets([f"g{i}" for i in range(8)]), out, progress=stop, workers=1)
    written = list((out / "images").iterdir())
    assert 2 <= len(written) < 8 and not (out / "catalog.csv").exists()
    assert not list(out.rglob("*.tmp"))
    summary = _fetch(server, _targets([f"g{i}" for i in range(8)]), out)
    assert (summary.kept, summary.downloaded, summary.failed_path) == (len(written),
                                                                       8 - len(written), None)
    assert len(pd.read_csv(summary.catalog)) == 8


def test_failures_are_retried_waiting_twice_as_long_each_time(
        server: CutoutServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    waits: list[float] = []
    monkeypatch.setattr(cutout_fetch, "pause", lambda seconds, stop: waits.append(seconds))
    summary = _fetch(server, _targets(["down1"]), tmp_path / "out", retries=3, retry_wait=0.5)
    assert waits == [0.5, 1.0, 2.0]
    waits.clear()
    _fetch(server, _targets(["after1"]), tmp_path / "after", retries=3, retry_wait=0.5)
    assert waits == [0.25]  # as long as the service's Retry-After asks
    assert summary.catalog is None and summary.failed_path.is_file()
    assert not (tmp_path / "out" / "catalog.csv").exists()


def test_other_settings_or_a_folder_of_other_files_are_refused(
        server: CutoutServer, tmp_path: Path) -> None:
    _fetch(server, _targets(["a1"]), tmp_path / "out")
    with pytest.raises(GalmorphError, match=r"other settings \(size 24, not 48\)"):
        download_cutouts(_targets(["a1"]), tmp_path / "out", id_column="objid",
                         service=custom_service(server.template, "jpg"), size=48)
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("mine")
    with pytest.raises(GalmorphError, match="holds notes.txt"):
        _fetch(server, _targets(["a1"]), tmp_path / "mine")
    with pytest.raises(GalmorphError, match="is a file"):
        _fetch(server, _targets(["a1"]), tmp_path / "mine" / "notes.txt")


def test_a_template_taking_a_pixel_scale_needs_one_and_one_without_takes_none(
        tmp_path: Path) -> None:
    service = custom_service("https://x.org/c?ra={ra}&dec={dec}&s={pixel_scale}", "fits")
    with pytest.raises(GalmorphError, match="give --pixel-scale"):
        download_cutouts(_targets(["a"]), tmp_path, service=service, fmt="fits",
                         id_column="objid")
    with pytest.raises(GalmorphError, match=r"has no \{size\}: the size given would not "
                                            "reach the service"):
        download_cutouts(_targets(["a"]), tmp_path, service=service, fmt="fits",
                         id_column="objid", size=64, pixel_scale="scale")


@pytest.mark.parametrize(("edit", "message"), [
    (lambda f: f.drop(columns="Dec"), "no column 'dec'"),
    (lambda f: f.assign(RA=[10.0, 400.0]), r"'ra' must hold degrees from 0 to 360 but has "
                                           r"1 bad value: row 1 \(b\): 400"),
    (lambda f: f.assign(Dec=[1.0, None]), r"'dec' must hold .* row 1 \(b\): nan"),
    (lambda f: f.assign(objid=["a", "a"]), r"objid must be unique"),
    (lambda f: f.assign(objid=["a b", "a_b"]), "would share an image file: 'a b' and 'a_b'"),
    (lambda f: f.assign(objid=["M31", "m31"]), "would share an image file: 'M31' and 'm31'"),
])
def test_bad_catalogs_are_refused_naming_the_column_and_rows(edit, message: str,
                                                             tmp_path: Path) -> None:
    path = tmp_path / "targets.csv"
    edit(_targets(["a", "b"])).to_csv(path, index=False)
    with pytest.raises(CatalogError, match=message):
        download_cutouts(path, tmp_path / "out", id_column="objid")
    assert not (tmp_path / "out").exists()


def test_file_names_keep_safe_ids_and_replace_the_rest() -> None:
    names = file_names(pd.Series(["J1234+56-7.8", "NGC 1300", ".hidden", "a/b"]))
    assert list(names) == ["J1234+56-7.8", "NGC_1300", "_hidden", "a_b"]


def test_fits_cutouts_are_kept_and_blank_ones_refused(server: CutoutServer,
                                                      tmp_path: Path) -> None:
    template = server.template.replace(".jpg", ".fits")
    summary = download_cutouts(_targets(["fits1"]), tmp_path / "out", fmt="fits",
                               service=custom_service(template, "fits"), size=8,
                               id_column="objid", **FAST)
    with fits.open(tmp_path / "out" / "images" / "fits1.fits") as hdus:
        assert hdus[0].data.shape == (3, 8, 8)
    assert summary.failed_path is None
    for blank in (np.zeros((4, 4)), np.full((4, 4), np.nan)):
        buffer = io.BytesIO()
        fits.PrimaryHDU(blank).writeto(buffer)
        assert "blank image" in str(image_problem(buffer.getvalue(), "fits"))
    assert str(image_problem(b"", "jpg")) == "the service answered with an empty file"


def test_answers_of_the_wrong_format_cut_short_or_odd_fail_that_galaxy_alone(
        server: CutoutServer, tmp_path: Path) -> None:
    summary = _fetch(server, _targets(["fits1", "png1", "cut1", "nanwait1", "trunc1", "ok1"]),
                     tmp_path / "out", retries=1)
    failed = summary.failed.set_index("id_str")
    assert failed.at["fits1", "reason"] == "not a JPEG image (the service sent FITS)"
    assert failed.at["png1", "reason"] == "not a JPEG image (the service sent PNG)"
    assert failed.at["cut1", "reason"].startswith("HTTP 503 Service Unavailable")
    assert failed.at["cut1", "reason"].endswith("(after 2 tries)")
    assert failed.at["trunc1", "reason"].startswith("the JPEG image ends early")
    assert list(failed["temporary"]) == [False, False, True, True]
    half = _fetch(server, _targets(["half1"]), tmp_path / "half", retries=1)
    assert half.failed["reason"][0].startswith("the answer ended ")  # short of its length
    assert half.failed["temporary"][0] and server.requests["half1"] == 2  # tried again
    assert sorted(p.name for p in (tmp_path / "out" / "images").iterdir()) == [
        "nanwait1.jpg", "ok1.jpg"]  # Retry-After: nan is no wait, not a crash


def test_each_try_has_the_timeout_in_all_and_answers_have_a_size_limit(
        server: CutoutServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    began = time.monotonic()
    summary = _fetch(server, _targets(["slow1", "stall1"]), tmp_path / "slow", timeout=0.3,
                     retries=0)
    assert time.monotonic() - began < 4.5  # the stalled service is left after 0.3 s, not 5
    assert summary.failed["reason"].tolist() == [
        "no complete answer within 0.3 s (after 1 try)"] * 2
    monkeypatch.setattr(cutout_fetch, "MAX_BYTES", 100)
    summary = _fetch(server, _targets(["big1"]), tmp_path / "big")
    assert summary.failed["reason"].str.startswith("the answer is over").all()
    assert not summary.failed["temporary"].any()


def _failing(error: OSError):
    """A stand-in for ``urlopen`` that raises ``error``."""
    def urlopen(*args, **kwargs):
        raise error
    return urlopen


@pytest.mark.parametrize("timeout_error", [TimeoutError("timed out"),
                                           urllib.error.URLError(TimeoutError("timed out"))])
def test_a_socket_timeout_is_the_tries_time_running_out(
        timeout_error: OSError, monkeypatch: pytest.MonkeyPatch) -> None:
    """On a busy machine the request's own socket timeout can end before the watcher
    looks: the reason is the same either way (it was a flaky CI failure)."""
    monkeypatch.setattr(urllib.request, "urlopen", _failing(timeout_error))
    with pytest.raises(cutout_fetch.CutoutFailure) as failure:
        cutout_fetch.fetch_cutout("http://localhost/a.jpg", timeout=0.3, retries=0,
                                  retry_wait=0.0)
    assert str(failure.value) == "no complete answer within 0.3 s (after 1 try)"
    assert failure.value.temporary
    refused = urllib.error.URLError(ConnectionRefusedError("refused"))
    monkeypatch.setattr(urllib.request, "urlopen", _failing(refused))
    with pytest.raises(cutout_fetch.CutoutFailure, match=r"no answer \(ConnectionRefused"):
        cutout_fetch.fetch_cutout("http://localhost/a.jpg", timeout=0.3, retries=0,
                                  retry_wait=0.0)


def test_an_image_is_kept_only_when_it_came_from_the_url_this_run_would_fetch(
        server: CutoutServer, tmp_path: Path) -> None:
    out = tmp_path / "out"
    _fetch(server, _targets(["a1", "b2"]), out)
    moved = _targets(["a1", "b2"]).assign(RA=[10.0, 33.0])  # b2's position corrected
    summary = _fetch(server, moved, out)
    assert (summary.kept, summary.downloaded) == (1, 1)
    assert (server.requests["a1"], server.requests["b2"]) == (1, 2)
    assert server.queries["b2"]["ra"] == "33.0000000"
    (out / "images" / "a1.jpg").unlink()
    (out / "images" / "a1.jpg").write_bytes((out / "images" / "b2.jpg").read_bytes())
    (out / "sources.csv").write_text("file,url\nimages/b2.jpg,http://elsewhere\n")
    summary = _fetch(server, moved, out)  # files not known to come from their URL
    assert (summary.kept, summary.downloaded) == (0, 2)
    sources = pd.read_csv(out / "sources.csv")
    assert list(sources["file"]) == ["images/a1.jpg", "images/b2.jpg"]
    assert sources["url"].str.contains("/cut/b2.jpg?ra=33.0000000", regex=False).tolist() == [
        False, True]


def test_ids_that_lost_digits_in_exponent_form_are_warned_of(server: CutoutServer,
                                                              tmp_path: Path) -> None:
    with pytest.warns(GalmorphWarning, match="exponent form, which lost their last digits"):
        _fetch(server, _targets(["1.23765E+18"]), tmp_path / "out")


def test_a_column_gives_each_galaxy_its_own_pixel_scale(server: CutoutServer,
                                                        tmp_path: Path) -> None:
    template = server.template + "&scale={pixel_scale}"
    targets = _targets(["a1", "b2"]).assign(PIXSCALE=[0.262, 0.5])
    summary = download_cutouts(targets, tmp_path / "out", id_column="objid", size=24,
                               service=custom_service(template, "jpg"),
                               pixel_scale="pixscale", **FAST)
    assert (server.queries["a1"]["scale"], server.queries["b2"]["scale"]) == ("0.262", "0.5")
    assert summary.settings["pixel_scale"] == "PIXSCALE"  # as the catalog names it
    assert summary.failed_path is None
    again = download_cutouts(targets, tmp_path / "out", id_column="objid", size=24,
                             service=custom_service(template, "jpg"), pixel_scale="PixScale")
    assert (again.kept, again.downloaded) == (2, 0)  # the same column, named in another case
    with pytest.raises(CatalogError, match=r"'PIXSCALE' must hold arcsec per pixel above 0, "
                                           r"but has 1 bad value: row 1 \(b2\): -1"):
        download_cutouts(targets.assign(PIXSCALE=[0.2, -1]), tmp_path / "new",
                         id_column="objid", service=custom_service(template, "jpg"), size=24,
                         pixel_scale="pixscale")
    with pytest.raises(CatalogError, match="has no column 'scale' .the pixel scale."):
        download_cutouts(targets, tmp_path / "new", id_column="objid", size=24,
                         service=custom_service(template, "jpg"), pixel_scale="scale")
    assert not (tmp_path / "new").exists()


def test_a_damaged_log_costs_only_the_images_of_its_damaged_lines(tmp_path: Path) -> None:
    from galmorph.data.cutout_log import SourceLog

    path = tmp_path / "sources.csv"
    path.write_text('file,url\nimages/a.jpg,http://a\n"\nimages/b.jpg,http://b\n'
                    "images/c.jpg,http://c\nimages/d.jpg,http://d")  # cut short by a stop
    log = SourceLog(path)
    assert log.matches("images/a.jpg", "http://a") and log.matches("images/c.jpg", "http://c")
    log.record("images/e.jpg", "http://e")
    assert SourceLog(path).sources == {"images/a.jpg": "http://a", "images/b.jpg": "http://b",
                                       "images/c.jpg": "http://c", "images/d.jpg": "http://d",
                                       "images/e.jpg": "http://e"}
    path.write_text("")
    log = SourceLog(path)
    log.record("images/a.jpg", "http://a")
    assert path.read_text() == "file,url\nimages/a.jpg,http://a\n"
