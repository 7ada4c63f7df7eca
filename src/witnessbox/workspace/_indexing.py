"""Keeping ``catalog.sqlite`` in step with the custody log, and rebuilding it."""

from __future__ import annotations

import contextlib
import importlib.util
from typing import TYPE_CHECKING

import sqlalchemy as sa

from ..ledger import index as _index
from ..ledger.records import SEAL_ACTIONS
from ._reports import Progress

if TYPE_CHECKING:
    from .core import Workspace

USE_CASES = ("redaction", "incidents", "publishing", "exports", "tracing")
CONTENT_DERIVED = frozenset({"tracing"})
"""Use cases whose tables are computed from the originals' content, not replayed from the log:
a missing catalog is rebuilt without them (that needs the passphrase and minutes), and
``witnessbox reindex`` recomputes them."""

# Written once for SQLite and PostgreSQL (ledger/index.py): named parameters, ON CONFLICT.
_INSERT_ENTRY_OBJECT = sa.text(
    "INSERT INTO entry_objects (seq, sha256) VALUES (:seq, :sha256) ON CONFLICT DO NOTHING")
_UPSERT_ITEM = sa.text(
    "INSERT INTO items (sha256, name, media_type, size, received_at, parent, kind, seq)"
    " VALUES (:sha256, :name, :media_type, :size, :received_at, :parent, :kind, :seq)"
    " ON CONFLICT (sha256) DO UPDATE SET name=excluded.name, media_type=excluded.media_type,"
    " size=excluded.size, received_at=excluded.received_at, parent=excluded.parent,"
    " kind=excluded.kind, seq=excluded.seq")


def sync_index(ws: Workspace) -> None:
    """Index log entries appended since the last sync (the log is the source of truth)."""
    if ws._depth == 0:
        ws.log_store.invalidate()  # another process may have appended
    size = ws.log_store.size()
    with ws.engine.begin() as c:
        row = c.execute(sa.text("SELECT value FROM catalog_state WHERE key='indexed_seq'")).first()
        done = int(row[0]) if row else 0
        if done >= size:
            return
        for seq in range(done, size):
            e = ws.log_store.read(seq)
            for o in dict.fromkeys(e.objects):
                c.execute(_INSERT_ENTRY_OBJECT, {"seq": seq, "sha256": o})
            if e.action in SEAL_ACTIONS and e.objects:
                r = ws._load_record(e.objects[0])
                c.execute(_UPSERT_ITEM, {
                    "sha256": r.sha256, "name": r.name, "media_type": r.media_type, "size": r.size,
                    "received_at": r.received_at, "parent": r.parent,
                    "kind": "derivative" if r.parent else "original", "seq": seq,
                })
        c.execute(
            sa.text("INSERT INTO catalog_state (key, value) VALUES ('indexed_seq', :v)"
                    " ON CONFLICT(key) DO UPDATE SET value=excluded.value"),
            {"v": str(size)},
        )


def _replay_use_cases(ws: Workspace, *, content: bool) -> None:
    for name in USE_CASES:
        if not content and name in CONTENT_DERIVED:
            continue
        if importlib.util.find_spec(f"{__package__}.{name}") is None:
            continue
        obj = getattr(ws, name)
        hook = getattr(obj, "reindex", None)
        if callable(hook):
            hook()


def rebuild_from_log(ws: Workspace) -> None:
    """Fill a new, empty catalog from the custody log: items and every use case's tables
    that the log holds (incidents, regions, links, approvals...). Called when
    ``catalog.sqlite`` is missing; it writes only to the catalog (also on a read-only
    archive, whose catalog is a private copy)."""
    ws._records.clear()
    sync_index(ws)
    _replay_use_cases(ws, content=False)


def rebuild(ws: Workspace, progress: Progress | None = None) -> int:
    """Delete and rebuild the catalog; return the number of items indexed."""
    with ws.transaction():
        if ws._engine is not None:
            ws._engine.dispose()
            ws._engine = None
            ws._engine_generation = -1
        if ws.database_url:
            _index.drop_all(ws.engine)  # a server catalog has no file to delete
            ws._engine_generation = -1  # the next ws.engine migrates the empty database
        for suffix in ("", "-wal", "-shm", "-journal"):
            with contextlib.suppress(FileNotFoundError):
                (ws.root / f"catalog.sqlite{suffix}").unlink()
        ws._records.clear()
        ws._rebuilding = True  # this rebuild replays everything itself
        try:
            sync_index(ws)
            _replay_use_cases(ws, content=True)
        finally:
            ws._rebuilding = False
        with ws.engine.connect() as c:
            n = int(c.execute(sa.text("SELECT count(*) FROM items")).scalar_one())
        if progress is not None:
            progress(n, n, "reindexed")
        return n
