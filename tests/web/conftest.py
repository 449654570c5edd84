"""Fixtures of the browser tests: Debian's Chromium driven by Playwright.

Outside CI the tests that use them are skipped when Chromium or Playwright is missing; in
CI (``CI`` set) that is a failure, since ``make test`` installs both.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

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
