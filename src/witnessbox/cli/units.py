"""CLI commands of the units vocabulary: ``witnessbox unit add|edit|list|show|merge|resolve|import|export``.

A few lines each over ``ws.units`` (:mod:`witnessbox.workspace.units`). Units are institutions:
there is no option for any individual.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from ..errors import InputError, WitnessboxError
from ._common import err, open_workspace, out, print_json, safe, safe_lines
from .incidents import ArchiveOpt, JsonOpt

_out = out  # never interprets markup (cli/_common.py)
_err = err

unit_app = typer.Typer(help="The vocabulary of security-force units (institutions, never their members).",
                       no_args_is_help=True)


def _record(u: Any, usage: dict[str, int] | None = None) -> dict[str, Any]:
    from ..catalog import unit_record

    r = unit_record(u)
    if usage is not None:
        r["observations"] = usage.get(u.slug, 0)
    return r


@unit_app.command("add")
def unit_add(
    name_be: str = typer.Option("", "--name-be", help="Name in Belarusian."),
    name_ru: str = typer.Option("", "--name-ru", help="Name in Russian."),
    name_en: str = typer.Option("", "--name-en", help="Name in English."),
    kind: str = typer.Option(..., "--kind", help="A kind of `witnessbox unit kinds` (slug or label)."),
    parent: str = typer.Option("", "--parent", help="Slug or name of the unit above it."),
    insignia: str = typer.Option("", "--insignia", help="Description of the insignia (text)."),
    notes: str = typer.Option("", "--notes", help="Public notes."),
    source: list[str] = typer.Option([], "--source", help="A source link or text (repeat)."),
    slug: str = typer.Option("", "--slug", help="Stable id (default: derived from a name)."),
    archive: Path = ArchiveOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Add a unit (one name at least, in be, ru or en)."""
    from ..catalog import Unit

    ws = open_workspace(archive)
    parent_slug = ws.units.get(parent).slug if parent.strip() else ""
    u = ws.units.add(Unit(slug, name_be, name_ru, name_en, kind, parent_slug, insignia, notes, tuple(source)))
    if as_json:
        print_json(_record(u))
    else:
        _out.print(u.slug, markup=False)


@unit_app.command("edit")
def unit_edit(
    unit: str = typer.Argument(..., metavar="UNIT", help="Slug or name."),
    name_be: str = typer.Option(None, "--name-be", help="New name in Belarusian."),
    name_ru: str = typer.Option(None, "--name-ru", help="New name in Russian."),
    name_en: str = typer.Option(None, "--name-en", help="New name in English."),
    kind: str = typer.Option(None, "--kind", help="New kind (slug or label of `witnessbox unit kinds`)."),
    parent: str = typer.Option(None, "--parent", help="Slug or name; empty text makes it a top unit."),
    insignia: str = typer.Option(None, "--insignia", help="New description of the insignia."),
    notes: str = typer.Option(None, "--notes", help="New public notes."),
    source: list[str] = typer.Option(None, "--source", help="Replaces all sources (repeat)."),
    archive: Path = ArchiveOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Change fields of a unit (others stay; its slug never changes)."""
    u = open_workspace(archive).units.edit(
        unit, name_be=name_be, name_ru=name_ru, name_en=name_en, kind=kind, parent=parent, insignia=insignia,
        notes=notes, sources=source or None,
    )
    if as_json:
        print_json(_record(u))
    else:
        _err.print(f"edited {u.slug}", markup=False)


@unit_app.command("list")
def unit_list(
    kind: str = typer.Option("", "--kind", help="Only this kind."),
    archive: Path = ArchiveOpt,
    as_json: bool = JsonOpt,
) -> None:
    """List units with the number of observations naming each."""
    ws = open_workspace(archive)
    items, usage = ws.units.list(kind), ws.units.usage()
    if as_json:
        print_json([_record(u, usage) for u in items])
        return
    t = Table("slug", "kind", "parent", "observations", "name", show_edge=False, highlight=False)
    for u in items:
        t.add_row(u.slug, u.kind, u.parent, str(usage.get(u.slug, 0)), safe(" / ".join(u.names()))[:80])
    _out.print(t, markup=False)


@unit_app.command("kinds")
def unit_kinds(
    add: list[str] = typer.Option([], "--add", metavar="SLUG=LABEL", help="Add a kind (repeat)."),
    archive: Path = ArchiveOpt,
    as_json: bool = JsonOpt,
) -> None:
    """List the kinds of units, or extend the list with --add."""
    ws = open_workspace(archive)
    for pair in add:
        slug, sep, label = pair.partition("=")
        if not sep:
            raise InputError(f"--add {pair!r}: use SLUG=LABEL, e.g. border-guard=border guard")
        ws.units.add_kind(slug, label)
    kinds = ws.units.kinds()
    if as_json:
        print_json([{"slug": k.slug, "label": k.label} for k in kinds])
    else:
        for k in kinds:
            _out.print(f"{k.slug:<22} {safe(k.label)}", markup=False)


@unit_app.command("show")
def unit_show(unit: str = typer.Argument(..., metavar="UNIT", help="Slug or name."), archive: Path = ArchiveOpt,
              as_json: bool = JsonOpt) -> None:
    """Show one unit, its sub-units and the incidents that observed it (any status)."""
    ws = open_workspace(archive)
    u = ws.units.get(unit)
    rec = _record(u, ws.units.usage())
    rec["sub_units"] = [c.slug for c in ws.units.list() if c.parent == u.slug]
    rec["incidents"] = ws.units.registry.incidents_of(u.slug)
    if as_json:
        print_json(rec)
        return
    for key in ("slug", "name_be", "name_ru", "name_en", "kind", "parent", "insignia", "observations"):
        if rec[key] not in ("", None):
            _out.print(f"{key:<13} {safe(str(rec[key]))}", markup=False)
    for s in u.sources:
        _out.print(f"{'source':<13} {safe(s)}", markup=False)
    for c in rec["sub_units"]:
        _out.print(f"{'sub-unit':<13} {c}", markup=False)
    for i in rec["incidents"]:
        _out.print(f"{'incident':<13} {safe(i)}", markup=False)
    if u.notes:
        _out.print("", markup=False)
        _out.print(safe_lines(u.notes))


@unit_app.command("merge")
def unit_merge(
    source: str = typer.Argument(..., metavar="SOURCE", help="The unit folded away (slug or name)."),
    target: str = typer.Argument(..., metavar="TARGET", help="The unit that stays (slug or name)."),
    archive: Path = ArchiveOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Fold one unit into another: its observations and sub-units move to TARGET (logged)."""
    rep = open_workspace(archive).units.merge(source, target)
    if as_json:
        print_json({"source": rep.source, "target": rep.target, "observations": rep.observations, "sub_units": rep.sub_units})
    else:
        _err.print(f"merged {rep.source} into {rep.target}: {rep.observations} observation(s), "
                   f"{rep.sub_units} sub-unit(s) moved", markup=False)


def _mapping_file(path: Path) -> dict[str, str]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as e:
        raise InputError(f"cannot read {path.name}: {e}; give the JSON of `witnessbox unit resolve --json` with slugs filled in") from e
    if not isinstance(data, list) or not all(isinstance(x, dict) for x in data):
        raise InputError(f"{path.name}: expected a JSON array of objects with value and slug")
    out = {}
    for x in data:
        value, slug = x.get("value"), x.get("slug")
        if isinstance(value, str) and isinstance(slug, str) and slug.strip():
            out[value] = slug.strip()
    return out


@unit_app.command("resolve")
def unit_resolve(
    map_: list[str] = typer.Option([], "--map", metavar="VALUE=UNIT", help="Map a free-text value to a unit (repeat)."),
    apply: Path = typer.Option(None, "--apply", help="JSON from `--json` with a \"slug\" chosen per value."),
    accept_same: bool = typer.Option(False, "--accept-same", help="Also map values whose only proposal is the same name (case and be/ru letters folded)."),
    archive: Path = ArchiveOpt,
    as_json: bool = JsonOpt,
) -> None:
    """List free-text units with counts and proposed matches; map them with --map/--apply (nothing is guessed)."""
    from ..catalog import unambiguous_same

    ws = open_workspace(archive)
    mapping: dict[str, str] = {}
    if accept_same:
        mapping.update(unambiguous_same(ws.units.proposals()))
    if apply is not None:
        mapping.update(_mapping_file(apply))
    for pair in map_:
        value, sep, unit = pair.rpartition("=")
        if not sep or not value:
            raise InputError(f"--map {pair!r}: use VALUE=UNIT, e.g. --map 'АМАП=omon-minsk'")
        mapping[value] = unit
    if mapping:
        n = ws.units.resolve(mapping)
        _err.print(f"mapped {len(mapping)} value(s): {n} observation(s) now name a unit", markup=False)
    res = ws.units.proposals()
    if as_json:
        print_json([
            {"value": r.value, "count": r.count, "slug": "",
             "proposals": [{"slug": p.slug, "name": p.name, "reason": p.reason, "matched": p.matched} for p in r.proposals]}
            for r in res
        ])
        return
    if not res:
        _err.print("every free-text unit is mapped", markup=False)
    for r in res:
        props = ", ".join(f"{p.slug} ({p.reason})" for p in r.proposals) or "no proposal"
        _out.print(f"{r.count:>5}  {safe(r.value)}  ->  {props}", markup=False)


@unit_app.command("import")
def unit_import(
    file: Path = typer.Argument(..., metavar="FILE.csv|FILE.json", help="Header slug,name_be,name_ru,name_en,kind[,parent,insignia,notes,sources]."),
    archive: Path = ArchiveOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Import units from CSV or JSON: every row or none (each bad row is listed)."""
    try:
        rep = open_workspace(archive).units.import_file(file)
    except WitnessboxError as e:
        problems = e.fields.get("problems") if isinstance(e, InputError) else None
        if problems:
            for p in problems:
                _err.print(f"{safe(file.name)}: {safe(str(p))}", markup=False)
            raise InputError(f"nothing was imported from {file.name}: {len(problems)} bad row(s), listed above") from None
        raise
    if as_json:
        print_json({"file": rep.file, "sha256": rep.sha256, "slugs": list(rep.slugs)})
    else:
        _err.print(f"imported {len(rep.slugs)} unit(s) from {safe(rep.file)}", markup=False)


@unit_app.command("export")
def unit_export(
    fmt: str = typer.Option("json", "--format", help="csv or json (the import format)."),
    output: Path = typer.Option(None, "--output", "-o", help="Write here instead of stdout."),
    archive: Path = ArchiveOpt,
) -> None:
    """Export the vocabulary (the import format)."""
    from .._fsutil import atomic_write_text

    data = open_workspace(archive).units.export(fmt)
    if output is None:
        sys.stdout.write(data)
    else:
        atomic_write_text(output, data)


def register(app: typer.Typer) -> None:
    """Add this module's commands to the root app."""
    app.add_typer(unit_app, name="unit")
