"""The web app end to end in real headless Chromium (Debian's ``chromium``, driven by Playwright):
browsing, filters, searches, galaxy pages, the report, a phone's screen.

A live uvicorn server (``site``, in conftest.py) serves 40 bundled galaxies (tiny model
embeddings), one of them renamed to an id full of HTML. Outside CI the tests are skipped
when Chromium or Playwright is missing; in CI (``CI`` set) that is a failure, since
``make test`` installs both. The Map tab's tests are in test_web_map_browser.py, labelling's
in test_web_label_browser.py.
"""

from __future__ import annotations

import http.client
import io
import re
from pathlib import Path
from urllib.parse import parse_qs, quote, urlparse

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from astropy.io import fits
from PIL import Image
from tests.web.conftest import MARKUP_ID

pytestmark = pytest.mark.browser


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
    assert images.count() == 7  # one per figure of the demo (report.demo.OUTPUTS)
    widths = page.eval_on_selector_all("img", "nodes => nodes.map(n => n.naturalWidth)")
    assert all(width > 200 for width in widths), widths
    assert page.locator("h2").count() >= 5 and page.locator("table").count() >= 3
    assert all(url.startswith(("file:", "data:")) for url in requests), requests
    page.screenshot(path=str(tmp_path / "report.png"), full_page=True)
    context.close()


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
    links = page.locator("#galaxy-links a")  # the position in sky viewers, in a new tab
    expect(links).to_have_text(["Legacy Surveys", "SDSS", "SIMBAD", "NED"])
    expect(links.first).to_have_attribute("target", "_blank")
    expect(links.first).to_have_attribute("rel", "noopener noreferrer")
    expect(page.locator("#galaxy-history tbody tr")).to_have_count(1)
    expect(page.locator("#galaxy-history tbody td").first).to_have_text("3")
    expect(page.locator("#galaxy-history tbody td").nth(2)).to_have_text("user")
    when = page.locator("#galaxy-history tbody td").nth(1).text_content()
    assert len(when) == 16 and when[4] == "-" and when[10] == " "  # 2026-12-06 17:22, UTC
    scores = page.locator("#galaxy-scores button")  # scoring here, as on the Label tab
    expect(scores).to_have_text([str(score) for score in range(6)])
    expect(page.locator("#galaxy-scores [aria-pressed=true]")).to_have_text("3")
    expect(page.locator("#galaxy-score")).to_have_text("your score: 3")
    scores.nth(5).click()
    expect(page.locator("#galaxy-score")).to_have_text(re.compile(
        r"^your score: 5, stored \(\d+ labels? in all\): Retrain on the Label tab to use it$"))
    expect(page.locator("#galaxy-scores [aria-pressed=true]")).to_have_text("5")
    expect(page.locator("#galaxy-history tbody tr")).to_have_count(2)
    latest = page.locator("#galaxy-history tbody tr").last.locator("td")
    assert [latest.nth(i).text_content() for i in (0, 2, 3)] == ["5", "user", "3"]
    scores.nth(2).dblclick()  # one score stored, not two
    expect(page.locator("#galaxy-scores [aria-pressed=true]")).to_have_text("2")
    expect(page.locator("#galaxy-history tbody tr")).to_have_count(3)
    page.wait_for_timeout(300)
    expect(page.locator("#galaxy-history tbody tr")).to_have_count(3)
    labels = page.request.get(site["url"] + "/export/labels.csv").text()
    assert pd.read_csv(io.StringIO(labels), dtype={"id_str": str}).set_index(
        "id_str").loc[MARKUP_ID, "score"] == 2

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
    expect(page.locator("#browse-sort-names option")).to_have_count(4 * 28)  # gz2-no-odd
    page.fill("#browse-where", f"bar > {threshold!r}")
    page.fill("#browse-sort", "bar")
    page.click("#filter button[type=submit]")
    expect(ids).to_have_text(expected)
    expect(page.locator("#page-info")).to_have_text(f"page 1 of 1 ({len(expected)} galaxies)")
    assert page.evaluate("window.hacked") is None

    page.fill("#browse-sort", "-bar")
    page.click("#filter button[type=submit]")
    expect(ids).to_have_text(expected[::-1])
    expect(page.locator("#browse-grid .card .sorted").first).to_have_text(  # why it is first
        f"bar {passing[-1][0]:.3f}")
    with page.expect_download() as download:  # every galaxy of the filter, in its order
        page.click("#browse-export")
    table = pd.read_csv(download.value.path(), dtype={"id_str": str}, keep_default_na=False)
    assert table["id_str"].tolist() == expected[::-1]
    assert (table["bar"] > threshold).all()

    page.fill("#browse-where", "bar >")
    page.click("#filter button[type=submit]")
    expect(page.locator("#error")).to_contain_text("expected a number after '>' at character 6")
    expect(ids).to_have_count(0)
    # nothing shown: no page to turn to, no export of galaxies other than those asked for
    expect(page.locator("#prev")).to_be_disabled()
    expect(page.locator("#next")).to_be_disabled()
    assert page.locator("#browse-export").get_attribute("href") is None

    page.fill("#browse-where", "bar > 2")
    page.click("#filter button[type=submit]")
    expect(page.locator("#browse-grid .help")).to_contain_text("No galaxy passes this filter")

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


def test_search_from_several_ids(page: object, site: dict[str, object]) -> None:
    """Ids separated by commas: the examples are the query's cards, each galaxy found says
    which of them it is most like, and the address and export keep the search."""
    from playwright.sync_api import expect

    examples = [site["ids"][3], site["ids"][17], site["ids"][30]]
    page.goto(site["url"] + "/#search")
    page.fill("#search-id", ", ".join(examples))
    page.fill("#search-k", "6")
    page.click("#search-form button")
    expect(page.locator("#search-query .card")).to_have_count(3)
    assert page.locator("#search-query .card .id").all_inner_texts() == examples
    expect(page.locator("#search-status")).to_have_text(
        "6 galaxies most like the 3 examples together (cosine distance to their mean); "
        "distance 0: the same image, larger: less alike")
    found = page.locator("#search-grid .card")
    expect(found).to_have_count(6)
    assert set(found.locator(".id").all_inner_texts()).isdisjoint(examples)
    likes = [text.removeprefix("most like ") for text in
             found.locator(".muted", has_text="most like").all_inner_texts()]
    assert len(likes) == 6 and set(likes) <= set(examples)
    with page.expect_download() as download:  # the export names each one's example
        page.click("#search-export")
    table = pd.read_csv(download.value.path(), dtype={"id_str": str})
    assert list(table.columns) == ["rank", "id_str", "ra", "dec", "distance", "nearest_example"]
    assert table["nearest_example"].tolist() == likes
    page.reload()  # the address holds the search
    expect(page.locator("#search-query .card")).to_have_count(3)
    expect(page.locator("#search-grid .card")).to_have_count(6)
    page.fill("#search-id", f"{examples[0]}, nope, {examples[1]}")  # left out, and said
    page.click("#search-form button")
    expect(page.locator("#search-query .card")).to_have_count(2)
    expect(page.locator("#search-status")).to_contain_text(
        "Note: not in this catalog, left out: 'nope'.")
