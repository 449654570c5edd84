"""Labelling and ranking end to end in headless Chromium: the tabs before the first score,
scoring from the keyboard, retraining, and the scores kept across a reload.

``site`` and ``page`` are in conftest.py.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from galmorph.anomaly.labels import LabelStore
from galmorph.web.app import create_app
from galmorph.web.background import BackgroundServer
from galmorph.web.gallery import NO_LABELS, Gallery
from galmorph.web.map_view import MapView

pytestmark = pytest.mark.browser


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
    expect(page.locator("#label-info")).to_contain_text(
        "batch 1: spread over every kind of galaxy (no scores yet)")
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
    expect(page.locator("#label-info")).to_contain_text(
        "batch 2: where your scores so far promise the most")
    expect(cards.first).to_contain_text("your predicted score")
    expect(cards.first).to_contain_text(" of 5, give or take ")
    new_batch = cards.locator(".id").all_text_contents()
    assert len(new_batch) == 4 and not set(new_batch) & set(batch)

    page.reload()
    expect(page.locator("#label-info")).to_contain_text("4 labels")
    expect(page.locator("#label-grid .card .id")).to_have_text(new_batch)
    page.click("nav a[data-tab=ranking]")
    starred = page.locator("#ranking-grid .card", has_text="· your score ")
    expect(starred).to_have_count(4)
    expect(starred.first.locator(".id")).to_have_text(batch[0])  # the highest score given
    with LabelStore.open(site["session"]) as store:  # the same file the CLI uses
        assert store.labels() == dict(zip(batch, (4.0, 0.0, 3.0, 1.0), strict=True))
    page.click("nav a[data-tab=label]")
    expect(page.locator("#label-info")).to_contain_text("4 labels · batch 2")  # shown anew
    page.wait_for_load_state("networkidle")
    page.keyboard.press("2")  # one of the four scored: Retrain says the others stay unlabelled
    expect(page.locator("#label-info")).to_contain_text("5 labels")
    page.click("#retrain")
    expect(page.locator("#label-status")).to_contain_text(
        "(3 of the last batch not scored: they stay unlabelled)")


def test_a_baseline_sessions_batch_shows_outlier_scores(
        page: object, web_files: dict[str, Path], tmp_path: Path) -> None:
    """A session ranking by an isolation forest shows its outlier score as such, not as a
    score predicted from yours with an uncertainty it does not have."""
    from playwright.sync_api import expect

    from galmorph.anomaly.session import AnomalySession

    session = tmp_path / "forest.db"
    AnomalySession.start(web_files["embeddings"], session, method="isolation-forest",
                         batch_size=3).close()
    gallery = Gallery(web_files["embeddings"], predictions=web_files["predictions"],
                      session=session)
    server = BackgroundServer(create_app(gallery))
    try:
        page.goto(server.url + "/#label")
        cards = page.locator("#label-grid .card")
        expect(cards).to_have_count(3)
        expect(page.locator("#label-info")).to_contain_text(
            "batch 1: the most unusual by isolation-forest")
        expect(cards.first).to_contain_text("outlier score ")
        expect(cards.first).to_contain_text(" of 5 (isolation-forest)")
        expect(cards.first).not_to_contain_text("give or take")
    finally:
        server.stop()
        gallery.close()


def test_on_a_phone_retrain_comes_into_view_when_the_batch_is_done(
        browser: object, web_files: dict[str, Path], tmp_path: Path) -> None:
    from playwright.sync_api import expect

    gallery = Gallery(web_files["embeddings"], predictions=web_files["predictions"],
                      session=tmp_path / "phone.db", batch_size=6)
    server = BackgroundServer(create_app(gallery))
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True,
                                  has_touch=True)
    try:
        page = context.new_page()
        page.goto(server.url + "/#label")
        cards = page.locator("#label-grid .card")
        expect(cards).to_have_count(6)
        for i in range(6):  # one column: the last cards are far below Retrain
            cards.nth(i).locator(".scores button").nth(2).click()
        expect(page.locator("#label-status")).to_contain_text("Batch done")
        expect(page.locator("#retrain")).to_be_in_viewport()
    finally:
        context.close()
        server.stop()
        gallery.close()
