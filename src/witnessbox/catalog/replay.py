"""Rebuild the catalog tables from custody-log entries (the log is the truth).

Every catalog change is logged with its full content (see :mod:`.store` and :mod:`.units`), so
``witnessbox reindex``, which deletes the SQL catalog, gets every region, incident, observation,
link, testimony reference, approval and unit (with merges and free-text mappings, which must
apply in their order among the observations) back by replaying the entries in order.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy.engine import Engine

from .models import IncidentInput, Observation, Role, Status, Vehicle, make_timespan, parse_coordinates
from .store import Catalog

CATALOG_ACTIONS = frozenset(
    {
        "catalog.region.add", "catalog.category.add", "catalog.incident.add", "catalog.incident.edit",
        "catalog.incident.status", "catalog.observation.add", "catalog.observation.remove",
        "catalog.incident.link", "catalog.incident.unlink", "catalog.testimony.add", "catalog.import",
        "approve", "approve.revoke",
        "catalog.unit.kind.add", "catalog.unit.add", "catalog.unit.edit", "catalog.unit.merge",
        "catalog.unit.resolve", "catalog.unit.import",
    }
)


@dataclass(frozen=True, slots=True)
class Entry:
    """The parts of a custody-log entry that replay needs."""

    action: str
    objects: tuple[str, ...]
    details: Mapping[str, Any]
    time: str
    actor: str


def input_from_details(inc_id: str, d: Mapping[str, Any]) -> IncidentInput:
    """The :class:`IncidentInput` a logged incident change describes.

    Raises:
        InputError: the entry is malformed.
    """
    coords = parse_coordinates(str(d.get("coordinates", "")))
    return IncidentInput(
        id=inc_id,
        title=str(d["title"]),
        time=make_timespan(str(d["start"]), str(d.get("end", "")), str(d["precision"])),
        place=str(d.get("place", "")),
        region=str(d["region"]),
        categories=tuple(c for c in str(d["categories"]).split(";") if c),
        description=str(d.get("description", "")),
        sources=tuple(json.loads(d.get("sources", "[]"))),
        coordinates=coords,
        status=Status(str(d.get("status", "draft"))),
    )


def observation_from_details(d: Mapping[str, Any]) -> Observation:
    """The :class:`Observation` a logged change describes."""
    vehicles = tuple(Vehicle(a, b) for a, b in json.loads(str(d.get("vehicles", "[]"))))
    officers = str(d.get("officers", ""))
    return Observation(str(d.get("unit", "")), str(d.get("insignia", "")), str(d.get("uniform", "")), vehicles,
                       int(officers) if officers else None, str(d.get("unit_slug", "")))


def replay(engine: Engine, entries: Iterable[Entry]) -> int:
    """Apply catalog entries, oldest first, to freshly migrated tables; return how many applied.

    Raises:
        InputError, NotFoundError: an entry contradicts the ones before it (a damaged log).
    """
    from .unit_transfer import replay_import
    from .units import UnitRegistry, unit_from_details

    clock = {"now": ""}
    cat = Catalog(engine, now=lambda: clock["now"])
    reg = UnitRegistry(engine, now=lambda: clock["now"])
    n = 0
    for e in entries:
        if e.action not in CATALOG_ACTIONS:
            continue
        clock["now"] = e.time
        d, o = e.details, e.objects
        if e.action == "catalog.region.add":
            cat.add_region(str(d["name"]))
        elif e.action == "catalog.category.add":
            cat.add_category(o[0], str(d["label"]))
        elif e.action == "catalog.incident.add":
            cat.add(input_from_details(o[0], d))
        elif e.action == "catalog.incident.edit":
            cat.replace(o[0], input_from_details(o[0], d))
        elif e.action == "catalog.incident.status":
            cat.force_status(o[0], Status(str(d["to"])))
        elif e.action == "catalog.observation.add":
            cat.add_observation(o[0], observation_from_details(d))
        elif e.action == "catalog.observation.remove":
            cat.remove_observation(o[0], int(d["position"]))
        elif e.action == "catalog.incident.link":
            cat.link(o[0], o[1], Role(str(d["role"])))
        elif e.action == "catalog.incident.unlink":
            cat.unlink(o[0], o[1])
        elif e.action == "catalog.testimony.add":
            cat.add_testimony(
                o[0], language=str(d["language"]), given_on=str(d["given_on"]), blob_sha256=str(d["blob_sha256"]),
                has_contact=d.get("has_contact") == "yes", testimony_id=int(d["testimony"]),
            )
        elif e.action == "catalog.import":
            with engine.begin() as conn:
                for rec in json.loads(str(d["incidents"])):
                    inp = input_from_details(rec["id"], rec)
                    v = cat.validate(conn, inp)
                    cat.add_many([v], conn)
                    for od in rec.get("observations", []):
                        cat.add_observation_on(conn, rec["id"], observation_from_details(od))
        elif e.action == "catalog.unit.kind.add":
            reg.add_kind(o[0], str(d["label"]))
        elif e.action == "catalog.unit.add":
            reg.add(unit_from_details(o[0], d))
        elif e.action == "catalog.unit.edit":
            reg.edit(o[0], unit_from_details(o[0], d))
        elif e.action == "catalog.unit.merge":
            reg.merge(o[0], o[1])
        elif e.action == "catalog.unit.resolve":
            reg.map_free_texts(json.loads(str(d["mapping"])))
        elif e.action == "catalog.unit.import":
            replay_import(reg, engine, json.loads(str(d["units"])))
        elif e.action == "approve":
            cat.approve(o[0], e.actor)
        elif e.action == "approve.revoke":
            cat.revoke(o[0])
        n += 1
    return n
