"""The web app end to end in real headless Chromium (Debian's ``chromium``, driven by Playwright).

A live uvicorn server serves 40 bundled galaxies (tiny model embeddings), one
of them renamed to an id full of HTML. Outside CI the tests are skipped when
Chromium or Playwright is missing; in CI (``CI`` set) that is a failure, since
``make test`` installs both.
"""

from __future__ import annotations

import http.client
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from galmorph.anomaly.labels import LabelStore
from galmorph.cli import main
from galmorph.web.app import create_app
from galmorph.web.gallery import Gallery

pytestmark = pytest.mark.browser

CHROMIUM = os.environ.get("GALMORPH_CHROMIUM", "/usr/bin/chromium")
MARKUP_ID = '<img src=x onerror="window.hacked=1">&amp;<b>bold</b>'


def _require_browser() -> None:
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


@pytest.fixture(scope="module")
def site(web_files: dict[str, Path], tmp_path_factory: pytest.TempPathFactory
         ) -> Iterator[dict[str, object]]:
    """A live server on a free port: its URL, session file and galaxy ids."""
    _require_browser()
    import uvicorn

    root = tmp_path_factory.mktemp("site")
    table = pq.read_table(web_files["embeddings"])
    ids = table["id_str"].to_pylist()
    ids[1] = MARKUP_ID
    column = table.schema.get_field_index("id_str")
    table = table.set_column(column, "id_str", pa.array(ids))
    pq.write_table(table, root / "emb.parquet")
    session = root / "hunt.db"
    gallery = Gallery(root / "emb.parquet", session=session, batch_size=4)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(gallery), host="127.0.0.1", port=port,
                                           log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline, "the server did not start"
        time.sleep(0.05)
    yield {"url": f"http://127.0.0.1:{port}", "port": port, "session": session, "ids": ids,
           "root": web_files["root"]}
    server.should_exit = True
    thread.join(10)
    gallery.close()


@pytest.fixture(scope="module")
def browser(site: dict[str, object]) -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                             args=["--no-sandbox"])
        yield browser
        browser.close()


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


def test_traversal_paths_get_404(site: dict[str, object]) -> None:
    for path in ("/images/../../etc/passwd", "/images/..%2F..%2Fetc%2Fpasswd",
                 "/static/../../../etc/passwd", "/images//etc/passwd"):
        connection = http.client.HTTPConnection("127.0.0.1", site["port"], timeout=10)
        connection.request("GET", path)  # sent as written: no client-side normalisation
        answer = connection.getresponse()
        assert answer.status == 404, path
        assert b"root:" not in answer.read()
        connection.close()


def test_browse_and_search(page: object, site: dict[str, object]) -> None:
    from playwright.sync_api import expect

    page.goto(site["url"] + "/")
    cards = page.locator("#browse-grid .card")
    expect(cards).to_have_count(40)
    expect(page.locator("#page-info")).to_contain_text("40 galaxies")
    markup = page.locator("#browse-grid .card .id").nth(1)
    expect(markup).to_have_text(MARKUP_ID)  # shown as text, never run as HTML
    assert page.evaluate("window.hacked") is None
    assert page.locator("#browse-grid b").count() == 0
    expect(page.locator("#browse-grid img").first).to_have_js_property("naturalWidth", 128)

    cards.nth(5).click()  # a galaxy's neighbours
    expect(page.locator("#search-query .card .id")).to_have_text(site["ids"][5])
    expect(page.locator("#search-grid .card")).to_have_count(12)
    found = page.locator("#search-grid .card .id").all_text_contents()
    assert site["ids"][5] not in found

    page.fill("#search-id", site["ids"][9])
    page.fill("#search-k", "5")
    page.click("#search-form button")
    expect(page.locator("#search-query .card .id")).to_have_text(site["ids"][9])
    expect(page.locator("#search-grid .card")).to_have_count(5)

    page.fill("#search-id", "no-such-galaxy")
    page.click("#search-form button")
    expect(page.locator("#error")).to_contain_text("no-such-galaxy")

    catalog = pd.read_csv(site["root"] / "catalog.csv", dtype={"id_str": str})
    page.set_input_files("#upload-file", str(site["root"] / catalog["file_loc"][7]))
    page.click("#upload-form button")
    expect(page.locator("#search-grid .card .id").first).to_have_text(site["ids"][7])


def test_demo_report_renders(browser: object, demo_subset: Callable[[], Path],
                             tmp_path: Path) -> None:
    """The demo's report, opened from disk: every figure decodes, nothing is fetched."""
    out = tmp_path / "demo"
    assert main(["demo", "--data", str(demo_subset()), "--out", str(out), "--epochs", "2",
                 "--anomaly-labels", "12", "--ring-labels", "5", "--device", "cpu"]) == 0
    context = browser.new_context(viewport={"width": 1200, "height": 900})
    page = context.new_page()
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    page.goto((out / "report.html").as_uri())
    images = page.locator("img")
    assert images.count() == 5
    widths = page.eval_on_selector_all("img", "nodes => nodes.map(n => n.naturalWidth)")
    assert all(width > 200 for width in widths), widths
    assert page.locator("h2").count() >= 5 and page.locator("table").count() >= 3
    assert all(url.startswith(("file:", "data:")) for url in requests), requests
    page.screenshot(path=str(out / "report.png"), full_page=True)
    context.close()


def test_label_with_the_keyboard_retrain_and_reload(page: object, site: dict[str, object]
                                                    ) -> None:
    from playwright.sync_api import expect

    page.goto(site["url"] + "/#label")
    cards = page.locator("#label-grid .card")
    expect(cards).to_have_count(4)
    batch = cards.locator(".id").all_text_contents()
    for key in "5031":
        page.keyboard.press(key)
    expect(page.locator("#label-grid .card.scored")).to_have_count(4)
    expect(page.locator("#label-info")).to_contain_text("4 labels")
    for _ in range(3):
        page.keyboard.press("ArrowLeft")
    expect(cards.nth(0)).to_have_class("card scored current")
    page.keyboard.press("4")  # change the first score
    expect(cards.nth(0).locator("button.chosen")).to_have_text("4")

    page.click("#retrain")
    expect(page.locator("#label-status")).to_contain_text("Retrained")
    expect(page.locator("#label-grid .card.scored")).to_have_count(0)
    new_batch = cards.locator(".id").all_text_contents()
    assert len(new_batch) == 4 and not set(new_batch) & set(batch)

    page.reload()
    expect(page.locator("#label-info")).to_contain_text("4 labels")
    expect(page.locator("#label-grid .card .id")).to_have_text(new_batch)
    page.click("nav a[data-tab=ranking]")
    starred = page.locator("#ranking-grid .card", has_text="★")
    expect(starred).to_have_count(4)
    expect(starred.first.locator(".id")).to_have_text(batch[0])  # the highest score given
    with LabelStore.open(site["session"]) as store:  # the same file the CLI uses
        assert store.labels() == dict(zip(batch, (4.0, 0.0, 3.0, 1.0), strict=True))

