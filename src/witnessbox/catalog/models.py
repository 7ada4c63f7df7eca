"""Typed records of the incident catalog.

What the catalog can hold is deliberately narrow. An incident says what happened, when, where
and which abuse; observations about the perpetrators are limited to what is visible and
official (unit or service, insignia, uniform, vehicles with their official plates, number of
officers). There is no field for any individual's name, address, phone, face or habits: that is
a product decision (docs/catalog.md), not a missing feature. Testimonies exist only as
ciphertext at rest and are never published.
"""

from __future__ import annotations

import enum
import functools
import re
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from typing import TypeVar

from ..errors import InputError

ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
"""Incident ids are used in file names of the public site: a closed alphabet, 64 chars max."""

REGION_NAME_MAX = 200
TITLE_MAX = 500
_E = TypeVar("_E", bound=enum.StrEnum)
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f\u2028\u2029]")


class Precision(enum.StrEnum):
    """How precisely the time of an incident is known."""

    EXACT = "exact"
    DAY = "day"
    APPROXIMATE = "approximate"


class Status(enum.StrEnum):
    """Life cycle of an incident: only ``published`` ones reach the public site."""

    DRAFT = "draft"
    VERIFIED = "verified"
    PUBLISHED = "published"


class Role(enum.StrEnum):
    """Why an archive item is linked to an incident."""

    PRIMARY = "primary"
    CORROBORATING = "corroborating"
    CONTEXT = "context"


# Forward one step at a time (a draft is verified before it is published); back to any earlier
# status at once (unpublishing must never be blocked).
_ALLOWED: dict[Status, frozenset[Status]] = {
    Status.DRAFT: frozenset({Status.VERIFIED}),
    Status.VERIFIED: frozenset({Status.DRAFT, Status.PUBLISHED}),
    Status.PUBLISHED: frozenset({Status.VERIFIED, Status.DRAFT}),
}


def check_transition(old: Status, new: Status) -> None:
    """Refuse a status change the life cycle does not allow.

    Raises:
        InputError: ``new`` cannot follow ``old``.
    """
    if old == new or new in _ALLOWED[old]:
        return
    raise InputError(
        f"an incident goes draft -> verified -> published one step at a time; "
        f"it is {old.value}: set it to verified first"
    )


def parse_enum(kind: type[_E], value: str, what: str) -> _E:
    """Read an enum value, failing with the list of valid ones.

    Raises:
        InputError: ``value`` is not one of the members.
    """
    try:
        return kind(value.strip().lower())
    except ValueError:
        valid = ", ".join(m.value for m in kind)
        raise InputError(f"unknown {what} {value!r}: use one of {valid}") from None


@dataclass(frozen=True, slots=True)
class TimeSpan:
    """When an incident happened: ``start`` (and maybe ``end``) at a given precision.

    Naive datetimes are local wall-clock time as reported; aware ones keep their offset.
    """

    start: datetime
    end: datetime | None
    precision: Precision

    def sort_key(self) -> str:
        """A string that sorts chronologically whatever the offset (aware times in UTC)."""
        return _key(self.start)

    def end_key(self) -> str:
        """Like :meth:`sort_key` for the end (the start when there is no end)."""
        return _key(self.end or self.start)


@functools.lru_cache(maxsize=65536)
def _key(t: datetime) -> str:
    if t.tzinfo is not None:
        t = t.astimezone(timezone.utc).replace(tzinfo=None)
    return t.isoformat(timespec="seconds")


def parse_time(value: str, what: str = "time") -> tuple[datetime, bool]:
    """Parse ISO 8601 (date or date-time); return the datetime and whether it was a bare date.

    Raises:
        InputError: ``value`` is not ISO 8601.
    """
    v = value.strip()
    if not v:
        raise InputError(f"{what} is empty: give an ISO 8601 date such as 2020-08-09")
    try:
        if len(v) == 10:
            return datetime.combine(date.fromisoformat(v), datetime.min.time()), True
        return datetime.fromisoformat(v.replace("Z", "+00:00")), False
    except ValueError:
        raise InputError(
            f"{what} {value!r} is not ISO 8601: use 2020-08-09 or 2020-08-09T21:30"
        ) from None


def make_timespan(start: str, end: str = "", precision: str = "") -> TimeSpan:
    """Build a :class:`TimeSpan` from text; a bare date defaults to ``day`` precision.

    Raises:
        InputError: a time is not ISO 8601, the end is before the start, or the precision is
            unknown.
    """
    s, s_date = parse_time(start, "start")
    e = parse_time(end, "end")[0] if end.strip() else None
    p = (
        parse_enum(Precision, precision, "precision")
        if precision.strip()
        else (Precision.DAY if s_date else Precision.EXACT)
    )
    span = TimeSpan(s, e, p)
    if (s.tzinfo is None) != (e is None or e.tzinfo is None) and e is not None:
        raise InputError("start and end must both have a UTC offset or both have none")
    if e is not None and span.end_key() < span.sort_key():
        raise InputError(f"end {end!r} is before start {start!r}")
    return span


def format_time(t: datetime) -> str:
    """ISO 8601 text for storage: seconds precision, offset kept when there is one."""
    return t.isoformat(timespec="seconds")


def format_time_text(t: datetime, precision: Precision) -> str:
    """ISO 8601 text for people and exports: a bare date when only the day is known."""
    if precision != Precision.EXACT and t.tzinfo is None and t.time() == datetime.min.time():
        return t.date().isoformat()
    return format_time(t)


@dataclass(frozen=True, slots=True)
class Coordinates:
    """WGS 84 position of a public place (never of a person's home)."""

    lat: float
    lon: float

    def __post_init__(self) -> None:
        if not (-90.0 <= self.lat <= 90.0 and -180.0 <= self.lon <= 180.0):
            raise InputError(f"coordinates {self.lat},{self.lon} are out of range")


def parse_coordinates(value: str) -> Coordinates | None:
    """Read ``"lat,lon"``; empty text means none.

    Raises:
        InputError: the text is not two numbers in range.
    """
    v = value.strip()
    if not v:
        return None
    try:
        lat, lon = (float(x) for x in v.split(","))
    except ValueError:
        raise InputError(f"coordinates {value!r}: use lat,lon such as 53.9,27.56") from None
    return Coordinates(round(lat, 6), round(lon, 6))


@dataclass(frozen=True, slots=True)
class Region:
    """A region in the user-managed list. ``slug`` is derived, file-name safe and stable."""

    name: str
    slug: str


@dataclass(frozen=True, slots=True)
class Category:
    """An entry of the taxonomy (``slug`` is stable; ``label`` is the English msgid)."""

    slug: str
    label: str


DEFAULT_CATEGORIES: tuple[Category, ...] = (
    Category("beating", "beating"),
    Category("arbitrary-detention", "arbitrary detention"),
    Category("chemical-agents", "chemical agents"),
    Category("less-lethal-weapons", "less-lethal weapons"),
    Category("firearms", "firearms"),
    Category("ill-treatment-in-custody", "ill-treatment in custody"),
    Category("destruction-of-property", "destruction of property"),
    Category("obstruction-of-journalists", "obstruction of journalists"),
    Category("other", "other"),
)


@dataclass(frozen=True, slots=True)
class Vehicle:
    """A vehicle as seen: its type and, when legible, its official plate."""

    type: str
    plate: str = ""


@dataclass(frozen=True, slots=True)
class Observation:
    """What is visible and official about the perpetrators. No personal-data field exists."""

    unit: str = ""
    insignia: str = ""
    uniform: str = ""
    vehicles: tuple[Vehicle, ...] = ()
    officers: int | None = None
    unit_slug: str = ""
    """Slug of the vocabulary unit this observation names ("": only the free-text ``unit``)."""

    def __post_init__(self) -> None:
        if self.officers is not None and not 0 <= self.officers <= 100_000:
            raise InputError(f"number of officers {self.officers} is out of range")
        if not (self.unit or self.unit_slug or self.insignia or self.uniform or self.vehicles or self.officers):
            raise InputError("an observation needs a unit, insignia, uniform, vehicle or officers")


@dataclass(frozen=True, slots=True)
class Link:
    """An archive item (by sha256) linked to an incident with a role."""

    item: str
    role: Role


@dataclass(frozen=True, slots=True)
class Incident:
    """One documented incident, as stored."""

    id: str
    title: str
    time: TimeSpan
    place: str
    region: str
    categories: tuple[str, ...]
    description: str = ""
    sources: tuple[str, ...] = ()
    coordinates: Coordinates | None = None
    status: Status = Status.DRAFT
    observations: tuple[Observation, ...] = ()
    links: tuple[Link, ...] = ()
    updated_at: str = ""


@dataclass(frozen=True, slots=True)
class IncidentInput:
    """What a person gives to create or replace an incident (id may be empty: generated)."""

    title: str
    time: TimeSpan
    place: str
    region: str
    categories: tuple[str, ...]
    id: str = ""
    description: str = ""
    sources: tuple[str, ...] = ()
    coordinates: Coordinates | None = None
    status: Status = Status.DRAFT


@dataclass(frozen=True, slots=True)
class IncidentFilter:
    """Filters for listing incidents; every field narrows (empty means any)."""

    region: str = ""
    category: str = ""
    status: Status | None = None
    since: str = ""
    until: str = ""
    text: str = ""


@dataclass(frozen=True, slots=True)
class Testimony:
    """A testimony, decrypted for an authorised reader. Never published."""

    id: int
    incident_id: str
    language: str
    given_on: str
    text: str
    contact: str = ""


@dataclass(frozen=True, slots=True)
class TestimonyInfo:
    """What can be listed about a testimony without decrypting it."""

    id: int
    incident_id: str
    language: str
    given_on: str
    has_contact: bool


@dataclass(frozen=True, slots=True)
class Approval:
    """A person reviewed a derivative (a redacted copy) and approved it for publication."""

    item: str
    actor: str
    at: str


@dataclass(frozen=True, slots=True)
class Change:
    """A catalog change to be logged by the workspace: action name, objects, details."""

    action: str
    objects: tuple[str, ...]
    details: dict[str, str] = field(default_factory=dict)


def clean_text(value: str, what: str, *, max_len: int = 10_000, required: bool = False) -> str:
    """Strip and validate one line of user text (no control characters).

    Raises:
        InputError: empty while required, too long, or with control characters.
    """
    v = value.strip()
    if required and not v:
        raise InputError(f"{what} is missing")
    if len(v) > max_len:
        raise InputError(f"{what} is longer than {max_len} characters")
    if _CONTROL_RE.search(v):
        raise InputError(f"{what} contains control characters (line breaks, tabs): remove them")
    return v


def check_id(value: str) -> str:
    """Validate an incident id.

    Raises:
        InputError: the id has characters other than letters, digits, ``-`` and ``_``.
    """
    v = value.strip()
    if not ID_RE.match(v):
        raise InputError(
            f"incident id {value[:80]!r} is not valid: use 1-64 letters, digits, - and _ "
            "starting with a letter or digit"
        )
    return v
