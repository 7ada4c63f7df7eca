"""A real headless Chromium walks the three-language site of units (file://).

Built through the whole pipeline: a real archive, the units vocabulary, observations by slug,
``ws.publishing.publish_all``. In be and ru: home -> units index (filters) -> unit -> incident
and back; the chart's numbers equal its table's and the catalog's; the language switch; every
link of every page resolves; no console error. The leak scan finds no unit of a draft-only
incident anywhere in the tree.
"""

from __future__ import annotations

import shutil
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from witnessbox.catalog import IncidentInput, Observation, Status, Unit, make_timespan
from witnessbox.workspace import Workspace

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "publish"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run", "--allow-file-access-from-files"]
PASS = "correct horse battery staple"
DRAFT_UNIT = "SECRET-DRAFT-UNIT-4471"
NAMES = {"be": "Мінскі АМАП", "ru": "Минский ОМОН", "en": "Minsk OMON"}

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Counter[tuple[str, str]], Counter[tuple[str, str]]]]:
    root = tmp_path_factory.mktemp("units-browser")
    ws = Workspace.init(root / "archive", PASS)
    inc, units = ws.incidents, ws.units
    inc.add_region("Мінск")
    inc.add_region("Гомель")
    units.add(Unit("mvd", "МУС", "МВД", "Ministry of Internal Affairs", "other"))
    units.add(Unit("omon", NAMES["be"], NAMES["ru"], NAMES["en"], "riot-police", parent="mvd", insignia="шэўрон"))
    units.add(Unit("almaz", "Алмаз", "Алмаз", "Almaz", "special-forces", parent="mvd"))
    units.add(Unit("drafty", DRAFT_UNIT, DRAFT_UNIT, DRAFT_UNIT, "police"))
    plan = [
        ("b1", "2020-08-09T22:00", "Мінск", ("beating",), ("omon",)),
        ("b2", "2020-08-10", "Мінск", ("arbitrary-detention", "beating"), ("omon", "almaz")),
        ("b3", "2020-10-11", "Гомель", ("chemical-agents",), ("almaz",)),
        ("b4", "2021-03-25", "Мінск", ("beating",), ("omon",)),
        ("b5", "2020-09-01", "Гомель", ("other",), ()),
    ]
    for iid, day, region, cats, obs in plan:
        inc.add(IncidentInput(id=iid, title=f"Затрыманне {iid}", time=make_timespan(day), place="Плошча", region=region,
                              categories=cats))
        for u in obs:
            inc.observe(iid, Observation(unit=u.upper(), unit_slug=u, officers=4))
        inc.set_status(iid, "verified")
        inc.set_status(iid, "published")
    inc.add(IncidentInput(id="draft", title="DRAFT", time=make_timespan("2020-08-12"), place="", region="Мінск",
                          categories=("beating",)))
    inc.observe("draft", Observation(unit_slug="drafty"))
    ws.publishing.publish_all(root / "site")
    published = [i for i in inc.list() if i.status == Status.PUBLISHED]
    all_counts = Counter((f"{i.time.start:%Y-%m}", i.categories[0]) for i in published)
    omon = Counter((f"{i.time.start:%Y-%m}", i.categories[0]) for i in published
                   if any(o.unit_slug == "omon" for o in i.observations))
    yield root / "site", all_counts, omon
    ws.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists() and shutil.which("chromium") is None:
        pytest.skip("Debian's chromium is not installed (.ci/run installs it)")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM if Path(CHROMIUM).exists() else shutil.which("chromium"), args=ARGS)
        yield b
        b.close()


def _watch(page: Any) -> list[str]:
    problems: list[str] = []
    page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type in ("error", "warning") else None)
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.on("requestfailed", lambda r: problems.append(f"request failed: {r.url}"))
    page.on("dialog", lambda d: (problems.append(f"dialog: {d.message}"), d.dismiss()))
    return problems


def _chart(page: Any, chart_id: str) -> tuple[Counter[tuple[str, str]], Counter[tuple[str, str]], int]:
    svg = page.eval_on_selector_all(
        f"#{chart_id}-svg rect[data-month]",
        "els => els.map(e => [e.dataset.month, e.dataset.category, Number(e.dataset.count), e.getBBox().height])",
    )
    assert all(h > 0 for *_, h in svg)  # every segment is drawn, not only listed
    table = page.eval_on_selector_all(
        f"#{chart_id}-table tbody td[data-category]",
        "els => els.map(e => [e.parentElement.dataset.month, e.dataset.category, Number(e.textContent)])",
    )
    total = sum(page.eval_on_selector_all(f"#{chart_id}-table td.total", "els => els.map(e => Number(e.textContent))"))
    return (Counter({(m, c): n for m, c, n, _ in svg}), Counter({(m, c): n for m, c, n in table if n}), total)


def _shot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


@pytest.mark.parametrize(("lang", "other"), [("be", "ru"), ("ru", "be")])
def test_home_unit_incident_and_back(browser: Any, site: tuple[Path, Counter[Any], Counter[Any]], lang: str, other: str) -> None:
    root, all_counts, omon_counts = site
    page = browser.new_page()
    problems = _watch(page)
    page.goto((root / lang / "index.html").as_uri())
    assert page.get_attribute("html", "lang") == lang
    svg, table, total = _chart(page, "home-chart")
    assert svg == table == all_counts and total == sum(all_counts.values())
    _shot(page, f"units-home-{lang}")

    page.locator("header nav a[href$='units/index.html']").click()
    assert page.url.endswith(f"/{lang}/units/index.html")
    assert page.locator("tr.unit-row").count() == 3  # mvd, omon, almaz; never the draft-only unit
    page.select_option("#units-kind", "riot-police")
    assert page.locator("tr.unit-row:visible").count() == 1
    page.select_option("#units-kind", "")
    page.fill("#units-text", "алмаз")
    assert page.locator("tr.unit-row:visible").count() == 1
    page.fill("#units-text", "")
    _shot(page, f"units-index-{lang}")

    page.get_by_role("link", name=NAMES[lang], exact=True).first.click()
    assert page.url.endswith(f"/{lang}/units/omon.html")
    assert page.locator("h1").inner_text() == NAMES[lang]
    svg, table, total = _chart(page, "unit-chart")
    assert svg == table == omon_counts and total == 3
    assert page.locator("#unit-incidents li").count() == 3
    _shot(page, f"units-unit-{lang}")

    page.locator("#unit-incidents a.title").first.click()
    assert page.url.endswith(f"/{lang}/incidents/b4.html")  # newest first
    unit_link = page.locator("section.observations a.unit")
    assert unit_link.first.inner_text() == NAMES[lang]
    page.go_back()
    assert page.url.endswith(f"/{lang}/units/omon.html")
    page.go_forward()
    unit_link.first.click()
    assert page.url.endswith(f"/{lang}/units/omon.html")

    page.locator(f"nav.lang-switch a[hreflang='{other}']").click()
    assert page.url.endswith(f"/{other}/units/omon.html")
    assert page.locator("h1").inner_text() == NAMES[other]
    assert problems == []
    page.close()


def test_every_link_resolves_and_no_console_error(browser: Any, site: tuple[Path, Counter[Any], Counter[Any]]) -> None:
    root = site[0]
    page = browser.new_page()
    problems = _watch(page)
    pages = sorted(root.rglob("*.html"))
    assert len(pages) > 30
    for p in pages:
        page.goto(p.as_uri())
        for href in page.eval_on_selector_all("a[href]", "els => els.map(e => e.href)"):
            if href.startswith("file://"):
                target = Path(href.split("?", 1)[0].split("#", 1)[0].removeprefix("file://"))
                assert target.is_file(), (p, href)
    assert problems == []
    page.close()


def test_no_unit_of_a_draft_only_incident_anywhere(site: tuple[Path, Counter[Any], Counter[Any]]) -> None:
    for p in site[0].rglob("*"):
        if p.is_file():
            data = p.read_bytes()
            assert DRAFT_UNIT.encode() not in data and b"drafty" not in data and b"DRAFT" not in data, p
