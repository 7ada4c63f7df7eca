"""The catalog on PostgreSQL (a real server on 127.0.0.1): one migration history for both
dialects, one archive per catalog, concurrent migrators, and a server that stays on loopback.

The archive, catalog, export, publish and trace behaviour tests run on PostgreSQL too: see
``WITNESSBOX_TEST_CATALOG`` in tests/conftest.py (``.ci/run`` runs them a second time).
"""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
import sqlalchemy as sa
from _servers import PostgresServer, listening_beyond_loopback

from witnessbox.errors import UsageError
from witnessbox.ledger import index
from witnessbox.workspace import Workspace

PASS = "correct horse battery staple"


def _shape(engine: sa.Engine) -> dict[str, list[str]]:
    insp = sa.inspect(engine)
    return {t: sorted(c["name"] for c in insp.get_columns(t)) for t in sorted(insp.get_table_names())}


def test_one_migration_history_on_both_dialects(postgres_url: str, tmp_path: Path) -> None:
    import witnessbox.workspace.incidents  # noqa: F401  (registers the catalog tables)
    import witnessbox.workspace.tracing  # noqa: F401

    lite = index.create_catalog_engine(None, tmp_path / "catalog.sqlite")
    pg = index.create_catalog_engine(postgres_url, tmp_path / "unused.sqlite")
    try:
        applied_lite, applied_pg = index.migrate(lite), index.migrate(pg)
        assert applied_lite == applied_pg and ("ledger", 1) in applied_pg and ("catalog", 1) in applied_pg
        assert index.migrate(pg) == []  # applied once
        assert _shape(lite) == _shape(pg)
        assert not (tmp_path / "unused.sqlite").exists()
    finally:
        lite.dispose()
        pg.dispose()


def test_postgres_types_hold_what_sqlite_holds(postgres_url: str, tmp_path: Path) -> None:
    """64-bit sizes (videos over 2 GiB), doubles and bytes survive as they do in SQLite."""
    import witnessbox.workspace.tracing  # noqa: F401

    engine = index.create_catalog_engine(postgres_url, tmp_path / "x")
    try:
        index.migrate(engine)
        with engine.begin() as c:
            c.execute(sa.text("INSERT INTO items (sha256, name, media_type, size, received_at, parent, kind, seq)"
                              " VALUES ('ab', 'big.mp4', 'video/mp4', :size, 't', NULL, 'original', 0)"),
                      {"size": 5 * 2**30})
            c.execute(sa.text("INSERT INTO trace_hashes (sha256, n, pdq, quality, start_s, end_s, region, flipped)"
                              " VALUES ('ab', 0, :pdq, 90, :s, 2.5, 0, 1)"), {"pdq": b"\x00\xff" * 16, "s": 1 / 3})
        with engine.connect() as c:
            assert c.execute(sa.text("SELECT size FROM items")).scalar_one() == 5 * 2**30
            pdq, start = c.execute(sa.text("SELECT pdq, start_s FROM trace_hashes")).one()
        assert bytes(pdq) == b"\x00\xff" * 16 and start == 1 / 3
    finally:
        engine.dispose()


def test_concurrent_migrators_take_turns(postgres_url: str, tmp_path: Path) -> None:
    engines = [index.create_catalog_engine(postgres_url, tmp_path / "x") for _ in range(4)]
    errors: list[BaseException] = []

    def run(e: sa.Engine) -> None:
        try:
            index.migrate(e)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(e,)) for e in engines]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    try:
        assert errors == []
        with engines[0].connect() as c:
            rows = c.execute(sa.text("SELECT package, version FROM schema_migrations")).all()
        assert len(rows) == len(set(rows)) and ("ledger", 1) in rows
    finally:
        for e in engines:
            e.dispose()


def test_workspace_keeps_its_catalog_on_the_server(postgres_url: str, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WITNESSBOX_DATABASE_URL", postgres_url)
    (tmp_path / "a.txt").write_text("alpha\n")
    ws = Workspace.init(tmp_path / "archive", PASS, encrypted=False)
    ws.add([tmp_path / "a.txt"])
    assert [r.name for r in ws.items()] == ["a.txt"]
    assert not (tmp_path / "archive" / "catalog.sqlite").exists()
    assert ws.reindex() == 1 and [r.name for r in ws.items()] == ["a.txt"]
    ws.close()
    other = Workspace.init(tmp_path / "other", PASS, encrypted=False)
    with pytest.raises(UsageError, match="belongs to archive"):
        other.items()
    other.close()


@pytest.mark.parametrize("url, message", [
    ("mysql://u@127.0.0.1/db", "unsupported database 'mysql'"),
    ("not a url", "malformed database URL"),
])
def test_bad_database_url_is_a_usage_error(url: str, message: str, tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WITNESSBOX_DATABASE_URL", url)
    ws = Workspace.init(tmp_path / "archive", PASS, encrypted=False)
    with pytest.raises(UsageError, match=message):
        ws.items()
    ws.close()


def test_postgres_listens_on_loopback_only(postgres_server: PostgresServer) -> None:
    pid_file = postgres_server.base / "data" / "postmaster.pid"
    if not Path("/proc/net/tcp").exists():
        pytest.skip("no /proc/net/tcp: cannot list listening sockets here")
    postmaster = int(pid_file.read_text().splitlines()[0])
    assert listening_beyond_loopback(postmaster) == []


def test_unreachable_database_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from _servers import free_port

    from witnessbox.errors import ArchiveError

    monkeypatch.setenv("WITNESSBOX_DATABASE_URL",
                       f"postgresql+psycopg://nobody:s3cret-pw@127.0.0.1:{free_port()}/db?connect_timeout=3")
    ws = Workspace.init(tmp_path / "archive", PASS, encrypted=False)
    with pytest.raises(ArchiveError, match="cannot reach the catalog database") as ei:
        ws.items()
    assert "s3cret-pw" not in ei.value.message and "\n" not in ei.value.message
    ws.close()
