"""The units vocabulary: records, merge, free-text resolution, import/export, log and reindex."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any
from dataclasses import replace
from pathlib import Path

import pytest
import sqlalchemy as sa
from _servers import use_catalog_of

from witnessbox.catalog import (
    Catalog,
    FreeText,
    IncidentInput,
    Observation,
    Unit,
    UnitRegistry,
    export_units_csv,
    export_units_json,
    import_units,
    make_timespan,
    propose,
    unambiguous_same,
)
from witnessbox.catalog.unit_match import fold, latin_key
from witnessbox.cli import main
from witnessbox.errors import InputError, NotFoundError
from witnessbox.workspace import Workspace

PASS = "correct horse battery staple"


@pytest.fixture
def reg(engine: sa.Engine) -> UnitRegistry:
    return UnitRegistry(engine, now=lambda: "2026-01-01T00:00:00+00:00")


def _inc(cat: Catalog, iid: str, *units: str) -> None:
    cat.add(IncidentInput(id=iid, title=iid, time=make_timespan("2020-08-10"), place="", region="Мінск",
                          categories=("beating",)))
    for u in units:
        cat.add_observation(iid, Observation(unit=u))


# ---------------------------------------------------------------------------- records
def test_add_derives_a_slug_and_logs_full_content(reg: UnitRegistry, log: Any) -> None:
    u = reg.add(Unit("", "Мінскі АМАП", "Минский ОМОН", "", "riot police"), log)
    assert u.slug == "minski-amap" and u.kind == "riot-police"
    twin = reg.add(Unit("", "Мінскі АМАП", "", "", "riot-police"), log)
    assert twin.slug == "minski-amap-2"
    assert [c.action for c in log.changes] == ["catalog.unit.add", "catalog.unit.add"]
    assert log.changes[0].details["name_ru"] == "Минский ОМОН"
    assert reg.get("минский омон").slug == "minski-amap"  # by name, any case


@pytest.mark.parametrize(
    ("unit", "message"),
    [
        (Unit("", "", "", "", "police"), "needs a name"),
        (Unit("", "A", "", "", "gendarmes"), "unknown unit kind"),
        (Unit("Bad Slug", "A", "", "", "police"), "unit slug"),
        (Unit("", "A\nB", "", "", "police"), "control characters"),
        (Unit("", "x" * 301, "", "", "police"), "longer than 300"),
        (Unit("", "A", "", "", "police", parent="nope"), "unknown parent"),
    ],
)
def test_bad_units_are_refused(reg: UnitRegistry, unit: Unit, message: str) -> None:
    with pytest.raises((InputError, NotFoundError), match=message):
        reg.add(unit)


def test_unit_record_has_no_field_for_an_individual() -> None:
    fields = set(Unit.__dataclass_fields__)
    assert fields == {"slug", "name_be", "name_ru", "name_en", "kind", "parent", "insignia", "notes", "sources"}


def test_chain_of_command_cannot_loop(reg: UnitRegistry) -> None:
    top = reg.add(Unit("mvd", "", "", "Ministry of Internal Affairs", "other"))
    mid = reg.add(Unit("guvd", "", "", "Minsk police", "police", parent=top.slug))
    low = reg.add(Unit("omon", "", "", "OMON", "riot-police", parent=mid.slug))
    with pytest.raises(InputError, match="loop"):
        reg.edit("mvd", Unit("mvd", "", "", "Ministry", "other", parent=low.slug))
    with pytest.raises(InputError, match="loop"):
        reg.edit("omon", Unit("omon", "", "", "OMON", "riot-police", parent="omon"))
    assert reg.edit("omon", Unit("omon", "", "", "OMON", "riot-police", parent="mvd")).parent == "mvd"


def test_kinds_are_configurable(reg: UnitRegistry, log: Any) -> None:
    assert [k.slug for k in reg.kinds()][:2] == ["police", "riot-police"]
    reg.add_kind("border-guard", "border guard", log)
    assert reg.add(Unit("", "", "", "Border post", "border guard")).kind == "border-guard"
    with pytest.raises(InputError, match="already exists"):
        reg.add_kind("border-guard", "x")


# ---------------------------------------------------------------------------- observations, merge
def test_observation_references_a_unit_by_slug(catalog: Catalog, reg: UnitRegistry) -> None:
    reg.add(Unit("omon", "АМАП", "ОМОН", "OMON", "riot-police"))
    _inc(catalog, "i1")
    inc = catalog.add_observation("i1", Observation(unit="АМАП (як напісана)", unit_slug="omon", officers=3))
    assert inc.observations[0].unit_slug == "omon" and inc.observations[0].unit == "АМАП (як напісана)"
    with pytest.raises(NotFoundError, match="unknown unit"):
        catalog.add_observation("i1", Observation(unit_slug="nope"))
    catalog.remove_observation("i1", 0)
    assert reg.usage() == {}


def test_merge_rewrites_observations_and_sub_units(catalog: Catalog, reg: UnitRegistry, log: Any) -> None:
    reg.add(Unit("omon", "", "", "OMON", "riot-police"))
    reg.add(Unit("omon-dup", "", "", "O.M.O.N.", "riot-police"))
    reg.add(Unit("omon-2nd", "", "", "2nd company", "riot-police", parent="omon-dup"))
    _inc(catalog, "i1")
    catalog.add_observation("i1", Observation(unit_slug="omon-dup"))
    catalog.add_observation("i1", Observation(unit_slug="omon"))
    rep = reg.merge("omon-dup", "omon", log)
    assert (rep.observations, rep.sub_units) == (1, 1)
    assert [o.unit_slug for o in catalog.get("i1").observations] == ["omon", "omon"]
    assert reg.get("omon-2nd").parent == "omon"
    with pytest.raises(NotFoundError):
        reg.get("omon-dup")
    assert log.changes[-1].action == "catalog.unit.merge" and log.changes[-1].objects == ("omon-dup", "omon")
    with pytest.raises(InputError, match="under"):
        reg.merge("omon", "omon-2nd")
    with pytest.raises(InputError, match="itself"):
        reg.merge("omon", "omon")


# ---------------------------------------------------------------------------- resolve
def test_folding_and_transliteration_keys() -> None:
    assert fold("Мінскі  АМАП!") == fold("минскi амап")  # і/и, case, punctuation
    assert fold("Ёлка") == fold("елка") and fold("Ўзвод") == fold("узвод")
    assert latin_key("ОМОН") == latin_key("OMON")
    assert latin_key("Спецназ") == latin_key("Spetsnaz")


def test_resolve_proposes_and_never_applies_by_itself(catalog: Catalog, reg: UnitRegistry, log: Any) -> None:
    reg.add(Unit("omon-minsk", "Мінскі АМАП", "Минский ОМОН", "Minsk OMON", "riot-police"))
    reg.add(Unit("almaz", "Алмаз", "Алмаз", "Almaz", "special-forces"))
    _inc(catalog, "i1", "минский омон", "МІНСКІ АМАП", "Minsk Omon", "Almaz", "Алмазз", "ГУБОПиК")
    _inc(catalog, "i2", "минский омон")
    free = reg.free_texts()
    assert free[0] == FreeText("минский омон", 2)
    res = {r.value: r for r in propose(free, reg.list())}
    assert [(p.slug, p.reason) for p in res["минский омон"].proposals] == [("omon-minsk", "same")]
    assert [(p.slug, p.reason) for p in res["МІНСКІ АМАП"].proposals] == [("omon-minsk", "same")]
    assert res["Almaz"].proposals[0].reason == "same"
    assert res["Алмазз"].proposals[0].slug == "almaz" and res["Алмазз"].proposals[0].reason == "similar"
    assert res["ГУБОПиК"].proposals == ()
    # Proposing changed nothing.
    assert reg.usage() == {}
    same = unambiguous_same(list(res.values()))
    assert "Алмазз" not in same and same["минский омон"] == "omon-minsk"
    n = reg.map_free_texts({"минский омон": "omon-minsk", "Алмазз": "Алмаз"}, log)
    assert n == 3
    assert log.changes[-1].action == "catalog.unit.resolve"
    assert {f.value for f in reg.free_texts()} == {"МІНСКІ АМАП", "Minsk Omon", "Almaz", "ГУБОПиК"}
    assert catalog.get("i2").observations[0].unit == "минский омон"  # the text as written is kept
    with pytest.raises(NotFoundError):
        reg.map_free_texts({"ГУБОПиК": "gubopik"})


# ---------------------------------------------------------------------------- import / export
def test_import_is_all_or_nothing_with_lines(engine: sa.Engine, reg: UnitRegistry, tmp_path: Path) -> None:
    bad = tmp_path / "units.csv"
    bad.write_text(
        "slug,name_be,name_ru,name_en,kind,parent\n"
        "mvd,,,Ministry,other,\n"
        "omon,АМАП,,,riot-police,mvd\n"
        "omon,dup,,,police,\n"
        ",,,,police,\n"
        "x,X,,,gendarmes,\n"
        "y,Y,,,police,nowhere\n",
        encoding="utf-8",
    )
    with pytest.raises(InputError) as ei:
        import_units(reg, engine, bad)
    lines = [p.line for p in ei.value.fields["problems"]]
    assert lines == [4, 5, 6, 7]
    assert reg.list() == []


def test_import_refuses_a_field_for_an_individual(engine: sa.Engine, reg: UnitRegistry, tmp_path: Path) -> None:
    csv_file = tmp_path / "u.csv"
    csv_file.write_text("slug,name_be,name_ru,name_en,kind,commander\nomon,АМАП,,,riot-police,Someone\n", encoding="utf-8")
    with pytest.raises(InputError, match="would describe individuals"):
        import_units(reg, engine, csv_file)
    js = tmp_path / "u.json"
    js.write_text('[\n{"slug": "a", "name_en": "A", "kind": "police"},\n{"slug": "b", "name_en": "B", "kind": "police",\n "members": ["x"]}\n]\n')
    with pytest.raises(InputError) as ei:
        import_units(reg, engine, js)
    (p,) = ei.value.fields["problems"]
    assert p.line == 3 and "individuals" in p.message
    assert reg.list() == []


def test_import_derives_distinct_slugs(engine: sa.Engine, reg: UnitRegistry, tmp_path: Path) -> None:
    f = tmp_path / "u.csv"
    f.write_text("slug,name_be,name_ru,name_en,kind\n,Мінскі АМАП,,,riot-police\n,Мінскі АМАП,,,riot-police\nminski-amap-3,x,,,police\n",
                 encoding="utf-8")
    assert import_units(reg, engine, f).slugs == ("minski-amap", "minski-amap-2", "minski-amap-3")
    g = tmp_path / "v.csv"
    g.write_text("slug,name,kind\nq,Q,police\n", encoding="utf-8")
    with pytest.raises(InputError, match="unknown field.*name_be"):
        import_units(reg, engine, g)


def test_export_imports_back(engine: sa.Engine, reg: UnitRegistry, tmp_path: Path, log: Any) -> None:
    src = tmp_path / "u.json"
    # Sub-unit first: the import inserts parents first whatever the order in the file.
    src.write_text(json.dumps([
        {"slug": "omon", "name_be": "АМАП", "name_ru": "ОМОН", "name_en": "", "kind": "riot police", "parent": "mvd",
         "insignia": "шэўрон з тыграм", "notes": "Line 1\nLine 2", "sources": ["https://example.org/a"]},
        # Spreadsheet formulas are neutralised in CSV (a leading ') and come back exactly.
        {"slug": "mvd", "name_en": "Ministry", "kind": "other", "notes": "=HYPERLINK(\"x\")", "insignia": "@x"},
    ], ensure_ascii=False))
    rep = import_units(reg, engine, src, log)
    assert rep.slugs == ("mvd", "omon")
    assert log.changes[-1].action == "catalog.unit.import"
    import csv
    import io

    cells = [c for row in csv.reader(io.StringIO(export_units_csv(reg.list()))) for c in row]
    assert "'=HYPERLINK(\"x\")" in cells and "'@x" in cells
    assert not [c for c in cells if c.startswith(("=", "+", "-", "@"))]
    for fmt, text in (("csv", export_units_csv(reg.list())), ("json", export_units_json(reg.list()))):
        e2 = sa.create_engine("sqlite://")
        from witnessbox.catalog import create_schema

        create_schema(e2)
        r2 = UnitRegistry(e2)
        f = tmp_path / f"back.{fmt}"
        f.write_text(text, encoding="utf-8")
        import_units(r2, e2, f)
        assert r2.list() == reg.list(), fmt


# ---------------------------------------------------------------------------- archive, log, reindex, CLI
@pytest.fixture(scope="module")
def ws(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workspace]:
    root = tmp_path_factory.mktemp("units-ws")
    w = Workspace.init(root / "archive", PASS)
    w.incidents.add_region("Мінск")
    yield w
    w.close()


def test_everything_survives_reindex_from_the_log(ws: Workspace, tmp_path: Path) -> None:
    u = ws.units
    u.add_kind("border-guard", "border guard")
    u.add(Unit("mvd", "", "", "Ministry", "other"))
    u.add(Unit("omon", "АМАП", "", "", "riot-police", parent="mvd"))
    u.add(Unit("omon-x", "", "ОМОН", "", "riot-police"))
    f = tmp_path / "more.csv"
    f.write_text("slug,name_be,name_ru,name_en,kind,parent\nspec,,,Spec,special-forces,mvd\n", encoding="utf-8")
    u.import_file(f)
    u.edit("omon", insignia="tiger", name_en="Minsk OMON")
    inc = ws.incidents
    inc.add(IncidentInput(id="r1", title="t", time=make_timespan("2020-08-10"), place="", region="Мінск", categories=("beating",)))
    inc.observe("r1", Observation(unit="омон"))
    inc.observe("r1", Observation(unit_slug="omon-x"))
    u.resolve({"омон": "omon-x"})
    u.merge("omon-x", "omon")
    inc.observe("r1", Observation(unit="омон"))  # after the mapping: stays free text
    # updated_at is the log entry's time after a replay (as for every incident): not compared
    before = (u.list(), u.kinds(), replace(inc.get("r1"), updated_at=""), u.free_texts())
    ws.reindex()
    after = (u.list(), u.kinds(), replace(inc.get("r1"), updated_at=""), u.free_texts())
    for a, b in zip(after, before, strict=True):
        assert a == b
    assert [o.unit_slug for o in after[2].observations] == ["omon", "omon", ""]
    actions = {e.action for e in ws.log()}
    assert {"catalog.unit.add", "catalog.unit.edit", "catalog.unit.merge", "catalog.unit.resolve",
            "catalog.unit.import", "catalog.unit.kind.add"} <= actions


def test_cli_unit_commands(ws: Workspace, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WITNESSBOX_PASSPHRASE", PASS)
    use_catalog_of(monkeypatch, ws)  # the module's archive keeps its catalog (PostgreSQL run)
    a = ["--archive", str(ws.root)]

    def run(*args: str) -> tuple[int, str, str]:
        with pytest.raises(SystemExit) as ei:
            main([*args, *a])
        out, err = capsys.readouterr()
        return int(ei.value.code or 0), out, err

    rc, out, err = run("unit", "add", "--name-en", "Homiel police", "--kind", "police", "--slug", "homiel-police")
    assert rc == 0, err
    rc, out, err = run("unit", "add", "--name-be", "Гомельскі АМАП", "--kind", "riot police", "--parent", "homiel-police")
    assert rc == 0 and out.strip() == "homelski-amap", err
    rc, out, _ = run("unit", "list", "--json")
    assert rc == 0 and "homelski-amap" in {r["slug"] for r in json.loads(out)}
    rc, out, _ = run("unit", "show", "homelski-amap", "--json")
    assert json.loads(out)["parent"] == "homiel-police"
    rc, out, _ = run("unit", "edit", "homelski-amap", "--name-en", "Homiel OMON", "--json")
    assert json.loads(out)["name_en"] == "Homiel OMON"
    rc, out, _ = run("incident", "add", "--title", "c", "--start", "2020-08-11", "--region", "Мінск", "-c", "beating", "--id", "c1")
    rc, _, _ = run("incident", "observe", "c1", "--unit", "гомельскі амап")
    rc, out, _ = run("unit", "resolve", "--json")
    row = next(r for r in json.loads(out) if r["value"] == "гомельскі амап")
    assert row["proposals"][0]["slug"] == "homelski-amap" and row["proposals"][0]["reason"] == "same"
    row["slug"] = "homelski-amap"
    (tmp_path / "map.json").write_text(json.dumps([row], ensure_ascii=False), encoding="utf-8")
    rc, _, err = run("unit", "resolve", "--apply", str(tmp_path / "map.json"))
    assert rc == 0 and "1 observation(s)" in err
    rc, out, _ = run("unit", "export", "--format", "csv")
    assert out.startswith("slug,name_be,name_ru,name_en,kind,parent,insignia,notes,sources\n")
    bad = tmp_path / "bad.csv"
    bad.write_text("slug,name_be,name_ru,name_en,kind\nq,Q,,,nope\n", encoding="utf-8")
    rc, _, err = run("unit", "import", str(bad))
    assert rc != 0 and "line 2" in err and "nothing was imported" in err
    rc, _, err = run("unit", "add", "--name-en", "Homiel OMON (typo)", "--kind", "riot-police", "--slug", "homiel-dup")
    rc, _, err = run("unit", "merge", "homiel-dup", "homelski-amap")
    assert rc == 0 and "merged homiel-dup into homelski-amap" in err, err
    rc, out, err = run("unit", "kinds", "--add", "traffic-police=traffic police", "--json")
    assert "traffic-police" in {k["slug"] for k in json.loads(out)}, err
