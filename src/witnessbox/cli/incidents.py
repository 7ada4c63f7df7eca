"""CLI commands of the incident registry: ``incident``, ``region``, ``category``, ``import``.

Each command is a few lines over ``ws.incidents`` (:mod:`witnessbox.workspace.incidents`).
Testimony text is read from a file or stdin, never from the command line (shell history).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import typer

from ..errors import InputError, UsageError
from ._common import err as _err
from ._common import open_workspace, print_json, safe, safe_lines, table
from ._common import out as _out

ArchiveOpt = typer.Option(None, "--archive", "-A", help="Archive folder (default: $WITNESSBOX_ARCHIVE or ./witnessbox-archive).")
JsonOpt = typer.Option(False, "--json", help="Print JSON for scripts.")

incident_app = typer.Typer(help="Describe incidents and link them to sealed media.", no_args_is_help=True)
region_app = typer.Typer(help="The list of regions incidents belong to.", no_args_is_help=True)
category_app = typer.Typer(help="The taxonomy of abuse categories.", no_args_is_help=True)
testimony_app = typer.Typer(help="Testimonies (encrypted at rest, never published).", no_args_is_help=True)


def _record(inc: Any) -> dict[str, Any]:
    from ..catalog import incident_record

    r = incident_record(inc)
    r["links"] = [{"item": li.item, "role": li.role.value} for li in inc.links]
    r["updated_at"] = inc.updated_at
    return r


def _table(incidents: list[Any]) -> None:
    t = table("id", "start", "status", "region", "title", "media", keep=("id", "start", "status", "media"))
    for i in incidents:
        start = _record(i)["start"]
        t.add_row(safe(i.id), safe(start), i.status.value, safe(i.region), safe(i.title), str(len(i.links)))
    _out.print(t)


# -- region -----------------------------------------------------------------------------------
@region_app.command("add")
def region_add(name: str = typer.Argument(..., help="Region name, any script."), archive: Path = ArchiveOpt) -> None:
    """Add a region to the list."""
    r = open_workspace(archive).incidents.add_region(name)
    _err.print(f"added region {safe(r.name)} ({safe(r.slug)})")


@region_app.command("list")
def region_list(archive: Path = ArchiveOpt, as_json: bool = JsonOpt) -> None:
    """List regions."""
    regions = open_workspace(archive).incidents.regions()
    if as_json:
        print_json([{"name": r.name, "slug": r.slug} for r in regions])
    else:
        for r in regions:
            _out.print(f"{safe(r.slug)}  {safe(r.name)}")


# -- category ---------------------------------------------------------------------------------
@category_app.command("list")
def category_list(archive: Path = ArchiveOpt, as_json: bool = JsonOpt) -> None:
    """List the categories of the taxonomy."""
    cats = open_workspace(archive).incidents.categories()
    if as_json:
        print_json([{"slug": c.slug, "label": c.label} for c in cats])
    else:
        for c in cats:
            _out.print(f"{safe(c.slug):<28} {safe(c.label)}")


@category_app.command("add")
def category_add(
    slug: str = typer.Argument(..., help="Stable id: lowercase letters, digits and -."),
    label: str = typer.Argument(..., help="Label shown on the site."),
    archive: Path = ArchiveOpt,
) -> None:
    """Extend the taxonomy."""
    c = open_workspace(archive).incidents.add_category(slug, label)
    _err.print(f"added category {safe(c.slug)}")


# -- incident ---------------------------------------------------------------------------------
def _description(text: str | None, file: Path | None) -> str | None:
    if file is not None:
        try:
            return file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as e:
            raise InputError(f"cannot read {file}: {e}") from e
    return text


@incident_app.command("add")
def incident_add(
    title: str = typer.Option(..., "--title", help="Short title."),
    start: str = typer.Option(..., "--start", help="ISO 8601 date or date-time."),
    region: str = typer.Option(..., "--region", help="A region of `witnessbox region list`."),
    category: list[str] = typer.Option(..., "--category", "-c", help="Category slug or label (repeat)."),
    end: str = typer.Option("", "--end", help="ISO 8601 end."),
    precision: str = typer.Option("", "--precision", help="exact, day or approximate (default from --start)."),
    place: str = typer.Option("", "--place", help="Public place (street, square)."),
    description: str = typer.Option("", "--description", help="Markdown text."),
    description_file: Path = typer.Option(None, "--description-file", help="Read the Markdown description from a file."),
    source: list[str] = typer.Option([], "--source", help="A source link or text (repeat)."),
    coordinates: str = typer.Option("", "--coordinates", help="lat,lon of the public place."),
    inc_id: str = typer.Option("", "--id", help="Stable id (default: generated)."),
    archive: Path = ArchiveOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Describe a new incident (status draft)."""
    from ..catalog import IncidentInput, make_timespan, parse_coordinates

    inp = IncidentInput(
        id=inc_id, title=title, time=make_timespan(start, end, precision), place=place, region=region,
        categories=tuple(category), description=_description(description, description_file) or "",
        sources=tuple(source), coordinates=parse_coordinates(coordinates),
    )
    inc = open_workspace(archive).incidents.add(inp)
    if as_json:
        print_json(_record(inc))
    else:
        _out.print(safe(inc.id))


@incident_app.command("edit")
def incident_edit(
    inc_id: str = typer.Argument(..., metavar="ID"),
    title: str = typer.Option(None, "--title", help="New short title."),
    start: str = typer.Option(None, "--start", help="New ISO 8601 start."),
    end: str = typer.Option(None, "--end", help="New ISO 8601 end (empty text removes it)."),
    precision: str = typer.Option(None, "--precision", help="exact, day or approximate."),
    place: str = typer.Option(None, "--place", help="New public place."),
    region: str = typer.Option(None, "--region", help="A region of `witnessbox region list`."),
    category: list[str] = typer.Option(None, "--category", "-c", help="Replaces all categories (repeat)."),
    description: str = typer.Option(None, "--description", help="New Markdown text."),
    description_file: Path = typer.Option(None, "--description-file", help="Read the new Markdown description from a file."),
    source: list[str] = typer.Option(None, "--source", help="Replaces all sources (repeat)."),
    coordinates: str = typer.Option(None, "--coordinates", help="lat,lon; empty text removes them."),
    archive: Path = ArchiveOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Change described fields of an incident (others stay)."""
    from ..catalog import parse_coordinates

    inc = open_workspace(archive).incidents.edit(
        inc_id, title=title, start=start, end=end, precision=precision, place=place, region=region,
        categories=category or None, description=_description(description, description_file),
        sources=source or None, coordinates=False if coordinates is None else parse_coordinates(coordinates),
    )
    if as_json:
        print_json(_record(inc))
    else:
        _err.print(f"edited {safe(inc.id)}")


@incident_app.command("show")
def incident_show(inc_id: str = typer.Argument(..., metavar="ID"), archive: Path = ArchiveOpt, as_json: bool = JsonOpt) -> None:
    """Show one incident with its observations, links and testimonies (not their text)."""
    ws = open_workspace(archive)
    inc = ws.incidents.get(inc_id)
    rec = _record(inc)
    rec["testimonies"] = [
        {"id": t.id, "language": t.language, "given_on": t.given_on, "has_contact": t.has_contact}
        for t in ws.incidents.testimonies(inc.id)
    ]
    if as_json:
        print_json(rec)
        return
    for key in ("id", "title", "status", "start", "end", "precision", "place", "region", "coordinates"):
        if rec[key]:
            _out.print(f"{key:<12} {safe(str(rec[key]))}")
    _out.print(f"{'categories':<12} {safe(', '.join(inc.categories))}")
    for s in inc.sources:
        _out.print(f"{'source':<12} {safe(s)}")
    for n, o in enumerate(rec["observations"]):
        _out.print(f"{'observation':<12} #{n} {safe(json.dumps(o, ensure_ascii=False))}")
    for li in inc.links:
        _out.print(f"{'link':<12} {safe(li.item[:16])} {li.role.value}")
    for t in rec["testimonies"]:
        _out.print(f"{'testimony':<12} #{t['id']} {safe(t['language'])} {safe(t['given_on'])}")
    if inc.description:
        _out.print("")
        _out.print(safe_lines(inc.description))


def _filter(region: str, category: str, status: str, since: str, until: str, text: str) -> Any:
    from ..catalog import IncidentFilter, Status, parse_enum

    return IncidentFilter(
        region=region, category=category, status=parse_enum(Status, status, "status") if status else None,
        since=since, until=until, text=text,
    )


RegionF = typer.Option("", "--region", help="Only this region.")
CategoryF = typer.Option("", "--category", help="Only this category.")
StatusF = typer.Option("", "--status", help="draft, verified or published.")
SinceF = typer.Option("", "--since", help="Ending on or after this date.")
UntilF = typer.Option("", "--until", help="Starting on or before this date.")
TextF = typer.Option("", "--text", help="Words in id, title, place, region, description or sources.")


@incident_app.command("list")
def incident_list(
    region: str = RegionF, category: str = CategoryF, status: str = StatusF, since: str = SinceF,
    until: str = UntilF, text: str = TextF, archive: Path = ArchiveOpt, as_json: bool = JsonOpt,
) -> None:
    """List incidents, oldest first, with filters."""
    incidents = open_workspace(archive).incidents.list(_filter(region, category, status, since, until, text))
    if as_json:
        print_json([_record(i) for i in incidents])
    else:
        _table(incidents)


@incident_app.command("link")
def incident_link(
    inc_id: str = typer.Argument(..., metavar="INCIDENT_ID"),
    item: str = typer.Argument(..., metavar="ITEM_ID", help="Item id or unique prefix."),
    role: str = typer.Option("primary", "--role", help="primary, corroborating or context."),
    archive: Path = ArchiveOpt,
) -> None:
    """Link a sealed item to an incident."""
    inc = open_workspace(archive).incidents.link(inc_id, item, role)
    _err.print(f"linked to {safe(inc.id)} ({len(inc.links)} item(s))")


@incident_app.command("unlink")
def incident_unlink(
    inc_id: str = typer.Argument(..., metavar="INCIDENT_ID"),
    item: str = typer.Argument(..., metavar="ITEM_ID"),
    archive: Path = ArchiveOpt,
) -> None:
    """Remove the link between an incident and an item."""
    inc = open_workspace(archive).incidents.unlink(inc_id, item)
    _err.print(f"unlinked from {safe(inc.id)}")


@incident_app.command("status")
def incident_status(
    inc_id: str = typer.Argument(..., metavar="INCIDENT_ID"),
    status: str = typer.Argument(..., help="draft, verified or published."),
    archive: Path = ArchiveOpt,
) -> None:
    """Move an incident along draft -> verified -> published (or back)."""
    inc = open_workspace(archive).incidents.set_status(inc_id, status)
    _err.print(f"{safe(inc.id)} is {inc.status.value}")


@incident_app.command("observe")
def incident_observe(
    inc_id: str = typer.Argument(..., metavar="INCIDENT_ID"),
    unit: str = typer.Option("", "--unit", help="Unit or service, as marked (free text)."),
    unit_slug: str = typer.Option("", "--unit-slug", help="A unit of `witnessbox unit list` (slug)."),
    insignia: str = typer.Option("", "--insignia", help="Insignia or markings seen."),
    uniform: str = typer.Option("", "--uniform", help="Uniform seen (colour, type)."),
    vehicle: list[str] = typer.Option([], "--vehicle", help="TYPE or TYPE:OFFICIAL-PLATE (repeat)."),
    officers: int = typer.Option(None, "--officers", help="Number of officers seen."),
    archive: Path = ArchiveOpt,
) -> None:
    """Record what was visible and official about the forces (no personal data)."""
    from ..catalog import Observation, Vehicle

    vehicles = tuple(Vehicle(*(v.split(":", 1) if ":" in v else (v, ""))) for v in vehicle)
    obs = Observation(unit, insignia, uniform, vehicles, officers, unit_slug.strip())
    inc = open_workspace(archive).incidents.observe(inc_id, obs)
    _err.print(f"{safe(inc.id)}: {len(inc.observations)} observation(s)")


@incident_app.command("unobserve")
def incident_unobserve(
    inc_id: str = typer.Argument(..., metavar="INCIDENT_ID"),
    position: int = typer.Argument(..., help="Observation number shown by `incident show`."),
    archive: Path = ArchiveOpt,
) -> None:
    """Remove an observation."""
    ws = open_workspace(archive)
    positions = ws.incidents.catalog.observation_positions(inc_id)
    if not 0 <= position < len(positions):
        raise InputError(f"incident {inc_id} has no observation #{position}")
    ws.incidents.unobserve(inc_id, positions[position])


@incident_app.command("export")
def incident_export(
    fmt: str = typer.Option("json", "--format", help="csv or json (the import format)."),
    output: Path = typer.Option(None, "--output", "-o", help="Write here instead of stdout."),
    region: str = RegionF, category: str = CategoryF, status: str = StatusF, since: str = SinceF,
    until: str = UntilF, text: str = TextF, archive: Path = ArchiveOpt,
) -> None:
    """Export incidents (open data for documenters; testimonies and links are not included)."""
    from .._fsutil import atomic_write_text

    data = open_workspace(archive).incidents.export(fmt, _filter(region, category, status, since, until, text))
    if output is None:
        sys.stdout.write(data)
    else:
        atomic_write_text(output, data)


@testimony_app.command("add")
def testimony_add(
    inc_id: str = typer.Argument(..., metavar="INCIDENT_ID"),
    text_file: Path = typer.Option(..., "--text-file", help="UTF-8 file with the testimony, or - for stdin."),
    language: str = typer.Option(..., "--language", help="be, ru, en..."),
    given_on: str = typer.Option(..., "--date", help="When it was given (ISO 8601)."),
    contact_file: Path = typer.Option(
        None, "--contact-file",
        help="UTF-8 file with how to reach the witness (encrypted; never published), or - to be asked (hidden input).",
    ),
    contact_on_command_line: str = typer.Option(None, "--contact", hidden=True, help="Refused: shell history and ps would see it."),
    archive: Path = ArchiveOpt,
) -> None:
    """Store a testimony encrypted at rest (text and witness contact come from files or a prompt,
    never from the command line, which shell history and `ps` keep)."""
    if contact_on_command_line is not None:
        raise UsageError("--contact on the command line is kept by shell history and shown by `ps`:"
                         " put it in a file and give --contact-file FILE, or --contact-file - to be asked")
    if str(text_file) == "-" and contact_file is not None and str(contact_file) == "-" and not sys.stdin.isatty():
        raise UsageError("the testimony and the contact cannot both come from stdin: give one of them as a file")
    try:
        text = sys.stdin.read() if str(text_file) == "-" else text_file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(f"cannot read the testimony {safe(str(text_file))}: {e}: give a UTF-8 text file") from e
    contact = _contact(contact_file)
    t = open_workspace(archive).incidents.add_testimony(inc_id, text, language=language, given_on=given_on, contact=contact)
    _err.print(f"testimony #{t.id} stored encrypted for {safe(t.incident_id)}")


def _contact(file: Path | None) -> str:
    if file is None:
        return ""
    if str(file) == "-":
        if not sys.stdin.isatty():
            raise UsageError("--contact-file - asks on a terminal: stdin is not one; give a file")
        value: str = typer.prompt("Witness contact (hidden, never published)", hide_input=True, default="", show_default=False)
        return value.strip()
    try:
        return file.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(f"cannot read the contact file {safe(str(file))}: {e}: give a UTF-8 text file") from e


@testimony_app.command("list")
def testimony_list(inc_id: str = typer.Argument(..., metavar="INCIDENT_ID"), archive: Path = ArchiveOpt, as_json: bool = JsonOpt) -> None:
    """List an incident's testimonies (not their text)."""
    ts = open_workspace(archive).incidents.testimonies(inc_id)
    rows = [{"id": t.id, "language": t.language, "given_on": t.given_on, "has_contact": t.has_contact} for t in ts]
    if as_json:
        print_json(rows)
    else:
        for r in rows:
            _out.print(f"#{r['id']} {safe(r['language'])} {safe(r['given_on'])} {'contact' if r['has_contact'] else ''}")


@testimony_app.command("show")
def testimony_show(testimony_id: int = typer.Argument(..., metavar="TESTIMONY_ID"), archive: Path = ArchiveOpt, as_json: bool = JsonOpt) -> None:
    """Decrypt and print one testimony (the reading is logged)."""
    t = open_workspace(archive).incidents.read_testimony(testimony_id)
    if as_json:
        print_json({"id": t.id, "incident": t.incident_id, "language": t.language, "given_on": t.given_on, "text": t.text, "contact": t.contact})
    else:
        _out.print(safe_lines(t.text))
        if t.contact:
            _err.print(f"contact: {safe(t.contact)}")


def import_cmd(
    file: Path = typer.Argument(..., metavar="FILE.csv|FILE.json", help="The incidents (format below; docs/catalog.md)."),
    archive: Path = ArchiveOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Import incidents from CSV or JSON: every row or none (each bad row is listed).

    \b
    CSV header (UTF-8; sources and coordinates are optional):
    id,title,start,end,precision,place,region,categories,description,status,sources,coordinates
    """
    from ..errors import WitnessboxError

    try:
        rep = open_workspace(archive).incidents.import_file(file)
    except WitnessboxError as e:
        problems = e.fields.get("problems") if isinstance(e, InputError) else None
        if problems:
            for p in problems:
                _err.print(f"{safe(file.name)}: {safe(str(p))}")
            raise InputError(f"nothing was imported from {safe(file.name)}: {len(problems)} bad row(s), listed above; fix them and import again") from None
        raise
    if as_json:
        print_json({"file": rep.file, "sha256": rep.sha256, "ids": list(rep.ids)})
    else:
        _err.print(f"imported {len(rep.ids)} incident(s) from {safe(rep.file)}")


def register(app: typer.Typer) -> None:
    """Add this module's commands to the root app."""
    incident_app.add_typer(testimony_app, name="testimony")
    app.add_typer(incident_app, name="incident")
    app.add_typer(region_app, name="region")
    app.add_typer(category_app, name="category")
    app.command("import")(import_cmd)
