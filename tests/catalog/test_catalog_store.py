"""The SQL catalog: regions, incidents, filters, links, observations, approvals, logging."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from witnessbox.catalog import (
    Catalog,
    IncidentFilter,
    IncidentInput,
    Observation,
    Role,
    Status,
    Vehicle,
    make_timespan,
    region_slug,
)
from witnessbox.catalog import schema
from witnessbox.errors import InputError, NotFoundError


def _inp(**kw: object) -> IncidentInput:
    base: dict[str, object] = dict(
        title="Затрыманне", time=make_timespan("2020-08-09"), place="Пушкінская", region="Мінск", categories=("beating",)
    )
    base.update(kw)
    return IncidentInput(**base)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "name",
    ["../", "../../etc/passwd", "a/b\\c", "<script>alert(1)</script>", "Гомель", "x" * 200, ".", "CON", "%2e%2e%2f"],
)
def test_hostile_region_names_get_safe_slugs(catalog: Catalog, name: str) -> None:
    r = catalog.add_region(name)
    assert r.name == name
    assert r.slug == region_slug(name)
    assert len(r.slug) <= 49
    assert all(c.isascii() and (c.isalnum() or c == "-") for c in r.slug)
    assert catalog.region(name) == r


@pytest.mark.parametrize(("name", "message"), [("", "missing"), ("x" * 201, "longer"), ("a\nb", "control"), ("мінск", "already exists")])
def test_bad_region_names_are_refused(catalog: Catalog, name: str, message: str) -> None:
    with pytest.raises(InputError, match=message):
        catalog.add_region(name)


def test_region_slugs_are_stable_and_distinct() -> None:
    assert region_slug("Мінск") == region_slug("Мінск")
    assert region_slug("Мінск").startswith("minsk-")
    assert region_slug("a/b") != region_slug("a-b")


def test_add_get_and_log_every_change(catalog: Catalog, log) -> None:  # type: ignore[no-untyped-def]
    inc = catalog.add(_inp(id="by-1", categories=("beating", "Arbitrary Detention")), log)
    assert inc.categories == ("beating", "arbitrary-detention")
    assert inc.status == Status.DRAFT
    catalog.link("by-1", "a" * 64, Role.PRIMARY, log)
    catalog.link("by-1", "a" * 64, Role.CONTEXT, log)  # relink changes the role
    catalog.add_observation("by-1", Observation(unit="АМАП", vehicles=(Vehicle("аўтазак", "AB 1234-7"),), officers=4), log)
    catalog.set_status("BY-1", Status.VERIFIED, log)  # ids are case-insensitive
    catalog.replace("by-1", _inp(title="New"), log)
    got = catalog.get("by-1")
    assert got.title == "New" and got.status == Status.VERIFIED
    assert got.links[0].role == Role.CONTEXT
    assert got.observations[0].vehicles == (Vehicle("аўтазак", "AB 1234-7"),)
    catalog.unlink("by-1", "a" * 64, log)
    catalog.remove_observation("by-1", 0, log)
    actions = [c.action for c in log.changes]
    assert actions == [
        "catalog.incident.add", "catalog.incident.link", "catalog.incident.link", "catalog.observation.add",
        "catalog.incident.status", "catalog.incident.edit", "catalog.incident.unlink", "catalog.observation.remove",
    ]
    assert log.changes[0].details["title"] == "Затрыманне"  # full content: the log can rebuild the catalog


def test_failed_log_rolls_the_change_back(catalog: Catalog) -> None:
    def refuse(_: object) -> None:
        raise RuntimeError("log is down")

    with pytest.raises(RuntimeError):
        catalog.add(_inp(id="x1"), refuse)
    with pytest.raises(NotFoundError):
        catalog.get("x1")


@pytest.mark.parametrize(
    ("kw", "exc", "message"),
    [
        ({"title": " "}, InputError, "title is missing"),
        ({"region": "Atlantis"}, NotFoundError, "unknown region"),
        ({"categories": ("teleportation",)}, InputError, "unknown category"),
        ({"id": "../x"}, InputError, "not valid"),
        ({"title": "a\tb"}, InputError, "control"),
        # Characters XML 1.0 forbids would break the site's Atom feed.
        ({"description": "a\x01b"}, InputError, "control"),
        ({"description": "a\x0bb"}, InputError, "control"),
        ({"description": "a\x00b"}, InputError, "control"),
    ],
)
def test_bad_inputs(catalog: Catalog, kw: dict[str, object], exc: type[Exception], message: str) -> None:
    with pytest.raises(exc, match=message):
        catalog.add(_inp(**kw))


def test_duplicate_id_is_refused(catalog: Catalog) -> None:
    catalog.add(_inp(id="x1"))
    with pytest.raises(InputError, match="already in use"):
        catalog.add(_inp(id="X1"))


def test_status_cannot_skip_verification(catalog: Catalog) -> None:
    catalog.add(_inp(id="x1"))
    with pytest.raises(InputError, match="verified first"):
        catalog.set_status("x1", Status.PUBLISHED)


@pytest.fixture
def filled(catalog: Catalog) -> Catalog:
    catalog.add(_inp(id="a", title="Збіццё на плошчы", time=make_timespan("2020-08-09T22:00")))
    catalog.add(_inp(id="b", title="Gas", region="Homiel", categories=("chemical-agents",), time=make_timespan("2020-08-11")))
    catalog.add(_inp(id="c", title="Detention", categories=("arbitrary-detention", "beating"),
                     time=make_timespan("2020-09-01", "2020-09-03"), description="Людзі ў **аўтазаку**"))
    catalog.set_status("c", Status.VERIFIED)
    return catalog


@pytest.mark.parametrize(
    ("flt", "ids"),
    [
        (IncidentFilter(), ["a", "b", "c"]),
        (IncidentFilter(region="мінск"), ["a", "c"]),
        (IncidentFilter(category="beating"), ["a", "c"]),
        (IncidentFilter(category="chemical agents"), ["b"]),
        (IncidentFilter(status=Status.VERIFIED), ["c"]),
        (IncidentFilter(since="2020-08-10"), ["b", "c"]),
        (IncidentFilter(until="2020-08-09"), ["a"]),
        (IncidentFilter(since="2020-09-02", until="2020-09-02"), ["c"]),  # inside c's span
        (IncidentFilter(text="ЗБІЦЦЁ"), ["a"]),  # Cyrillic, any case
        (IncidentFilter(text="аўтазак"), ["c"]),  # description
        (IncidentFilter(text="100%"), []),  # LIKE wildcards are literal
        (IncidentFilter(region="Homiel", category="beating"), []),
    ],
)
def test_filters(filled: Catalog, flt: IncidentFilter, ids: list[str]) -> None:
    assert [i.id for i in filled.list(flt)] == ids


def test_filter_errors(filled: Catalog) -> None:
    with pytest.raises(NotFoundError):
        filled.list(IncidentFilter(region="Atlantis"))
    with pytest.raises(NotFoundError):
        filled.list(IncidentFilter(category="nope"))
    with pytest.raises(InputError):
        filled.list(IncidentFilter(since="yesterday"))


def test_approvals(catalog: Catalog, log) -> None:  # type: ignore[no-untyped-def]
    catalog.approve("d" * 64, "reviewer", log)
    assert set(catalog.approvals()) == {"d" * 64}
    catalog.revoke("d" * 64, log)
    assert catalog.approvals() == {}
    with pytest.raises(NotFoundError):
        catalog.revoke("d" * 64)
    assert [c.action for c in log.changes] == ["approve", "approve.revoke"]


def test_schema_has_no_personal_data_column(engine: sa.Engine) -> None:
    forbidden = ("name_of", "person", "phone", "address", "face", "email", "passport", "surname", "birth")
    for table in schema.metadata.sorted_tables:
        for col in table.columns:
            assert not any(f in col.name for f in forbidden), (table.name, col.name)
    # testimony text never lives in SQL, only a reference to the encrypted file
    assert {c.name for c in schema.testimonies.columns} == {
        "id", "incident_id", "language", "given_on", "has_contact", "blob_sha256", "created_at"
    }


def test_description_keeps_line_breaks_and_tabs(catalog: Catalog) -> None:
    inc = catalog.add(_inp(description="line one\r\nline two\n\tindented"))
    assert catalog.get(inc.id).description == "line one\r\nline two\n\tindented"
