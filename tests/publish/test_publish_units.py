"""Units on the public site: pages, index, open data, charts, languages, incremental rebuilds, leaks."""

from __future__ import annotations

import json
import re
from collections import Counter
from html.parser import HTMLParser
from pathlib import Path

import pytest
import sqlalchemy as sa

from witnessbox.catalog import (
    Catalog,
    IncidentInput,
    Observation,
    Status,
    Unit,
    UnitRegistry,
    create_schema,
    make_timespan,
)
from witnessbox.publish.builder import build_site, verify_site
from witnessbox.publish.charts import OTHER_COLOUR, PALETTE
from witnessbox.publish.gate import select
from witnessbox.publish.site import SiteOptions

DRAFT_UNIT_NAME = "SECRET-DRAFT-ONLY-UNIT"
HOSTILE = '<script>alert(1)</script>"><svg onload=alert(2)>'


class World:
    """A catalog with units: a tree mvd > guvd > omon, a second unit, and a unit seen only in a draft."""

    def __init__(self) -> None:
        self.engine = sa.create_engine("sqlite://")
        create_schema(self.engine)
        self.cat = Catalog(self.engine, now=lambda: "2026-01-01T00:00:00+00:00")
        self.reg = UnitRegistry(self.engine, now=lambda: "2026-01-01T00:00:00+00:00")
        self.cat.add_region("Мінск")
        self.cat.add_region("Гродна")
        self.cat.add_category("custom-" + "x", HOSTILE)
        r = self.reg
        r.add(Unit("mvd", "МУС", "МВД", "Ministry of Internal Affairs", "other"))
        r.add(Unit("guvd", "ГУУС Мінгарвыканкама", "ГУВД Мингорисполкома", "Minsk police", "police", parent="mvd"))
        r.add(Unit("omon", "Мінскі АМАП", "Минский ОМОН", "Minsk OMON", "riot-police", parent="guvd",
                   insignia="шэўрон " + HOSTILE, notes="**Notes** " + HOSTILE, sources=("https://example.org/omon",)))
        r.add(Unit("almaz", "Алмаз", "Алмаз", "Almaz", "special-forces", parent="mvd"))
        r.add(Unit("drafty", DRAFT_UNIT_NAME, DRAFT_UNIT_NAME, DRAFT_UNIT_NAME, "police"))
        r.add(Unit("unseen", "UNSEEN-UNIT", "", "", "police", parent="omon"))
        plan = [  # id, date, region, categories, units
            ("a1", "2020-08-09", "Мінск", ("beating", "arbitrary-detention"), ("omon",)),
            ("a2", "2020-08-10", "Мінск", ("arbitrary-detention",), ("omon", "almaz")),
            ("a3", "2020-10-01", "Гродна", ("chemical-agents",), ("omon",)),
            ("a4", "2021-01-15", "Гродна", ("custom-x",), ("almaz",)),
            ("a5", "2020-09-03", "Мінск", ("beating",), ()),
        ]
        for iid, day, region, cats, units in plan:
            self.add(iid, day, region, cats, units)
        self.add("d1", "2020-08-11", "Мінск", ("beating",), ("drafty",), status=Status.DRAFT)

    def add(self, iid: str, day: str, region: str, cats: tuple[str, ...], units: tuple[str, ...],
            status: Status = Status.PUBLISHED) -> None:
        self.cat.add(IncidentInput(id=iid, title=f"Incident {iid}", time=make_timespan(day), place="Square", region=region,
                                   categories=cats))
        for u in units:
            self.cat.add_observation(iid, Observation(unit=f"as written {u}", unit_slug=u, officers=3))
        if status != Status.DRAFT:
            self.cat.set_status(iid, Status.VERIFIED)
        if status == Status.PUBLISHED:
            self.cat.set_status(iid, Status.PUBLISHED)

    def build(self, out: Path, lang: str = "en", languages: tuple[str, ...] = ()):  # type: ignore[no-untyped-def]
        gate = select(self.cat.list(), {}, {})
        kinds = {k.slug: k.label for k in self.reg.kinds()}
        return build_site(out, gate, self.cat.regions(), self.cat.categories(), units=self.reg.list(), unit_kinds=kinds,
                          options=SiteOptions(lang=lang, languages=languages))


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def _parse(p: Path) -> _Tags:
    t = _Tags()
    t.feed(p.read_text(encoding="utf-8"))
    return t


@pytest.fixture(scope="module")
def world() -> World:
    return World()


@pytest.fixture(scope="module")
def site(world: World, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("units-site") / "site"
    world.build(out)
    return out


def test_unit_pages_for_observed_units_and_their_chain(site: Path) -> None:
    pages = sorted(p.name for p in (site / "units").glob("*.html"))
    assert pages == ["almaz.html", "guvd.html", "index.html", "mvd.html", "omon.html"]
    omon = (site / "units" / "omon.html").read_text(encoding="utf-8")
    assert "Minsk OMON" in omon and "Мінскі АМАП" in omon and "Минский ОМОН" in omon
    assert 'href="../units/guvd.html"' in omon  # parent, in the crumbs and the facts
    assert re.search(r'id="unit-count">3<', omon)
    # Newest first: a3 (October) before a2 and a1 (August).
    assert omon.index("incidents/a3.html") < omon.index("incidents/a2.html") < omon.index("incidents/a1.html")
    guvd = (site / "units" / "guvd.html").read_text(encoding="utf-8")
    assert 'href="../units/omon.html"' in guvd  # its published sub-unit
    assert "UNSEEN-UNIT" not in guvd + omon  # a sub-unit that is never observed is not shown
    assert verify_site(site) == []


def test_no_unit_of_a_draft_only_incident_leaks(site: Path) -> None:
    for p in site.rglob("*"):
        if p.is_file():
            data = p.read_bytes()
            for marker in (DRAFT_UNIT_NAME, "drafty", "UNSEEN-UNIT", "unseen"):
                assert marker.encode() not in data, (p, marker)


def test_incident_region_and_index_pages_link_units(site: Path) -> None:
    a2 = (site / "incidents" / "a2.html").read_text(encoding="utf-8")
    assert 'href="../units/omon.html">Minsk OMON</a>' in a2 and 'href="../units/almaz.html">Almaz</a>' in a2
    assert "as written omon" in a2  # the free text as written stays visible
    region = next(p for p in (site / "regions").glob("*.html") if "Гродна" in p.read_text(encoding="utf-8"))
    t = region.read_text(encoding="utf-8")
    assert 'id="region-units"' in t and 'href="../units/omon.html"' in t and 'href="../units/almaz.html"' in t
    idx = (site / "units" / "index.html").read_text(encoding="utf-8")
    rows = re.findall(r'<tr class="unit-row" data-text="[^"]*" data-kind="([^"]*)" data-regions="([^"]*)">', idx)
    assert len(rows) == 4 and {k for k, _ in rows} == {"other", "police", "riot-police", "special-forces"}
    home = (site / "index.html").read_text(encoding="utf-8")
    assert 'href="units/index.html"' in home


def test_units_open_data_links_observations(site: Path) -> None:
    units = {u["slug"]: u for u in json.loads((site / "units.json").read_text(encoding="utf-8"))}
    assert set(units) == {"mvd", "guvd", "omon", "almaz"}
    assert [i["id"] for i in units["omon"]["incidents"]] == ["a1", "a2", "a3"]
    assert units["omon"]["incidents"][0]["url"] == "incidents/a1.html"
    assert units["mvd"]["incidents"] == [] and units["guvd"]["parent"] == "mvd"
    csv_text = (site / "units.csv").read_text(encoding="utf-8")
    assert csv_text.splitlines()[0] == "slug,url,name_be,name_ru,name_en,kind,parent,insignia,notes,sources,incidents"
    incidents = {i["id"]: i for i in json.loads((site / "incidents.json").read_text(encoding="utf-8"))}
    assert [o["unit_slug"] for o in incidents["a2"]["observations"]] == ["omon", "almaz"]
    assert set(json.loads((site / "manifest.json").read_text())["files"][0]) == {"path", "sha256", "size"}


def _chart_numbers(page: Path, chart_id: str) -> tuple[Counter[tuple[str, str]], Counter[tuple[str, str]], dict[str, int]]:
    t = _parse(page)
    svg: Counter[tuple[str, str]] = Counter()
    for tag, a in t.tags:
        if tag == "rect" and a.get("data-month"):
            svg[(str(a["data-month"]), str(a["data-category"]))] += int(str(a["data-count"]))
    html = page.read_text(encoding="utf-8")
    table_html = html[html.index(f'id="{chart_id}-table"'):]
    table_html = table_html[: table_html.index("</table>")]
    table: Counter[tuple[str, str]] = Counter()
    totals: dict[str, int] = {}
    for month, cells in re.findall(r'<tr data-month="([0-9-]+)">(.*?)</tr>', table_html):
        for cat, n in re.findall(r'<td data-category="([^"]+)">(\d+)</td>', cells):
            if int(n):
                table[(month, cat)] += int(n)
        totals[month] = int(re.findall(r'<td class="total">(\d+)</td>', cells)[0])
    return svg, table, totals


def test_chart_numbers_equal_table_and_catalog(world: World, site: Path) -> None:
    published = [i for i in world.cat.list() if i.status == Status.PUBLISHED]
    expect = Counter((f"{i.time.start:%Y-%m}", i.categories[0]) for i in published)
    svg, table, totals = _chart_numbers(site / "index.html", "home-chart")
    assert svg == table == expect
    assert totals["2020-11"] == 0 and sum(totals.values()) == len(published)  # empty months are rows too
    omon = [i for i in published if any(o.unit_slug == "omon" for o in i.observations)]
    svg, table, _ = _chart_numbers(site / "units" / "omon.html", "unit-chart")
    assert svg == table == Counter((f"{i.time.start:%Y-%m}", i.categories[0]) for i in omon)


def test_chart_is_static_safe_and_colour_blind_palette(site: Path) -> None:
    home = (site / "index.html").read_text(encoding="utf-8")
    svg = home[home.index("<svg"): home.index("</svg>")]
    assert "<script" not in svg and "style=" not in svg and "href" not in svg
    assert HOSTILE not in svg and "&lt;script&gt;" in svg  # a custom category label, escaped
    fills = dict(re.findall(r'fill="(#[0-9A-F]{6})" data-month="[0-9-]+" data-category="([^"]+)"', svg))
    by_cat = {c: f for f, c in fills.items()}
    assert by_cat["beating"] == PALETTE[0] and by_cat["chemical-agents"] == PALETTE[2]
    assert by_cat["custom-x"] == OTHER_COLOUR  # past the ninth category of the taxonomy
    assert 'role="img"' in svg and 'aria-describedby="home-chart-table"' in svg


@pytest.mark.parametrize(("lang", "month"), [("be", "жнівень 2020"), ("ru", "август 2020"), ("en", "August 2020")])
def test_pages_in_each_language(world: World, tmp_path: Path, lang: str, month: str) -> None:
    out = tmp_path / lang
    world.build(out, lang=lang, languages=("be", "ru", "en"))
    home = (out / "index.html").read_text(encoding="utf-8")
    assert f'<html lang="{lang}">' in home and month in home
    omon = (out / "units" / "omon.html").read_text(encoding="utf-8")
    expected_name = {"be": "Мінскі АМАП", "ru": "Минский ОМОН", "en": "Minsk OMON"}[lang]
    assert f"<h1>{expected_name}</h1>" in omon
    for other in ("be", "ru", "en"):
        if other != lang:
            assert f'href="../../{other}/units/omon.html"' in omon  # the language switch


def test_new_incident_rewrites_only_what_depends_on_it(tmp_path: Path) -> None:
    w = World()
    out = tmp_path / "site"
    w.build(out)
    w.add("a6", "2020-10-02", "Гродна", ("beating",), ("almaz",))
    rep = w.build(out)
    grodna = next(p.relative_to(out).as_posix() for p in (out / "regions").glob("*.html")
                  if "Гродна" in p.read_text(encoding="utf-8"))
    assert set(rep.written) == {
        "incidents/a6.html", grodna, "units/almaz.html", "units/index.html", "index.html", "incidents.json",
        "incidents.csv", "units.json", "units.csv", "feed.atom", "search-index.js", "manifest.json", "SHA256SUMS",
    }
    again = w.build(out)
    assert again.written == ()


def test_merge_rewrites_observations_and_the_site(tmp_path: Path) -> None:
    w = World()
    out = tmp_path / "site"
    w.build(out)
    w.reg.merge("almaz", "omon")
    rep = w.build(out)
    assert "units/almaz.html" in rep.removed
    assert not (out / "units" / "almaz.html").exists()
    a4 = (out / "incidents" / "a4.html").read_text(encoding="utf-8")
    assert 'href="../units/omon.html"' in a4 and "units/almaz" not in a4
    assert re.search(r'id="unit-count">4<', (out / "units" / "omon.html").read_text(encoding="utf-8"))
    assert "almaz" not in {u["slug"] for u in json.loads((out / "units.json").read_text(encoding="utf-8"))}
    assert verify_site(out) == []


def test_cli_all_languages_builds_three_sites_and_refuses_a_foreign_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from witnessbox.cli import main
    from witnessbox.workspace import Workspace

    pw = "correct horse battery staple"
    monkeypatch.setenv("WITNESSBOX_PASSPHRASE", pw)
    ws = Workspace.init(tmp_path / "archive", pw)
    ws.incidents.add_region("Мінск")
    ws.units.add(Unit("omon", "АМАП", "ОМОН", "OMON", "riot-police"))
    ws.incidents.add(IncidentInput(id="c1", title="t", time=make_timespan("2020-08-10"), place="", region="Мінск",
                                   categories=("beating",)))
    ws.incidents.observe("c1", Observation(unit_slug="omon"))
    ws.incidents.set_status("c1", "verified")
    ws.incidents.set_status("c1", "published")
    ws.close()
    out = tmp_path / "site"
    with pytest.raises(SystemExit) as ei:
        main(["publish", str(out), "--all-languages", "--archive", str(tmp_path / "archive")])
    assert ei.value.code == 0, capsys.readouterr().err
    for lang in ("be", "ru", "en"):
        assert verify_site(out / lang) == []
        assert (out / lang / "units" / "omon.html").is_file()
    assert {a for a in re.findall(r'href="([a-z]{2})/index.html"', (out / "index.html").read_text())} == {"be", "ru", "en"}
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    with pytest.raises(SystemExit) as ei:
        main(["publish", str(foreign), "--all-languages", "--archive", str(tmp_path / "archive")])
    assert ei.value.code != 0 and "not empty" in capsys.readouterr().err
    assert sorted(p.name for p in foreign.iterdir()) == ["notes.txt"]


def test_renaming_a_unit_rewrites_the_pages_that_show_its_name(tmp_path: Path) -> None:
    w = World()
    out = tmp_path / "site"
    w.build(out)
    cur = w.reg.get("omon")
    w.reg.edit("omon", Unit("omon", cur.name_be, cur.name_ru, "Minsk riot police", cur.kind, cur.parent, cur.insignia,
                            cur.notes, cur.sources))
    written = set(w.build(out).written)
    assert {"incidents/a1.html", "incidents/a2.html", "incidents/a3.html", "units/omon.html", "units/guvd.html",
            "units/index.html", "units.json", "units.csv"} <= written
    # almaz lists a2 too, but its list entry shows no unit name: not rewritten
    assert not written & {"incidents/a4.html", "incidents/a5.html", "units/mvd.html", "units/almaz.html"}, sorted(written)
    assert "Minsk riot police" in (out / "incidents" / "a1.html").read_text(encoding="utf-8")


def test_a_second_language_copies_the_media_of_the_first(tmp_path: Path) -> None:
    import hashlib
    import io

    from PIL import Image

    from witnessbox.catalog import Role
    from witnessbox.publish.gate import ItemInfo

    b = io.BytesIO()
    Image.new("RGB", (24, 16), (200, 10, 10)).save(b, "JPEG")
    data = b.getvalue()
    reads: list[str] = []
    orig, der = "0" * 64, hashlib.sha256(data).hexdigest()
    items = {orig: ItemInfo(orig, None, "image/jpeg", "", lambda: b""),
             der: ItemInfo(der, orig, "image/jpeg", "redacted", lambda: (reads.append(der), data)[1])}
    w = World()
    w.cat.link("a1", orig, Role.PRIMARY)
    gate = select(w.cat.list(), items, {der: "2026-01-01T00:00:00+00:00"})

    def build(lang: str, media_from: Path | None = None):  # type: ignore[no-untyped-def]
        return build_site(tmp_path / lang, gate, w.cat.regions(), w.cat.categories(), units=w.reg.list(),
                          originals=frozenset({orig}), options=SiteOptions(lang=lang), media_from=media_from)

    assert build("en").media == 1 and len(reads) == 1
    assert build("ru", media_from=tmp_path / "en").media == 1
    assert len(reads) == 1  # copied from the English site, not decrypted and encoded again
    (m,) = (tmp_path / "ru" / "media").iterdir()
    assert m.read_bytes() == (tmp_path / "en" / "media" / m.name).read_bytes()
    (tmp_path / "en" / "media" / m.name).write_bytes(b"tampered")
    assert build("be", media_from=tmp_path / "en").media == 1
    assert len(reads) == 2  # a sibling file that does not match its recorded SHA-256 is not trusted
    assert verify_site(tmp_path / "be") == []
