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

from ..catalog import Incident, IncidentFilter, region_slug
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
