"""The catalog: an index over the archive files, never the truth.

By default a SQLite file in the archive (``catalog.sqlite``); with
``WITNESSBOX_DATABASE_URL=postgresql+psycopg://...`` a PostgreSQL database (docs/scale-out.md).
Both run the same registered migrations, so the SQL here and in migrations is written once
for both dialects: statements through :func:`sqlalchemy.text` with ``:named`` parameters,
upserts as ``INSERT ... ON CONFLICT``, and DDL through :func:`ddl`, which maps SQLite's type
names to PostgreSQL's (64-bit integers, double precision, bytea).

Packages add their own tables through registered migrations::

    from witnessbox.ledger.index import register_migration

    def _v1(conn: sqlalchemy.Connection) -> None:
        ddl(conn, "CREATE TABLE incidents (...)")

    register_migration("incidents", 1, _v1)

Migrations run in ``(package, version)`` order, each in its own transaction, recorded in
``schema_migrations``; :func:`migrate` applies whatever is registered and not yet applied, so
a module registering at import time gets its tables on the next ``ws.engine`` access. The web
app's accounts use the same mechanism for a second database (``database=ACCOUNTS``: its own
record table, ``accounts_schema_migrations``, and tables named ``accounts_*`` that ``reindex``
never drops; see ``workspace/accounts.py``).
``witnessbox reindex`` deletes the file and rebuilds it: keep nothing here that is not
derivable from the archive files.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy import event

from ..errors import LockedError, LockLostError
from .canonical import utc_now

Migration = Callable[[sa.Connection], None]

CATALOG = "catalog"
"""The catalog's migrations: ``witnessbox reindex`` drops its tables and rebuilds them."""
ACCOUNTS = "accounts"
"""The web app's accounts (``accounts.sqlite``, or ``accounts_*`` tables beside a server catalog):
never rebuilt, never dropped by ``reindex`` (they hold secrets that are not in the log)."""
#: Where each database records the migrations applied to it.
_RECORDS = {CATALOG: "schema_migrations", ACCOUNTS: "accounts_schema_migrations"}
#: Tables of a kept database start with this; :func:`drop_all` leaves them alone.
KEPT_PREFIX = "accounts_"

_REGISTRY: dict[str, dict[tuple[str, int], Migration]] = {name: {} for name in _RECORDS}
_LOCK = threading.Lock()
_generation = dict.fromkeys(_RECORDS, 0)


def register_migration(package: str, version: int, fn: Migration, *, database: str = CATALOG) -> None:
    """Register schema migration ``version`` (1, 2, ...) of ``package`` for ``database``
    (:data:`CATALOG`, or :data:`ACCOUNTS` whose tables must all start with :data:`KEPT_PREFIX`).

    Re-registering the same ``(package, version)`` with the same function is a no-op.

    Raises:
        ValueError: A different function is already registered under that key, or the
            database is unknown.
    """
    if database not in _REGISTRY:
        raise ValueError(f"unknown migration database {database!r}")
    key = (package, version)
    with _LOCK:
        registry = _REGISTRY[database]
        old = registry.get(key)
        if old is not None and old is not fn and old.__qualname__ != fn.__qualname__:
            raise ValueError(f"migration {package} v{version} is already registered")
        registry[key] = fn
        _generation[database] += 1


def registry_generation(database: str = CATALOG) -> int:
    """Changes whenever a migration is registered (lets callers skip a no-op migrate)."""
    return _generation[database]


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


SUPPORTED_DIALECTS = ("sqlite", "postgresql")


def create_catalog_engine(url: str | None, path: Path) -> sa.Engine:
    """The catalog engine: the server at ``url`` when given, else the SQLite file ``path``.

    Raises:
        ValueError: ``url`` is malformed or names a database other than SQLite or PostgreSQL.
    """
    if not url:
        return create_engine(path)
    try:
        parsed = sa.engine.make_url(url)
    except sa.exc.ArgumentError as e:
        raise ValueError(f"malformed database URL: {e}") from e
    if parsed.get_backend_name() not in SUPPORTED_DIALECTS:
        raise ValueError(f"unsupported database {parsed.get_backend_name()!r}: use postgresql+psycopg://...")
    if parsed.get_backend_name() == "sqlite":
        return create_engine(Path(parsed.database or path))
    # pre_ping: a long-running worker must survive a server restart between two batches.
    return sa.create_engine(parsed, pool_pre_ping=True)


def is_postgresql(conn: sa.Connection | sa.Engine) -> bool:
    return conn.dialect.name == "postgresql"


_PG_TYPES = {"INTEGER": "BIGINT", "REAL": "DOUBLE PRECISION", "BLOB": "BYTEA"}
_TYPE_WORD = re.compile(r"\b(INTEGER|REAL|BLOB)\b")


def ddl(conn: sa.Connection, statement: str) -> None:
    """Run a DDL statement written with SQLite's type names on either dialect.

    On PostgreSQL ``INTEGER`` becomes ``BIGINT`` (SQLite integers are 64-bit: sizes of large
    videos), ``REAL`` ``DOUBLE PRECISION`` (SQLite reals are doubles) and ``BLOB`` ``BYTEA``;
    SQLite gets the statement unchanged, so archives made before stay byte-for-byte the same.
    """
    if is_postgresql(conn):
        statement = _TYPE_WORD.sub(lambda m: _PG_TYPES[m.group(1)], statement)
    conn.exec_driver_sql(statement)


def _serialize_migrations(conn: sa.Connection) -> None:
    """Make concurrent migrators on one PostgreSQL database take turns (SQLite locks the file)."""
    if is_postgresql(conn):
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": _MIGRATION_LOCK_KEY})


_MIGRATION_LOCK_KEY = 0x77627831  # "wbx1": any fixed 64-bit key, the same in every process


def writer_lock_key(archive_id: str) -> int:
    """The PostgreSQL advisory lock key of an archive's writers (a signed 64-bit integer)."""
    digest = hashlib.sha256(f"witnessbox-writers:{archive_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


@contextlib.contextmanager
def writer_lock(engine: sa.Engine, archive_id: str, *, wait: bool = True,
                on_wait: Callable[[], None] | None = None) -> Iterator[Callable[[], None]]:
    """Hold the archive's writer lock in PostgreSQL (a session advisory lock on one connection)
    for the block: writers on several machines sharing one catalog and one bucket take turns.

    The server drops the lock when the holder's connection ends, so a killed writer never
    leaves the archive locked. Yields a check to call before each commit: it raises when the
    session holding the lock has ended (the server or the network cut it), since another
    writer may then hold the lock and take over this writer's unfinished work.

    Raises:
        LockedError: ``wait`` is false and another writer holds the lock.
    """
    key = writer_lock_key(archive_id)
    conn = engine.connect().execution_options(isolation_level="AUTOCOMMIT")
    held = False
    try:
        held = bool(conn.execute(sa.text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar())
        if not held:
            if not wait:
                raise LockedError("archive, held by a writer on another machine")
            if on_wait is not None:
                on_wait()
            conn.execute(sa.text("SELECT pg_advisory_lock(:k)"), {"k": key})
            held = True

        def still_held() -> None:
            # A session advisory lock ends only with an unlock or with its session: a live
            # session on this connection still holds it.
            try:
                conn.execute(sa.text("SELECT 1")).scalar()
            except sa.exc.SQLAlchemyError as e:
                raise LockLostError("its PostgreSQL session ended") from e

        yield still_held
    finally:
        try:
            if held:
                conn.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": key})
        except sa.exc.SQLAlchemyError:
            conn.invalidate()  # never hand a connection that may still hold the lock back to the pool
        conn.close()


def migrate(engine: sa.Engine, database: str = CATALOG) -> list[tuple[str, int]]:
    """Apply every migration registered for ``database`` and not yet applied; return those
    applied now."""
    record = _RECORDS[database]
    with engine.begin() as conn:
        _serialize_migrations(conn)
        ddl(conn,
            f"CREATE TABLE IF NOT EXISTS {record} ("
            " package TEXT NOT NULL, version INTEGER NOT NULL, applied_at TEXT NOT NULL,"
            " PRIMARY KEY (package, version))"
        )
        done = {(r[0], r[1]) for r in conn.execute(sa.text(f"SELECT package, version FROM {record}"))}
    applied = []
    with _LOCK:
        registry = _REGISTRY[database]
        todo = sorted(k for k in registry if k not in done)
        fns = [(k, registry[k]) for k in todo]
    for (package, version), fn in fns:
        with engine.begin() as conn:
            _serialize_migrations(conn)
            # Another process may have applied it meanwhile: check inside the transaction.
            exists = conn.execute(
                sa.text(f"SELECT 1 FROM {record} WHERE package=:p AND version=:v"), {"p": package, "v": version}
            ).first()
            if exists:
                continue
            fn(conn)
            conn.execute(
                sa.text(f"INSERT INTO {record} (package, version, applied_at) VALUES (:p, :v, :t)"),
                {"p": package, "v": version, "t": utc_now()},
            )
        applied.append((package, version))
    return applied


def drop_all(engine: sa.Engine) -> None:
    """Drop every table of the catalog (a server catalog's ``reindex``; SQLite deletes the file).

    Tables of the accounts (:data:`KEPT_PREFIX`) sharing the database are kept.
    """
    meta = sa.MetaData()
    meta.reflect(engine, only=lambda name, _meta: not name.startswith(KEPT_PREFIX))
    with engine.begin() as conn:
        _serialize_migrations(conn)
        meta.drop_all(conn)


def claim_catalog(engine: sa.Engine, archive_id: str) -> None:
    """Bind a server catalog to one archive: the first archive to use it records its id.

    A SQLite catalog lives inside its archive folder and needs no claim; a database URL can
    be given to two archives by mistake, and their items would then mix.

    Raises:
        ValueError: The catalog already belongs to another archive (the message names both).
    """
    with engine.begin() as conn:
        _serialize_migrations(conn)
        row = conn.execute(sa.text("SELECT value FROM catalog_state WHERE key='archive_id'")).first()
        if row is None:
            conn.execute(sa.text("INSERT INTO catalog_state (key, value) VALUES ('archive_id', :v)"), {"v": archive_id})
        elif row[0] != archive_id:
            raise ValueError(f"this catalog belongs to archive {row[0]}, not to {archive_id}")


def _ledger_v1(conn: sa.Connection) -> None:
    ddl(conn,
        "CREATE TABLE items ("
        " sha256 TEXT PRIMARY KEY, name TEXT NOT NULL, media_type TEXT NOT NULL, size INTEGER NOT NULL,"
        " received_at TEXT NOT NULL, parent TEXT, kind TEXT NOT NULL, seq INTEGER NOT NULL)"
    )
    ddl(conn, "CREATE INDEX items_parent ON items(parent)")
    ddl(conn, "CREATE TABLE entry_objects (seq INTEGER NOT NULL, sha256 TEXT NOT NULL, PRIMARY KEY (sha256, seq))")
    ddl(conn, "CREATE TABLE catalog_state (key TEXT PRIMARY KEY, value TEXT NOT NULL)")


register_migration("ledger", 1, _ledger_v1)

items_table = sa.table(
    "items",
    sa.column("sha256", sa.String), sa.column("name", sa.String), sa.column("media_type", sa.String),
    sa.column("size", sa.Integer), sa.column("received_at", sa.String), sa.column("parent", sa.String),
    sa.column("kind", sa.String), sa.column("seq", sa.Integer),
)
