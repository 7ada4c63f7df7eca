"""``ws.dropbox``: the archive side of the drop box (issue 15).

Import of one submission, in commit order (the archive lock held throughout):

1. the inbox folder is checked against its ``COMMIT`` and the encrypted manifest, every part
   decrypted with the archive key into the archive's own ``tmp/`` (mode 0700) (age authenticates
   every chunk) and its size compared with the manifest: any mismatch refuses the whole submission before
   anything is written (logged as ``dropbox.verify`` only on success);
2. each file sealed as an item (``source: dropbox``, a note naming the submission and the day
   received; never an address, a time finer than the day or a codename);
3. a draft incident ``Drop box submission <id>`` in the region ``Drop box`` (created once) links
   the items, and the statement becomes its encrypted testimony: the catalog keeps testimonies
   per incident, and this incident is the smallest link between a statement and its files;
   staff move the items to the real incident when they have sorted the submission out;
4. ``dropbox.import`` (objects: the incident and the items) is the commit point: a submission
   with that entry is imported; one without it is (re)done from step 1, and nothing is stored
   twice (sealing recognises exact duplicates, the incident is found again by its title, a
   testimony is added only when the incident has none).

The inbox itself is never modified by an import.
"""

from __future__ import annotations

import builtins
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._fsutil import atomic_write_text
from ..catalog.models import IncidentFilter, IncidentInput, Precision, Role, Status, TimeSpan
from ..dropbox.inbox import Inbox, OpenedSubmission, Statement, SubmissionState
from ..errors import DropBoxError, InputError, IntegrityError, NotFoundError, WitnessboxError
from ..ledger.store import decrypt_stream

if TYPE_CHECKING:
    from .core import Workspace

REGION = "Drop box"
SOURCE = "dropbox"
_SAFE = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(frozen=True)
class DropBoxSubmission:
    """A submission as the archive sees it (``witnessbox dropbox list``)."""

    id: str
    day: str
    files: int
    committed: bool
    imported: bool
    incident: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "day": self.day, "files": self.files, "committed": self.committed,
                "imported": self.imported, "incident": self.incident}


@dataclass
class DropBoxImport:
    """What one ``import`` run did."""

    imported: list[DropBoxSubmission] = field(default_factory=list)
    already: list[str] = field(default_factory=list)
    refused: list[tuple[str, str]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.refused

    def to_json(self) -> dict[str, Any]:
        return {"imported": [s.to_json() for s in self.imported], "already_imported": self.already,
                "refused": [{"id": i, "reason": r} for i, r in self.refused]}


class _CountingWriter:
    def __init__(self, f: Any) -> None:
        self._f = f
        self.size = 0

    def write(self, b: bytes) -> int:
        self.size += len(b)
        n: int = self._f.write(b)
        return n


def _safe_name(n: int, name: str) -> str:
    """A file name for sealing: the source's name reduced to harmless characters, numbered."""
    base = os.path.basename(name.replace("\\", "/"))
    base = _SAFE.sub("_", base).strip("._") or "file"
    return f"{n:03d}-{base[-120:]}"


def _testimony_text(st: Statement) -> str:
    parts = [st.text.strip()]
    for label, value in (("When", st.when), ("Where", st.where), ("Unit", st.unit), ("How the source knows", st.how_known)):
        if value.strip():
            parts.append(f"{label}: {value.strip()}")
    return "\n\n".join(p for p in parts if p)


class DropBox:
    """Import drop-box submissions, reply to their sources, list them."""

    def __init__(self, ws: Workspace) -> None:
        self._ws = ws

    def recipient(self, out: Path) -> Path:
        """Write the archive's public age recipient for ``witnessbox dropbox serve --recipient``.

        Raises:
            InputError: The archive was made with ``--no-encryption``.
        """
        if self._ws.store.recipient is None:
            raise InputError("this archive was made with --no-encryption: it has no key a drop box could encrypt to")
        atomic_write_text(Path(out), str(self._ws.store.recipient) + "\n")
        self._ws.log_action("dropbox.recipient", [self._ws.key_id], {"written": True})
        return Path(out)

    # -- state kept in the custody log ------------------------------------------------------------
    def _imports(self) -> dict[str, Any]:
        return {str(e.details.get("submission")): e for e in self._ws.log() if e.action == "dropbox.import"}

    def _inbox(self, inbox: Path) -> Inbox:
        if self._ws.store.recipient is None:
            raise InputError("this archive was made with --no-encryption: it cannot decrypt drop-box submissions")
        inb = Inbox.open(Path(inbox))
        if inb.recipient != str(self._ws.store.recipient):
            raise InputError(f"the inbox {inbox} encrypts to another archive's key")
        return inb

    # -- import -----------------------------------------------------------------------------------
    def import_(self, inbox: Path) -> DropBoxImport:
        """Import every committed, not yet imported submission of ``inbox``.

        A half-written, damaged or tampered submission is reported in ``refused`` and nothing
        of it is written; the others go on.

        Raises:
            NotFoundError: No inbox there.
            InputError: The inbox belongs to another archive.
            PassphraseError: Wrong or missing passphrase.
        """
        inb = self._inbox(inbox)
        report = DropBoxImport()
        identity = self._ws._identity()
        assert identity is not None
        done = self._imports()
        for state in inb.submissions():
            if state.id in done:
                report.already.append(state.id)
                continue
            if not state.committed:
                report.refused.append((state.id, "half-written (no COMMIT): left untouched"))
                continue
            try:
                report.imported.append(self._import_one(inb, state, identity))
            except (DropBoxError, IntegrityError) as e:
                report.refused.append((state.id, e.message))
        return report

    @staticmethod
    def _decrypted(opened: OpenedSubmission, identity: Any, tmp: Path) -> Iterator[tuple[Path, str]]:
        for n, f in enumerate(opened.manifest.files, 1):
            # One folder per file: a sibling must not be taken for a ProofMode bundle of another.
            (tmp / f"{n:03d}").mkdir()
            dest = tmp / f"{n:03d}" / _safe_name(n, f.name)
            with open(opened.folder / f.part, "rb") as src, open(dest, "xb") as out:
                w = _CountingWriter(out)
                try:
                    decrypt_stream(src, w, identity, what=f"{opened.state.id}/{f.part}")
                except IntegrityError as e:
                    raise DropBoxError(e.detail) from e
            if w.size != f.size:
                raise DropBoxError(f"{opened.state.id}/{f.part} decrypts to {w.size} bytes, not {f.size} (truncated)")
            yield dest, f.name

    def _import_one(self, inb: Inbox, state: SubmissionState, identity: Any) -> DropBoxSubmission:
        ws = self._ws
        opened = inb.open_submission(state.id, identity)
        tmp_root = ws.root / "tmp"
        tmp_root.mkdir(exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix="dropbox-", dir=tmp_root))  # mode 0700
        try:
            files = list(self._decrypted(opened, identity, tmp))  # every part checked before any write
            day = opened.manifest.received
            with ws.transaction():
                ws.log_action("dropbox.verify", [], {"submission": state.id, "received": day,
                                                     "files": len(files), "statement": opened.statement is not None})
                shas = []
                for path, _name in files:
                    added = ws.add([path], source=SOURCE, note=f"drop box submission {state.id}, received {day}",
                                   allow_damaged=True)
                    if added.failed:
                        raise DropBoxError(f"{state.id}: {added.failed[0].error}")
                    sha = added.added[0].sha256 if added.added else added.duplicates[0].sha256
                    shas.append(sha)
                inc_id = self._incident(state.id, day)
                for sha in shas:
                    ws.incidents.link(inc_id, sha, Role.PRIMARY)
                testimony = None
                if opened.statement is not None and not ws.incidents.testimonies(inc_id):
                    text = _testimony_text(opened.statement)
                    if text:
                        testimony = ws.incidents.add_testimony(inc_id, text, language=opened.manifest.language,
                                                               given_on=day).id
                ws.log_action("dropbox.import", [inc_id, *shas],
                              {"submission": state.id, "received": day, "files": len(shas),
                               "testimony": testimony, "inbox": str(inb.root.resolve())})
            return DropBoxSubmission(state.id, day, len(shas), True, True, inc_id)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    def _incident(self, submission: str, day: str) -> str:
        inc = self._ws.incidents
        title = f"Drop box submission {submission}"
        for existing in inc.list(IncidentFilter(text=submission)):
            if existing.title == title:
                return existing.id
        if REGION not in {r.name for r in inc.regions()}:
            inc.add_region(REGION)
        created = inc.add(IncidentInput(
            title=title,
            time=TimeSpan(datetime.fromisoformat(day), None, Precision.DAY),
            place="",
            region=REGION,
            categories=(),
            description=(f"Received through the drop box on {day}. The date is the day of receipt, not of "
                         "the events; the source's own account is the testimony. Link the items to the "
                         "incident they show once sorted out."),
            status=Status.DRAFT,
        ))
        return created.id

    # -- replies and listing ----------------------------------------------------------------------
    def reply(self, submission: str, message: str, *, inbox: Path | None = None) -> str:
        """Encrypt ``message`` to the source of ``submission``; only its codename can read it.

        Args:
            inbox: The inbox to write to; by default the one the submission was imported from.

        Raises:
            NotFoundError: The submission was not imported (and no inbox was given).
            InputError: Empty or huge message.
        """
        entry = self._imports().get(submission)
        if inbox is None:
            if entry is None:
                raise NotFoundError(f"submission {submission[:40]!r} was not imported: give --inbox or import it first")
            inbox = Path(entry.details["inbox"])
        inb = self._inbox(inbox)
        identity = self._ws._identity()
        opened = inb.open_submission(submission, identity)
        reply_id = inb.write_reply(opened.manifest.source, message)
        objects = [entry.objects[0]] if entry is not None else []
        self._ws.log_action("dropbox.reply", objects, {"submission": submission, "reply": reply_id})
        return reply_id

    def list(self, inbox: Path | None = None) -> builtins.list[DropBoxSubmission]:
        """Submissions of ``inbox`` (with whether each is imported), or all imported ones."""
        done = self._imports()
        if inbox is None:
            return [DropBoxSubmission(sid, str(e.details.get("received")), int(e.details.get("files", 0)), True, True,
                                      e.objects[0]) for sid, e in sorted(done.items())]
        return [DropBoxSubmission(s.id, s.day, s.files, s.committed, s.id in done,
                                  done[s.id].objects[0] if s.id in done else None)
                for s in self._inbox(inbox).submissions()]
