"""Use case: the units vocabulary of an archive (``ws.units``).

Units are institutions (a riot-police detachment, a district police department), never their
members. Every change goes through :class:`witnessbox.catalog.UnitRegistry` inside one
workspace transaction and is logged with its full content before the SQL commit; the catalog's
replay (``ws.incidents.reindex``) rebuilds the tables, in log order with the observations.
"""

from __future__ import annotations

import builtins
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from ..catalog import (
    Change,
    FreeText,
    MergeReport,
    Resolution,
    Unit,
    UnitImportReport,
    UnitKind,
    UnitRegistry,
    export_units_csv,
    export_units_json,
    import_units,
    propose,
)
from ..errors import UsageError

if TYPE_CHECKING:
    from .core import Workspace

_UNSET = object()


class Units:
    """The units vocabulary of one open archive."""

    def __init__(self, ws: Workspace) -> None:
        self._ws = ws

    @property
    def registry(self) -> UnitRegistry:
        """The SQL vocabulary (reads; changes go through this class so they are logged)."""
        return UnitRegistry(self._ws.engine)

    def _log(self, change: Change) -> None:
        self._ws.log_action(change.action, change.objects, dict(change.details))

    def kinds(self) -> builtins.list[UnitKind]:
        """The configurable list of kinds."""
        return self.registry.kinds()

    def add_kind(self, slug: str, label: str) -> UnitKind:
        """Extend the list of kinds.

        Raises:
            InputError: bad or existing slug.
        """
        with self._ws.transaction():
            return self.registry.add_kind(slug, label, self._log)

    def add(self, unit: Unit) -> Unit:
        """Add a unit (empty slug: derived from its names).

        Raises:
            InputError: invalid field or slug in use, unknown kind.
            NotFoundError: unknown parent.
        """
        with self._ws.transaction():
            return self.registry.add(unit, self._log)

    def edit(
        self,
        slug: str,
        *,
        name_be: str | None = None,
        name_ru: str | None = None,
        name_en: str | None = None,
        kind: str | None = None,
        parent: str | None = None,
        insignia: str | None = None,
        notes: str | None = None,
        sources: Sequence[str] | None = None,
    ) -> Unit:
        """Change some fields of a unit (None: unchanged; ``parent=""`` makes it a top unit).

        Raises:
            NotFoundError: no such unit or parent.
            InputError: invalid value, or a parent that would make the chain of command loop.
        """
        with self._ws.transaction():
            cur = self.registry.get(slug)
            new = replace(
                cur,
                name_be=cur.name_be if name_be is None else name_be,
                name_ru=cur.name_ru if name_ru is None else name_ru,
                name_en=cur.name_en if name_en is None else name_en,
                kind=cur.kind if kind is None else kind,
                parent=cur.parent if parent is None else (self.registry.get(parent).slug if parent.strip() else ""),
                insignia=cur.insignia if insignia is None else insignia,
                notes=cur.notes if notes is None else notes,
                sources=cur.sources if sources is None else tuple(sources),
            )
            return self.registry.edit(cur.slug, new, self._log)

    def get(self, slug_or_name: str) -> Unit:
        """One unit by slug or name.

        Raises:
            NotFoundError: no such unit.
        """
        return self.registry.get(slug_or_name)

    def list(self, kind: str = "") -> builtins.list[Unit]:
        """Every unit, or those of one kind.

        Raises:
            InputError: unknown kind.
        """
        return self.registry.list(kind)

    def usage(self) -> dict[str, int]:
        """Observations per unit slug."""
        return self.registry.usage()

    def merge(self, source: str, target: str) -> MergeReport:
        """Fold ``source`` into ``target`` (observations and sub-units move); logged.

        Raises:
            NotFoundError: no such unit.
            InputError: same unit, or ``target`` is under ``source``.
        """
        with self._ws.transaction():
            return self.registry.merge(source, target, self._log)

    def free_texts(self) -> builtins.list[FreeText]:
        """Free-text units not yet mapped, with their counts."""
        return self.registry.free_texts()

    def proposals(self) -> builtins.list[Resolution]:
        """Each free-text unit with its count and ranked proposals (nothing is changed)."""
        return propose(self.free_texts(), self.list())

    def resolve(self, mapping: Mapping[str, str]) -> int:
        """Map free-text values to units (value -> slug or name); return the observations changed.

        Raises:
            NotFoundError: an unknown unit.
            InputError: empty mapping.
        """
        with self._ws.transaction():
            return self.registry.map_free_texts(mapping, self._log)

    def import_file(self, path: Path) -> UnitImportReport:
        """Import units from CSV or JSON: all rows or none.

        Raises:
            InputError: bad rows (each listed by line in ``fields['problems']``).
        """
        with self._ws.transaction():
            return import_units(self.registry, self._ws.engine, Path(path), self._log)

    def export(self, fmt: str) -> str:
        """Every unit as ``csv`` or ``json`` (the import format).

        Raises:
            UsageError: unknown format.
        """
        items = self.list()
        if fmt == "csv":
            return export_units_csv(items)
        if fmt == "json":
            return export_units_json(items)
        raise UsageError(f"unknown export format {fmt!r}: use csv or json")
