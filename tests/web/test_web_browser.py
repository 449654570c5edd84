"""The web app end to end in real headless Chromium (Debian's ``chromium``, driven by Playwright).

A live uvicorn server serves 40 bundled galaxies (tiny model embeddings), one
of them renamed to an id full of HTML. Outside CI the tests are skipped when
Chromium or Playwright is missing; in CI (``CI`` set) that is a failure, since
``make test`` installs both.
"""

from __future__ import annotations

import http.client
import re
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import parse_qs, quote, urlparse

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from astropy.io import fits
from PIL import Image

from galmorph.anomaly.labels import LabelStore
from galmorph.web.app import create_app
from galmorph.web.background import BackgroundServer
from galmorph.web.gallery import NO_LABELS, Gallery
from galmorph.web.map_view import MapView, inside_polygon, parse_polygon

pytestmark = pytest.mark.browser

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


def test_traversal_paths_get_404(site: dict[str, object]) -> None:
    for path in ("/images/../../etc/passwd", "/images/..%2F..%2Fetc%2Fpasswd",
                 "/static/../../../etc/passwd", "/images//etc/passwd"):
        connection = http.client.HTTPConnection("127.0.0.1", site["port"], timeout=10)
        connection.request("GET", path)  # sent as written: no client-side normalisation
        answer = connection.getresponse()
        assert answer.status == 404, path
        assert b"root:" not in answer.read()
        connection.close()


def test_browse_and_search(page: object, site: dict[str, object], tmp_path: Path) -> None:
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
    expect(page.locator("#search-query .card a")).to_have_attribute(  # every card links its page
        "href", "/galaxy/" + quote(site["ids"][5], safe=""))
    page.locator("#search-grid .card .card-main").first.focus()  # the keyboard's way in
    page.keyboard.press("Enter")
    expect(page.locator("#search-query .card .id")).to_have_text(found[0])

    page.fill("#search-id", site["ids"][9])
    page.fill("#search-k", "5")
    page.click("#search-form button")
    expect(page.locator("#search-query .card .id")).to_have_text(site["ids"][9])
    expect(page.locator("#search-grid .card")).to_have_count(5)
    address = urlparse(page.url)
    assert address.query == "k=5" and address.fragment == "search/" + quote(site["ids"][9], safe="")
    with page.expect_download() as download:  # the results as a table, made in the page
        page.click("#search-export")
    assert download.value.suggested_filename == f"similar-to-{site['ids'][9]}.csv"
    table = pd.read_csv(download.value.path(), dtype={"id_str": str})
    assert list(table.columns) == ["rank", "id_str", "ra", "dec", "distance"]
    assert table["rank"].tolist() == [1, 2, 3, 4, 5] and table["distance"].is_monotonic_increasing
    cards = page.locator("#search-grid .card .id").all_inner_texts()
    assert table["id_str"].tolist() == cards and table["ra"].notna().all()
    fields = page.evaluate("[csvField(String.raw`a\"b,c`), csvField(null), csvField(0.5)]")
    assert fields == ['"a""b,c"', "", "0.5"]  # an id with quotes or commas stays one field
    page.reload()  # the same search, with as many results
    expect(page.locator("#search-query .card .id")).to_have_text(site["ids"][9])
    expect(page.locator("#search-grid .card")).to_have_count(5)
    expect(page.locator("#search-k")).to_have_value("5")

    page.fill("#search-id", "no-such-galaxy")
    page.click("#search-form button")
    expect(page.locator("#error")).to_contain_text("no-such-galaxy")

    catalog = pd.read_csv(site["root"] / "catalog.csv", dtype={"id_str": str})
    page.set_input_files("#upload-file", str(site["root"] / catalog["file_loc"][7]))
    page.click("#upload-form button")
    expect(page.locator("#search-grid .card .id").first).to_have_text(site["ids"][7])
    expect(page.locator("#search-grid .card")).to_have_count(5)
    assert page.url.endswith("/?k=5#search")  # an image is not in the address

    pixels = np.asarray(Image.open(site["root"] / catalog["file_loc"][7]), np.float32)
    bands = [tmp_path / f"mine_{band}.fits" for band in "gri"]  # one FITS file per band
    for channel, path in enumerate(bands):
        fits.PrimaryHDU(pixels[::-1, :, channel]).writeto(path)
    page.set_input_files("#upload-file", [str(p) for p in bands])
    page.click("#upload-form button")
    expect(page.locator("#search-query .card .id")).to_have_text(
        "mine_g.fits, mine_r.fits, mine_i.fits")
    expect(page.locator("#search-grid .card")).to_have_count(5)
    drawn = page.locator("#search-query .card img")  # the server's drawing: FITS is no <img>
    assert drawn.get_attribute("src").startswith("data:image/png;base64,")
    assert drawn.evaluate("img => img.complete && img.naturalWidth") > 0
    expect(page.locator("#search-status")).to_contain_text(  # the command line's warning
        "Note: mine_g.fits, mine_r.fits, mine_i.fits is FITS, which galmorph stretches itself")

    status = page.locator("#search-status")  # a failed upload says so under the form
    page.set_input_files("#upload-file", files=[{"name": "notes.txt", "mimeType": "text/plain",
                                                 "buffer": b"hello"}])
    page.click("#upload-form button")
    expect(status).to_have_text("Could not search with notes.txt: 'notes.txt' is not a jpg, "
                                "png or FITS file")
    expect(page.locator("#search .card")).to_have_count(0)  # the last image's results went
    expect(page.locator("#search-export")).to_be_hidden()  # and their export
    big = tmp_path / "big.png"
    big.write_bytes(b"\x89PNG" + bytes(11 * 1024**2))
    page.set_input_files("#upload-file", str(big))
    page.click("#upload-form button")
    expect(status).to_contain_text("big.png is 11 MB: the largest image this server accepts")
    page.reload()  # the empty search, not the last galaxy's results
    expect(page.locator("#search-k")).to_have_value("5")
    expect(status).to_be_empty()
    assert page.locator("#search .card").count() == 0


def test_demo_report_renders(browser: object, demo_run: tuple[Path, str],
                             tmp_path: Path) -> None:
    """The demo's report, opened from disk: every figure decodes, nothing is fetched."""
    out = demo_run[0]
    context = browser.new_context(viewport={"width": 1200, "height": 900})
    page = context.new_page()
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    page.goto((out / "report.html").as_uri())
    images = page.locator("img")
    assert images.count() == 6  # one per figure of the demo (report.demo.OUTPUTS)
    widths = page.eval_on_selector_all("img", "nodes => nodes.map(n => n.naturalWidth)")
    assert all(width > 200 for width in widths), widths
    assert page.locator("h2").count() >= 5 and page.locator("table").count() >= 3
    assert all(url.startswith(("file:", "data:")) for url in requests), requests
    page.screenshot(path=str(tmp_path / "report.png"), full_page=True)
    context.close()


@pytest.fixture
def fresh_url(site: dict[str, object], web_files: dict[str, Path], tmp_path: Path
              ) -> Iterator[str]:
    """A second live server, on a new labelling session (no score yet) with a PCA map."""
    shutil.copyfile(web_files["embeddings"], tmp_path / "emb.parquet")
    gallery = Gallery(tmp_path / "emb.parquet", predictions=web_files["predictions"],
                      session=tmp_path / "hunt.db", batch_size=4)
    gallery.map_view = MapView.load(gallery, method="pca")
    server = BackgroundServer(create_app(gallery))
    yield server.url
    server.stop()
    gallery.close()


def test_before_the_first_score(page: object, fresh_url: str) -> None:
    from playwright.sync_api import expect

    page.goto(fresh_url + "/#ranking")
    expect(page.locator("#ranking-info")).to_have_text(NO_LABELS)  # no command line
    export = page.locator("#ranking a.export-ranking")
    expect(export).to_have_attribute("aria-disabled", "true")
    export.click(force=True)
    expect(page.locator("#error")).to_have_text(NO_LABELS)

    page.click("nav a[data-tab=map]")
    interest = page.locator("#map-colour option[value=interest]")
    expect(interest).to_be_disabled()
    page.evaluate("""() => { const chooser = document.getElementById("map-colour");
      chooser.value = "interest"; chooser.dispatchEvent(new Event("change")); }""")
    expect(page.locator("#error")).to_have_text(NO_LABELS)
    expect(page.locator("#map-colour")).not_to_have_value("interest")  # back to the old colours
    page.select_option("#map-colour", "bar")
    expect(page.locator("#error")).to_be_hidden()  # the next success clears it

    page.click("nav a[data-tab=label]")
    ids = page.locator("#label-grid .card .id")
    expect(ids).to_have_count(4)
    batch = ids.all_text_contents()
    page.click("#retrain")
    expect(page.locator("#label-status")).to_contain_text("Nothing to retrain on yet")
    expect(ids).to_have_text(batch)
    page.keyboard.press("3")
    expect(page.locator("#label-info")).to_contain_text("1 labels")
    expect(page.locator("#label a.export-ranking")).not_to_have_attribute("aria-disabled", "true")
    expect(interest).to_be_enabled()


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



# ---------------------------------------------------------------- map and galaxy pages
MAP_BACKGROUND = 0xFF1D1611  # #11161d as the canvas's little-endian RGBA uint32

COLOURS_JS = """() => {
  const canvas = document.getElementById("map-canvas");
  const ctx = canvas.getContext("2d");
  const pixels = new Uint32Array(ctx.getImageData(0, 0, canvas.width, canvas.height).data.buffer);
  const counts = new Map();
  for (const v of pixels) counts.set(v, (counts.get(v) || 0) + 1);
  return [...counts.entries()].sort((a, b) => b[1] - a[1]);
}"""
# Each point's position on the canvas, in gallery row order.
SCREEN_JS = """() => Array.from({length: galmorphMap.n},
  (_, i) => toScreen(galmorphMap.xy[2 * i], galmorphMap.xy[2 * i + 1]))"""


def _open_map(page: object, site: dict[str, object]) -> None:
    page.goto(site["url"] + "/#map")
    page.wait_for_function("() => window.galmorphMap && galmorphMap.timings.length > 0")


def _redrawn(page: object, action: Callable[[], None]) -> list[list[int]]:
    """Do ``action``, wait for the next redraw, and return the canvas's colours."""
    drawn = page.evaluate("galmorphMap.timings.length")
    action()
    page.wait_for_function(f"() => galmorphMap.timings.length > {drawn}")
    return page.evaluate(COLOURS_JS)


def _isolated(page: object, gap: float = 16) -> list[int]:
    """Rows whose point is at least ``gap`` pixels from every other, well inside the canvas."""
    screen = page.evaluate(SCREEN_JS)
    width, height = page.evaluate("[mapCanvas().width, mapCanvas().height]")
    return [i for i, (x, y) in enumerate(screen)
            if 20 < x < width - 200 and 20 < y < height - 250
            and all((x - u) ** 2 + (y - v) ** 2 >= gap ** 2
                    for j, (u, v) in enumerate(screen) if j != i)]


def test_map_draws_recolours_pans_and_resets(page: object, site: dict[str, object],
                                             tmp_path: Path) -> None:
    from playwright.sync_api import expect

    _open_map(page, site)
    expect(page.locator("#map-info")).to_contain_text("40 of 40 galaxies · pca map")
    expect(page.locator("#map-canvas")).to_have_attribute("aria-label", re.compile("Map of"))
    colours = page.evaluate(COLOURS_JS)
    assert colours[0][0] == MAP_BACKGROUND
    painted = {colour for colour, _ in colours[1:]}
    assert len(painted) >= 5 and sum(n for _, n in colours[1:]) > 40 * 20
    expect(page.locator("#map-legend")).to_be_visible()
    expect(page.locator("#map-legend-label")).not_to_be_empty()
    page.locator("#map").screenshot(path=str(tmp_path / "map.png"))
    assert (tmp_path / "map.png").stat().st_size > 10_000

    options = page.locator("#map-colour option")
    names = options.evaluate_all("nodes => nodes.map(n => n.value)")
    assert names[0] == "" and names[-2:] == ["score", "interest"] and "bar" in names
    recoloured = _redrawn(page, lambda: page.select_option("#map-colour", "bar"))
    assert {c for c, _ in recoloured[1:]} != painted
    plain = _redrawn(page, lambda: page.select_option("#map-colour", ""))
    assert len(plain) == 2  # the background and one colour
    expect(page.locator("#map-legend")).to_be_hidden()

    home = page.evaluate("[galmorphMap.view.cx, galmorphMap.view.cy, galmorphMap.view.scale]")
    box = page.locator("#map-canvas").bounding_box()
    page.mouse.move(box["x"] + 300, box["y"] + 200)
    zoomed = _redrawn(page, lambda: page.mouse.wheel(0, -400))
    assert page.evaluate("galmorphMap.view.scale") > 1.5 * home[2]
    assert zoomed != plain
    page.mouse.move(box["x"] + 500, box["y"] + 300)
    page.mouse.down()
    page.mouse.move(box["x"] + 420, box["y"] + 260, steps=4)
    page.mouse.up()
    assert page.evaluate("galmorphMap.view.cx") != pytest.approx(home[0])
    assert urlparse(page.url).path == "/" and page.url.endswith("#map")  # a drag is no click
    zoom = "galmorphMap.view.scale / homeView().scale"
    _redrawn(page, lambda: page.mouse.wheel(0, -100_000))
    assert page.evaluate(zoom) == pytest.approx(5000)  # zoom stops before the map vanishes
    _redrawn(page, lambda: page.mouse.wheel(0, 200_000))
    assert page.evaluate(zoom) == pytest.approx(0.1)
    back = _redrawn(page, lambda: page.click("#map-reset"))
    assert back == plain
    assert page.evaluate("[galmorphMap.view.cx, galmorphMap.view.cy, galmorphMap.view.scale]"
                         ) == pytest.approx(home)
    assert parse_qs(urlparse(page.url).query, keep_blank_values=True) == {"colour": [""]}


def test_map_hover_shows_the_galaxy_and_click_opens_its_neighbours(
        page: object, site: dict[str, object]) -> None:
    from playwright.sync_api import expect

    _open_map(page, site)
    rows = _isolated(page)
    assert len(rows) >= 2, "the test map has no well separated points"
    screen = page.evaluate(SCREEN_JS)
    box = page.locator("#map-canvas").bounding_box()
    tip = page.locator("#map-tip")
    colour = page.locator("#map-colour option:checked").text_content()  # the first answer
    assert colour == "smooth or features: smooth"
    for row in rows[:2]:
        x, y = screen[row]
        page.mouse.move(box["x"] + x + 2, box["y"] + y - 1)
        expect(tip).to_be_visible()
        expect(tip.locator(".id")).to_have_text(site["ids"][row])
        expect(tip.locator(".value")).to_contain_text(colour + " = ")
        image = tip.locator("img")
        assert image.get_attribute("src") == "/images/" + quote(site["ids"][row], safe="")
        page.wait_for_function("() => document.querySelector('#map-tip img').naturalWidth > 0")
    page.mouse.move(box["x"] + 2, box["y"] + 2)
    expect(tip).to_be_hidden()

    row = rows[0]
    page.mouse.click(box["x"] + screen[row][0], box["y"] + screen[row][1])
    page.wait_for_url("**/galaxy/**")
    expect(page.locator("#galaxy-id")).to_have_text(site["ids"][row])
    neighbours = page.locator("#galaxy-neighbours .card")
    expect(neighbours).to_have_count(12)
    assert site["ids"][row] not in neighbours.locator(".id").all_text_contents()


def test_galaxy_page_of_an_id_full_of_markup(page: object, site: dict[str, object]) -> None:
    from playwright.sync_api import expect

    answer = page.request.post(site["url"] + "/api/anomaly/label",
                               data={"id": MARKUP_ID, "score": 3})
    assert answer.ok
    response = page.goto(site["url"] + "/galaxy/" + quote(MARKUP_ID, safe=""))
    assert response.status == 200
    expect(page.locator("#galaxy-id")).to_have_text(MARKUP_ID)
    assert page.evaluate("window.hacked") is None and page.locator("main b").count() == 0
    assert page.title() == "galmorph: " + MARKUP_ID
    expect(page.locator("#galaxy-image")).to_have_attribute(
        "src", "/images/" + quote(MARKUP_ID, safe=""))
    page.wait_for_function("() => document.getElementById('galaxy-image').naturalWidth > 0")
    questions = page.locator("#galaxy-answers .question")
    assert questions.count() >= 5
    bar = page.locator(".question[data-question=t03_bar]")
    assert bar.locator(".answer").count() == 2
    widths = bar.locator(".track .fill").evaluate_all(
        "nodes => nodes.map(n => n.getBoundingClientRect().width)")
    interval = bar.locator(".track .interval").first.evaluate("n => n.style.width")
    assert all(w > 0 for w in widths) and interval.endswith("%")
    expect(page.locator("#galaxy-neighbours .card")).to_have_count(12)
    expect(page.locator("#galaxy-history tbody tr")).to_have_count(1)
    expect(page.locator("#galaxy-history tbody td").first).to_have_text("3")
    expect(page.locator("#galaxy-history tbody td").nth(2)).to_have_text("user")

    first = page.locator("#galaxy-neighbours .card .id").first.text_content()
    page.locator("#galaxy-neighbours a").first.click()
    page.wait_for_url("**/galaxy/" + quote(first, safe=""))
    expect(page.locator("#galaxy-id")).to_have_text(first)
    expect(page.locator("#history-info")).to_contain_text("no labels")

    missing = page.goto(site["url"] + "/galaxy/nobody%3Cb%3E")
    assert missing.status == 404
    expect(page.locator("#error")).to_contain_text("nobody<b>")
    expect(page.locator("#galaxy")).to_be_hidden()
    assert page.goto(site["url"] + "/galaxy/100%").status == 404  # not valid percent-encoding
    expect(page.locator("#error")).to_have_text("no galaxy '100%' in this catalog")


def test_box_selection_exports_the_ids_inside(page: object, site: dict[str, object]) -> None:
    from playwright.sync_api import expect

    _open_map(page, site)
    screen = page.evaluate(SCREEN_JS)
    box = page.locator("#map-canvas").bounding_box()
    left, top = 5, 5
    right = sorted(x for x, _ in screen)[len(screen) // 2] + 0.5  # about half the points
    bottom = box["height"] - 5
    inside = [site["ids"][i] for i, (x, y) in enumerate(screen)
              if left <= x <= right and top <= y <= bottom]
    export = page.locator("#map-export")
    expect(export).to_have_attribute("aria-disabled", "true")
    expect(page.locator("#map-clear")).to_be_disabled()
    page.keyboard.down("Shift")
    page.mouse.move(box["x"] + left, box["y"] + top)
    page.mouse.down()
    page.mouse.move(box["x"] + right, box["y"] + bottom, steps=5)
    page.mouse.up()
    page.keyboard.up("Shift")
    expect(page.locator("#map-selection")).to_have_text(f"{len(inside)} galaxies selected")
    assert page.locator("#map-canvas").bounding_box() == box  # the map did not move
    with page.expect_download() as download:
        page.click("#map-export")
    table = pd.read_csv(download.value.path(), dtype={"id_str": str}, keep_default_na=False)
    assert sorted(table["id_str"]) == sorted(inside) and 5 < len(inside) < 35
    page.click("#map-clear")
    expect(page.locator("#map-selection")).to_have_text("No galaxies selected")
    expect(export).to_have_attribute("aria-disabled", "true")
    assert export.get_attribute("href") is None

    modes = page.locator("#map-modes button")
    page.click("#map-modes button[data-mode=lasso]")  # a triangle, drawn as a lasso
    assert modes.evaluate_all("ns => ns.map(n => n.getAttribute('aria-pressed'))") == [
        "false", "false", "true"]
    corners = [(left, top), (right, bottom / 2), (left, bottom), (left, top)]
    page.mouse.move(box["x"] + left, box["y"] + top)
    page.mouse.down()
    for x, y in corners[1:]:
        page.mouse.move(box["x"] + x, box["y"] + y, steps=8)
    page.mouse.up()
    triangle = np.array(corners[:3], dtype=np.float64)
    inside = [site["ids"][i] for i in np.flatnonzero(
        inside_polygon(np.array(screen, dtype=np.float32), triangle))]
    expect(page.locator("#map-selection")).to_have_text(f"{len(inside)} galaxies selected")
    href = page.locator("#map-export").get_attribute("href")
    assert len(parse_polygon(parse_qs(urlparse(href).query)["polygon"][0])) >= 20
    with page.expect_download() as download:
        page.click("#map-export")
    table = pd.read_csv(download.value.path(), dtype={"id_str": str}, keep_default_na=False)
    assert sorted(table["id_str"]) == sorted(inside) and 0 < len(inside) < 40


def test_filter_changes_the_grid(page: object, site: dict[str, object]) -> None:
    from playwright.sync_api import expect

    original = pq.read_table(site["root"] / "emb.parquet")["id_str"].to_pylist()
    bar = pd.read_parquet(site["root"] / "predictions.parquet").set_index("id_str")[
        "t03_bar_a06_bar_fraction"].reindex(original).tolist()
    threshold = sorted(bar)[22]
    passing = sorted((b, i) for i, b in enumerate(bar) if b > threshold)
    expected = [site["ids"][i] for _, i in passing]  # bar ascending; MARKUP_ID as text

    page.goto(site["url"] + "/")
    ids = page.locator("#browse-grid .card .id")
    expect(ids).to_have_count(40)
    expect(page.locator("#browse-sort-names option")).to_have_count(3 * 28)  # gz2-no-odd
    page.fill("#browse-where", f"bar > {threshold!r}")
    page.fill("#browse-sort", "bar")
    page.click("#filter button[type=submit]")
    expect(ids).to_have_text(expected)
    expect(page.locator("#page-info")).to_have_text(f"page 1 of 1 ({len(expected)} galaxies)")
    assert page.evaluate("window.hacked") is None

    page.fill("#browse-sort", "-bar")
    page.click("#filter button[type=submit]")
    expect(ids).to_have_text(expected[::-1])
    with page.expect_download() as download:  # every galaxy of the filter, in its order
        page.click("#browse-export")
    table = pd.read_csv(download.value.path(), dtype={"id_str": str}, keep_default_na=False)
    assert table["id_str"].tolist() == expected[::-1]
    assert (table["bar"] > threshold).all()

    page.fill("#browse-where", "bar >")
    page.click("#filter button[type=submit]")
    expect(page.locator("#error")).to_contain_text("expected a number after '>' at character 6")
    expect(ids).to_have_count(0)

    page.fill("#browse-where", "")
    page.fill("#browse-sort", "")
    page.click("#filter button[type=submit]")
    expect(ids).to_have_count(40)
    expect(page.locator("#error")).to_be_hidden()


def test_browse_state_lives_in_the_address(page: object, site: dict[str, object]) -> None:
    from playwright.sync_api import expect

    start = site["url"] + "/?sort=-bar&per_page=10"
    page.goto(start)
    info, ids = page.locator("#page-info"), page.locator("#browse-grid .card .id")
    expect(info).to_have_text("page 1 of 4 (40 galaxies)")
    expect(page.locator("#browse-sort")).to_have_value("-bar")
    expect(ids).to_have_count(10)
    first = ids.all_text_contents()
    page.click("#next")
    expect(info).to_have_text("page 2 of 4 (40 galaxies)")
    assert parse_qs(urlparse(page.url).query) == {"sort": ["-bar"], "page": ["2"],
                                                  "per_page": ["10"]}
    expect(ids).not_to_have_text(first)
    second = ids.all_text_contents()
    page.reload()
    expect(info).to_have_text("page 2 of 4 (40 galaxies)")
    expect(ids).to_have_text(second)
    page.go_back()  # the previous page of results, not out of the app
    expect(info).to_have_text("page 1 of 4 (40 galaxies)")
    expect(ids).to_have_text(first)
    assert page.url == start


def test_phone_layout_fits_the_screen(browser: object, site: dict[str, object]) -> None:
    from playwright.sync_api import expect

    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True,
                                  has_touch=True)
    page = context.new_page()
    overflow = "() => document.documentElement.scrollWidth - innerWidth"
    page.goto(site["url"] + "/#browse")
    expect(page.locator("#browse-grid .card")).to_have_count(40)
    assert page.evaluate(overflow) <= 0
    ranking = page.locator("nav a[data-tab=ranking]").bounding_box()
    assert ranking["x"] + ranking["width"] <= 390
    page.goto(site["url"] + "/#map")
    page.wait_for_function("() => window.galmorphMap && galmorphMap.timings.length > 0")
    expect(page.locator("#map-legend-label")).not_to_be_empty()
    assert page.evaluate(overflow) <= 0
    page.goto(site["url"] + "/galaxy/" + quote(site["ids"][3], safe=""))
    expect(page.locator("#galaxy-neighbours .card")).to_have_count(12)
    assert page.evaluate(overflow) <= 0
    widest = page.locator(".question").evaluate_all(
        "nodes => Math.max(...nodes.map(n => n.getBoundingClientRect().right))")
    assert widest <= 390
    context.close()


VIEW_JS = "[galmorphMap.view.cx, galmorphMap.view.cy, galmorphMap.view.scale]"
ZOOM_JS = "galmorphMap.view.scale / homeView().scale"


def _map_query(page: object) -> dict[str, list[str]]:
    """The page address's query parameters, empty values kept."""
    return parse_qs(urlparse(page.url).query, keep_blank_values=True)


def test_map_colour_and_view_live_in_the_address(page: object, site: dict[str, object]) -> None:
    """Colour and view (set with the keyboard, + and - and a drag) survive Back and reload."""
    from playwright.sync_api import expect

    _open_map(page, site)
    page.select_option("#map-colour", "bar")
    page.wait_for_function("() => galmorphMap.colour === 'bar'")
    page.get_by_role("button", name="Zoom in").focus()  # the buttons take the keyboard
    page.keyboard.press("Enter")
    page.keyboard.press("Enter")
    assert page.evaluate(ZOOM_JS) == pytest.approx(2.25)
    page.get_by_role("button", name="Zoom out").click()
    assert page.evaluate(ZOOM_JS) == pytest.approx(1.5)
    box = page.locator("#map-canvas").bounding_box()
    page.mouse.move(box["x"] + 500, box["y"] + 300)
    page.mouse.down()
    page.mouse.move(box["x"] + 470, box["y"] + 320, steps=3)
    page.mouse.up()
    kept = page.evaluate(VIEW_JS)
    query = _map_query(page)
    assert query["colour"] == ["bar"] and float(query["zoom"][0]) == pytest.approx(1.5)
    assert [float(query["x"][0]), float(query["y"][0])] == pytest.approx(kept[:2], abs=1e-3)

    page.keyboard.down("Shift")  # a selection is not kept: the map says so
    page.mouse.move(box["x"] + 10, box["y"] + 10)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] - 10, box["y"] + box["height"] - 10, steps=3)
    page.mouse.up()
    page.keyboard.up("Shift")
    expect(page.locator("#map-selection")).to_have_text(re.compile(r"^\d+ galaxies selected$"))
    row = _isolated(page)[0]
    x, y = page.evaluate(SCREEN_JS)[row]
    page.mouse.click(box["x"] + x, box["y"] + y)
    page.wait_for_url("**/galaxy/**")
    for leave in (page.go_back, page.reload):
        leave()
        page.wait_for_function("() => window.galmorphMap && galmorphMap.timings.length > 0")
        assert page.evaluate(VIEW_JS) == pytest.approx(kept, rel=1e-4)
        expect(page.locator("#map-colour")).to_have_value("bar")
        expect(page.locator("#map-legend-label")).to_contain_text("bar")
        expect(page.locator("#map-selection")).to_have_text("No galaxies selected")
        expect(page.locator("#map-export")).to_have_attribute("aria-disabled", "true")

    page.goto(site["url"] + "/?colour=nothing&x=1&y=oops&zoom=2#map")  # made-up values
    page.wait_for_function("() => window.galmorphMap && galmorphMap.timings.length > 0")
    assert page.evaluate("[galmorphMap.colour, " + ZOOM_JS + "]") == [
        "smooth", 1]
    assert _map_query(page) == {}
    page.goto(site["url"] + "/?x=0&y=0&zoom=1e9#map")
    page.wait_for_function("() => window.galmorphMap && galmorphMap.timings.length > 0")
    assert page.evaluate(ZOOM_JS) == pytest.approx(5000)  # the zoom limit


def test_map_pinch_and_touch_pan(browser: object, site: dict[str, object]) -> None:
    """Two fingers zoom about their midpoint (within the limits), one finger pans."""
    context = browser.new_context(viewport={"width": 800, "height": 900}, has_touch=True)
    page = context.new_page()
    _open_map(page, site)
    touch = context.new_cdp_session(page)
    box = page.locator("#map-canvas").bounding_box()

    def fingers(kind: str, *points: tuple[float, float]) -> None:
        touch.send("Input.dispatchTouchEvent", {"type": kind, "touchPoints": [
            {"x": box["x"] + x, "y": box["y"] + y, "id": i} for i, (x, y) in enumerate(points)]})

    start = page.evaluate(VIEW_JS)
    under = page.evaluate("toMap(300, 260)")  # the map point at the fingers' first midpoint
    fingers("touchStart", (250, 260), (350, 260))
    for step in range(1, 6):  # twice as far apart, and 40 px lower
        fingers("touchMove", (250 - 10 * step, 260 + 8 * step), (350 + 10 * step, 260 + 8 * step))
    fingers("touchEnd")
    page.wait_for_function(f"() => galmorphMap.view.scale > {start[2] * 1.5}")
    assert page.evaluate(VIEW_JS)[2] == pytest.approx(2 * start[2])
    assert page.evaluate("([x, y]) => toScreen(x, y)", under) == pytest.approx([300, 300])
    assert float(_map_query(page)["zoom"][0]) == pytest.approx(2)

    pinched = page.evaluate(VIEW_JS)
    fingers("touchStart", (400, 400))  # one finger pans
    for step in range(1, 5):
        fingers("touchMove", (400 - 15 * step, 400 + 10 * step))
    fingers("touchEnd")
    page.wait_for_function(f"() => galmorphMap.view.cx !== {pinched[0]}")
    assert page.evaluate(VIEW_JS) == pytest.approx(
        [pinched[0] + 60 / pinched[2], pinched[1] + 40 / pinched[2], pinched[2]])
    assert urlparse(page.url).path == "/"  # a drag is no tap

    limits = page.evaluate("""() => { const home = homeView().scale;
      const far = pinchView({cx: 0, cy: 0, scale: home}, [0, 0], [1, 0], [0, 0], [1e9, 0],
                            [100, 100], scaleLimits());
      const near = pinchView({cx: 0, cy: 0, scale: home}, [0, 0], [1e9, 0], [0, 0], [1, 0],
                             [100, 100], scaleLimits());
      return [far.scale / home, near.scale / home]; }""")
    assert limits == pytest.approx([5000, 0.1])
    context.close()
