"""The SQLite catalog (``catalog.sqlite``): an index over the archive files, never the truth.

Packages add their own tables through registered migrations::

    from witnessbox.ledger.index import register_migration

    def _v1(conn: sqlalchemy.Connection) -> None:
        conn.exec_driver_sql("CREATE TABLE incidents (...)")

    register_migration("incidents", 1, _v1)

Migrations run in ``(package, version)`` order, each in its own transaction, recorded in
``schema_migrations``; :func:`migrate` applies whatever is registered and not yet applied, so
a module registering at import time gets its tables on the next ``ws.engine`` access.
``witnessbox reindex`` deletes the file and rebuilds it: keep nothing here that is not
derivable from the archive files.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy import event

from .canonical import utc_now

Migration = Callable[[sa.Connection], None]

_REGISTRY: dict[tuple[str, int], Migration] = {}
_LOCK = threading.Lock()
_generation = 0


def register_migration(package: str, version: int, fn: Migration) -> None:
    """Register schema migration ``version`` (1, 2, ...) of ``package``.

    Re-registering the same ``(package, version)`` with the same function is a no-op.

    Raises:
        ValueError: A different function is already registered under that key.
    """
    global _generation
    key = (package, version)
    with _LOCK:
        old = _REGISTRY.get(key)
        if old is not None and old is not fn and old.__qualname__ != fn.__qualname__:
            raise ValueError(f"migration {package} v{version} is already registered")
        _REGISTRY[key] = fn
        _generation += 1


def registry_generation() -> int:
    """Changes whenever a migration is registered (lets callers skip a no-op migrate)."""
    return _generation


def create_engine(path: Path) -> sa.Engine:
    """An engine on the catalog file with WAL, a busy timeout and foreign keys on."""
    engine = sa.create_engine(f"sqlite:///{path}", connect_args={"timeout": 60})

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_conn, _record) -> None:  # type: ignore[no-untyped-def]
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.close()

    return engine


def migrate(engine: sa.Engine) -> list[tuple[str, int]]:
    """Apply every registered migration not yet applied; return those applied now."""
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " package TEXT NOT NULL, version INTEGER NOT NULL, applied_at TEXT NOT NULL,"
            " PRIMARY KEY (package, version))"
        )
        done = {(r[0], r[1]) for r in conn.exec_driver_sql("SELECT package, version FROM schema_migrations")}
    applied = []
    with _LOCK:
        todo = sorted(k for k in _REGISTRY if k not in done)
        fns = [(k, _REGISTRY[k]) for k in todo]
    for (package, version), fn in fns:
        with engine.begin() as conn:
            # Another process may have applied it meanwhile: check inside the transaction.
            exists = conn.exec_driver_sql(
                "SELECT 1 FROM schema_migrations WHERE package=? AND version=?", (package, version)
            ).first()
            if exists:
                continue
            fn(conn)
            conn.exec_driver_sql(
                "INSERT INTO schema_migrations (package, version, applied_at) VALUES (?, ?, ?)",
                (package, version, utc_now()),
            )
        applied.append((package, version))
    return applied


def _ledger_v1(conn: sa.Connection) -> None:
    conn.exec_driver_sql(
        "CREATE TABLE items ("
        " sha256 TEXT PRIMARY KEY, name TEXT NOT NULL, media_type TEXT NOT NULL, size INTEGER NOT NULL,"
        " received_at TEXT NOT NULL, parent TEXT, kind TEXT NOT NULL, seq INTEGER NOT NULL)"
    )
    conn.exec_driver_sql("CREATE INDEX items_parent ON items(parent)")
    conn.exec_driver_sql("CREATE TABLE entry_objects (seq INTEGER NOT NULL, sha256 TEXT NOT NULL, PRIMARY KEY (sha256, seq))")
    conn.exec_driver_sql("CREATE TABLE catalog_state (key TEXT PRIMARY KEY, value TEXT NOT NULL)")


register_migration("ledger", 1, _ledger_v1)

items_table = sa.table(
    "items",
    sa.column("sha256", sa.String), sa.column("name", sa.String), sa.column("media_type", sa.String),
    sa.column("size", sa.Integer), sa.column("received_at", sa.String), sa.column("parent", sa.String),
    sa.column("kind", sa.String), sa.column("seq", sa.Integer),
)
