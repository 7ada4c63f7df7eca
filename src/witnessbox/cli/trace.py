"""CLI commands of copy tracing: ``match`` and ``copies`` (content fingerprints, never people)."""

from __future__ import annotations

from pathlib import Path

import typer

from ..errors import InputError
from ._common import open_workspace as _open
from ._common import out as _out
from ._common import print_json, safe, table


def _span(r: list[float] | None) -> str:
    return "" if r is None else f"{r[0]:.1f}-{r[1]:.1f} s"


def match(
    target: str = typer.Argument(..., help="A file to look up, or the id (prefix) of an archived item."),
    archive: Path = typer.Option(None, "--archive", "-A", help="Archive folder (default: $WITNESSBOX_ARCHIVE or ./witnessbox-archive)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON for scripts."),
) -> None:
    """Find archive items with the same content as a file or item (copies, re-uploads)."""
    with _open(archive) as ws:
        report = ws.tracing.match(target)
        is_item = not Path(target).is_file()
    data = report.to_json()
    if report.reason:
        # An unsupported or undecodable file is an answer nobody can act on as "no match".
        if as_json:
            print_json(data)
        raise InputError(f"cannot match {safe(report.query)}: {safe(report.reason)}")
    if as_json:
        print_json(data)
        return
    if not report.matches:
        _out.print("no other item in the archive has this content" if is_item else "no item in the archive has this content")
        return
    t = table("id", "name", "received", "score", "how", "query span", "item span", keep=("id", "received", "score"))
    for m in data["matches"]:
        how = m["method"] + (" (mirrored)" if m["flipped"] else "")
        t.add_row(safe(m["id"][:12]), safe(m["name"]), safe(m["received_at"]), f"{m['score']:.2f}", safe(how),
                  _span(m["query_range"]), _span(m["item_range"]))
    _out.print(t)


def copies(
    item: str = typer.Argument(None, metavar="[ID]", help="Only the group of this item id (prefix)."),
    archive: Path = typer.Option(None, "--archive", "-A", help="Archive folder (default: $WITNESSBOX_ARCHIVE or ./witnessbox-archive)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON for scripts."),
) -> None:
    """Group the archive's items that are copies of each other; the earliest receipt is marked."""
    with _open(archive) as ws:
        groups = ws.tracing.copies(item)
    if as_json:
        print_json([g.to_json() for g in groups])
        return
    if not groups:
        _out.print("no copies found")
        return
    for n, g in enumerate(groups, 1):
        _out.print(f"group {n}: {len(g.members)} items")
        for m in g.members:
            mark = "* earliest" if m.earliest else ""
            _out.print(f"  {m.sha256[:12]}  {safe(m.received_at)}  {safe(m.name)}  {mark}")


def register(app: typer.Typer) -> None:
    """Add this module's commands to the root app."""
    app.command("match")(match)
    app.command("copies")(copies)
