"""CLI commands of the review (``witnessbox review ...``): what is still undecided, the tracks
and suggestions of a redacted copy, and the archive's two-reviewer setting.

A few lines over ``ws.review`` (:mod:`witnessbox.workspace.review`); the editing itself is done
on the review screen of the web app (or through the library).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from .. import config
from ._common import err, open_workspace, out, print_json, safe
from .incidents import ArchiveOpt, JsonOpt

_out = out  # never interprets markup (cli/_common.py)
_err = err

review_app = typer.Typer(help="Review redacted copies before publication.", no_args_is_help=True)

ReviewerOpt = typer.Option(None, "--reviewer", help="Whose frames shown count (default: $WITNESSBOX_ACTOR).")


@review_app.command("status")
def status(
    item: str = typer.Argument(..., metavar="ID", help="Redacted copy, or an original (its newest redacted copy)."),
    reviewer: str | None = ReviewerOpt,
    archive: Path = ArchiveOpt,
    as_json: bool = JsonOpt,
) -> None:
    """What stands between a redacted copy and its approval (undecided tracks and suggestions,
    frames never shown, unsaved edits)."""
    ws = open_workspace(archive)
    st = ws.review.status(item, reviewer or config.actor())
    if as_json:
        print_json(st.to_json())
        return
    head = f"{st.derivative[:16]} ({st.kind}, {st.frames} frame(s)): {st.tracks} track(s), {st.suggestions} suggestion(s)"
    _out.print(head, markup=False)
    _out.print(f"approvals: {len(st.approvals)} of {st.approvals_required} "
               f"({', '.join(safe(a) for a in st.approvals) or 'none'})", markup=False)
    if st.ready:
        _out.print("ready to approve", markup=False)
    for line in st.blockers():
        _out.print(f"not ready: {safe(line)}", markup=False)


@review_app.command("list")
def list_cmd(
    item: str = typer.Argument(..., metavar="ID", help="Redacted copy, or an original (its newest redacted copy)."),
    reviewer: str | None = ReviewerOpt,
    archive: Path = ArchiveOpt,
    as_json: bool = JsonOpt,
) -> None:
    """The tracks and suggestions of a redacted copy with their decisions."""
    ws = open_workspace(archive)
    rv = ws.review.open(item, reviewer or config.actor(), log=False)
    st = rv.state
    tracks: list[dict[str, Any]] = [
        {"id": t.id, "origin": t.origin, "frames": [t.start, t.end], "decision": t.decision, "reason": t.reason,
         "best_score": round(t.best_score, 4)}
        for t in rv.tracks()
    ]
    sugg: list[dict[str, Any]] = [
        {"id": s.id, "kind": s.kind, "frames": [s.first, s.last], "score": round(s.score, 4), "track": s.track,
         "decision": st.suggestion_decisions.get(s.id)}
        for s in rv.suggestions()
    ]
    if as_json:
        print_json({"derivative": rv.derivative.sha256, "tracks": tracks, "suggestions": sugg})
        return
    for t in tracks:
        _out.print(f"track {safe(t['id'])}\t{t['origin']}\tframes {t['frames'][0]}-{t['frames'][1]}\t"
                   f"{t['decision'] or 'undecided'}\t{safe(t['reason'])}", markup=False)
    for s in sugg:
        _out.print(f"suggestion {s['id']}\t{s['kind']}\tframes {s['frames'][0]}-{s['frames'][1]}\t"
                   f"score {s['score']}\t{s['decision'] or 'undecided'}", markup=False)


@review_app.command("approvals")
def approvals(
    required: int | None = typer.Option(None, "--require", help="Set the approvals needed: 1, or 2 different reviewers."),
    archive: Path = ArchiveOpt,
) -> None:
    """Show or set how many different reviewers must approve a copy before it is published."""
    ws = open_workspace(archive)
    if required is not None:
        ws.review.set_approvals_required(required)
    _out.print(f"approvals required: {ws.review.approvals_required()}", markup=False)


def register(app: typer.Typer) -> None:
    """Add this module's commands to the root app."""
    app.add_typer(review_app, name="review")
