"""Result types of the archive use cases (add, verify) and the progress callback type."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..ledger.records import ItemRecord
from ..media.proofmode import ProofCheck

#: ``progress(advance_bytes_or_items, total, label)``: called often; ``total`` may be None.
Progress = Callable[[int, int | None, str], None]


@dataclass(frozen=True)
class Duplicate:
    """A file whose exact bytes were already sealed: its new receipt was logged."""

    sha256: str
    name: str
    path: str


@dataclass(frozen=True)
class Failure:
    """A file that was not sealed, and why (one line, naming the file)."""

    path: str
    error: str


@dataclass(frozen=True)
class ProofModeImport:
    """A ProofMode bundle found beside a sealed file: its proof files, kept unchanged as
    sidecars of the item, and the outcome of the signature check (logged ``proofmode-check``)."""

    sha256: str
    path: str
    sidecars: tuple[str, ...]
    check: ProofCheck

    def to_json(self) -> dict[str, Any]:
        return {"sha256": self.sha256, "path": self.path, "sidecars": list(self.sidecars), "check": self.check.to_json()}


@dataclass
class AddReport:
    """What ``Workspace.add`` did with each input."""

    added: list[ItemRecord] = field(default_factory=list)
    duplicates: list[Duplicate] = field(default_factory=list)
    failed: list[Failure] = field(default_factory=list)
    skipped: list[Failure] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    proofmode: list[ProofModeImport] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when no input failed."""
        return not self.failed

    def to_json(self) -> dict[str, Any]:
        return {
            "added": [r.summary() for r in self.added],
            "duplicates": [{"sha256": d.sha256, "name": d.name, "path": d.path} for d in self.duplicates],
            "failed": [{"path": f.path, "error": f.error} for f in self.failed],
            "skipped": [{"path": f.path, "reason": f.error} for f in self.skipped],
            "warnings": list(self.warnings),
            "proofmode": [p.to_json() for p in self.proofmode],
        }


@dataclass(frozen=True)
class Problem:
    """One integrity failure found by ``verify``: which object, and what is wrong."""

    object: str
    detail: str


@dataclass
class VerifyReport:
    """Outcome of ``Workspace.verify``."""

    items_checked: int = 0
    entries_checked: int = 0
    checkpoints_checked: int = 0
    tree_size: int = 0
    root_hash: str = ""
    problems: list[Problem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "items_checked": self.items_checked,
            "entries_checked": self.entries_checked,
            "checkpoints_checked": self.checkpoints_checked,
            "tree_size": self.tree_size,
            "root_hash": self.root_hash,
            "problems": [{"object": p.object, "detail": p.detail} for p in self.problems],
            "notes": list(self.notes),
        }
