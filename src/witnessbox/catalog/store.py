"""The incident catalog over an SQL engine: regions, taxonomy, incidents, links, testimonies.

Every method that changes something runs in one transaction and hands a :class:`Change` to the
``log`` callback *inside* it, before the commit: when the custody log refuses the entry, the
transaction rolls back, so the catalog never holds a change the log does not record.

Testimonies are stored only as ciphertext produced by the caller (the workspace encrypts with
the archive's key); this module never sees their text.
"""

from __future__ import annotations

import builtins

import hashlib
import json
import re
import unicodedata
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from ..errors import InputError, NotFoundError
from . import schema as t
from . import unit_schema as tu
from .models import (
    REGION_NAME_MAX,
    TITLE_MAX,
    Approval,
    Category,
    Change,
    Coordinates,
    Incident,
    IncidentFilter,
    IncidentInput,
    Link,
    Observation,
    Precision,
    Region,
    Role,
    Status,
    TestimonyInfo,
    TimeSpan,
    Vehicle,
    check_id,
    check_transition,
    clean_text,
    format_time,
    parse_time,
)

LogFn = Callable[[Change], None]


def nolog(_: Change) -> None:
    return None


def utc_now() -> str:
    """Current UTC time, ISO 8601 to the second."""
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat()


# Belarusian and Russian letters to Latin, for readable file names only (the hash keeps them unique).
_TRANSLIT = dict(
    zip(
        "абвгґдеёжзиійклмнопрстуўфхцчшщъыьэюяє",
        "a b v h g d e io zh z i i j k l m n o p r s t u u f kh ts ch sh sch - y - e iu ia ie".split(),
        strict=True,
    )
)


def region_slug(name: str) -> str:
    """A file-name safe, stable slug for a region name (ASCII, at most 49 characters).

    The slug is never the name itself: hostile names (``../``, slashes, very long) cannot
    reach the file system of the public site.
    """
    nfc = unicodedata.normalize("NFC", name).casefold()
    latin = "".join(_TRANSLIT.get(c, c) for c in nfc).replace("-", " ")
    ascii_ = unicodedata.normalize("NFKD", latin).encode("ascii", "ignore").decode()
    base = re.sub(r"[^a-z0-9]+", "-", ascii_).strip("-")[:40].strip("-")
    digest = hashlib.sha256(nfc.encode()).hexdigest()[:8]
    return f"{base}-{digest}" if base else digest


_DESCRIPTION_CONTROL_RE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ufffe\uffff]")


def _name_key(name: str) -> str:
    return unicodedata.normalize("NFC", name).casefold()


def _search_text(inp: IncidentInput, region_name: str) -> str:
    parts = [inp.id, inp.title, inp.place, region_name, inp.description, *inp.sources]
    return unicodedata.normalize("NFC", "\n".join(parts)).casefold()


def _like_escape(q: str) -> str:
    return q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _time_key(value: str, *, end_of_day: bool) -> str:
    t_, bare = parse_time(value, "date")
    if bare and end_of_day:
        t_ = t_.replace(hour=23, minute=59, second=59)
    return TimeSpan(t_, None, Precision.EXACT).sort_key()


@dataclass(frozen=True, slots=True)
class ValidatedInput:
    """An :class:`IncidentInput` whose region and categories were resolved to slugs."""

    input: IncidentInput
    region_slug: str
    region_name: str
    categories: tuple[str, ...]


class Catalog:
    """Incidents and their satellites in the SQL catalog of one archive.

    Args:
        engine: SQLAlchemy engine whose schema was created by :mod:`.schema`'s migrations.
        now: Clock returning ISO 8601 UTC text (injectable for reproducible tests).
    """

    def __init__(self, engine: Engine, now: Callable[[], str] = utc_now) -> None:
        self._engine = engine
        self._now = now

    # ------------------------------------------------------------------ regions, taxonomy
    def add_region(self, name: str, log: LogFn = nolog) -> Region:
        """Add a region to the user-managed list.

        Raises:
            InputError: the name is empty, too long, has control characters or exists.
        """
        name = unicodedata.normalize("NFC", clean_text(name, "region name", max_len=REGION_NAME_MAX, required=True))
        region = Region(name, region_slug(name))
        with self._engine.begin() as conn:
            if conn.execute(sa.select(t.regions.c.slug).where(t.regions.c.name_key == _name_key(name))).first():
                raise InputError(f"region {name!r} already exists")
            conn.execute(
                t.regions.insert().values(
                    slug=region.slug, name=name, name_key=_name_key(name), created_at=self._now()
                )
            )
            log(Change("catalog.region.add", (region.slug,), {"name": name}))
        return region

    def regions(self) -> builtins.list[Region]:
        """All regions, sorted by name."""
        with self._engine.connect() as conn:
            rows = conn.execute(sa.select(t.regions.c.name, t.regions.c.slug)).all()
        return sorted((Region(r.name, r.slug) for r in rows), key=lambda r: _name_key(r.name))

    def region(self, name_or_slug: str) -> Region:
        """Find a region by name (any case) or slug.

        Raises:
            NotFoundError: no such region.
        """
        with self._engine.connect() as conn:
            return self._region(conn, name_or_slug)

    def _region(self, conn: Connection, name_or_slug: str) -> Region:
        v = unicodedata.normalize("NFC", name_or_slug.strip())
        row = conn.execute(
            sa.select(t.regions.c.name, t.regions.c.slug).where(
                sa.or_(t.regions.c.name_key == _name_key(v), t.regions.c.slug == v)
            )
        ).first()
        if row is None:
            raise NotFoundError(f"unknown region {name_or_slug[:80]!r}: add it with `witnessbox region add NAME`")
        return Region(row.name, row.slug)

    def categories(self) -> builtins.list[Category]:
        """The taxonomy in its configured order."""
        with self._engine.connect() as conn:
            rows = conn.execute(
                sa.select(t.categories.c.slug, t.categories.c.label).order_by(t.categories.c.position)
            ).all()
        return [Category(r.slug, r.label) for r in rows]

    def add_category(self, slug: str, label: str, log: LogFn = nolog) -> Category:
        """Extend the taxonomy.

        Raises:
            InputError: the slug is not lowercase letters, digits and ``-``, or exists.
        """
        slug = slug.strip()
        if not re.fullmatch(r"[a-z0-9][a-z0-9-]{0,79}", slug):
            raise InputError(f"category slug {slug[:80]!r}: use lowercase letters, digits and -")
        label = clean_text(label, "category label", max_len=200, required=True)
        with self._engine.begin() as conn:
            if conn.execute(sa.select(t.categories.c.slug).where(t.categories.c.slug == slug)).first():
                raise InputError(f"category {slug!r} already exists")
            pos = conn.execute(sa.select(sa.func.count()).select_from(t.categories)).scalar_one()
            conn.execute(t.categories.insert().values(slug=slug, label=label, position=pos))
            log(Change("catalog.category.add", (slug,), {"label": label}))
        return Category(slug, label)

    def _category_lookup(self, conn: Connection) -> dict[str, str]:
        rows = conn.execute(sa.select(t.categories.c.slug, t.categories.c.label)).all()
        out: dict[str, str] = {}
        for r in rows:
            out[r.slug.casefold()] = r.slug
            out[r.label.casefold()] = r.slug
        return out

    # ------------------------------------------------------------------ validation
    def validate(self, conn: Connection, inp: IncidentInput) -> ValidatedInput:
        """Check one input against the lists (region, taxonomy) and the text rules.

        Raises:
            InputError: the first problem found, as a user message.
        """
        return self._validate(conn, inp, self._category_lookup(conn), {})

    def _validate(
        self, conn: Connection, inp: IncidentInput, cats: dict[str, str], region_cache: dict[str, Region]
    ) -> ValidatedInput:
        if inp.id:
            check_id(inp.id)
        clean_text(inp.title, "title", max_len=TITLE_MAX, required=True)
        clean_text(inp.place, "place", max_len=1000)
        if len(inp.description) > 200_000:
            raise InputError("description is longer than 200000 characters")
        if _DESCRIPTION_CONTROL_RE.search(inp.description):
            # Invalid in XML 1.0: one such character would make the site's Atom feed unreadable.
            raise InputError("description contains control characters (other than line breaks and tabs): remove them")
        for s in inp.sources:
            clean_text(s, "source", max_len=2000)
        if not inp.region.strip():
            raise InputError("region is missing")
        key = _name_key(inp.region.strip())
        region = region_cache.get(key)
        if region is None:
            region = self._region(conn, inp.region)
            region_cache[key] = region
        slugs: builtins.list[str] = []
        for c in inp.categories:
            slug = cats.get(c.strip().casefold())
            if slug is None:
                raise InputError(f"unknown category {c[:80]!r}: see `witnessbox category list`")
            if slug not in slugs:
                slugs.append(slug)
        return ValidatedInput(inp, region.slug, region.name, tuple(slugs))

    # ------------------------------------------------------------------ incidents
    def add(self, inp: IncidentInput, log: LogFn = nolog, *, new_id: Callable[[], str] | None = None) -> Incident:
        """Create an incident (an empty id is generated).

        Raises:
            InputError: invalid input or an id already in use.
            NotFoundError: unknown region.
        """
        with self._engine.begin() as conn:
            v = self.validate(conn, inp)
            inc_id = self._insert(conn, v, new_id)
            log(Change("catalog.incident.add", (inc_id,), change_details(v)))
            return self._load(conn, [inc_id])[0]

    def add_many(self, inputs: Sequence[ValidatedInput], conn: Connection, *, new_id: Callable[[], str] | None = None) -> builtins.list[str]:
        """Insert already validated inputs on an open transaction; return their ids."""
        return [self._insert(conn, v, new_id) for v in inputs]

    def _insert(self, conn: Connection, v: ValidatedInput, new_id: Callable[[], str] | None) -> str:
        inp = v.input
        inc_id = inp.id or (new_id() if new_id else _generated_id(inp))
        if conn.execute(sa.select(t.incidents.c.id).where(t.incidents.c.id_key == inc_id.casefold())).first():
            raise InputError(f"incident id {inc_id!r} is already in use")
        now = self._now()
        conn.execute(t.incidents.insert().values(id=inc_id, id_key=inc_id.casefold(), created_at=now, **_row(v, now)))
        self._write_categories(conn, inc_id, v.categories)
        return inc_id

    def replace(self, inc_id: str, inp: IncidentInput, log: LogFn = nolog) -> Incident:
        """Replace the described fields of an incident (status, links, observations kept).

        Raises:
            NotFoundError: no such incident or region.
            InputError: invalid input.
        """
        with self._engine.begin() as conn:
            cur = self._load(conn, [self._resolve(conn, inc_id)])[0]
            v = self.validate(conn, IncidentInput(**{**_input_fields(inp), "id": cur.id, "status": cur.status}))
            conn.execute(t.incidents.update().where(t.incidents.c.id == cur.id).values(**_row(v, self._now())))
            conn.execute(t.incident_categories.delete().where(t.incident_categories.c.incident_id == cur.id))
            self._write_categories(conn, cur.id, v.categories)
            log(Change("catalog.incident.edit", (cur.id,), change_details(v)))
            return self._load(conn, [cur.id])[0]

    def _write_categories(self, conn: Connection, inc_id: str, slugs: Iterable[str]) -> None:
        rows = [{"incident_id": inc_id, "category": s, "position": i} for i, s in enumerate(slugs)]
        if rows:
            conn.execute(t.incident_categories.insert(), rows)

    def set_status(self, inc_id: str, status: Status, log: LogFn = nolog) -> Incident:
        """Move an incident along draft -> verified -> published (or back).

        Raises:
            NotFoundError: no such incident.
            InputError: the transition skips a step.
        """
        with self._engine.begin() as conn:
            cur = self._load(conn, [self._resolve(conn, inc_id)])[0]
            check_transition(cur.status, status)
            if cur.status != status:
                conn.execute(
                    t.incidents.update()
                    .where(t.incidents.c.id == cur.id)
                    .values(status=status.value, updated_at=self._now())
                )
                log(Change("catalog.incident.status", (cur.id,), {"from": cur.status.value, "to": status.value}))
            return self._load(conn, [cur.id])[0]

    def force_status(self, inc_id: str, status: Status) -> None:
        """Set a status without the life-cycle check (replaying a log that already checked it).

        Raises:
            NotFoundError: no such incident.
        """
        with self._engine.begin() as conn:
            iid = self._resolve(conn, inc_id)
            conn.execute(
                t.incidents.update().where(t.incidents.c.id == iid).values(status=status.value, updated_at=self._now())
            )

    def add_observation(self, inc_id: str, obs: Observation, log: LogFn = nolog) -> Incident:
        """Record what was visible and official about the perpetrators.

        Raises:
            NotFoundError: no such incident.
            InputError: a field has control characters or is too long.
        """
        with self._engine.begin() as conn:
            iid = self._resolve(conn, inc_id)
            pos = self.add_observation_on(conn, iid, obs)
            self._touch(conn, iid)
            log(Change("catalog.observation.add", (iid,), {"position": str(pos), **obs_details(obs)}))
            return self._load(conn, [iid])[0]

    def add_observation_on(self, conn: Connection, iid: str, obs: Observation) -> int:
        """Insert an observation on an open transaction; return its position.

        Raises:
            InputError: a field has control characters or is too long.
        """
        for name in ("unit", "insignia", "uniform"):
            clean_text(getattr(obs, name), name, max_len=500)
        for veh in obs.vehicles:
            clean_text(veh.type, "vehicle type", max_len=200, required=True)
            clean_text(veh.plate, "vehicle plate", max_len=40)
        if obs.unit_slug and conn.execute(
            sa.select(tu.units.c.slug).where(tu.units.c.slug == obs.unit_slug)
        ).first() is None:
            raise NotFoundError(f"unknown unit {obs.unit_slug[:80]!r}: add it with `witnessbox unit add` or see `witnessbox unit list`")
        pos: int = conn.execute(
            sa.select(sa.func.coalesce(sa.func.max(t.observations.c.position), -1)).where(
                t.observations.c.incident_id == iid
            )
        ).scalar_one() + 1
        conn.execute(
            t.observations.insert().values(
                incident_id=iid, position=pos, unit=obs.unit.strip(), insignia=obs.insignia.strip(),
                uniform=obs.uniform.strip(),
                vehicles=json.dumps([[v.type.strip(), v.plate.strip()] for v in obs.vehicles], ensure_ascii=False),
                officers=obs.officers,
            )
        )
        if obs.unit_slug:
            conn.execute(tu.observation_units.insert().values(incident_id=iid, position=pos, unit_slug=obs.unit_slug))
        return pos

    def remove_observation(self, inc_id: str, position: int, log: LogFn = nolog) -> Incident:
        """Remove one observation by its position (as shown by ``incident show``).

        Raises:
            NotFoundError: no such incident or observation.
        """
        with self._engine.begin() as conn:
            iid = self._resolve(conn, inc_id)
            res = conn.execute(
                t.observations.delete().where(
                    t.observations.c.incident_id == iid, t.observations.c.position == position
                )
            )
            if res.rowcount == 0:
                raise NotFoundError(f"incident {iid} has no observation #{position}")
            conn.execute(
                tu.observation_units.delete().where(
                    tu.observation_units.c.incident_id == iid, tu.observation_units.c.position == position
                )
            )
            self._touch(conn, iid)
            log(Change("catalog.observation.remove", (iid,), {"position": str(position)}))
            return self._load(conn, [iid])[0]

    def link(self, inc_id: str, item: str, role: Role, log: LogFn = nolog) -> Incident:
        """Link an archive item (full sha256, checked by the caller) with a role; relinking changes the role.

        Raises:
            NotFoundError: no such incident.
        """
        with self._engine.begin() as conn:
            iid = self._resolve(conn, inc_id)
            existing = conn.execute(
                sa.select(t.links.c.role).where(t.links.c.incident_id == iid, t.links.c.item == item)
            ).first()
            if existing is None:
                pos = conn.execute(
                    sa.select(sa.func.count()).select_from(t.links).where(t.links.c.incident_id == iid)
                ).scalar_one()
                conn.execute(t.links.insert().values(incident_id=iid, item=item, role=role.value, position=pos))
            elif existing.role != role.value:
                conn.execute(
                    t.links.update().where(t.links.c.incident_id == iid, t.links.c.item == item).values(role=role.value)
                )
            else:
                return self._load(conn, [iid])[0]
            self._touch(conn, iid)
            log(Change("catalog.incident.link", (iid, item), {"role": role.value}))
            return self._load(conn, [iid])[0]

    def unlink(self, inc_id: str, item: str, log: LogFn = nolog) -> Incident:
        """Remove the link between an incident and an item.

        Raises:
            NotFoundError: no such incident or link.
        """
        with self._engine.begin() as conn:
            iid = self._resolve(conn, inc_id)
            res = conn.execute(t.links.delete().where(t.links.c.incident_id == iid, t.links.c.item == item))
            if res.rowcount == 0:
                raise NotFoundError(f"item {item[:16]} is not linked to incident {iid}")
            self._touch(conn, iid)
            log(Change("catalog.incident.unlink", (iid, item), {}))
            return self._load(conn, [iid])[0]

    def _touch(self, conn: Connection, iid: str) -> None:
        conn.execute(t.incidents.update().where(t.incidents.c.id == iid).values(updated_at=self._now()))

    def get(self, inc_id: str) -> Incident:
        """One incident with its observations and links.

        Raises:
            NotFoundError: no such incident.
        """
        with self._engine.connect() as conn:
            return self._load(conn, [self._resolve(conn, inc_id)])[0]

    def _resolve(self, conn: Connection, inc_id: str) -> str:
        row = conn.execute(sa.select(t.incidents.c.id).where(t.incidents.c.id_key == inc_id.strip().casefold())).first()
        if row is None:
            raise NotFoundError(f"no incident {inc_id[:80]!r}: see `witnessbox incident list`")
        return str(row.id)

    def list(self, flt: IncidentFilter = IncidentFilter()) -> builtins.list[Incident]:
        """Incidents matching every given filter, oldest first.

        Raises:
            NotFoundError: the region or category filter names nothing known.
            InputError: a date filter is not ISO 8601.
        """
        c = t.incidents.c
        conds: builtins.list[Any] = []
        with self._engine.connect() as conn:
            if flt.region:
                conds.append(c.region == self._region(conn, flt.region).slug)
            if flt.category:
                slug = self._category_lookup(conn).get(flt.category.strip().casefold())
                if slug is None:
                    raise NotFoundError(f"unknown category {flt.category[:80]!r}: see `witnessbox category list`")
                conds.append(
                    c.id.in_(sa.select(t.incident_categories.c.incident_id).where(t.incident_categories.c.category == slug))
                )
            if flt.status is not None:
                conds.append(c.status == flt.status.value)
            if flt.since:
                conds.append(c.end_key >= _time_key(flt.since, end_of_day=False))
            if flt.until:
                conds.append(c.start_key <= _time_key(flt.until, end_of_day=True))
            if flt.text.strip():
                q = unicodedata.normalize("NFC", flt.text.strip()).casefold()
                conds.append(c.search_text.like(f"%{_like_escape(q)}%", escape="\\"))
            ids = conn.execute(sa.select(c.id).where(*conds).order_by(c.start_key, c.id)).scalars().all()
            return self._load(conn, list(ids), all_rows=not conds)

    def _load(self, conn: Connection, ids: builtins.list[str], *, all_rows: bool = False) -> builtins.list[Incident]:
        """Read incidents and their satellites in four queries (chunked IN lists)."""
        if not ids:
            return []
        regions = {r.slug: r.name for r in conn.execute(sa.select(t.regions.c.slug, t.regions.c.name))}
        inc_rows: dict[str, Any] = {}
        cats: dict[str, list[tuple[int, str]]] = defaultdict(list)
        obs: dict[str, list[tuple[int, Observation]]] = defaultdict(list)
        lnk: dict[str, list[tuple[int, Link]]] = defaultdict(list)
        role_of = {ro.value: ro for ro in Role}
        chunks: builtins.list[list[str] | None] = [None] if all_rows else [ids[i : i + 500] for i in range(0, len(ids), 500)]
        for chunk in chunks:
            def where(col: Any, chunk: builtins.list[str] | None = chunk) -> Any:
                return sa.true() if chunk is None else col.in_(chunk)

            for r in conn.execute(sa.select(t.incidents).where(where(t.incidents.c.id))):
                inc_rows[r.id] = r
            for r in conn.execute(sa.select(t.incident_categories).where(where(t.incident_categories.c.incident_id))):
                cats[r.incident_id].append((r.position, r.category))
            unit_of = {
                (r.incident_id, r.position): r.unit_slug
                for r in conn.execute(sa.select(tu.observation_units).where(where(tu.observation_units.c.incident_id)))
            }
            for r in conn.execute(sa.select(t.observations).where(where(t.observations.c.incident_id))):
                vehicles = tuple(Vehicle(a, b) for a, b in json.loads(r.vehicles))
                obs[r.incident_id].append(
                    (r.position, Observation(r.unit, r.insignia, r.uniform, vehicles, r.officers,
                                             unit_of.get((r.incident_id, r.position), "")))
                )
            for r in conn.execute(sa.select(t.links).where(where(t.links.c.incident_id))):
                lnk[r.incident_id].append((r.position, Link(r.item, role_of[r.role])))
        out: builtins.list[Incident] = []
        fromiso = datetime.fromisoformat
        status_of = {st.value: st for st in Status}
        precision_of = {p.value: p for p in Precision}
        for iid in ids:
            r = inc_rows[iid]
            # Stored times are normalised ISO 8601 (written by this module): parse them directly.
            out.append(
                Incident(
                    id=r.id,
                    title=r.title,
                    time=TimeSpan(fromiso(r.start), fromiso(r.end) if r.end else None, precision_of[r.precision]),
                    place=r.place,
                    region=regions[r.region],
                    categories=tuple(s for _, s in sorted(cats[iid])),
                    description=r.description,
                    sources=tuple(json.loads(r.sources)) if r.sources != "[]" else (),
                    coordinates=Coordinates(r.lat, r.lon) if r.lat is not None else None,
                    status=status_of[r.status],
                    observations=tuple(o for _, o in sorted(obs[iid], key=lambda x: x[0])),
                    links=tuple(li for _, li in sorted(lnk[iid], key=lambda x: x[0])),
                    updated_at=r.updated_at,
                )
            )
        return out

    def observation_positions(self, inc_id: str) -> builtins.list[int]:
        """Positions of an incident's observations, in order (for removal by position)."""
        with self._engine.connect() as conn:
            iid = self._resolve(conn, inc_id)
            return list(
                conn.execute(
                    sa.select(t.observations.c.position)
                    .where(t.observations.c.incident_id == iid)
                    .order_by(t.observations.c.position)
                ).scalars()
            )

    # ------------------------------------------------------------------ testimonies
    def add_testimony(
        self,
        inc_id: str,
        *,
        language: str,
        given_on: str,
        blob_sha256: str,
        has_contact: bool,
        log: LogFn = nolog,
        testimony_id: int | None = None,
    ) -> TestimonyInfo:
        """Record a testimony whose text and contact the caller stored encrypted (by sha256).

        The log gets the reference and the language, never the text or the contact.

        Raises:
            NotFoundError: no such incident.
            InputError: bad language tag or date.
        """
        language = language.strip()
        if not re.fullmatch(r"[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*", language):
            raise InputError(f"language {language[:20]!r}: use a tag such as be, ru or en")
        given, _ = parse_time(given_on, "testimony date")
        with self._engine.begin() as conn:
            iid = self._resolve(conn, inc_id)
            values: dict[str, Any] = {
                "incident_id": iid, "language": language, "given_on": format_time(given),
                "has_contact": has_contact, "blob_sha256": blob_sha256, "created_at": self._now(),
            }
            if testimony_id is not None:
                values["id"] = testimony_id
            res = conn.execute(t.testimonies.insert().values(**values))
            tid = int(res.inserted_primary_key[0])  # type: ignore[index]
            log(
                Change(
                    "catalog.testimony.add",
                    (iid,),
                    {"testimony": str(tid), "blob_sha256": blob_sha256, "language": language,
                     "given_on": format_time(given), "has_contact": "yes" if has_contact else "no"},
                )
            )
        return TestimonyInfo(tid, iid, language, format_time(given), has_contact)

    def testimonies(self, inc_id: str) -> builtins.list[TestimonyInfo]:
        """What can be shown about an incident's testimonies without decrypting them."""
        with self._engine.connect() as conn:
            iid = self._resolve(conn, inc_id)
            rows = conn.execute(
                sa.select(t.testimonies).where(t.testimonies.c.incident_id == iid).order_by(t.testimonies.c.id)
            ).all()
        return [TestimonyInfo(r.id, r.incident_id, r.language, r.given_on, bool(r.has_contact)) for r in rows]

    def testimony(self, testimony_id: int) -> tuple[TestimonyInfo, str]:
        """One testimony's metadata and the sha256 of its encrypted file.

        Raises:
            NotFoundError: no such testimony.
        """
        with self._engine.connect() as conn:
            r = conn.execute(sa.select(t.testimonies).where(t.testimonies.c.id == testimony_id)).first()
        if r is None:
            raise NotFoundError(f"no testimony #{testimony_id}")
        return TestimonyInfo(r.id, r.incident_id, r.language, r.given_on, bool(r.has_contact)), str(r.blob_sha256)

    # ------------------------------------------------------------------ approvals
    def approve(self, item: str, actor: str, log: LogFn = nolog) -> Approval:
        """Mark a derivative (full sha256, checked by the caller) as reviewed for publication."""
        at = self._now()
        with self._engine.begin() as conn:
            conn.execute(t.approvals.delete().where(t.approvals.c.item == item))
            conn.execute(t.approvals.insert().values(item=item, actor=actor, at=at))
            log(Change("approve", (item,), {"reviewed": "derivative"}))
        return Approval(item, actor, at)

    def revoke(self, item: str, log: LogFn = nolog) -> None:
        """Withdraw an approval: the derivative will no longer be published.

        Raises:
            NotFoundError: the item was not approved.
        """
        with self._engine.begin() as conn:
            if conn.execute(t.approvals.delete().where(t.approvals.c.item == item)).rowcount == 0:
                raise NotFoundError(f"item {item[:16]} is not approved")
            log(Change("approve.revoke", (item,), {}))

    def approvals(self) -> dict[str, Approval]:
        """Every current approval, by item sha256."""
        with self._engine.connect() as conn:
            rows = conn.execute(sa.select(t.approvals)).all()
        return {r.item: Approval(r.item, r.actor, r.at) for r in rows}

    def engine(self) -> Engine:
        """The engine (for a transaction spanning several calls, e.g. an import)."""
        return self._engine

    def category_lookup(self, conn: Connection) -> dict[str, str]:
        """Casefolded slug or label -> slug."""
        return self._category_lookup(conn)

    def validate_with(
        self, conn: Connection, inp: IncidentInput, cats: dict[str, str], region_cache: dict[str, Region]
    ) -> ValidatedInput:
        """:meth:`validate` with caches, for bulk imports.

        Raises:
            InputError: invalid input.
            NotFoundError: unknown region.
        """
        return self._validate(conn, inp, cats, region_cache)

    def existing_ids(self, conn: Connection) -> set[str]:
        """Casefolded ids of every incident (duplicate checks in imports)."""
        return set(conn.execute(sa.select(t.incidents.c.id_key)).scalars())


def _generated_id(inp: IncidentInput) -> str:
    import secrets

    return f"{inp.time.start.year}-{secrets.token_hex(4)}"


def _row(v: ValidatedInput, now: str) -> dict[str, Any]:
    inp = v.input
    return {
        "title": inp.title.strip(),
        "start": format_time(inp.time.start),
        "end": format_time(inp.time.end) if inp.time.end else None,
        "start_key": inp.time.sort_key(),
        "end_key": inp.time.end_key(),
        "precision": inp.time.precision.value,
        "place": inp.place.strip(),
        "region": v.region_slug,
        "lat": inp.coordinates.lat if inp.coordinates else None,
        "lon": inp.coordinates.lon if inp.coordinates else None,
        "description": inp.description,
        "sources": json.dumps([s.strip() for s in inp.sources if s.strip()], ensure_ascii=False),
        "status": inp.status.value,
        "search_text": _search_text(inp, v.region_name),
        "updated_at": now,
    }


def _input_fields(inp: IncidentInput) -> dict[str, Any]:
    return {f: getattr(inp, f) for f in IncidentInput.__dataclass_fields__}


def change_details(v: ValidatedInput) -> dict[str, str]:
    """The full described content of an incident, so the log alone can rebuild the catalog."""
    inp = v.input
    return {
        "title": inp.title.strip(),
        "start": format_time(inp.time.start),
        "end": format_time(inp.time.end) if inp.time.end else "",
        "precision": inp.time.precision.value,
        "place": inp.place.strip(),
        "region": v.region_name,
        "categories": ";".join(v.categories),
        "description": inp.description,
        "sources": json.dumps(list(inp.sources), ensure_ascii=False),
        "coordinates": f"{inp.coordinates.lat},{inp.coordinates.lon}" if inp.coordinates else "",
        "status": inp.status.value,
    }


def obs_details(obs: Observation) -> dict[str, str]:
    d = {
        "unit": obs.unit,
        "insignia": obs.insignia,
        "uniform": obs.uniform,
        "vehicles": json.dumps([[v.type, v.plate] for v in obs.vehicles], ensure_ascii=False),
        "officers": "" if obs.officers is None else str(obs.officers),
    }
    if obs.unit_slug:  # only when set: entries of archives made before units keep their form
        d["unit_slug"] = obs.unit_slug
    return d
