"""Region scoping and the fast incidents table in the library (``workspace/access.py``)."""

from __future__ import annotations

import pytest
from web_helpers import ARCHIVE_PASS, World

from witnessbox.catalog import IncidentFilter, IncidentInput, Status, make_timespan
from witnessbox.errors import NotFoundError
from witnessbox.workspace import Workspace
from witnessbox.workspace.access import Scope, fold
from witnessbox.workspace.accounts import Role


@pytest.mark.parametrize("a, b", [("Ёлка", "елка"), ("Іван", "иван"), ("Ўзда", "УЗДА"), ("ЁЛКІ", "елки")])
def test_fold_pairs(a: str, b: str) -> None:
    assert fold(a) == fold(b)


@pytest.fixture(scope="module")
def ws(world: World) -> Workspace:
    w = world.open(ARCHIVE_PASS)
    yield w  # type: ignore[misc]
    w.close()


@pytest.mark.parametrize("flt, text", [
    (IncidentFilter(), ""), (IncidentFilter(), "ёлкі"), (IncidentFilter(), "ЕЛКИ"), (IncidentFilter(), "homiel"),
    (IncidentFilter(status=Status.DRAFT), ""), (IncidentFilter(since="2026-03-02"), ""),
    (IncidentFilter(until="2026-03-01"), ""), (IncidentFilter(region="Homiel"), ""), (IncidentFilter(), "no such words"),
])
@pytest.mark.parametrize("regions", [frozenset(), frozenset({"homiel-00f8cef2"})])
def test_table_agrees_with_full_listing(ws: Workspace, flt: IncidentFilter, text: str, regions: frozenset[str]) -> None:
    scope = Scope("x", Role.VIEWER, regions)
    full = [i.id for i in scope.incidents(ws, flt, text)]
    total, rows = scope.incident_table(ws, flt, text)
    assert total == len(full) and [r.id for r in rows] == full


def test_table_pages(world: World) -> None:
    with world.open(ARCHIVE_PASS) as w:
        region = [r for r in w.incidents.regions() if r.name == "Homiel"][0]
        for n in range(5):
            w.incidents.add(IncidentInput(title=f"paged {n}", time=make_timespan(f"2027-01-0{n + 1}"), place="",
                                          region=region.slug, categories=()))
        scope = Scope("x", Role.VIEWER, frozenset())
        total, first = scope.incident_table(w, IncidentFilter(), "paged", offset=0, limit=2)
        _, last = scope.incident_table(w, IncidentFilter(), "paged", offset=4, limit=2)
        assert total == 5 and [r.title for r in first] == ["paged 0", "paged 1"] and [r.title for r in last] == ["paged 4"]
        with pytest.raises(NotFoundError):
            scope.incident_table(w, IncidentFilter(region="Atlantis"))
