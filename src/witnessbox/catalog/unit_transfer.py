"""Import and export of the units vocabulary as CSV or JSON (format: docs/catalog.md).

Like incidents, an import is all or nothing: every row is parsed and validated (names, kind,
slug unique in the file and the catalog, parent known in the catalog or the file, no loop in
the chain of command), every problem is collected with its line number, and only a file
without any problem is written, in one transaction, parents before their sub-units.

The set of columns is closed. A column or key that would describe an individual (a commander,
a member, a phone...) is refused with its own message: witnessbox records institutions only.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import InputError, WitnessboxError
from .models import Change
from .store import LogFn, nolog
from .transfer import RowProblem, _read_text, _reject, csv_cell_in, csv_cell_out, csv_rows, json_array_elements
from .units import Unit, UnitRegistry, unit_details

UNIT_COLUMNS = ("slug", "name_be", "name_ru", "name_en", "kind")
"""Required header columns of a units CSV, in order."""
UNIT_OPTIONAL = ("parent", "insignia", "notes", "sources")
"""Optional columns: parent slug, insignia description, public notes, sources (one per line)."""

PERSONAL_FIELDS = frozenset({
    "person", "persons", "people", "individual", "individuals", "member", "members",
    "personnel", "staff", "officer", "officers", "officer_name", "officer_names", "commander", "commanders",
    "commander_name", "head", "chief", "deputy", "leader", "employee", "employees", "surname", "first_name",
    "last_name", "full_name", "patronymic", "phone", "phones", "address", "home_address", "email", "birth",
    "birthday", "date_of_birth", "passport", "photo", "face", "faces", "family", "relatives", "habits",
    "social", "vk", "telegram", "instagram", "car_owner",
})
"""Keys refused with the "individual" message (any other unknown key is refused as unknown,
with the list of valid ones: a bare ``name`` is told to use ``name_be``, ``name_ru``, ``name_en``)."""


def _unknown_message(keys: Sequence[str]) -> str:
    personal = sorted(k for k in keys if k.strip().lower() in PERSONAL_FIELDS)
    if personal:
        return (f"field(s) {personal} would describe individuals: witnessbox records units as institutions, "
                "never their members (remove the column)")
    return f"unknown field(s) {sorted(keys)}: use {', '.join(UNIT_COLUMNS + UNIT_OPTIONAL)}"


@dataclass(frozen=True, slots=True)
class UnitImportReport:
    """What a units import wrote."""

    file: str
    sha256: str
    slugs: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class _Row:
    line: int
    unit: Unit


def _unit_from_fields(f: dict[str, Any]) -> Unit:
    def text(name: str) -> str:
        v = f.get(name)
        if v is None:
            return ""
        if not isinstance(v, str):
            raise InputError(f"{name} must be text")
        return v

    raw = f.get("sources")
    if isinstance(raw, list):
        if not all(isinstance(x, str) for x in raw):
            raise InputError("sources must be a list of text")
        sources = tuple(x.strip() for x in raw if x.strip())
    else:
        sources = tuple(s.strip() for s in text("sources").split("\n") if s.strip())
    if not text("kind").strip():
        raise InputError("kind is missing")
    return Unit(
        slug=text("slug").strip(), name_be=text("name_be"), name_ru=text("name_ru"), name_en=text("name_en"),
        kind=text("kind"), parent=text("parent").strip(), insignia=text("insignia"), notes=text("notes"),
        sources=sources,
    )


def _parse_csv(path: Path, text: str) -> tuple[list[_Row], list[RowProblem]]:
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = [h.strip().lower() for h in next(reader)]
    except StopIteration:
        raise InputError(f"{path.name} is empty: the first row must be {','.join(UNIT_COLUMNS)}") from None
    except csv.Error as e:
        raise InputError(f"{path.name} line 1: {e}") from None
    unknown = [c for c in header if c not in UNIT_COLUMNS + UNIT_OPTIONAL]
    if unknown:
        raise InputError(f"{path.name} line 1: {_unknown_message(unknown)}; nothing was imported")
    missing = [c for c in UNIT_COLUMNS if c not in header]
    if missing or len(set(header)) != len(header):
        raise InputError(
            f"{path.name} line 1: the header must be {','.join(UNIT_COLUMNS)} (optionally {','.join(UNIT_OPTIONAL)}); "
            f"missing {missing or 'none'}"
        )
    rows: list[_Row] = []
    problems: list[RowProblem] = []
    for line, raw in csv_rows(reader, header, problems):
        try:
            rows.append(_Row(line, _unit_from_fields({h: csv_cell_in(v) for h, v in raw.items()})))
        except WitnessboxError as e:
            problems.append(RowProblem(line, e.message))
    return rows, problems


def _parse_json(path: Path, text: str) -> tuple[list[_Row], list[RowProblem]]:
    rows: list[_Row] = []
    problems: list[RowProblem] = []
    for line, obj in json_array_elements(path, text, "unit"):
        if not isinstance(obj, dict):
            problems.append(RowProblem(line, "each element must be an object"))
            continue
        unknown = [k for k in obj if k not in UNIT_COLUMNS + UNIT_OPTIONAL]
        try:
            if unknown:
                raise InputError(_unknown_message(unknown))
            rows.append(_Row(line, _unit_from_fields(obj)))
        except WitnessboxError as e:
            problems.append(RowProblem(line, e.message))
    return rows, problems


def import_units(registry: UnitRegistry, engine: Any, path: Path, log: LogFn = nolog) -> UnitImportReport:
    """Import every unit of a CSV or JSON file, or none.

    Raises:
        InputError: unreadable file or bad rows (``fields["problems"]`` lists each
            :class:`~.transfer.RowProblem`); nothing was imported.
    """
    import sqlalchemy as sa

    from .unit_schema import units as units_table

    suffix = path.suffix.lower()
    if suffix not in (".csv", ".json"):
        raise InputError(f"cannot import {path.name}: give a .csv or .json file")
    data, text = _read_text(path)
    rows, problems = (_parse_csv if suffix == ".csv" else _parse_json)(path, text)
    with engine.begin() as conn:
        kinds = registry.kind_lookup(conn)
        existing = set(conn.execute(sa.select(units_table.c.slug)).scalars())
        taken = set(existing)
        explicit = {r.unit.slug.strip(): r.line for r in rows if r.unit.slug.strip()}
        pending = set(explicit)
        prepared: list[tuple[_Row, Unit]] = []
        seen: dict[str, int] = {}
        for row in rows:
            try:
                slug = row.unit.slug.strip()
                if slug and slug in seen:
                    raise InputError(f"duplicate slug {slug!r}: also on line {seen[slug]}")
                # Derived slugs must not take one another row gives explicitly.
                u = registry.prepare(conn, row.unit, taken | (pending - {slug}), pending=pending, kinds=kinds)
                taken.add(u.slug)  # a later row deriving the same slug gets the next free one
                seen[u.slug] = row.line
                prepared.append((row, u))
            except WitnessboxError as e:
                problems.append(RowProblem(row.line, e.message))
        parents = {u.slug: u.parent for _, u in prepared}
        for row, u in prepared:
            if _loops(u.slug, parents):
                problems.append(RowProblem(row.line, f"the chain of command of {u.slug!r} loops back to it"))
        if problems:
            raise _reject(path, sorted(problems, key=lambda p: p.line))
        order = _parents_first([u for _, u in prepared], existing)
        for u in order:
            registry.insert(conn, u)
        sha = hashlib.sha256(data).hexdigest()
        log(Change("catalog.unit.import", (sha,), {
            "file": path.name, "count": str(len(order)),
            "units": json.dumps([{"slug": u.slug, **unit_details(u)} for u in order], ensure_ascii=False),
        }))
    return UnitImportReport(path.name, sha, tuple(u.slug for u in order))


def _loops(slug: str, parents: dict[str, str]) -> bool:
    seen = {slug}
    cur = parents.get(slug, "")
    while cur in parents:
        if cur in seen:
            return True
        seen.add(cur)
        cur = parents.get(cur, "")
    return False


def _parents_first(items: list[Unit], existing: set[str]) -> list[Unit]:
    done = set(existing)
    out: list[Unit] = []
    todo = list(items)
    while todo:
        rest = [u for u in todo if u.parent and u.parent not in done]
        ready = [u for u in todo if not (u.parent and u.parent not in done)]
        if not ready:  # cannot happen after the loop check; keep the order rather than spin
            ready, rest = rest, []
        for u in ready:
            out.append(u)
            done.add(u.slug)
        todo = rest
    return out


def replay_import(registry: UnitRegistry, engine: Any, records: Sequence[dict[str, Any]]) -> None:
    """Insert the units of a logged import, in their logged order (replay)."""
    from .units import unit_from_details

    with engine.begin() as conn:
        for rec in records:
            registry.insert(conn, unit_from_details(str(rec["slug"]), rec))


def unit_record(u: Unit) -> dict[str, Any]:
    """The JSON form of a unit (the import keys)."""
    return {
        "slug": u.slug, "name_be": u.name_be, "name_ru": u.name_ru, "name_en": u.name_en, "kind": u.kind,
        "parent": u.parent, "insignia": u.insignia, "notes": u.notes, "sources": list(u.sources),
    }


def export_units_json(items: Sequence[Unit]) -> str:
    """Units as a JSON array that :func:`import_units` reads back."""
    return json.dumps([unit_record(u) for u in items], ensure_ascii=False, indent=2) + "\n"


def export_units_csv(items: Sequence[Unit]) -> str:
    """Units as CSV with every column (sources one per line)."""
    buf = io.StringIO(newline="")
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(UNIT_COLUMNS + UNIT_OPTIONAL)
    for u in items:
        w.writerow([csv_cell_out(v) for v in (u.slug, u.name_be, u.name_ru, u.name_en, u.kind, u.parent, u.insignia,
                                                u.notes, "\n".join(u.sources))])
    return buf.getvalue()
