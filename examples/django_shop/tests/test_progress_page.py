"""The report page in a real browser (headless Chromium through Playwright): the bar fills
as the worker's ``update_state(meta={'current', 'total'})`` reports progress."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

CHROMIUM = os.environ.get("SHOP_CHROMIUM", "/usr/bin/chromium")


@pytest.fixture
def browser():
    sync_api = pytest.importorskip("playwright.sync_api")
    if not shutil.which(CHROMIUM):
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium)")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        yield browser
        browser.close()


def test_the_progress_bar_fills(live_server, shop, browser, tmp_path: Path) -> None:
    artifacts = Path(os.environ.get("SHOP_ARTIFACTS") or tmp_path)
    artifacts.mkdir(parents=True, exist_ok=True)
    page = browser.new_page(viewport={"width": 640, "height": 240})
    page.goto(f"{live_server.url}/report/?total=15")
    seen: list[int] = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        value = int(page.get_attribute("#bar", "aria-valuenow") or 0)
        if not seen or value != seen[-1]:
            seen.append(value)
            if 0 < value < 100 and len(seen) in (2, 4):
                page.screenshot(path=str(artifacts / f"progress-{value:03d}.png"))
        if value == 100:
            break
        time.sleep(0.05)
    page.wait_for_function("document.getElementById('status').textContent.startsWith('SUCCESS')")
    # the bar is full once its CSS transition (0.1 s) has run
    page.wait_for_function(
        "document.getElementById('bar').getBoundingClientRect().width"
        " >= document.getElementById('track').clientWidth - 1"
    )
    page.screenshot(path=str(artifacts / "progress-100.png"))
    assert seen[-1] == 100
    assert seen == sorted(seen) and len([v for v in seen if 0 < v < 100]) >= 3, seen
    assert "SUCCESS: 15 of 15" in page.text_content("#status")
