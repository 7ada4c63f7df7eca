"""Crash recovery: roll back what a killed writer left uncommitted (the lock is held).

An intent marker ``pending/<name>.json`` is written before any file of an item (or attached
sidecar) and removed after its log entry. A marker whose log entry exists means the work was
committed (only the marker removal was lost); otherwise every file it lists is deleted, and
for an archive on object storage its object too.

For an archive on object storage the marker is also an object (``pending/<name>.json.age``,
written before any other object of the work and deleted after its log entry, before the
folder's marker). It belongs to the writer holding the archive's lock when it was written.
With the catalog on PostgreSQL that lock is the archive's advisory lock, which the server
releases only when the holder's session ends: a writer that holds it knows every marker object
in the store was left by a writer that is gone, and takes those over (any machine sharing the
bucket and the database): it deletes the objects of work whose log entry never came, and
never an object a log entry committed (docs/archive-format.md, "Intent markers").

Also here: :func:`pull_log`, which keeps in the folder what writers on other machines
committed to the store (an archive on object storage; the lock is held).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._fsutil import _TMP_PREFIX, atomic_write_bytes, fsync_dir
from ..errors import ArchiveError, IntegrityError, NotFoundError, WitnessboxError
from ..ledger.canonical import canonical_bytes, parse_canonical, sha256_hex
from ..ledger.records import SEAL_ACTIONS, ItemRecord, LogEntry

if TYPE_CHECKING:
    from .core import Workspace


PENDING = "pending/"
"""Where intent markers live: in the folder, and for an archive on object storage as objects."""


def write_marker(ws: Workspace, name: str, kind: str, sha256: str, seq: int, files: list[Path], extra: dict[str, Any] | None = None) -> Path:
    """Record the intent to create ``files`` (committed by log entry ``seq``): in the folder,
    then (an archive on object storage) as an object, before any file or object of the work.

    Raises:
        ArchiveError: The marker cannot be written (nothing of the work is written either).
    """
    rel = [str(p.relative_to(ws.root)) for p in files]
    body = {"kind": kind, "sha256": sha256, "seq": seq, "files": rel, **(extra or {})}
    path = ws.root / "pending" / f"{name}.json"
    data = canonical_bytes(body)
    atomic_write_bytes(path, data, file_mode=0o644)
    if ws.mirror is not None:
        # An object left at this name belongs to a writer that is gone (the lock is ours).
        ws.mirror.put(PENDING + path.name, data, replace=True)
    return path


def clear_marker(ws: Workspace, path: Path) -> None:
    """Remove a marker after its log entry: the object first, then the folder's file (a
    crash in between leaves the file, which this folder's recovery clears). A marker object
    the store fails to delete stays: its work is committed, so the next recovery only
    removes it (the folder's file goes regardless: the item is sealed)."""
    if ws.mirror is not None:
        with contextlib.suppress(ArchiveError):
            ws.mirror.delete(PENDING + path.name)
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
        fsync_dir(path.parent)


def _committed(ws: Workspace, info: dict[str, Any], size: int, seq: Any = None) -> bool:
    seq = info.get("seq") if seq is None else seq
    if not isinstance(seq, int) or not 0 <= seq < size:
        return False
    try:
        e = ws.log_store.read(seq)
    except IntegrityError:
        return False
    if not e.objects or e.objects[0] != info.get("sha256"):
        return False
    if info.get("kind") == "attach":
        return e.action == "attach" and e.details.get("name") == info.get("name")
    return e.action in SEAL_ACTIONS


def _committed_later(ws: Workspace, info: dict[str, Any], size: int) -> bool:
    """Whether another writer committed the same work after this marker was written (an
    archive on object storage, writers on several machines): its objects then belong to that
    writer's committed item and must stay."""
    seq = info.get("seq")
    if not isinstance(seq, int):
        return True  # unknown: keep the objects (a stray is named by verify, a loss is not undone)
    return any(_committed(ws, info, size, s) for s in range(max(seq, 0) + 1, size))


def _copies_match(ws: Workspace, info: dict[str, Any]) -> bool:
    """Whether this folder's copy of what a committed marker covers is what its log entry
    committed (the record, or an attached sidecar); a missing copy matches (it is pulled)."""
    try:
        e = ws.log_store.read(int(info["seq"]))
        sha = str(info["sha256"])
        if info.get("kind") == "attach":
            path, want = ws.sidecar_dir(sha) / str(info.get("name")), e.details.get("sha256")
        else:
            path, want = ws.record_path(sha), e.details.get("record_sha256")
        return sha256_hex(path.read_bytes()) == want
    except FileNotFoundError:
        return True
    except (OSError, KeyError, TypeError, ValueError, IntegrityError):
        return False


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _owned(ws: Workspace, info: dict[str, Any], rel: str) -> bool:
    """Whether ``rel`` is a file the marker's own work creates: its item's record, signature,
    sensitive metadata, blob or sidecars (an ``attach``: that sidecar). Whatever else a marker
    lists (a log entry, another item's record: a marker planted in the store) is never deleted."""
    sha = info.get("sha256")
    if not isinstance(sha, str) or not re.fullmatch(r"[0-9a-f]{64}", sha):
        return False
    side = ws.sidecar_dir(sha).relative_to(ws.root).as_posix() + "/"
    if info.get("kind") == "attach":
        return rel == side + str(info.get("name"))
    rec = ws.record_path(sha).relative_to(ws.root).as_posix()
    own = {rec, rec + ".sig", ws.meta_path(sha).relative_to(ws.root).as_posix(), ws.store.blob_name(sha)}
    return rel in own or (rel.startswith(side) and "/" not in rel[len(side):] and ".." not in rel)


def _roll_back(ws: Workspace, info: dict[str, Any], size: int, touched: set[Path], *, local: bool) -> None:
    """Undo the uncommitted work a marker describes (lock held). ``local``: the marker is
    this folder's (its files are here); else a marker object another machine's writer left
    (only objects exist to undo)."""
    root = ws.root
    committed = _committed(ws, info, size)
    # With writers on several machines the same item may have been sealed since by another
    # one (even at this marker's sequence number): its objects stay, and only this folder's
    # own copies go (the committed ones are pulled again afterwards).
    if committed and local and ws.mirror is not None and not _copies_match(ws, info):
        committed, remote = False, False
    else:
        remote = ws.mirror is not None and not _committed_later(ws, info, size)
    if committed or (not local and not remote):
        return  # never delete what a log entry committed
    listed = info.get("files")
    files = [r for r in listed if isinstance(r, str) and _owned(ws, info, r)] if isinstance(listed, list) else []
    # Record first: once it is gone the item is absent whatever else remains.
    for rel in sorted(files, key=lambda r: (not r.startswith("records/"), r)):
        if rel.startswith("blobs/") and rel == ws.store.blob_name(str(info.get("sha256"))):
            if ws.mirror is not None and not remote:
                continue
            # The blob may be an object in S3: uploaded before the seal's log entry,
            # it is deleted like a file when that entry never came.
            ws.store.remove(str(info.get("sha256")))
            continue
        p = (root / rel).resolve()
        if root.resolve() not in p.parents:
            continue  # never delete outside the archive, whatever a marker says
        if remote:
            assert ws.mirror is not None
            ws.mirror.delete(p.relative_to(root.resolve()).as_posix())
        if local:
            with contextlib.suppress(FileNotFoundError, IsADirectoryError):
                p.unlink()
                touched.add(p.parent)


def _take_over(ws: Workspace, size: int, done: set[str], *, owners_gone: bool) -> int:
    """Clear the marker objects this folder has no file for; return how many. ``owners_gone``
    (the catalog on PostgreSQL: the archive's advisory lock is held, so the writers that left
    them are gone): roll back their uncommitted work too. Otherwise only markers whose work a
    log entry committed are removed (that deletes nothing else). A marker this command cannot
    read (no passphrase, damaged) is left for the next writer."""
    assert ws.mirror is not None
    n = 0
    for name in ws.mirror.names(PENDING):
        if not name.endswith(".json") or name[len(PENDING):] in done:
            continue
        try:
            info = json.loads(ws.mirror.get(name))
            if not isinstance(info, dict):
                raise ValueError(name)
        except NotFoundError:
            continue  # cleared meanwhile
        except (WitnessboxError, ValueError):
            continue
        if not owners_gone and not _committed(ws, info, size) and not _committed_later(ws, info, size):
            continue  # its writer may be alive: nothing proves otherwise without the shared lock
        _roll_back(ws, info, size, set(), local=False)
        ws.mirror.delete(name)
        n += 1
    return n


def recover(ws: Workspace) -> int:
    """Roll back uncommitted work and clear staging leftovers; return how many markers."""
    root = ws.root
    ws.log_store.invalidate()
    size = ws.log_store.size()
    n = 0
    pending = root / "pending"
    touched: set[Path] = set()
    done: set[str] = set()
    for marker in sorted(pending.glob("*.json")) if pending.is_dir() else []:
        try:
            info = json.loads(marker.read_bytes())
        except (OSError, ValueError):
            info = {}
        _roll_back(ws, info if isinstance(info, dict) else {}, size, touched, local=True)
        clear_marker(ws, marker)
        done.add(marker.name)
        n += 1
    if ws.mirror is not None:
        n += _take_over(ws, size, done, owners_gone=ws.shares_writer_lock)
    sidecars = (root / "sidecars").resolve()
    for d in touched:
        with contextlib.suppress(OSError):
            if d.parent.parent == sidecars and not any(d.iterdir()):
                d.rmdir()  # an item's sidecar folder that only the rolled-back item used
                d = d.parent
            fsync_dir(d)
    tmp = root / "tmp"
    if tmp.is_dir():
        for p in tmp.iterdir():
            if p.name.startswith("plain-"):
                try:
                    pid = int(p.name.split("-")[1])
                except (IndexError, ValueError):
                    pid = -1
                if _pid_alive(pid):
                    continue
                if p.is_dir() and not p.is_symlink():
                    shutil.rmtree(p, ignore_errors=True)  # an unpacked ProofMode zip
                    continue
            with contextlib.suppress(OSError):
                p.unlink()
    for d in (root, pending, root / "log" / "checkpoints", ws.log_store.entry_path(size).parent):
        if d.is_dir():
            for p in d.glob(_TMP_PREFIX + "*"):
                with contextlib.suppress(OSError):
                    p.unlink()
    return n


def pull_item(ws: Workspace, sha256: str, rec: ItemRecord | None = None) -> None:
    """Keep in the folder the files of an item committed by another machine (record, its
    signature, sensitive metadata, the record's sidecars). A missing or damaged object is
    left for ``verify`` to name."""
    rec_path = ws.record_path(sha256)
    paths = [rec_path.with_name(rec_path.name + ".sig"), rec_path]
    for p in paths:
        if not p.exists():
            with contextlib.suppress(OSError, IntegrityError):
                ws.read_file(p)
    if rec is None:
        try:
            rec = ws._load_record(sha256)
        except (OSError, IntegrityError):
            return
    more = [ws.sidecar_dir(sha256) / n for n in rec.sidecars]
    if rec.sensitive is not None:
        more.append(ws.meta_path(sha256))
    for p in more:
        if not p.exists() and root_contains(ws.root, p):
            with contextlib.suppress(OSError, IntegrityError):
                ws.read_file(p)


def pull_log(ws: Workspace) -> int:
    """Keep in the folder the log entries (and the files they commit) that writers on other
    machines appended to the store since this folder last looked; return how many (lock held).

    An entry is kept last, after its item's files: an entry in the folder means its files are
    here too (or missing from the store, which ``verify`` names)."""
    log = ws.log_store
    start, size = log.local_size(), log.size()
    for seq in range(start, size):
        data = log.read_bytes(seq)
        try:
            entry = LogEntry.from_json(parse_canonical(data, what=f"log entry {seq}"))
        except IntegrityError:
            return seq - start  # verify names it; nothing after it is kept either
        if entry.action in SEAL_ACTIONS and entry.objects:
            pull_item(ws, entry.objects[0])
        elif entry.action == "attach" and entry.objects and isinstance(entry.details.get("name"), str):
            p = ws.sidecar_dir(entry.objects[0]) / str(entry.details["name"])
            if not p.exists() and root_contains(ws.root, p):
                with contextlib.suppress(OSError, IntegrityError):
                    ws.read_file(p)
        log.keep(seq, data)
    return size - start


def root_contains(root: Path, p: Path) -> bool:
    """Whether ``p`` lies inside the archive folder (names from the store are not trusted)."""
    return root.resolve() in p.resolve().parents
