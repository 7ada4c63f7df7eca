"""CLI commands of publication: ``approve`` a reviewed derivative, ``publish`` the site.

A few lines over ``ws.publishing`` (:mod:`witnessbox.workspace.publishing`).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import typer

from .. import config
from ._common import err as _err
from ._common import open_workspace, print_json, safe, unlock_before_progress
from ._common import out as _out
from .incidents import ArchiveOpt, JsonOpt


def approve(
    item: str = typer.Argument(..., metavar="ID", help="Derivative (redacted copy) id or unique prefix."),
    revoke: bool = typer.Option(False, "--revoke", help="Withdraw the approval instead."),
    archive: Path = ArchiveOpt,
) -> None:
    """Approve a reviewed redacted copy for publication, as $WITNESSBOX_ACTOR (logged).

    Refused (one line; exit 17) until the review of the copy is complete for that reviewer:
    every track and suggestion decided, every frame shown (`witnessbox review status ID`);
    refused with exit 3 for an original or a copy without a regions file.
    """
    ws = open_workspace(archive)
    if revoke:
        ws.publishing.revoke(item)
        _err.print(f"approval of {safe(item)} withdrawn")
        return
    a = ws.publishing.approve(item, reviewer=config.actor())
    _err.print(f"approved {safe(a.item[:16])} by {safe(a.actor)}")


@contextmanager
def _progress(enabled: bool) -> Iterator[Callable[[str, int, int], None] | None]:
    """Bars per stage on a terminal; one line per stage otherwise; nothing with --json."""
    if not enabled:
        yield None
        return
    if not sys.stderr.isatty():
        seen: set[str] = set()

        def line(stage: str, done: int, total: int) -> None:
            if stage not in seen:
                seen.add(stage)
                _err.print(f"publishing: {safe(stage)} ({total})")

        yield line
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeRemainingColumn

    bar = Progress(TextColumn("{task.description}", markup=False), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                   console=Console(stderr=True, markup=False, emoji=False, highlight=False), transient=True)
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
    allow_removals: bool = typer.Option(
        False, "--allow-removals",
        help="Let this build remove pages of incidents the site publishes now (they were unpublished on purpose).",
    ),
    archive: Path = ArchiveOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Build the public site: published incidents, approved redacted media only (fail closed).

    A build that would remove an incident the site already publishes is refused unless
    --allow-removals is given: a lost or damaged catalog never empties a published registry.
    """
    ws = open_workspace(archive)
    ws.require_writable()
    unlock_before_progress(ws)
    with _progress(not as_json) as cb:
        if all_languages:
            reps = ws.publishing.publish_all(outdir, title=title, base_url=base_url, strict=strict, progress=cb,
                                             allow_removals=allow_removals)
        else:
            reps = [ws.publishing.publish(outdir, lang=lang, title=title, base_url=base_url, strict=strict, progress=cb,
                                          allow_removals=allow_removals)]
    if as_json:
        print_json([r.to_json() for r in reps] if all_languages else reps[0].to_json())
    else:
        for rep in reps:
            _out.print(
                f"published {rep.incidents} incident(s), {rep.media} media file(s) to {safe(str(rep.outdir))}: "
                f"{len(rep.written)} file(s) written, {len(rep.unchanged)} unchanged, {len(rep.removed)} removed",
            )
    for lo in reps[0].left_out:
        _err.print(f"left out: {safe(str(lo))}")


def register(app: typer.Typer) -> None:
    """Add this module's commands to the root app."""
    app.command("approve")(approve)
    app.command("publish")(publish)
