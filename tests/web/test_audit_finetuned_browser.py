"""In real headless Chromium: a fine-tuned classifier's galaxy page says what its bars are,
and a galaxy whose image file is missing or unreadable shows a square saying so, not a
broken image or a card without one."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from galmorph.web.app import create_app
from galmorph.web.background import BackgroundServer
from galmorph.web.gallery import Gallery

pytestmark = pytest.mark.browser

CHROMIUM = os.environ.get("GALMORPH_CHROMIUM", "/usr/bin/chromium")


@pytest.fixture(scope="module")
def site(web_files: dict[str, Path], tmp_path_factory: pytest.TempPathFactory
         ) -> Iterator[tuple[str, list[str]]]:
    """A live server of the 40 web galaxies with a ring classifier's predictions; the first
    galaxy's image is not a JPEG, the second's file is missing. Its URL and the ids."""
    if not Path(CHROMIUM).is_file():
        pytest.skip(f"browser tests need Chromium at {CHROMIUM}")
    pytest.importorskip("playwright.sync_api")
    root = tmp_path_factory.mktemp("finetuned-site")
    catalog = pd.read_csv(web_files["catalog"])
    catalog["file_loc"] = [str(web_files["root"] / loc) for loc in catalog["file_loc"]]
    (root / "broken.jpg").write_bytes(b"not a JPEG")
    catalog.loc[0, "file_loc"] = str(root / "broken.jpg")
    catalog.loc[1, "file_loc"] = str(root / "gone.jpg")
    catalog.to_csv(root / "catalog.csv", index=False)
    ids = catalog["id_str"].tolist()
    ring = [0.2 + 0.6 * i / len(ids) for i in range(len(ids))]
    pd.DataFrame({"id_str": ids, "prob_0": [1 - r for r in ring], "prob_1": ring}).to_parquet(
        root / "rings.parquet", index=False)
    with pytest.warns(Warning):  # the missing image file
        gallery = Gallery(web_files["embeddings"], catalog=root / "catalog.csv",
                          predictions=root / "rings.parquet")
    server = BackgroundServer(create_app(gallery))
    yield server.url, ids
    server.stop()
    gallery.close()


@pytest.fixture(scope="module")
def page(site: tuple[str, list[str]]) -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.set_default_timeout(20_000)
        yield page
        browser.close()


def test_a_classifiers_galaxy_page_says_its_bars_are_class_probabilities(
        page: object, site: tuple[str, list[str]]) -> None:
    from playwright.sync_api import expect

    url, ids = site
    page.goto(f"{url}/galaxy/{ids[5]}")
    expect(page.locator("#galaxy-answers .question h4")).to_have_text("class")
    help_text = page.locator("#answers-help")
    expect(help_text).to_contain_text("the fine-tuned classifier's probability of that class")
    expect(help_text).not_to_contain_text("volunteers")
    expect(page.locator("#galaxy-neighbours .card").first).to_contain_text("class: ")


def test_missing_and_unreadable_images_say_so(page: object, site: tuple[str, list[str]]
                                              ) -> None:
    from playwright.sync_api import expect

    url, ids = site
    page.goto(url + "/#browse")
    cards = page.locator("#browse-grid .card")
    expect(cards).to_have_count(40)
    expect(cards.nth(0).locator(".no-image")).to_have_text("image cannot be read")
    expect(cards.nth(1).locator(".no-image")).to_have_text("no image file")
    expect(cards.nth(2).locator("img")).to_have_js_property("naturalWidth", 128)
    assert cards.nth(2).locator(".no-image").count() == 0
    page.goto(f"{url}/galaxy/{ids[0]}")
    expect(page.locator(".galaxy-top .no-image")).to_have_text("image cannot be read")
    page.goto(f"{url}/galaxy/{ids[1]}")
    expect(page.locator(".galaxy-top .no-image")).to_have_text("no image file")


def test_without_a_session_the_exports_say_why_instead_of_downloading_an_error(
        page: object, site: tuple[str, list[str]]) -> None:
    """Before, Export labels was live and downloaded the server's 409 answer."""
    from playwright.sync_api import expect

    url, _ = site
    page.goto(url + "/#label")
    expect(page.locator("#label-status")).to_contain_text("no labelling session")
    for link in ("#label a[data-export=labels]", "#label a[data-export=ranking]",
                 "#ranking a[data-export=ranking]"):
        expect(page.locator(link)).to_have_attribute("aria-disabled", "true")
    downloads: list[object] = []
    page.on("download", lambda download: downloads.append(download))
    page.locator("#label a[data-export=labels]").click(force=True)
    expect(page.locator("#error")).to_have_text(
        "No labelling session: start galmorph serve with --session FILE.db to label galaxies.")
    page.wait_for_timeout(300)
    assert downloads == []
