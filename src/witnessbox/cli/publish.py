"""CLI commands of publication: ``approve`` a reviewed derivative, ``publish`` the site.

A few lines over ``ws.publishing`` (:mod:`witnessbox.workspace.publishing`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeRemainingColumn

from ._common import open_workspace, print_json
from .incidents import ArchiveOpt, JsonOpt, safe

_out = Console(highlight=False, soft_wrap=True)
_err = Console(stderr=True, highlight=False, soft_wrap=True)


def approve(
    item: str = typer.Argument(..., metavar="ID", help="Derivative (redacted copy) id or unique prefix."),
    revoke: bool = typer.Option(False, "--revoke", help="Withdraw the approval instead."),
    archive: Path = ArchiveOpt,
) -> None:
    """Mark a reviewed redacted derivative as fit to publish (logged)."""
    ws = open_workspace(archive)
    if revoke:
        ws.publishing.revoke(item)
        _err.print(f"approval of {item} withdrawn", markup=False)
        return
    a = ws.publishing.approve(item)
    _err.print(f"approved {a.item[:16]} by {safe(a.actor)}", markup=False)


@contextmanager
def _progress(enabled: bool) -> Iterator[Callable[[str, int, int], None] | None]:
    if not enabled or not _err.is_terminal:
        yield None
        return
    bar = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                   console=_err, transient=True)
    tasks: dict[str, TaskID] = {}
    with bar:

        def update(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(stage, total=total)
            bar.update(tasks[stage], completed=done, total=total)

        yield update


def publish(
    outdir: Path = typer.Argument(..., metavar="OUTDIR", help="New or empty folder, or a site built before."),
    lang: str = typer.Option("en", "--lang", help="Interface language: en, be or ru."),
    all_languages: bool = typer.Option(False, "--all-languages", help="Build be, ru and en under OUTDIR/be, /ru, /en with a language switch."),
    title: str = typer.Option("", "--title", help="Site title."),
    base_url: str = typer.Option("", "--base-url", help="Public URL of the site (absolute links in the feed)."),
    strict: bool = typer.Option(False, "--strict", help="Refuse if any linked medium would be left out."),
    archive: Path = ArchiveOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Build the public site: published incidents, approved redacted media only (fail closed)."""
    ws = open_workspace(archive)
    with _progress(not as_json) as cb:
        if all_languages:
            reps = ws.publishing.publish_all(outdir, title=title, base_url=base_url, strict=strict, progress=cb)
        else:
            reps = [ws.publishing.publish(outdir, lang=lang, title=title, base_url=base_url, strict=strict, progress=cb)]
    if as_json:
        print_json([r.to_json() for r in reps] if all_languages else reps[0].to_json())
    else:
        for rep in reps:
            _out.print(
                f"published {rep.incidents} incident(s), {rep.media} media file(s) to {safe(str(rep.outdir))}: "
                f"{len(rep.written)} file(s) written, {len(rep.unchanged)} unchanged, {len(rep.removed)} removed",
                markup=False,
            )
    for lo in reps[0].left_out:
        _err.print(f"left out: {safe(str(lo))}", markup=False)


def register(app: typer.Typer) -> None:
    """Add this module's commands to the root app."""
    app.command("approve")(approve)
    app.command("publish")(publish)
