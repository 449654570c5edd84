"""The Map tab end to end in headless Chromium: drawing and colours, hover and click,
box and lasso selections, the colour and view in the address, pinch and touch pan.

``site`` (40 galaxies with a PCA map) and ``page`` are in conftest.py.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from urllib.parse import parse_qs, quote, urlparse

import numpy as np
import pandas as pd
import pytest

from galmorph.web.map_view import inside_polygon, parse_polygon

pytestmark = pytest.mark.browser


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


def _contrast(colour: int, other: int) -> float:
    """WCAG contrast ratio of two canvas pixels (little-endian RGBA uint32)."""
    def luminance(pixel: int) -> float:
        rgb = np.array([(pixel >> shift) & 0xFF for shift in (0, 8, 16)]) / 255
        linear = np.where(rgb <= 0.03928, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4)
        return float(linear @ [0.2126, 0.7152, 0.0722])

    high, low = sorted((luminance(colour), luminance(other)), reverse=True)
    return (high + 0.05) / (low + 0.05)


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
    table, no_value, plain = page.evaluate("[Array.from(LUT), NO_VALUE, PLAIN]")
    assert min(_contrast(colour, MAP_BACKGROUND) for colour in [*table, no_value, plain]) >= 3
    assert len(set(table)) > 150  # still a scale, not a few steps
    assert (tmp_path / "map.png").stat().st_size > 10_000

    options = page.locator("#map-colour option")
    names = options.evaluate_all("nodes => nodes.map(n => n.value)")
    assert names[0] == "" and names[-2:] == ["score", "interest"] and "bar" in names
    recoloured = _redrawn(page, lambda: page.select_option("#map-colour", "bar"))
    assert {c for c, _ in recoloured[1:]} != painted
    for end in ("#map-legend-low", "#map-legend-high"):  # a fraction: 2 decimals
        expect(page.locator(end)).to_have_text(re.compile(r"^[01]\.\d\d$"))
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
    picked = page.locator("#map-picked-grid .card")
    expect(picked).to_have_count(min(len(inside), 12))
    assert set(picked.locator(".id").all_text_contents()) <= set(inside)
    expect(page.locator("#map-picked-heading")).to_have_text(
        f"12 of the {len(inside)} galaxies selected, drawn at random (Export selection lists "
        "them all)" if len(inside) > 12 else f"The {len(inside)} galaxies selected")
    assert page.locator("#map-canvas").bounding_box() == box  # the map did not move
    with page.expect_download() as download:
        page.click("#map-export")
    table = pd.read_csv(download.value.path(), dtype={"id_str": str}, keep_default_na=False)
    assert sorted(table["id_str"]) == sorted(inside) and 5 < len(inside) < 35
    page.click("#map-clear")
    expect(page.locator("#map-selection")).to_have_text("No galaxies selected")
    expect(page.locator("#map-picked")).to_be_hidden()
    expect(picked).to_have_count(0)
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
    page.route("**/api/map/selection*", lambda route: route.abort())  # the server gone
    page.click("#map-select-view")  # the triangle's count, cards and export go at once
    expect(page.locator("#map-selection")).to_have_text("Selection not counted")
    expect(export).to_have_attribute("aria-disabled", "true")  # nothing stale to export
    expect(page.locator("#map-picked")).to_be_hidden()


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
