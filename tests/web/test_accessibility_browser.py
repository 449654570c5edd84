"""Accessibility of the web app in real headless Chromium: the keyboard reaches and works
every control (with a visible focus that never drops onto the page's body), screen readers
find names, headings and status lines, a phone-sized window does not overflow, and normal
use makes no failed request. Skipped (or, in CI, failed) without Chromium or Playwright, as
the other browser tests."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

import pyarrow.parquet as pq
import pytest

from galmorph.web.app import create_app
from galmorph.web.background import BackgroundServer
from galmorph.web.gallery import NO_LABELS, Gallery
from galmorph.web.map_view import MapView

pytestmark = pytest.mark.browser

TABS = ["browse", "map", "search", "label", "ranking"]


@contextmanager
def _serving(gallery: Gallery) -> Iterator[str]:
    """A live server of `gallery` while in the block: its URL."""
    server = BackgroundServer(create_app(gallery))
    try:
        yield server.url
    finally:
        server.stop()
        gallery.close()


@pytest.fixture(scope="module")
def site(web_files: dict[str, Path], tmp_path_factory: pytest.TempPathFactory,
         chromium: str) -> Iterator[dict[str, object]]:
    """A live server of the 40 web galaxies on a new labelling session (no score yet), with
    predictions and a PCA map: its URL and the galaxy ids."""
    root = tmp_path_factory.mktemp("a11y")
    gallery = Gallery(web_files["embeddings"], predictions=web_files["predictions"],
                      session=root / "hunt.db", batch_size=4)
    gallery.map_view = MapView.load(gallery, method="pca")
    ids = pq.read_table(web_files["embeddings"])["id_str"].to_pylist()
    with _serving(gallery) as url:
        yield {"url": url, "ids": ids}


@pytest.fixture
def fresh(site: dict[str, object], web_files: dict[str, Path], tmp_path: Path) -> Iterator[str]:
    """The URL of a second live server on a new labelling session (no score yet), with a PCA
    map: for the tests that score."""
    gallery = Gallery(web_files["embeddings"], predictions=web_files["predictions"],
                      session=tmp_path / "hunt.db", batch_size=4)
    gallery.map_view = MapView.load(gallery, method="pca")
    with _serving(gallery) as url:
        yield url


def _watched(context: object) -> tuple[object, list[str]]:
    """A new page of `context` and the list its errors, failed requests and error answers
    (status 400 and up) go to; not requests a navigation cut short (net::ERR_ABORTED)."""
    page = context.new_page()
    page.set_default_timeout(20_000)
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(f"page error {error}"))
    page.on("console", lambda message: problems.append(f"console {message.text}")
            if message.type == "error" else None)
    page.on("requestfailed", lambda request: problems.append(
        f"failed {request.url} {request.failure}") if request.failure != "net::ERR_ABORTED"
        else None)
    page.on("response", lambda response: problems.append(f"{response.status} {response.url}")
            if response.status >= 400 else None)
    return page, problems


@pytest.fixture
def page(browser: object) -> Iterator[object]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page, problems = _watched(context)
    yield page
    context.close()
    assert not problems, problems


# Every visible control or image without an accessible name (aria-labelledby, aria-label, a
# <label>, alt text, its text or a title), as "TAG#id.class". An image in a card, whose
# caption names it, is left out of what is read with an empty alt; one without alt is unnamed.
UNNAMED_JS = r"""() => {
  const shown = (n) => n.getClientRects().length > 0 && !n.closest("[aria-hidden=true]");
  const name = (n) => {
    const by = n.getAttribute("aria-labelledby");
    if (by) {
      return by.split(/\s+/).map((id) => document.getElementById(id)?.textContent || "").join(" ");
    }
    if (n.getAttribute("aria-label")) return n.getAttribute("aria-label");
    if (n.labels && n.labels.length) return [...n.labels].map((l) => l.textContent).join(" ");
    if (n.tagName === "IMG") return n.getAttribute("alt") || "";
    if (["BUTTON", "A", "SUMMARY"].includes(n.tagName)) return n.textContent;
    return n.getAttribute("title") || "";
  };
  const all = "input, select, textarea, button, a, img, canvas, [tabindex]";
  return [...document.querySelectorAll(all)]
    .filter((n) => !(n.tagName === "IMG" && n.getAttribute("alt") === ""
                     && n.closest("figure")?.querySelector("figcaption")?.textContent.trim()))
    .filter((n) => shown(n) && n.getAttribute("tabindex") !== "-1" && !name(n).trim())
    .map((n) => `${n.tagName}#${n.id}.${n.className}`);
}"""
FOCUS_JS = """() => { const n = document.activeElement; const style = getComputedStyle(n);
  return { tag: n.tagName, id: n.id, text: n.textContent.trim(),
           visible: n.matches(":focus-visible"), outline: style.outlineStyle,
           inGrid: !!n.closest("#label-grid") }; }"""

# The row of the galaxy nearest the centre of the map's view, by brute force.
NEAREST_CENTRE_JS = """() => {
  const { xy, n, view } = galmorphMap;
  let best = -1, distance = Infinity;
  for (let i = 0; i < n; i++) {
    const d = Math.hypot(xy[2 * i] - view.cx, xy[2 * i + 1] - view.cy);
    if (d < distance) { distance = d; best = i; }
  }
  return best;
}"""


def _focus(page: object) -> dict[str, object]:
    return page.evaluate(FOCUS_JS)


def _wait_map(page: object) -> None:
    page.wait_for_function("() => window.galmorphMap && galmorphMap.timings.length > 0")


def test_screen_reader_names_headings_and_status_lines(fresh: str, page: object,
                                                       site: dict[str, object]) -> None:
    from playwright.sync_api import expect

    page.goto(fresh + "/#search/" + quote(site["ids"][2], safe=""))
    expect(page.locator("#search-grid .card")).to_have_count(12)
    for tab in TABS:
        page.click(f"nav a[data-tab={tab}]")
        if tab == "map":
            _wait_map(page)
        elif tab == "label":
            expect(page.locator("#label-grid .card")).to_have_count(4)
        else:
            page.wait_for_load_state("networkidle")
        assert page.evaluate(UNNAMED_JS) == [], tab
        # the tab shown is the current page of the tabs, and has its heading
        expect(page.locator("nav a[aria-current=page]")).to_have_count(1)
        expect(page.locator("nav a[aria-current=page]")).to_have_attribute("data-tab", tab)
        heading = page.get_by_role("heading", level=2)
        expect(heading).to_have_count(1)
        expect(page.locator(f"#{tab}")).to_have_attribute("aria-labelledby", f"{tab}-heading")

    # the lines that change after an action are read out
    for line in ("#page-info", "#search-status", "#label-status", "#map-selection"):
        assert page.locator(line).get_attribute("role") == "status", line
    # the map's drawings over and beside the canvas are not read out as unnamed images
    for drawing in ("#map-overlay", "#map-legend-bar"):
        expect(page.locator(drawing)).to_have_attribute("aria-hidden", "true")

    # each card's scores are a group named after its galaxy; the chosen one is pressed
    page.click("nav a[data-tab=label]")
    cards = page.locator("#label-grid .card")
    first = cards.nth(0).locator(".id").text_content()
    group = page.get_by_role("group", name=f"score {first}")
    expect(group.get_by_role("button")).to_have_count(6)
    expect(cards.nth(0)).to_have_attribute("aria-current", "true")
    group.get_by_role("button", name="2").click()
    expect(group.get_by_role("button", name="2")).to_have_attribute("aria-pressed", "true")
    expect(group.get_by_role("button", name="3")).to_have_attribute("aria-pressed", "false")
    expect(cards.nth(1)).to_have_attribute("aria-current", "true")
    expect(cards.nth(0)).not_to_have_attribute("aria-current", "true")

    page.goto(fresh + "/galaxy/" + quote(site["ids"][3], safe=""))
    expect(page.locator("#galaxy-neighbours .card")).to_have_count(12)
    assert page.evaluate(UNNAMED_JS) == []
    # a card's image is not read out: its caption names the galaxy; the page's own image is
    expect(page.locator("#galaxy-neighbours .card img").first).to_have_attribute("alt", "")
    expect(page.locator("#galaxy-image")).to_have_attribute(
        "alt", f"Image of galaxy {site['ids'][3]}")


def test_keyboard_paging_and_similar_keep_the_focus(page: object,
                                                    site: dict[str, object]) -> None:
    from playwright.sync_api import expect

    page.goto(site["url"] + "/?per_page=16&page=2#browse")
    expect(page.locator("#page-info")).to_have_text("page 2 of 3 (40 galaxies)")
    page.locator("#filter-text").focus()
    for _ in range(4):  # filter, sort, Filter, Previous
        page.keyboard.press("Tab")
    assert _focus(page)["id"] == "prev" and _focus(page)["visible"]
    page.keyboard.press("Tab")
    assert _focus(page)["id"] == "next"
    page.keyboard.press("Enter")  # to the last page: Next is disabled, Previous takes the focus
    expect(page.locator("#page-info")).to_have_text("page 3 of 3 (40 galaxies)")
    expect(page.locator("#next")).to_be_disabled()
    expect(page.locator("#prev")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator("#page-info")).to_have_text("page 2 of 3 (40 galaxies)")
    expect(page.locator("#prev")).to_be_focused()

    # a card's Similar button, with Enter: its tab is hidden; the focus goes to the results
    page.locator("#browse-grid .card-main").first.focus()
    focus = _focus(page)
    assert focus["visible"] and focus["outline"] != "none"  # a focus ring shows
    page.keyboard.press("Enter")
    expect(page.locator("#search-grid .card")).to_have_count(12)
    expect(page.locator("#search-status")).to_be_focused()
    page.keyboard.press("Tab")  # on to the results' export
    expect(page.locator("#search-export")).to_be_focused()
    # and a result's Similar button, gone with the old results, leaves the focus there too
    page.locator("#search-grid .card-main").nth(3).focus()
    page.keyboard.press("Enter")
    expect(page.locator("#search-status")).to_be_focused()


def test_keyboard_labelling_keeps_the_focus_on_the_cards(fresh: str, page: object) -> None:
    from playwright.sync_api import expect

    page.goto(fresh + "/#label")
    cards = page.locator("#label-grid .card")
    expect(cards).to_have_count(4)
    page.locator("#label .toolbar a.export-ranking").focus()
    page.keyboard.press("Tab")  # Tab reaches the scores
    focus = _focus(page)
    assert focus["inGrid"] and focus["tag"] == "BUTTON" and focus["text"] == "0"
    assert focus["visible"] and focus["outline"] != "none"
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")  # scores the first galaxy 1
    expect(cards.nth(0).locator("button.chosen")).to_have_text("1")
    # the cards were drawn anew: the focus follows the cursor to the next card's same score
    focus = _focus(page)
    assert focus["inGrid"] and focus["text"] == "1", focus
    expect(cards.nth(1).get_by_role("button", name="1")).to_be_focused()
    page.keyboard.press("ArrowRight")
    expect(cards.nth(2).get_by_role("button", name="1")).to_be_focused()
    page.keyboard.press(" ")  # Space presses the focused score
    expect(cards.nth(2).locator("button.chosen")).to_have_text("1")

    # browser shortcuts are left alone: Alt+← (Back) and Ctrl+digit are no move or score
    page.keyboard.press("Control+4")
    page.keyboard.press("Alt+ArrowLeft")
    expect(page.locator("#label-status")).to_contain_text("Scored")
    assert cards.locator("button.chosen").count() == 2
    assert page.url.endswith("#label")
    page.keyboard.press("5")  # a plain digit still scores the current card
    expect(cards.locator("button.chosen")).to_have_count(3)
    expect(page.locator("#label-info")).to_have_text("3 labels")  # all sent


def test_map_with_the_keyboard(page: object, site: dict[str, object]) -> None:
    from playwright.sync_api import expect

    page.goto(site["url"] + "/#map")
    _wait_map(page)
    view = "[galmorphMap.view.cx, galmorphMap.view.cy, galmorphMap.view.scale / homeView().scale]"
    page.locator("#map-reset").focus()
    page.keyboard.press("Tab")  # to Select all in view
    expect(page.locator("#map-select-view")).to_be_focused()
    page.keyboard.press("Tab")  # no selection: the export and Clear are skipped; the map
    expect(page.locator("#map-canvas")).to_be_focused()
    focus = _focus(page)
    assert focus["visible"] and focus["outline"] == "solid"
    x0, y0, zoom = page.evaluate(view)
    assert zoom == pytest.approx(1)
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowUp")
    x1, y1, _ = page.evaluate(view)
    assert x1 > x0 and y1 > y0
    page.keyboard.press("+")
    assert page.evaluate(view)[2] == pytest.approx(1.5)
    page.keyboard.press("-")
    page.keyboard.press("-")
    assert page.evaluate(view)[2] == pytest.approx(1 / 1.5)
    page.wait_for_function("() => new URLSearchParams(location.search).has('zoom')")
    page.keyboard.press("Home")
    assert page.evaluate(view) == pytest.approx([*page.evaluate(
        "[homeView().cx, homeView().cy]"), 1])

    # the galaxy nearest the centre is marked, shown and read out; Enter opens its page
    expect(page.locator("#map-centre")).to_have_attribute("role", "status")
    expect(page.locator("#map-centre")).to_contain_text("Nearest the centre: ")
    marked = page.evaluate("galmorphMap.hovered")
    nearest = page.evaluate(NEAREST_CENTRE_JS)
    assert marked == nearest
    galaxy = page.locator("#map-tip .id").text_content()
    expect(page.locator("#map-tip")).to_be_visible()
    assert galaxy in site["ids"] and galaxy in page.locator("#map-centre").text_content()
    page.keyboard.press("ArrowLeft")  # another view: the mark follows its centre
    expect(page.locator("#map-centre")).to_contain_text("Nearest the centre: ")
    page.keyboard.press("ArrowRight")
    expect(page.locator("#map-centre")).to_contain_text(galaxy)
    page.keyboard.press("Enter")
    page.wait_for_url("**/galaxy/" + quote(galaxy, safe=""))
    expect(page.locator("#galaxy-image")).to_have_attribute("alt", f"Image of galaxy {galaxy}")
    page.go_back()
    _wait_map(page)
    page.locator("#map-reset").focus()
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")
    expect(page.locator("#map-canvas")).to_be_focused()
    expect(page.locator("#map-centre")).to_contain_text(galaxy)  # the same view came back
    page.keyboard.press("Home")
    for _ in range(8):  # a whole view down, far from every galaxy: none is marked
        page.keyboard.press("ArrowDown")
    expect(page.locator("#map-centre")).to_contain_text("No galaxy near the centre")
    expect(page.locator("#map-tip")).to_be_hidden()
    assert page.evaluate("galmorphMap.hovered") == -1
    page.keyboard.press("Enter")  # opens nothing
    expect(page.locator("#map-canvas")).to_be_focused()
    assert "/galaxy/" not in page.url
    page.keyboard.press("Home")
    page.locator("#map-reset").focus()  # leaving the map clears the mark
    expect(page.locator("#map-tip")).to_be_hidden()
    assert page.evaluate("galmorphMap.hovered") == -1

    # a selection without a mouse: everything in view, exported, then cleared
    page.locator("#map-select-view").focus()
    page.keyboard.press("Enter")
    expect(page.locator("#map-selection")).to_have_text("40 galaxies selected")
    page.keyboard.press("Tab")
    expect(page.locator("#map-export")).to_be_focused()
    assert "/export/selection.csv?polygon=" in page.locator("#map-export").get_attribute("href")
    page.keyboard.press("Tab")
    expect(page.locator("#map-clear")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator("#map-selection")).to_have_text("No galaxies selected")
    expect(page.locator("#map-select-view")).to_be_focused()  # not dropped with disabled Clear


def test_no_failed_request_in_normal_use(browser: object, site: dict[str, object], fresh: str,
                                         web_files: dict[str, Path]) -> None:
    """Every tab (before the first score) and a galaxy's page; then a server without a
    session: its Label and Ranking tabs say why, without asking for what cannot be."""
    from playwright.sync_api import expect

    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page, problems = _watched(context)
    page.goto(fresh + "/#ranking")
    expect(page.locator("#ranking-info")).to_have_text(NO_LABELS)
    shown = {"browse": "#browse-grid .card >> nth=39", "map": "#map-legend-label",
             "search": "#search-id", "label": "#label-grid .card >> nth=3",
             "ranking": "#ranking-info"}
    for tab in TABS:
        page.click(f"nav a[data-tab={tab}]")
        expect(page.locator(shown[tab])).to_be_visible()
    expect(page.locator("#ranking-info")).to_have_text(NO_LABELS)
    page.goto(fresh + "/galaxy/" + quote(site["ids"][5], safe=""))
    expect(page.locator("#galaxy-neighbours .card")).to_have_count(12)

    gallery = Gallery(web_files["embeddings"], predictions=web_files["predictions"])
    with _serving(gallery) as url:
        page.goto(url + "/#label")
        expect(page.locator("#label-status")).to_contain_text("no labelling session")
        expect(page.locator("#retrain")).to_be_disabled()
        page.click("nav a[data-tab=ranking]")
        expect(page.locator("#ranking-info")).to_contain_text("no labelling session")
        seen = list(problems)  # before the server stops
    context.close()
    assert not seen, seen


def test_phone_tabs_fit_and_are_easy_to_hit(browser: object, site: dict[str, object]) -> None:
    from playwright.sync_api import expect

    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True,
                                  has_touch=True)
    page, problems = _watched(context)
    overflow = "() => document.documentElement.scrollWidth - innerWidth"
    # visible controls of the shown tab under 32 px high (too small for a finger)
    small = """() => [...document.querySelectorAll(
        "main button, main input, main select, .card-actions a, main .toolbar a")]
      .filter((n) => n.getClientRects().length && n.getBoundingClientRect().height < 32)
      .map((n) => `${n.tagName}#${n.id} ${n.textContent.trim().slice(0, 20)}`)"""
    page.goto(site["url"] + "/#search/" + quote(site["ids"][4], safe=""))
    expect(page.locator("#search-grid .card")).to_have_count(12)
    for tab in TABS:
        page.click(f"nav a[data-tab={tab}]")
        if tab == "map":
            _wait_map(page)
        else:
            page.wait_for_load_state("networkidle")
        assert page.evaluate(overflow) <= 0, tab
        assert page.evaluate(small) == [], tab
    canvas = page.locator("#map-canvas")
    page.click("nav a[data-tab=map]")
    box = canvas.bounding_box()
    assert box["width"] >= 340 and box["height"] >= 320  # room to pan, pinch and tap
    page.click("nav a[data-tab=label]")
    expect(page.locator("#label-grid .card")).to_have_count(4)
    expect(page.locator("#label-grid .card .scores").first).to_be_visible()
    assert page.evaluate("""() => Math.max(...[...document.querySelectorAll("#label-grid .scores")]
      .map((n) => n.getBoundingClientRect().right))""") <= 390
    # the upload form, with no results yet: no export (a link shown taller stays hidden)
    page.goto(site["url"] + "/#search")
    page.reload()
    expect(page.locator("#search-export")).to_be_hidden()
    context.close()
    assert not problems, problems
