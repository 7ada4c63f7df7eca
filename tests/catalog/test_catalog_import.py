"""CSV and JSON import (transactional, every bad row by line number) and export round trips."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from witnessbox.catalog import Catalog, export_csv, export_json, import_file
from witnessbox.errors import InputError

HEADER = "id,title,start,end,precision,place,region,categories,description,status\n"
GOOD = (
    HEADER
    + 'by-1,Збіццё,2020-08-10T22:00,,exact,Пушкінская,Мінск,beating;arbitrary detention,"Line one\nline two, with comma",published\n'
    + "by-2,Gas,2020-08-11,2020-08-12,,Square,Homiel,chemical-agents,,draft\n"
    + ",No id,2020-08-13,,approximate,,Мінск,other,,verified\n"
)


def _write(tmp_path: Path, name: str, text: str) -> Path:
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


def test_import_csv(catalog: Catalog, log, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    rep = import_file(catalog, _write(tmp_path, "a.csv", GOOD), log)
    assert len(rep.ids) == 3 and rep.ids[:2] == ("by-1", "by-2")
    got = {i.id: i for i in catalog.list()}
    assert got["by-1"].description == "Line one\nline two, with comma"
    assert got["by-1"].categories == ("beating", "arbitrary-detention")
    assert got["by-2"].time.end is not None
    assert [c.action for c in log.changes] == ["catalog.import"]  # one entry, full content
    assert len(json.loads(log.changes[0].details["incidents"])) == 3


def test_export_round_trips(catalog: Catalog, tmp_path: Path, engine) -> None:  # type: ignore[no-untyped-def]
    import_file(catalog, _write(tmp_path, "a.csv", GOOD))
    before = catalog.list()
    for fmt, text in (("csv", export_csv(before)), ("json", export_json(before))):
        import sqlalchemy as sa

        from witnessbox.catalog import create_schema

        e2 = sa.create_engine("sqlite://")
        create_schema(e2)
        other = Catalog(e2)
        other.add_region("Мінск")
        other.add_region("Homiel")
        import_file(other, _write(tmp_path, f"x.{fmt}", text))
        after = other.list()
        strip = lambda incs: [(i.id, i.title, i.time, i.place, i.region, i.categories, i.description, i.status) for i in incs]  # noqa: E731
        assert strip(after) == strip(before), fmt


BAD_ROWS = [
    ("bad date", "x1,T,2020-02-30,,,p,Мінск,beating,,draft\n", "not ISO 8601"),
    ("unknown region", "x1,T,2020-02-03,,,p,Atlantis,beating,,draft\n", "unknown region"),
    ("missing title", "x1,,2020-02-03,,,p,Мінск,beating,,draft\n", "title is missing"),
    ("unknown category", "x1,T,2020-02-03,,,p,Мінск,levitation,,draft\n", "unknown category"),
    ("no category", "x1,T,2020-02-03,,,p,Мінск,,,draft\n", "categories is empty"),
    ("bad status", "x1,T,2020-02-03,,,p,Мінск,beating,,done\n", "unknown status"),
    ("bad id", "../x,T,2020-02-03,,,p,Мінск,beating,,draft\n", "not valid"),
    ("short row", "x1,T,2020-02-03\n", "fields where the header has"),
    ("end before start", "x1,T,2020-02-03,2020-02-01,,p,Мінск,beating,,draft\n", "before start"),
]


@pytest.mark.parametrize(("case", "row", "message"), BAD_ROWS, ids=[b[0] for b in BAD_ROWS])
def test_one_bad_row_imports_nothing(catalog: Catalog, tmp_path: Path, case: str, row: str, message: str) -> None:
    text = HEADER + "ok-1,Fine,2020-01-01,,,p,Мінск,beating,,draft\n" + row
    with pytest.raises(InputError, match=message) as ei:
        import_file(catalog, _write(tmp_path, "bad.csv", text))
    problems = ei.value.fields["problems"]
    assert [p.line for p in problems] == [3]
    assert catalog.list() == []


def test_every_bad_row_is_reported_with_its_line(catalog: Catalog, tmp_path: Path) -> None:
    text = (
        HEADER
        + "a1,Fine,2020-01-01,,,p,Мінск,beating,,draft\n"  # line 2
        + 'a2,"multi\nline title",2020-13-01,,,p,Мінск,beating,,draft\n'  # line 3 (spans 3-4)
        + "a3,T,2020-01-01,,,p,Nowhere,beating,,draft\n"  # line 5
        + "a1,Duplicate,2020-01-01,,,p,Мінск,beating,,draft\n"  # line 6
        + "a4,,2020-01-01,,,p,Мінск,beating,,draft\n"  # line 7
    )
    with pytest.raises(InputError, match="4 bad row") as ei:
        import_file(catalog, _write(tmp_path, "bad.csv", text))
    lines = [p.line for p in ei.value.fields["problems"]]
    assert lines == [3, 5, 6, 7]
    assert "also on line 2" in str(ei.value.fields["problems"][2])
    assert catalog.list() == []


def test_duplicate_of_existing_incident(catalog: Catalog, tmp_path: Path) -> None:
    import_file(catalog, _write(tmp_path, "a.csv", GOOD))
    with pytest.raises(InputError, match="already in the catalog"):
        import_file(catalog, _write(tmp_path, "b.csv", HEADER + "BY-1,Again,2020-01-01,,,p,Мінск,beating,,draft\n"))
    assert len(catalog.list()) == 3


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("a.txt", "x", "give a .csv or .json"),
        ("a.csv", "", "empty"),
        ("a.csv", "id,title\nx,y\n", "header must be"),
        ("a.csv", HEADER.strip() + ",age\n", "unknown \\['age'\\]"),
        ("a.json", '{"id": 1}', "JSON array"),
        ("a.json", '[{"id": "x",', "invalid JSON"),
    ],
)
def test_unreadable_files(catalog: Catalog, tmp_path: Path, name: str, content: str, message: str) -> None:
    with pytest.raises(InputError, match=message):
        import_file(catalog, _write(tmp_path, name, content))


def test_non_utf8_file(catalog: Catalog, tmp_path: Path) -> None:
    p = tmp_path / "a.csv"
    p.write_bytes((HEADER + "x,Мінск,2020-01-01,,,p,Мінск,beating,,draft\n").encode("cp1251"))
    with pytest.raises(InputError, match="not UTF-8"):
        import_file(catalog, p)


def test_json_rows_report_their_lines(catalog: Catalog, tmp_path: Path) -> None:
    rows = [
        {"id": "j1", "title": "ok", "start": "2020-01-01", "region": "Мінск", "categories": ["beating"]},
        {"id": "j2", "title": "bad", "start": "yesterday", "region": "Мінск", "categories": ["beating"]},
        {"id": "j3", "title": "who", "start": "2020-01-01", "region": "Мінск", "categories": ["beating"],
         "observations": [{"unit": "x", "face_of": "someone"}]},
        {"id": "j4", "title": "pd", "start": "2020-01-01", "region": "Мінск", "categories": ["beating"], "home_address": "x"},
    ]
    text = "[\n" + ",\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n]\n"
    with pytest.raises(InputError) as ei:
        import_file(catalog, _write(tmp_path, "a.json", text))
    problems = ei.value.fields["problems"]
    assert [p.line for p in problems] == [3, 4, 5]
    assert "not allowed" in problems[1].message  # no way to import personal data into observations
    assert "unknown fields" in problems[2].message  # no field exists for personal data (home_address)


def test_json_import_with_observations(catalog: Catalog, tmp_path: Path) -> None:
    rows = [{"id": "j1", "title": "ok", "start": "2020-01-01", "region": "Мінск", "categories": "beating;other",
             "coordinates": {"lat": 53.9, "lon": 27.56},
             "observations": [{"unit": "АМАП", "vehicles": [{"type": "bus", "plate": "AB 1"}], "officers": 3}]}]
    import_file(catalog, _write(tmp_path, "a.json", json.dumps(rows)))
    inc = catalog.get("j1")
    assert inc.observations[0].officers == 3 and inc.coordinates is not None


def test_a_row_with_several_problems_lists_them_all(catalog: Catalog, tmp_path: Path) -> None:
    text = HEADER + "x1,,2020-13-01,,,p,Мінск,,,done\n"
    with pytest.raises(InputError) as ei:
        import_file(catalog, _write(tmp_path, "bad.csv", text))
    (problem,) = ei.value.fields["problems"]
    assert problem.line == 2
    for part in ("title is missing", "not ISO 8601", "categories is empty", "unknown status"):
        assert part in problem.message
