"""A real headless Chromium walks the published site from disk (file://).

Home -> region -> incident, the region filter, the search page (text, category, dates), media
visible; any console error, page error, failed request, broken image or alert() fails the test.
Screenshots go to test-artifacts/publish/ (git-ignored).
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from publish_fixtures import Published

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "publish"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run", "--allow-file-access-from-files"]

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists() and shutil.which("chromium") is None:
        pytest.skip("Debian's chromium is not installed (.ci/run installs it)")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM if Path(CHROMIUM).exists() else shutil.which("chromium"), args=ARGS)
        yield b
        b.close()


class Watch:
    """Everything that counts as a failure on a page."""

    def __init__(self, page: Any) -> None:
        self.problems: list[str] = []
        page.on("console", lambda m: self.problems.append(f"console {m.type}: {m.text}") if m.type in ("error", "warning") else None)
        page.on("pageerror", lambda e: self.problems.append(f"page error: {e}"))
        page.on("requestfailed", lambda r: self.problems.append(f"request failed: {r.url}"))
        page.on("dialog", lambda d: (self.problems.append(f"dialog: {d.message}"), d.dismiss()))


def _broken_images(page: Any) -> list[str]:
    return page.evaluate("Array.from(document.images).filter(i => !i.complete || i.naturalWidth === 0).map(i => i.src)")


def _shot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def test_walk_the_site(browser: Any, published: Published) -> None:
    page = browser.new_page()
    watch = Watch(page)
    site = published.site
    page.goto(site.joinpath("index.html").as_uri())
    assert page.locator("#region-counts tbody tr").count() == 2
    _shot(page, "home")

    page.get_by_role("link", name="Мінск").first.click()
    assert "/regions/" in page.url
    assert page.locator("#incident-list li").count() == 1
    page.fill("#filter-text", "НЕМА ТАКОГА")
    assert page.locator("#incident-list li:visible").count() == 0
    page.fill("#filter-text", "плошча незалежнасці")  # Cyrillic, other case: place text
    assert page.locator("#incident-list li:visible").count() == 1
    page.select_option("#filter-category", "beating")
    assert page.locator("#incident-list li:visible").count() == 0
    page.select_option("#filter-category", "arbitrary-detention")
    assert page.inner_text("#filter-count").endswith("1")
    _shot(page, "region")
    page.locator("#incident-list a.title").first.click()
    assert page.url.endswith("/incidents/nomedia-1.html")
    assert "No media is published" in page.inner_text("section.media")

    page.goto(site.joinpath("incidents", "xss-1.html").as_uri())
    assert page.locator("figure img").count() == 1
    assert _broken_images(page) == []
    video = page.locator("figure video")
    assert video.count() == 1
    if page.evaluate("document.createElement('video').canPlayType('video/mp4; codecs=\"avc1.42E01E\"')"):
        page.wait_for_function("document.querySelector('video').readyState >= 1", timeout=10_000)
        assert page.evaluate("document.querySelector('video').error") is None
    assert page.locator("h1").inner_text().startswith("T <script>")  # shown, not run
    _shot(page, "incident")

    page.goto(site.joinpath("index.html").as_uri())
    page.fill("#home-q", "затрыманне")
    page.click("form.search button")
    page.wait_for_url("**/search.html?q=*")
    assert page.locator("#results li").count() == 1
    page.fill("#q", "")
    assert page.locator("#results li").count() == 2
    page.select_option("#category", "chemical-agents")
    assert page.locator("#results li").count() == 1
    page.select_option("#category", "")
    page.fill("#from", "2020-08-11")
    assert page.locator("#results li").count() == 1
    page.fill("#to", "2020-08-10")
    assert page.locator("#results li").count() == 0
    _shot(page, "search")

    # Every page of the site loads cleanly (links, styles, scripts, media all resolve).
    for p in sorted(site.rglob("*.html")):
        page.goto(p.as_uri())
        assert _broken_images(page) == [], p
        for href in page.eval_on_selector_all("a[href]", "els => els.map(e => e.href)"):
            if href.startswith("file://"):
                target = Path(href.split("?", 1)[0].removeprefix("file://"))
                assert target.is_file(), (p, href)
    assert watch.problems == []
    page.close()


def test_belarusian_site_in_the_browser(browser: Any, published: Published) -> None:
    page = browser.new_page()
    watch = Watch(page)
    page.goto(published.site_be.joinpath("search.html").as_uri() + "?q=%D0%B7%D0%B0%D1%82%D1%80%D1%8B%D0%BC")
    assert page.inner_text("#result-count") == "Знойдзена інцыдэнтаў: 1"
    assert page.locator("#results .cat").first.inner_text() == "адвольнае затрыманне"
    _shot(page, "search-be")
    assert watch.problems == []
    page.close()
