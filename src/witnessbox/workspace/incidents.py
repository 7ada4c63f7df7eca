"""Use case: the incident registry of an archive (``ws.incidents``).

Every change goes through :class:`witnessbox.catalog.Catalog` inside one workspace transaction
and is logged with its full content by ``ws.log_action`` before the SQL commit, so the custody
log is the truth and :meth:`Incidents.reindex` rebuilds the tables from it.

Testimonies: text and witness contact are encrypted together to the archive's age recipient
and stored as ``testimonies/<ab>/<sha256>.age`` (read-only, content-addressed by the
ciphertext); the SQL catalog and the log hold only that reference. They are never published.
An archive made with ``--no-encryption`` refuses testimonies (fail closed).
"""

from __future__ import annotations

import builtins

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from ..catalog import (
    Catalog,
    Category,
    Change,
    Coordinates,
    ImportReport,
    Incident,
    IncidentFilter,
    IncidentInput,
    Observation,
    Region,
    Role,
    Status,
    Testimony,
    TestimonyInfo,
    export_csv,
    export_json,
    import_file,
    make_timespan,
)
from ..catalog.models import clean_text, format_time_text
from ..catalog.replay import Entry, replay
from ..errors import InputError, IntegrityError, UsageError

if TYPE_CHECKING:
    from .core import Workspace

TESTIMONY_DIR = "testimonies"
TESTIMONY_MAX = 1_000_000


class Incidents:
    """The incident catalog of one open archive."""

    def __init__(self, ws: Workspace) -> None:
        self._ws = ws

    @property
    def catalog(self) -> Catalog:
        """The SQL catalog (reads; changes go through this class so they are logged)."""
        return Catalog(self._ws.engine)

    def _log(self, change: Change) -> None:
        self._ws.log_action(change.action, change.objects, dict(change.details))

    # -- regions and taxonomy -------------------------------------------------------------------
    def add_region(self, name: str) -> Region:
        """Add a region to the list.

        Raises:
            InputError: empty, too long, control characters, or already there.
        """
        with self._ws.transaction():
            return self.catalog.add_region(name, self._log)

    def regions(self) -> builtins.list[Region]:
        """Every region, by name."""
        return self.catalog.regions()

    def categories(self) -> builtins.list[Category]:
        """The taxonomy."""
        return self.catalog.categories()

    def add_category(self, slug: str, label: str) -> Category:
        """Extend the taxonomy.

        Raises:
            InputError: bad or existing slug.
        """
        with self._ws.transaction():
            return self.catalog.add_category(slug, label, self._log)

    # -- incidents ------------------------------------------------------------------------------
    def add(self, inp: IncidentInput) -> Incident:
        """Create an incident.

        Raises:
            InputError: invalid input or id in use.
            NotFoundError: unknown region.
        """
        with self._ws.transaction():
            return self.catalog.add(inp, self._log)

    def edit(
        self,
        inc_id: str,
        *,
        title: str | None = None,
        start: str | None = None,
        end: str | None = None,
        precision: str | None = None,
        place: str | None = None,
        region: str | None = None,
        categories: Sequence[str] | None = None,
        description: str | None = None,
        sources: Sequence[str] | None = None,
        coordinates: Coordinates | None | Literal[False] = False,
    ) -> Incident:
        """Change some described fields of an incident (None: unchanged; coordinates False: unchanged).

        Raises:
            NotFoundError: no such incident or region.
            InputError: invalid value.
        """
        with self._ws.transaction():
            cur = self.catalog.get(inc_id)
            time = cur.time
            if start is not None or end is not None or precision is not None:
                time = make_timespan(
                    start if start is not None else format_time_text(cur.time.start, cur.time.precision),
                    end if end is not None else (format_time_text(cur.time.end, cur.time.precision) if cur.time.end else ""),
                    precision if precision is not None else cur.time.precision.value,
                )
            inp = IncidentInput(
                id=cur.id,
                title=cur.title if title is None else title,
                time=time,
                place=cur.place if place is None else place,
                region=cur.region if region is None else region,
                categories=cur.categories if categories is None else tuple(categories),
                description=cur.description if description is None else description,
                sources=cur.sources if sources is None else tuple(sources),
                coordinates=cur.coordinates if coordinates is False else coordinates,
                status=cur.status,
            )
            return self.catalog.replace(cur.id, inp, self._log)

    def get(self, inc_id: str) -> Incident:
        """One incident.

        Raises:
            NotFoundError: no such incident.
        """
        return self.catalog.get(inc_id)

    def list(self, flt: IncidentFilter = IncidentFilter()) -> builtins.list[Incident]:
        """Incidents matching the filter, oldest first.

        Raises:
            NotFoundError: unknown region or category in the filter.
            InputError: a date is not ISO 8601.
        """
        return self.catalog.list(flt)

    def set_status(self, inc_id: str, status: Status | str) -> Incident:
        """Move an incident along draft -> verified -> published (or back).

        Raises:
            InputError: the transition skips a step or the status is unknown.
            NotFoundError: no such incident.
        """
        from ..catalog import parse_enum

        st = status if isinstance(status, Status) else parse_enum(Status, status, "status")
        with self._ws.transaction():
            return self.catalog.set_status(inc_id, st, self._log)

    def link(self, inc_id: str, item: str, role: Role | str = Role.PRIMARY) -> Incident:
        """Link an archive item (id or unique prefix) to an incident with a role.

        Raises:
            NotFoundError: no such incident or item.
            UsageError: ambiguous item prefix.
            InputError: unknown role.
        """
        from ..catalog import parse_enum

        r = role if isinstance(role, Role) else parse_enum(Role, role, "role")
        self.get(inc_id)  # an unknown incident is named first, not blamed on the item id
        sha = self._ws.resolve(item)
        with self._ws.transaction():
            return self.catalog.link(inc_id, sha, r, self._log)

    def unlink(self, inc_id: str, item: str) -> Incident:
        """Remove a link.

        Raises:
            NotFoundError: no such incident, item or link.
        """
        sha = self._ws.resolve(item)
        with self._ws.transaction():
            return self.catalog.unlink(inc_id, sha, self._log)

    def observe(self, inc_id: str, obs: Observation) -> Incident:
        """Add an observation (visible and official facts only).

        Raises:
            NotFoundError: no such incident.
            InputError: invalid field.
        """
        with self._ws.transaction():
            return self.catalog.add_observation(inc_id, obs, self._log)

    def unobserve(self, inc_id: str, position: int) -> Incident:
        """Remove an observation by position.

        Raises:
            NotFoundError: no such incident or observation.
        """
        with self._ws.transaction():
            return self.catalog.remove_observation(inc_id, position, self._log)

    # -- testimonies ----------------------------------------------------------------------------
    def _testimony_path(self, sha: str) -> Path:
        return self._ws.root / TESTIMONY_DIR / sha[:2] / f"{sha}.age"

    def add_testimony(self, inc_id: str, text: str, *, language: str, given_on: str, contact: str = "") -> TestimonyInfo:
        """Store a testimony encrypted at rest (text and optional witness contact).

        Raises:
            InputError: empty or huge text, or the archive is not encrypted.
            NotFoundError: no such incident.
        """
        if not self._ws.encrypted:
            raise InputError("this archive was made with --no-encryption: testimonies can only be kept in an encrypted archive")
        if not text.strip():
            raise InputError("the testimony text is empty")
        if len(text) > TESTIMONY_MAX:
            raise InputError(f"the testimony is longer than {TESTIMONY_MAX} characters")
        contact = clean_text(contact, "witness contact", max_len=500)
        self.catalog.get(inc_id)  # fail before writing anything
        payload = json.dumps({"text": text, "contact": contact}, ensure_ascii=False, sort_keys=True).encode()
        blob = self._ws.store.encrypt_bytes(payload)
        sha = hashlib.sha256(blob).hexdigest()
        with self._ws.transaction():
            path = self._testimony_path(sha)
            path.parent.mkdir(parents=True, exist_ok=True)
            self._ws._store_file(path, blob)  # commit order: file (and its object), then row and log
            return self.catalog.add_testimony(
                inc_id, language=language, given_on=given_on, blob_sha256=sha, has_contact=bool(contact), log=self._log
            )

    def testimonies(self, inc_id: str) -> builtins.list[TestimonyInfo]:
        """What is known of an incident's testimonies without decrypting them."""
        return self.catalog.testimonies(inc_id)

    def read_testimony(self, testimony_id: int) -> Testimony:
        """Decrypt one testimony (needs the passphrase); the reading is logged.

        Raises:
            NotFoundError: no such testimony.
            IntegrityError: its file is missing or does not match.
            PassphraseError: wrong passphrase.
        """

        info, sha = self.catalog.testimony(testimony_id)
        try:
            blob = self._ws.read_file(self._testimony_path(sha))
        except OSError as e:
            raise IntegrityError(f"the file of testimony #{testimony_id} is missing") from e
        if hashlib.sha256(blob).hexdigest() != sha:
            raise IntegrityError(f"the file of testimony #{testimony_id} does not match its sha256")
        data = json.loads(self._ws.decrypt_bytes(blob))
        self._ws.log_action("catalog.testimony.read", [info.incident_id], {"testimony": str(testimony_id)})
        return Testimony(info.id, info.incident_id, info.language, info.given_on, data["text"], data.get("contact", ""))

    def verify_testimonies(self) -> builtins.list[str]:
        """Problems with the encrypted testimony files (missing or not matching their sha256)."""
        import sqlalchemy as sa

        from ..catalog import schema

        problems = []
        with self._ws.engine.connect() as c:
            rows = c.execute(sa.select(schema.testimonies.c.id, schema.testimonies.c.blob_sha256)).all()
        for tid, sha in rows:
            try:
                path = self._testimony_path(sha)
                copies = [self._ws.read_stored(path)]  # on object storage: the object
                if self._ws.mirror is not None and path.exists():
                    copies.append(path.read_bytes())  # and the folder's copy, which readers use
                ok = all(hashlib.sha256(c).hexdigest() == sha for c in copies)
            except OSError:
                problems.append(f"testimony #{tid}: file {sha[:16]} is missing")
                continue
            except IntegrityError as e:
                problems.append(f"testimony #{tid}: {e.detail or e.message}")
                continue
            if not ok:
                problems.append(f"testimony #{tid}: file {sha[:16]} does not match its sha256")
        return problems

    # -- bulk ------------------------------------------------------------------------------------
    def import_file(self, path: Path) -> ImportReport:
        """Import a CSV or JSON file: all rows or none.

        Raises:
            InputError: bad rows (each listed by line number in ``fields['problems']``).
        """
        with self._ws.transaction():
            return import_file(self.catalog, Path(path), self._log)

    def export(self, fmt: str, flt: IncidentFilter = IncidentFilter()) -> str:
        """Incidents as ``csv`` or ``json`` text (same format as the import).

        Raises:
            UsageError: unknown format.
        """
        incidents = self.list(flt)
        if fmt == "csv":
            return export_csv(incidents)
        if fmt == "json":
            return export_json(incidents)
        raise UsageError(f"unknown export format {fmt!r}: use csv or json")

    def reindex(self) -> int:
        """Rebuild the catalog tables from the custody log; return the entries replayed."""
        entries = (
            Entry(e.action, tuple(e.objects), dict(e.details), e.time, e.actor) for e in self._ws.log()
        )
        return replay(self._ws.engine, entries)

