"""Intake of uploaded files: each sealed exactly as ``witnessbox add`` does, one result each.

The web app stages uploads on disk and calls :func:`seal_files`; the result says, per file,
whether it was sealed (its sha256 and custody entry), was an exact duplicate of a sealed item,
matches other items by copy tracing, or failed (and why; nothing of it is left then).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ..errors import InputError
from .access import Scope
from .core import Workspace


@dataclass(frozen=True)
class IntakeResult:
    """What happened to one uploaded file."""

    name: str
    status: str  # "added" | "duplicate" | "failed"
    sha256: str = ""
    entry_seq: int | None = None
    message: str = ""
    matches: tuple[str, ...] = ()
    proofmode: str = ""

    def to_json(self) -> dict[str, object]:
        return {"name": self.name, "status": self.status, "sha256": self.sha256, "entry_seq": self.entry_seq,
                "message": self.message, "matches": list(self.matches), "proofmode": self.proofmode}


@dataclass(frozen=True)
class IntakeFields:
    """The ``add`` fields of an upload form (empty means absent)."""

    source: str = ""
    note: str = ""
    place: str = ""
    captured_at: str = ""
    incident: str = ""  # link each sealed item to this incident (one of the user's regions)


def seal_files(ws: Workspace, scope: Scope, files: Sequence[tuple[Path, str]], fields: IntakeFields) -> list[IntakeResult]:
    """Seal staged files ``(path, shown name)``; link them to ``fields.incident`` if given.

    Raises:
        NotFoundError: The incident is not one the user may see (checked before sealing).
    """
    if fields.incident:
        scope.incident(ws, fields.incident)
    out: list[IntakeResult] = []
    for path, name in files:
        if path.stat().st_size == 0:
            out.append(IntakeResult(name, "failed", message="the file is empty (0 bytes): nothing was sealed"))
            continue
        report = ws.add([path], source=fields.source or None, note=fields.note or None,
                        captured_at=fields.captured_at or None, place=fields.place or None)
        proof = "; ".join(("ProofMode: signatures good" if p.check.ok else "ProofMode: signatures NOT verified") for p in report.proofmode)
        if report.failed:
            out.append(IntakeResult(name, "failed", message=report.failed[0].error.replace(str(path), name)))
            continue
        if report.duplicates:
            d = report.duplicates[0]
            out.append(IntakeResult(name, "duplicate", d.sha256, _last_entry(ws, d.sha256),
                                    message="already sealed: this receipt was logged"))
            continue
        if not report.added:
            reason = report.skipped[0].error if report.skipped else "nothing to seal"
            out.append(IntakeResult(name, "failed", message=reason))
            continue
        rec = report.added[0]
        if fields.incident:
            ws.incidents.link(fields.incident, rec.sha256)
        out.append(IntakeResult(name, "added", rec.sha256, _last_entry(ws, rec.sha256),
                                matches=_matches(ws, scope, rec.sha256), proofmode=proof))
    return out


def _last_entry(ws: Workspace, sha256: str) -> int | None:
    entries = ws.log(sha256, exact=True)
    return entries[-1].seq if entries else None


def _matches(ws: Workspace, scope: Scope, sha256: str) -> tuple[str, ...]:
    """Other visible items with the same content (copy tracing); empty when unknown."""
    try:
        report = ws.tracing.match(sha256)
    except (InputError, OSError, ValueError):
        return ()
    allowed = scope.visible_items(ws)
    return tuple(m.sha256 for m in report.matches if m.sha256 != sha256 and (allowed is None or m.sha256 in allowed))
