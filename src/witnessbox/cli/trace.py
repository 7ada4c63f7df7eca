"""CLI commands of copy tracing: ``match`` and ``copies`` (content fingerprints, never people)."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from ._common import one_line as _clean
from ._common import open_workspace as _open

_out = Console(highlight=False, soft_wrap=True)


def _span(r: list[float] | None) -> str:
    return "" if r is None else f"{r[0]:.1f}-{r[1]:.1f} s"


def match(
    target: str = typer.Argument(..., help="A file to look up, or the id (prefix) of an archived item."),
    archive: Path = typer.Option(None, "--archive", "-A", help="Archive folder (default: $WITNESSBOX_ARCHIVE)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON for scripts."),
) -> None:
    """Find archive items with the same content as a file or item (copies, re-uploads)."""
    with _open(archive) as ws:
        report = ws.tracing.match(target)
    data = report.to_json()
    if as_json:
        print(json.dumps(data, indent=2, ensure_ascii=False))
        return
    if report.reason:
        _out.print(f"cannot match {_clean(report.query)}: {report.reason}")
        return
    if not report.matches:
        _out.print("no item in the archive has this content")
        return
    table = Table("id", "name", "received", "score", "how", "query span", "item span")
    for m in data["matches"]:
        how = m["method"] + (" (mirrored)" if m["flipped"] else "")
        table.add_row(m["id"][:12], _clean(m["name"]), m["received_at"], f"{m['score']:.2f}", how,
                      _span(m["query_range"]), _span(m["item_range"]))
    _out.print(table)


def copies(
    item: str = typer.Argument(None, help="Only the group of this item id (prefix)."),
    archive: Path = typer.Option(None, "--archive", "-A", help="Archive folder (default: $WITNESSBOX_ARCHIVE)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON for scripts."),
) -> None:
    """Group the archive's items that are copies of each other; the earliest receipt is marked."""
    with _open(archive) as ws:
        groups = ws.tracing.copies(item)
    if as_json:
        print(json.dumps([g.to_json() for g in groups], indent=2, ensure_ascii=False))
        return
    if not groups:
        _out.print("no copies found")
        return
    for n, g in enumerate(groups, 1):
        _out.print(f"group {n}: {len(g.members)} items")
        for m in g.members:
            mark = "* earliest" if m.earliest else ""
            _out.print(f"  {m.sha256[:12]}  {m.received_at}  {_clean(m.name)}  {mark}")


def register(app: typer.Typer) -> None:
    """Add this module's commands to the root app."""
    app.command("match")(match)
    app.command("copies")(copies)
