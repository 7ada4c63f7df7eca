"""What one web user may see: region scoping of incidents and items, and folded search.

A user limited to regions sees only incidents of those regions and the items linked to them
(with the derivatives of those items). Everything else answers "not found", never "forbidden",
so ids of other regions' material cannot be probed. These rules live here, in the library,
so the web shell and the tests apply one definition.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from ..catalog import Incident, IncidentFilter, region_slug
from ..catalog import schema as _t
from ..catalog.models import Precision, TimeSpan, parse_time
from ..errors import NotFoundError
from ..ledger.records import ItemRecord
from .accounts import Account, Role
from .core import Workspace

# Belarusian and Russian letters that people type interchangeably (and keyboards lack).
_FOLD = str.maketrans({"ё": "е", "і": "и", "ў": "у", "ї": "и", "й": "и"})


def fold(text: str) -> str:
    """Search key: NFC, case folded, and the be/ru pairs ё/е, і/и, ў/у (and й/и) made equal."""
    return unicodedata.normalize("NFC", text).casefold().translate(_FOLD)


def _incident_text(inc: Incident) -> str:
    return "\n".join([inc.id, inc.title, inc.place, inc.region, inc.description, *inc.sources,
                      *(" ".join([o.unit, o.insignia, o.uniform, *(v.type + " " + v.plate for v in o.vehicles)])
                        for o in inc.observations)])


@dataclass(frozen=True)
class IncidentSummary:
    """One row of the incidents table (read straight from the catalog tables: fast at 10,000)."""

    id: str
    title: str
    start: str
    end: str
    place: str
    region: str
    categories: tuple[str, ...]
    status: str
    links: int


def _time_key(value: str, *, end_of_day: bool) -> str:
    """The catalog's sortable time key of a filter date (as ``Catalog.list`` computes it)."""
    t, bare = parse_time(value, "date")
    if bare and end_of_day:
        t = t.replace(hour=23, minute=59, second=59)
    return TimeSpan(t, None, Precision.EXACT).sort_key()


@dataclass(frozen=True)
class Scope:
    """A signed-in user's role and regions (empty regions: every region)."""

    name: str
    role: Role
    regions: frozenset[str]

    @classmethod
    def of(cls, account: Account) -> Scope:
        return cls(account.name, account.role, frozenset(account.regions))

    def allows(self, needed: Role | str) -> bool:
        return self.role.allows(Role(needed))

    @property
    def sees_gps(self) -> bool:
        """GPS and other sensitive metadata: editors and admins only."""
        return self.role in (Role.ADMIN, Role.EDITOR)

    def sees_incident(self, inc: Incident) -> bool:
        # A loaded incident carries its region's name; accounts keep the stable slug.
        return not self.regions or region_slug(inc.region) in self.regions

    def incidents(self, ws: Workspace, flt: IncidentFilter = IncidentFilter(), text: str = "") -> list[Incident]:
        """Incidents this user may see that match ``flt`` and the folded search ``text``.

        Raises:
            NotFoundError: A region or category filter names nothing known.
            InputError: A date filter is not ISO 8601.
        """
        found = [i for i in ws.incidents.list(flt) if self.sees_incident(i)]
        q = fold(text.strip())
        if q:
            found = [i for i in found if q in fold(_incident_text(i))]
        return found

    def incident_table(self, ws: Workspace, flt: IncidentFilter = IncidentFilter(), text: str = "",
                       offset: int = 0, limit: int | None = None) -> tuple[int, list[IncidentSummary]]:
        """(number of matches, one page of rows) of the incidents this user may see.

        The same filters as :meth:`incidents` (and ``Catalog.list``), but only the columns a
        table shows, and satellites (categories, link counts) only for the page's rows.

        Raises:
            NotFoundError: A region or category filter names nothing known.
            InputError: A date filter is not ISO 8601.
        """
        c = _t.incidents.c
        conds: list[Any] = []
        with ws.engine.connect() as conn:
            regions = {r.slug: r.name for r in conn.execute(sa.select(_t.regions.c.slug, _t.regions.c.name))}
            if self.regions:
                conds.append(c.region.in_(sorted(self.regions)))
            if flt.region:
                by_name = {n.casefold(): s for s, n in regions.items()}
                slug = flt.region if flt.region in regions else by_name.get(flt.region.strip().casefold())
                if slug is None:
                    raise NotFoundError(f"unknown region {flt.region[:80]!r}")
                conds.append(c.region == slug)
            if flt.category:
                cats = {r.slug: r.slug for r in conn.execute(sa.select(_t.categories.c.slug))}
                cats.update({r.label.casefold(): r.slug for r in conn.execute(sa.select(_t.categories.c.slug, _t.categories.c.label))})
                cat = cats.get(flt.category) or cats.get(flt.category.strip().casefold())
                if cat is None:
                    raise NotFoundError(f"unknown category {flt.category[:80]!r}")
                ic = _t.incident_categories.c
                conds.append(c.id.in_(sa.select(ic.incident_id).where(ic.category == cat)))
            if flt.status is not None:
                conds.append(c.status == flt.status.value)
            if flt.since:
                conds.append(c.end_key >= _time_key(flt.since, end_of_day=False))
            if flt.until:
                conds.append(c.start_key <= _time_key(flt.until, end_of_day=True))
            cols = (c.id, c.title, c.start, c.end, c.place, c.region, c.status)
            order = (c.start_key, c.id)
            q = fold(text.strip())
            if q:
                # Folding (ё/е, і/и, ў/у) is done here, not in SQL: match over ids and text only,
                # then read the page's rows.
                oc = _t.observations.c
                obs: dict[str, list[str]] = {}
                for o in conn.execute(sa.select(oc.incident_id, oc.unit, oc.insignia, oc.uniform, oc.vehicles)):
                    obs.setdefault(o[0], []).append(" ".join(str(x) for x in o[1:]))
                # search_text is stored NFC and case folded already: only the letter pairs remain.
                hits = [r.id for r in conn.execute(sa.select(c.id, c.search_text).where(*conds).order_by(*order))
                        if q in r.search_text.translate(_FOLD) or (r.id in obs and q in fold("\n".join(obs[r.id])))]
                total = len(hits)
                wanted = hits[offset:] if limit is None else hits[offset:offset + limit]
                by_id = {r.id: r for i in range(0, len(wanted), 500)
                         for r in conn.execute(sa.select(*cols).where(c.id.in_(wanted[i:i + 500])))}
                page = [by_id[i] for i in wanted]
            else:
                total = int(conn.execute(sa.select(sa.func.count()).select_from(_t.incidents).where(*conds)).scalar_one())
                stmt = sa.select(*cols).where(*conds).order_by(*order).offset(offset)
                page = list(conn.execute(stmt if limit is None else stmt.limit(limit)).all())
            ids = [r.id for r in page]
            cats_of: dict[str, list[str]] = {}
            counts: dict[str, int] = {}
            for i in range(0, len(ids), 500):
                chunk = ids[i:i + 500]
                ic = _t.incident_categories.c
                for r in conn.execute(sa.select(ic.incident_id, ic.category).where(ic.incident_id.in_(chunk))
                                      .order_by(ic.incident_id, ic.position)):
                    cats_of.setdefault(r[0], []).append(r[1])
                lc = _t.links.c
                for r in conn.execute(sa.select(lc.incident_id, sa.func.count()).where(lc.incident_id.in_(chunk))
                                      .group_by(lc.incident_id)):
                    counts[r[0]] = int(r[1])
        return total, [IncidentSummary(r.id, r.title, r.start, r.end or "", r.place, regions.get(r.region, r.region),
                                       tuple(cats_of.get(r.id, ())), r.status, counts.get(r.id, 0)) for r in page]

    def incident(self, ws: Workspace, inc_id: str) -> Incident:
        """One incident, if this user may see it.

        Raises:
            NotFoundError: No such incident, or one of a region outside the user's.
        """
        inc = ws.incidents.get(inc_id)
        if not self.sees_incident(inc):
            raise NotFoundError(f"no incident {inc_id[:40]!r}")
        return inc

    def visible_items(self, ws: Workspace) -> set[str] | None:
        """sha256 of every item this user may see, or None for "all"."""
        if not self.regions:
            return None
        linked = {link.item for inc in ws.incidents.list() if self.sees_incident(inc) for link in inc.links}
        out = set(linked)
        for rec in ws.items():
            parent = rec.parent
            while parent is not None and rec.sha256 not in out:
                if parent in linked:
                    out.add(rec.sha256)
                    break
                parent = ws.item(parent).parent
        return out

    def items(self, ws: Workspace) -> list[ItemRecord]:
        """Every item this user may see, in sealing order."""
        allowed = self.visible_items(ws)
        return [r for r in ws.items() if allowed is None or r.sha256 in allowed]

    def item(self, ws: Workspace, id_prefix: str) -> ItemRecord:
        """One item, if this user may see it.

        Raises:
            NotFoundError: No such item, or one outside the user's regions.
            UsageError: The id is malformed or ambiguous.
        """
        rec = ws.item(id_prefix)
        allowed = self.visible_items(ws)
        if allowed is not None and rec.sha256 not in allowed:
            raise NotFoundError(f"no item with an id starting {id_prefix[:64]}")
        return rec

    def incidents_of_item(self, ws: Workspace, sha256: str) -> list[Incident]:
        """Visible incidents that link this item."""
        return [i for i in ws.incidents.list() if self.sees_incident(i) and any(link.item == sha256 for link in i.links)]

    def region_names(self, ws: Workspace) -> Sequence[tuple[str, str]]:
        """(slug, name) of the regions this user may choose."""
        return [(r.slug, r.name) for r in ws.incidents.regions() if not self.regions or r.slug in self.regions]
