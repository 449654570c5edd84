"""Fixtures of the web tests.

Over HTTP (FastAPI's test client): ``gallery``, 40 bundled galaxies with predictions and no
map, and ``client``, the app serving it (uploads up to 200 kB); one of each per test file.

In a browser: Debian's Chromium driven by Playwright (``chromium``, ``browser``), a live
server (``site``: the 40 galaxies, one renamed to ``MARKUP_ID``, with predictions, a labelling
session and a PCA map) and a page of it (``page``, failing its test on any script error).
Outside CI the tests that use them are skipped when Chromium or Playwright is missing; in CI
(``CI`` set) that is a failure, since ``make test`` installs both.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from fastapi.testclient import TestClient

from galmorph.web.app import create_app
from galmorph.web.background import BackgroundServer
from galmorph.web.gallery import Gallery
from galmorph.web.map_view import MapView

CHROMIUM = os.environ.get("GALMORPH_CHROMIUM", "/usr/bin/chromium")


@pytest.fixture(scope="session")
def chromium() -> str:
    """Chromium's path, once it and Playwright are found."""
    missing = []
    if not Path(CHROMIUM).is_file():
        missing.append(f"Chromium at {CHROMIUM} (apt-get install chromium)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        missing.append("the playwright package")
    if missing:
        message = "browser tests need " + " and ".join(missing)
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return CHROMIUM


@pytest.fixture(scope="module")
def browser(chromium: str) -> Iterator[object]:
    """Headless Chromium, for a module's tests."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=chromium, headless=True,
                                              args=["--no-sandbox"])
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def gallery(web_files: dict[str, Path]) -> Gallery:
    gallery = Gallery(web_files["embeddings"], predictions=web_files["predictions"])
    yield gallery
    gallery.close()


@pytest.fixture(scope="module")
def client(gallery: Gallery) -> TestClient:
    return TestClient(create_app(gallery, max_upload=200_000), raise_server_exceptions=False)


# ---------------------------------------------------------------- in a browser
MARKUP_ID = '<img src=x onerror="window.hacked=1">&amp;<b>bold</b>'


@pytest.fixture(scope="module")
def site(web_files: dict[str, Path], tmp_path_factory: pytest.TempPathFactory,
         chromium: str) -> Iterator[dict[str, object]]:
    """A live server on a free port (with predictions and a PCA map): its URL, session file
    and galaxy ids."""
    root = tmp_path_factory.mktemp("site")
    ids = pq.read_table(web_files["embeddings"])["id_str"].to_pylist()
    renamed = {ids[1]: MARKUP_ID}  # in the embeddings and the predictions
    for name in ("embeddings", "predictions"):
        table = pq.read_table(web_files[name])
        column = table.schema.get_field_index("id_str")
        table = table.set_column(column, "id_str", pa.array(
            [renamed.get(i, i) for i in table["id_str"].to_pylist()]))
        pq.write_table(table, root / web_files[name].name)
    ids[1] = MARKUP_ID
    session = root / "hunt.db"
    gallery = Gallery(root / "emb.parquet", predictions=root / "predictions.parquet",
                      session=session, batch_size=4)
    gallery.map_view = MapView.load(gallery, method="pca")
    server = BackgroundServer(create_app(gallery))
    yield {"url": server.url, "port": server.port, "session": session, "ids": ids,
           "root": web_files["root"]}
    server.stop()
    gallery.close()


@pytest.fixture
def page(browser: object) -> Iterator[object]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(20_000)
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("dialog", lambda dialog: errors.append(f"dialog {dialog.message}"))
    yield page
    context.close()
    assert not errors, errors
