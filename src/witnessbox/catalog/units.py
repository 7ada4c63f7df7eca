"""The units vocabulary: security-force units as public institutions, never their members.

A unit has a stable slug, names in be, ru and en (one at least), a kind from a configurable
list, an optional parent (the chain of command is a tree), an insignia description, public
notes and sources. There is deliberately no field for any individual (commander, member,
officer): witnessbox documents institutions only (docs/catalog.md).

Observations reference a unit by slug in ``cat_observation_units`` (one row per observation
that names a vocabulary unit); the free-text ``unit`` of an observation is kept as written.
The tables live in their own :data:`unit_metadata` (registered migration ``units`` v1), so the
catalog's first migration, which creates everything in its own metadata, never touches them.

Every change runs in one transaction and hands a :class:`~.models.Change` to the ``log``
callback inside it, like :class:`~.store.Catalog`: the custody log is the truth and
:mod:`.replay` rebuilds these tables from it.
"""

from __future__ import annotations

import builtins
import json
import re
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from ..errors import InputError, NotFoundError
from .models import Change, clean_text
from .store import LogFn, nolog, utc_now
from .unit_schema import observation_units, unit_kinds, units

LANGS = ("be", "ru", "en")
UNIT_NAME_MAX = 300
SLUG_RE = re.compile(r"[a-z0-9][a-z0-9-]{0,79}")
_TEXT_CONTROL_RE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ufffe\uffff]")


@dataclass(frozen=True, slots=True)
class UnitKind:
    """An entry of the configurable list of unit kinds (``label`` is the English msgid)."""

    slug: str
    label: str


@dataclass(frozen=True, slots=True)
class Unit:
    """A security-force unit: an institution. No field for any of its members exists."""

    slug: str
    name_be: str
    name_ru: str
    name_en: str
    kind: str
    parent: str = ""
    insignia: str = ""
    notes: str = ""
    sources: tuple[str, ...] = ()

    def name(self, lang: str = "en") -> str:
        """The name in ``lang``, else the first given of en, be, ru."""
        own = {"be": self.name_be, "ru": self.name_ru, "en": self.name_en}.get(lang, "")
        return own or self.name_en or self.name_be or self.name_ru

    def names(self) -> tuple[str, ...]:
        """Every non-empty name."""
        return tuple(n for n in (self.name_be, self.name_ru, self.name_en) if n)


@dataclass(frozen=True, slots=True)
class MergeReport:
    """What a merge changed."""

    source: str
    target: str
    observations: int
    sub_units: int


@dataclass(frozen=True, slots=True)
class FreeText:
    """A free-text unit value of observations not yet mapped to a vocabulary unit."""

    value: str
    count: int


# ----------------------------------------------------------------------------------- slugs
_TRANSLIT = dict(
    zip(
        "абвгґдеёжзиійклмнопрстуўфхцчшщъыьэюяє",
        "a b v h g d e io zh z i i j k l m n o p r s t u u f kh ts ch sh sch _ y _ e iu ia ie".replace("_", "").split(" "),
        strict=True,
    )
)


def transliterate(text: str) -> str:
    """Belarusian/Russian letters to Latin (lowercase), other letters stripped of accents."""
    nfc = unicodedata.normalize("NFC", text).casefold()
    latin = "".join(_TRANSLIT.get(c, c) for c in nfc).replace("-", " ")
    return unicodedata.normalize("NFKD", latin).encode("ascii", "ignore").decode()


def slug_from(text: str) -> str:
    """A readable ASCII slug for a unit name (may be empty for names without letters or digits)."""
    return re.sub(r"[^a-z0-9]+", "-", transliterate(text)).strip("-")[:60].strip("-")


def check_slug(slug: str, what: str = "unit slug") -> str:
    """Validate a slug (used in file names of the public site).

    Raises:
        InputError: not lowercase ASCII letters, digits and ``-``.
    """
    s = slug.strip()
    if not SLUG_RE.fullmatch(s):
        raise InputError(f"{what} {slug[:80]!r}: use lowercase letters, digits and - (at most 80)")
    return s


def check_unit(u: Unit) -> Unit:
    """Validate and normalise the text fields of a unit (the slug may be empty: derived later).

    Raises:
        InputError: no name, a field too long or with control characters.
    """
    names = {
        f"name_{lang}": unicodedata.normalize("NFC", clean_text(getattr(u, f"name_{lang}"), f"name ({lang})", max_len=UNIT_NAME_MAX))
        for lang in LANGS
    }
    if not any(names.values()):
        raise InputError("a unit needs a name in be, ru or en")
    insignia = clean_text(u.insignia, "insignia description", max_len=2000)
    notes = u.notes.strip()
    if len(notes) > 20_000:
        raise InputError("notes are longer than 20000 characters")
    if _TEXT_CONTROL_RE.search(notes):
        raise InputError("notes contain control characters (other than line breaks and tabs): remove them")
    sources = tuple(clean_text(s, "source", max_len=2000) for s in u.sources)
    return Unit(
        slug=check_slug(u.slug) if u.slug.strip() else "",
        kind=u.kind.strip(), parent=u.parent.strip(), insignia=insignia, notes=notes,
        sources=tuple(s for s in sources if s), **names,
    )


def unit_details(u: Unit) -> dict[str, str]:
    """The full content of a unit, as logged (all strings), so the log alone rebuilds it."""
    return {
        "name_be": u.name_be, "name_ru": u.name_ru, "name_en": u.name_en, "kind": u.kind, "parent": u.parent,
        "insignia": u.insignia, "notes": u.notes, "sources": json.dumps(list(u.sources), ensure_ascii=False),
    }


def unit_from_details(slug: str, d: Mapping[str, Any]) -> Unit:
    """The unit a logged change (or an import record) describes."""
    return Unit(
        slug=slug, name_be=str(d.get("name_be", "")), name_ru=str(d.get("name_ru", "")),
        name_en=str(d.get("name_en", "")), kind=str(d.get("kind", "")), parent=str(d.get("parent", "")),
        insignia=str(d.get("insignia", "")), notes=str(d.get("notes", "")),
        sources=tuple(json.loads(str(d.get("sources", "[]")))),
    )


def _row(u: Unit) -> dict[str, Any]:
    return {
        "name_be": u.name_be, "name_ru": u.name_ru, "name_en": u.name_en, "kind": u.kind,
        "parent": u.parent or None, "insignia": u.insignia, "notes": u.notes,
        "sources": json.dumps(list(u.sources), ensure_ascii=False),
    }


def _from_row(r: Any) -> Unit:
    return Unit(r.slug, r.name_be, r.name_ru, r.name_en, r.kind, r.parent or "", r.insignia, r.notes,
                tuple(json.loads(r.sources)))


class UnitRegistry:
    """The units vocabulary of one catalog.

    Args:
        engine: Engine whose schema has the unit tables (migration ``units`` v1).
        now: Clock returning ISO 8601 UTC text.
    """

    def __init__(self, engine: Engine, now: Callable[[], str] = utc_now) -> None:
        self._engine = engine
        self._now = now

    # ------------------------------------------------------------------ kinds
    def kinds(self) -> builtins.list[UnitKind]:
        """The kinds in their configured order."""
        with self._engine.connect() as conn:
            return self._kinds(conn)

    def _kinds(self, conn: Connection) -> builtins.list[UnitKind]:
        rows = conn.execute(sa.select(unit_kinds.c.slug, unit_kinds.c.label).order_by(unit_kinds.c.position)).all()
        return [UnitKind(r.slug, r.label) for r in rows]

    def add_kind(self, slug: str, label: str, log: LogFn = nolog) -> UnitKind:
        """Extend the list of kinds.

        Raises:
            InputError: bad or existing slug, empty label.
        """
        slug = check_slug(slug, "kind slug")
        label = clean_text(label, "kind label", max_len=200, required=True)
        with self._engine.begin() as conn:
            if any(k.slug == slug for k in self._kinds(conn)):
                raise InputError(f"unit kind {slug!r} already exists")
            pos = conn.execute(sa.select(sa.func.count()).select_from(unit_kinds)).scalar_one()
            conn.execute(unit_kinds.insert().values(slug=slug, label=label, position=pos))
            log(Change("catalog.unit.kind.add", (slug,), {"label": label}))
        return UnitKind(slug, label)

    def kind_lookup(self, conn: Connection) -> dict[str, str]:
        """Casefolded slug or label -> slug."""
        out: dict[str, str] = {}
        for k in self._kinds(conn):
            out[k.slug.casefold()] = k.slug
            out[k.label.casefold()] = k.slug
        return out

    def _kind(self, conn: Connection, value: str, lookup: Mapping[str, str] | None = None) -> str:
        kinds = lookup if lookup is not None else self.kind_lookup(conn)
        slug = kinds.get(value.strip().casefold())
        if slug is None:
            valid = ", ".join(sorted(set(kinds.values())))
            raise InputError(f"unknown unit kind {value[:80]!r}: use one of {valid}")
        return slug

    # ------------------------------------------------------------------ units
    def add(self, unit: Unit, log: LogFn = nolog) -> Unit:
        """Add a unit (an empty slug is derived from its names).

        Raises:
            InputError: invalid field, slug in use, unknown kind or parent.
        """
        with self._engine.begin() as conn:
            u = self.prepare(conn, unit, set(self._slugs(conn)))
            self.insert(conn, u)
            log(Change("catalog.unit.add", (u.slug,), unit_details(u)))
            return u

    def _slugs(self, conn: Connection) -> builtins.list[str]:
        return list(conn.execute(sa.select(units.c.slug)).scalars())

    def prepare(self, conn: Connection, unit: Unit, taken: set[str], *, pending: Iterable[str] = (),
                kinds: Mapping[str, str] | None = None) -> Unit:
        """Validate a new unit against the lists; derive its slug when empty.

        ``taken`` holds slugs in use (the derived slug is added to it); ``pending`` parents that
        an import adds in the same transaction.

        Raises:
            InputError: invalid field, slug in use, unknown kind or parent.
        """
        u = check_unit(unit)
        u = replace(u, kind=self._kind(conn, u.kind, kinds))
        if not u.slug:
            base = slug_from(u.name_en) or slug_from(u.name_be) or slug_from(u.name_ru) or "unit"
            slug, n = base, 2
            while slug in taken:
                slug, n = f"{base}-{n}", n + 1
            u = replace(u, slug=slug)
        elif u.slug in taken:
            raise InputError(f"unit slug {u.slug!r} is already in use")
        if u.parent and u.parent not in taken and u.parent not in set(pending):
            raise NotFoundError(f"unknown parent unit {u.parent[:80]!r}: see `witnessbox unit list`")
        if u.parent == u.slug:
            raise InputError(f"unit {u.slug!r} cannot be its own parent")
        taken.add(u.slug)
        return u

    def insert(self, conn: Connection, u: Unit) -> None:
        """Insert an already prepared unit on an open transaction."""
        now = self._now()
        conn.execute(units.insert().values(slug=u.slug, created_at=now, updated_at=now, **_row(u)))

    def edit(self, slug: str, unit: Unit, log: LogFn = nolog) -> Unit:
        """Replace the described fields of a unit (its slug stays).

        Raises:
            NotFoundError: no such unit or parent.
            InputError: invalid field, or the new parent is the unit itself or one of its sub-units.
        """
        with self._engine.begin() as conn:
            cur = self._get(conn, slug)
            u = replace(check_unit(replace(unit, slug=cur.slug)), slug=cur.slug)
            u = replace(u, kind=self._kind(conn, u.kind))
            if u.parent:
                self._get(conn, u.parent)
                chain = self._ancestors(conn, u.parent)
                if u.parent == cur.slug or cur.slug in chain:
                    raise InputError(f"unit {u.parent!r} is {cur.slug!r} or under it: a chain of command cannot loop")
            conn.execute(units.update().where(units.c.slug == cur.slug).values(updated_at=self._now(), **_row(u)))
            log(Change("catalog.unit.edit", (u.slug,), unit_details(u)))
            return u

    def _ancestors(self, conn: Connection, slug: str) -> builtins.list[str]:
        parents = {r.slug: r.parent for r in conn.execute(sa.select(units.c.slug, units.c.parent))}
        out: builtins.list[str] = []
        cur = parents.get(slug)
        while cur and cur not in out:
            out.append(cur)
            cur = parents.get(cur)
        return [slug, *out]

    def get(self, slug_or_name: str) -> Unit:
        """A unit by slug, or by one of its names (ignoring case).

        Raises:
            NotFoundError: no such unit.
        """
        with self._engine.connect() as conn:
            return self._get(conn, slug_or_name)

    def _get(self, conn: Connection, slug_or_name: str) -> Unit:
        v = unicodedata.normalize("NFC", slug_or_name.strip())
        row = conn.execute(sa.select(units).where(units.c.slug == v)).first()
        if row is None:
            key = v.casefold()
            hits = [
                r for r in conn.execute(sa.select(units)).all()
                if key in (r.name_be.casefold(), r.name_ru.casefold(), r.name_en.casefold())
            ]
            if len(hits) > 1:
                raise InputError(f"{slug_or_name[:80]!r} names {len(hits)} units: give the slug")
            row = hits[0] if hits else None
        if row is None:
            raise NotFoundError(f"no unit {slug_or_name[:80]!r}: see `witnessbox unit list`")
        return _from_row(row)

    def exists(self, conn: Connection, slug: str) -> bool:
        """Whether a unit has this exact slug."""
        return conn.execute(sa.select(units.c.slug).where(units.c.slug == slug)).first() is not None

    def list(self, kind: str = "") -> builtins.list[Unit]:
        """Every unit (or those of one kind), sorted by slug.

        Raises:
            InputError: unknown kind.
        """
        with self._engine.connect() as conn:
            q = sa.select(units).order_by(units.c.slug)
            if kind:
                q = q.where(units.c.kind == self._kind(conn, kind))
            return [_from_row(r) for r in conn.execute(q)]

    def usage(self) -> dict[str, int]:
        """Number of observations referencing each unit."""
        with self._engine.connect() as conn:
            rows = conn.execute(
                sa.select(observation_units.c.unit_slug, sa.func.count().label("n")).group_by(observation_units.c.unit_slug)
            ).all()
        return {r.unit_slug: int(r.n) for r in rows}

    def incidents_of(self, slug: str) -> builtins.list[str]:
        """Ids of the incidents with an observation of this unit (any status), sorted."""
        with self._engine.connect() as conn:
            rows = conn.execute(
                sa.select(observation_units.c.incident_id).where(observation_units.c.unit_slug == slug).distinct()
            ).scalars().all()
        return sorted(rows)

    # ------------------------------------------------------------------ merge
    def merge(self, source: str, target: str, log: LogFn = nolog) -> MergeReport:
        """Fold ``source`` into ``target``: its observations and sub-units move, it is removed.

        Raises:
            NotFoundError: no such unit.
            InputError: the same unit, or ``target`` is under ``source`` (the tree would loop).
        """
        with self._engine.begin() as conn:
            src, dst = self._get(conn, source), self._get(conn, target)
            if src.slug == dst.slug:
                raise InputError("a unit cannot be merged into itself")
            if src.slug in self._ancestors(conn, dst.slug):
                raise InputError(
                    f"{dst.slug!r} is under {src.slug!r}: move it out first (`witnessbox unit edit {dst.slug} --parent ...`)"
                )
            n_obs = conn.execute(
                observation_units.update().where(observation_units.c.unit_slug == src.slug).values(unit_slug=dst.slug)
            ).rowcount
            n_sub = conn.execute(units.update().where(units.c.parent == src.slug).values(parent=dst.slug)).rowcount
            conn.execute(units.delete().where(units.c.slug == src.slug))
            log(Change("catalog.unit.merge", (src.slug, dst.slug), {"observations": str(n_obs), "sub_units": str(n_sub)}))
            return MergeReport(src.slug, dst.slug, n_obs, n_sub)

    # ------------------------------------------------------------------ free text
    def free_texts(self) -> builtins.list[FreeText]:
        """Free-text units of observations that reference no vocabulary unit, most frequent first."""
        from .schema import observations

        with self._engine.connect() as conn:
            mapped = sa.select(observation_units.c.incident_id, observation_units.c.position)
            rows = conn.execute(
                sa.select(observations.c.unit)
                .where(observations.c.unit != "")
                .where(sa.tuple_(observations.c.incident_id, observations.c.position).not_in(mapped))
            ).scalars().all()
        counts = Counter(rows)
        return [FreeText(v, n) for v, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))]

    def map_free_texts(self, mapping: Mapping[str, str], log: LogFn = nolog) -> int:
        """Point every unmapped observation whose unit text is a key of ``mapping`` at its unit.

        The free text stays as written; only the reference is added. Returns the observations
        changed.

        Raises:
            NotFoundError: a target unit does not exist.
            InputError: an empty mapping or value.
        """
        from .schema import observations

        if not mapping:
            raise InputError("nothing to map: give VALUE=SLUG pairs")
        with self._engine.begin() as conn:
            clean: dict[str, str] = {}
            for value, slug in mapping.items():
                if not value.strip():
                    raise InputError("an empty unit text cannot be mapped")
                clean[value] = self._get(conn, slug).slug
            mapped = {(r.incident_id, r.position) for r in conn.execute(sa.select(observation_units))}
            rows = conn.execute(
                sa.select(observations.c.incident_id, observations.c.position, observations.c.unit).where(
                    observations.c.unit.in_(list(clean))
                )
            ).all()
            todo = [
                {"incident_id": r.incident_id, "position": r.position, "unit_slug": clean[r.unit]}
                for r in rows if (r.incident_id, r.position) not in mapped
            ]
            if todo:
                conn.execute(observation_units.insert(), todo)
            log(Change("catalog.unit.resolve", tuple(sorted(set(clean.values()))),
                       {"mapping": json.dumps(clean, ensure_ascii=False, sort_keys=True), "observations": str(len(todo))}))
            return len(todo)


def ancestors_of(slug: str, parents: Mapping[str, str]) -> builtins.list[str]:
    """The chain of command above ``slug`` (nearest first), stopping at a loop."""
    out: builtins.list[str] = []
    cur = parents.get(slug, "")
    while cur and cur not in out and cur != slug:
        out.append(cur)
        cur = parents.get(cur, "")
    return out


def sorted_units(items: Sequence[Unit], lang: str) -> builtins.list[Unit]:
    """Units sorted by their name in ``lang`` (ignoring case), then slug."""
    return sorted(items, key=lambda u: (unicodedata.normalize("NFC", u.name(lang)).casefold(), u.slug))
