"""Import and export of incidents as CSV or JSON (format: docs/catalog.md).

An import is all or nothing: every row is parsed and validated first (times, region, taxonomy,
ids unique in the file and in the catalog, title present), every problem is collected with its
line number, and only a file without any problem is written, in one transaction.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import sqlalchemy as sa

from ..errors import InputError, WitnessboxError
from . import unit_schema
from .models import (
    Change,
    Coordinates,
    Incident,
    IncidentInput,
    Observation,
    Status,
    Vehicle,
    format_time_text,
    make_timespan,
    parse_coordinates,
    parse_enum,
)
from .store import Catalog, LogFn, ValidatedInput, change_details, nolog, obs_details

CSV_COLUMNS = ("id", "title", "start", "end", "precision", "place", "region", "categories", "description", "status")
"""The columns of the issue's import format, in order; all are required in the header."""
CSV_OPTIONAL = ("sources", "coordinates")
"""Optional extra columns: sources one per line, coordinates as ``lat,lon``."""
MAX_IMPORT_BYTES = 64 * 1024 * 1024
_T = TypeVar("_T")
_NO_TIME = make_timespan("1970-01-01")


@dataclass(frozen=True, slots=True)
class RowProblem:
    """One bad row: its first line in the file and what is wrong."""

    line: int
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}"


@dataclass(frozen=True, slots=True)
class _Row:
    line: int
    input: IncidentInput
    observations: tuple[Observation, ...]


@dataclass(frozen=True, slots=True)
class ImportReport:
    """What an import wrote."""

    file: str
    sha256: str
    ids: tuple[str, ...]


def _reject(path: Path, problems: Sequence[RowProblem]) -> InputError:
    shown = "; ".join(str(p) for p in problems[:50])
    more = f"; and {len(problems) - 50} more" if len(problems) > 50 else ""
    return InputError(
        f"nothing was imported from {path.name}: {len(problems)} bad row(s): {shown}{more}",
        problems=tuple(problems),
    )


def _split(value: str, sep: str) -> tuple[str, ...]:
    return tuple(p.strip() for p in value.split(sep) if p.strip())


def _input_from_fields(f: dict[str, Any]) -> tuple[IncidentInput, tuple[Observation, ...]]:
    """Build an input from one row's fields (CSV text or JSON values).

    Raises:
        InputError: a field is malformed.
    """
    def text(name: str) -> str:
        v = f.get(name)
        if v is None:
            return ""
        if not isinstance(v, str):
            raise InputError(f"{name} must be text")
        return v

    def listed(name: str, sep: str) -> tuple[str, ...]:
        v = f.get(name)
        if isinstance(v, list):
            if not all(isinstance(x, str) for x in v):
                raise InputError(f"{name} must be a list of text")
            return tuple(x.strip() for x in v if x.strip())
        return _split(text(name), sep)

    problems: list[str] = []

    def attempt(fn: Callable[[], _T], default: _T) -> _T:
        # Collect every malformed field of the row, not just the first one.
        try:
            return fn()
        except WitnessboxError as e:
            problems.append(e.message)
            return default

    def categories() -> tuple[str, ...]:
        cats = listed("categories", ";")
        if not cats:
            raise InputError("categories is empty: give at least one, e.g. beating")
        return cats

    def coordinates() -> Coordinates | None:
        c = f.get("coordinates")
        if isinstance(c, dict):
            c = f"{c.get('lat')},{c.get('lon')}"
        return parse_coordinates(c if isinstance(c, str) else "")

    def status() -> Status:
        v = text("status")
        return parse_enum(Status, v, "status") if v.strip() else Status.DRAFT

    def title() -> str:
        v = text("title")
        if not v.strip():
            raise InputError("title is missing")
        return v

    def observations() -> tuple[Observation, ...]:
        raw = f.get("observations") or []
        if not isinstance(raw, list):
            raise InputError("observations must be a list")
        return tuple(_observation(o) for o in raw)

    no_text: tuple[str, ...] = ()
    inp = IncidentInput(
        id=attempt(lambda: text("id").strip(), ""),
        title=attempt(title, ""),
        time=attempt(lambda: make_timespan(text("start"), text("end"), text("precision")), _NO_TIME),
        place=attempt(lambda: text("place"), ""),
        region=attempt(lambda: text("region"), ""),
        categories=attempt(categories, no_text),
        description=attempt(lambda: text("description"), ""),
        sources=attempt(lambda: listed("sources", "\n"), no_text),
        coordinates=attempt(coordinates, None),
        status=attempt(status, Status.DRAFT),
    )
    no_obs: tuple[Observation, ...] = ()
    obs = attempt(observations, no_obs)
    if problems:
        raise InputError("; ".join(problems))
    return inp, obs


def _observation(o: Any) -> Observation:
    if not isinstance(o, dict):
        raise InputError("each observation must be an object")
    unknown = set(o) - {"unit", "unit_slug", "insignia", "uniform", "vehicles", "officers"}
    if unknown:
        # Closed set on purpose: an import cannot smuggle personal data into the catalog.
        raise InputError(
            f"observation fields {sorted(unknown)} are not allowed: only unit, unit_slug, insignia, uniform, vehicles, officers"
        )
    vehicles = tuple(
        Vehicle(str(v.get("type", "")), str(v.get("plate", ""))) if isinstance(v, dict) else Vehicle(str(v))
        for v in o.get("vehicles") or []
    )
    officers = o.get("officers")
    if officers is not None and not isinstance(officers, int):
        raise InputError("observation officers must be a whole number")
    return Observation(
        str(o.get("unit", "")), str(o.get("insignia", "")), str(o.get("uniform", "")), vehicles, officers,
        str(o.get("unit_slug") or "").strip(),
    )


def _read_text(path: Path) -> tuple[bytes, str]:
    try:
        data = path.read_bytes()
    except OSError as e:
        raise InputError(f"cannot read {path}: {e.strerror}") from e
    if len(data) > MAX_IMPORT_BYTES:
        raise InputError(f"{path.name} is larger than {MAX_IMPORT_BYTES // 2**20} MiB: split it")
    try:
        return data, data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise InputError(f"{path.name} is not UTF-8 text (byte {e.start}): save it as UTF-8") from e


def _parse_csv(path: Path, text: str) -> tuple[list[_Row], list[RowProblem]]:
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = [h.strip().lower() for h in next(reader)]
    except StopIteration:
        raise InputError(f"{path.name} is empty: the first row must be {','.join(CSV_COLUMNS)}") from None
    except csv.Error as e:
        raise InputError(f"{path.name} line 1: {e}") from None
    missing = [c for c in CSV_COLUMNS if c not in header]
    unknown = [c for c in header if c not in CSV_COLUMNS + CSV_OPTIONAL]
    if missing or unknown or len(set(header)) != len(header):
        raise InputError(
            f"{path.name} line 1: the header must be {','.join(CSV_COLUMNS)} (optionally "
            f"{','.join(CSV_OPTIONAL)}); missing {missing or 'none'}, unknown {unknown or 'none'}"
        )
    rows: list[_Row] = []
    problems: list[RowProblem] = []
    for line, raw in csv_rows(reader, header, problems):
        try:
            fields = {h: v if h == "coordinates" else csv_cell_in(v) for h, v in raw.items()}
            inp, obs = _input_from_fields(fields)
            rows.append(_Row(line, inp, obs))
        except WitnessboxError as e:
            problems.append(RowProblem(line, e.message))
    return rows, problems


def csv_rows(reader: Any, header: Sequence[str], problems: list[RowProblem]) -> Iterator[tuple[int, dict[str, str]]]:
    """The data rows of a ``csv.reader`` past its header, each as ``{column: raw cell}`` with its
    line number. Blank rows are skipped; a row of the wrong width is added to ``problems``, and
    unreadable CSV is added there and ends the reading."""
    last = reader.line_num
    while True:
        line = last + 1
        try:
            values = next(reader)
        except StopIteration:
            return
        except csv.Error as e:
            problems.append(RowProblem(line, f"unreadable CSV ({e})"))
            return
        last = reader.line_num
        if not any(v.strip() for v in values):
            continue
        if len(values) != len(header):
            problems.append(RowProblem(line, f"{len(values)} fields where the header has {len(header)}"))
            continue
        yield line, dict(zip(header, values, strict=True))


def json_array_elements(path: Path, text: str, what: str) -> Iterator[tuple[int, Any]]:
    """The elements of a top-level JSON array, one by one, each with its line number (so that
    every bad row of an import is reported where it stands).

    Raises:
        InputError: not a JSON array, or invalid JSON (nothing is imported then).
    """
    dec = json.JSONDecoder()
    i = _skip_ws(text, 0)
    if i >= len(text) or text[i] != "[":
        raise InputError(f"{path.name}: the file must be a JSON array of {what} objects")
    i = _skip_ws(text, i + 1)
    if i < len(text) and text[i] == "]":
        return
    while True:
        line = text.count("\n", 0, i) + 1
        try:
            obj, i = dec.raw_decode(text, i)
        except json.JSONDecodeError as e:
            raise InputError(f"{path.name} line {e.lineno}: invalid JSON ({e.msg}); nothing was imported") from None
        yield line, obj
        i = _skip_ws(text, i)
        if i < len(text) and text[i] == ",":
            i = _skip_ws(text, i + 1)
            continue
        if i < len(text) and text[i] == "]" and not text[i + 1 :].strip():
            return
        raise InputError(f"{path.name} line {text.count(chr(10), 0, i) + 1}: expected , or ] in the JSON array")


def _parse_json(path: Path, text: str) -> tuple[list[_Row], list[RowProblem]]:
    rows: list[_Row] = []
    problems: list[RowProblem] = []
    for line, obj in json_array_elements(path, text, "incident"):
        if not isinstance(obj, dict):
            problems.append(RowProblem(line, "each element must be an object"))
            continue
        unknown = set(obj) - set(CSV_COLUMNS) - set(CSV_OPTIONAL) - {"observations"}
        try:
            if unknown:
                raise InputError(f"unknown fields {sorted(unknown)}")
            inp, obs = _input_from_fields(obj)
            rows.append(_Row(line, inp, obs))
        except WitnessboxError as e:
            problems.append(RowProblem(line, e.message))
    return rows, problems


def _skip_ws(text: str, i: int) -> int:
    while i < len(text) and text[i] in " \t\r\n":
        i += 1
    return i


def import_file(
    catalog: Catalog, path: Path, log: LogFn = nolog, *, new_id: Callable[[], str] | None = None
) -> ImportReport:
    """Import every incident of a CSV or JSON file, or none.

    Args:
        catalog: The catalog to write.
        path: A ``.csv`` (header per :data:`CSV_COLUMNS`) or ``.json`` (array of objects) file.
        log: Receives one ``catalog.import`` change with the full content, inside the transaction.
        new_id: Id generator for rows with an empty id.

    Raises:
        InputError: the file is unreadable or has bad rows (``fields["problems"]`` lists each
            :class:`RowProblem`); nothing was imported.
    """
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".json"):
        raise InputError(f"cannot import {path.name}: give a .csv or .json file")
    data, text = _read_text(path)
    rows, problems = (_parse_csv if suffix == ".csv" else _parse_json)(path, text)
    engine = catalog.engine()
    with engine.begin() as conn:
        cats = catalog.category_lookup(conn)
        regions: dict[str, Any] = {}
        existing = catalog.existing_ids(conn)
        known_units = set(conn.execute(sa.select(unit_schema.units.c.slug)).scalars())
        seen: dict[str, int] = {}
        valid: list[tuple[_Row, ValidatedInput]] = []
        for row in rows:
            try:
                v = catalog.validate_with(conn, row.input, cats, regions)
                key = row.input.id.casefold()
                if key and key in existing:
                    raise InputError(f"duplicate id {row.input.id!r}: already in the catalog")
                if key and key in seen:
                    raise InputError(f"duplicate id {row.input.id!r}: also on line {seen[key]}")
                if key:
                    seen[key] = row.line
                for obs in row.observations:
                    if obs.unit_slug and obs.unit_slug not in known_units:
                        raise InputError(f"unknown unit {obs.unit_slug[:80]!r}: import the units first (`witnessbox unit import`)")
                valid.append((row, v))
            except WitnessboxError as e:
                problems.append(RowProblem(row.line, e.message))
        if problems:
            raise _reject(path, sorted(problems, key=lambda p: p.line))
        ids = catalog.add_many([v for _, v in valid], conn, new_id=new_id)
        for iid, (row, _) in zip(ids, valid, strict=True):
            for obs in row.observations:
                catalog.add_observation_on(conn, iid, obs)
        sha = hashlib.sha256(data).hexdigest()
        log(
            Change(
                "catalog.import",
                (sha,),
                {
                    "file": path.name,
                    "count": str(len(ids)),
                    "incidents": json.dumps(
                        [
                            {"id": iid, **change_details(v), "observations": [obs_details(o) for o in row.observations]}
                            for iid, (row, v) in zip(ids, valid, strict=True)
                        ],
                        ensure_ascii=False,
                    ),
                },
            )
        )
    return ImportReport(path.name, sha, tuple(ids))


def incident_record(inc: Incident) -> dict[str, Any]:
    """The JSON form of an incident (same keys as the import, plus observations)."""
    return {
        "id": inc.id,
        "title": inc.title,
        "start": format_time_text(inc.time.start, inc.time.precision),
        "end": format_time_text(inc.time.end, inc.time.precision) if inc.time.end else "",
        "precision": inc.time.precision.value,
        "place": inc.place,
        "region": inc.region,
        "categories": list(inc.categories),
        "description": inc.description,
        "status": inc.status.value,
        "sources": list(inc.sources),
        "coordinates": {"lat": inc.coordinates.lat, "lon": inc.coordinates.lon} if inc.coordinates else None,
        "observations": [
            {
                "unit": o.unit,
                "insignia": o.insignia,
                "uniform": o.uniform,
                "vehicles": [{"type": v.type, "plate": v.plate} for v in o.vehicles],
                "officers": o.officers,
                **({"unit_slug": o.unit_slug} if o.unit_slug else {}),
            }
            for o in inc.observations
        ],
    }


def export_json(incidents: Sequence[Incident]) -> str:
    """Incidents as a JSON array that :func:`import_file` reads back."""
    return json.dumps([incident_record(i) for i in incidents], ensure_ascii=False, indent=2) + "\n"


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_cell_out(value: str) -> str:
    """A text cell a spreadsheet shows as text: a leading ``'`` before ``= + - @``, a tab or a
    carriage return (spreadsheets run such cells as formulas, as the site's open data
    guards too), and before a leading ``'`` itself, so that :func:`csv_cell_in` is exact."""
    return "'" + value if value.startswith(_FORMULA_START + ("'",)) else value


def csv_cell_in(value: str) -> str:
    """Undo :func:`csv_cell_out`: drop one ``'`` before a formula character or a ``'``. A
    value typed in a spreadsheet as ``'=x`` (its way of writing text) imports as ``=x``."""
    return value[1:] if value.startswith("'") and value[1:].startswith(_FORMULA_START + ("'",)) else value


def export_csv(incidents: Sequence[Incident]) -> str:
    """Incidents as CSV with the import header plus ``sources`` and ``coordinates``.

    Text cells go through :func:`csv_cell_out` (formula neutralised, reversibly); the
    coordinates are numbers formatted here and stay as they are."""
    buf = io.StringIO(newline="")
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(CSV_COLUMNS + CSV_OPTIONAL)
    for inc in incidents:
        r = incident_record(inc)
        text = [
            r["id"], r["title"], r["start"], r["end"], r["precision"], r["place"], r["region"],
            ";".join(r["categories"]), r["description"], r["status"], "\n".join(r["sources"]),
        ]
        w.writerow(
            [csv_cell_out(str(v)) for v in text]
            + [f"{inc.coordinates.lat},{inc.coordinates.lon}" if inc.coordinates else ""]
        )
    return buf.getvalue()
