"""Shared fixtures: where the real test data lives, and a fresh archive."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _servers import PostgresServer, SeaweedServer, ServerUnavailable, start_postgres, start_ray, start_seaweedfs  # noqa: E402

PROJECT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("WITNESSBOX_DATA", PROJECT.parent / "shared" / "data"))

PASSPHRASE = "correct horse battery staple"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data`` (or ``$WITNESSBOX_DATA``); the test is skipped when it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared test data not found at {SHARED_DATA} (set WITNESSBOX_DATA)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def facemask_dev(shared_data: Path) -> Path:
    d = shared_data / "facemask-dev"
    if not (d / "images").is_dir():
        pytest.skip(f"{d} not found (set WITNESSBOX_DATA)")
    return d


@pytest.fixture(scope="session")
def video_dir(shared_data: Path) -> Path:
    d = shared_data / "video"
    if not d.is_dir():
        pytest.skip(f"{d} not found (set WITNESSBOX_DATA)")
    return d


# -- the catalog database: SQLite by default; the same tests again on PostgreSQL --------------
#
# `WITNESSBOX_TEST_CATALOG=postgresql pytest tests/catalog tests/export ...` runs the given
# tests with every workspace's catalog on a throwaway PostgreSQL started on 127.0.0.1 (`.ci/run`
# runs the archive, catalog, export, publish and trace folders a second time this way). Each
# test gets a fresh schema; so does each fixture of a wider scope (an archive built once per
# module or session keeps its catalog in its own schema for as long as it lives).

ENV_TEST_CATALOG = "WITNESSBOX_TEST_CATALOG"
ENV_DATABASE_URL = "WITNESSBOX_DATABASE_URL"
_PG: list[PostgresServer] = []
_PG_ERROR: list[str] = []


def test_catalog() -> str:
    """``sqlite`` or ``postgresql``: the catalog backend of this run."""
    value = os.environ.get(ENV_TEST_CATALOG, "sqlite").strip().lower()
    if value not in ("sqlite", "postgresql"):
        raise pytest.UsageError(f"{ENV_TEST_CATALOG} must be sqlite or postgresql, not {value!r}")
    return value


def shared_postgres() -> PostgresServer:
    """The run's PostgreSQL (started on first use, stopped at the end); skips when it cannot start."""
    if not _PG and not _PG_ERROR:
        try:
            _PG.append(start_postgres())
        except ServerUnavailable as e:
            _PG_ERROR.append(str(e))
    if _PG_ERROR:
        pytest.skip(f"PostgreSQL unavailable: {_PG_ERROR[0]}")
    return _PG[0]


def pytest_unconfigure(config: pytest.Config) -> None:
    while _PG:
        _PG.pop().stop()
    while _S3:
        _S3.pop().stop()


# -- where blobs live: the archive folder by default; the same tests again on S3 --------------
#
# `WITNESSBOX_TEST_STORE=s3 pytest tests/workspace tests/export` runs the given tests with every
# archive they make living on a SeaweedFS started on 127.0.0.1 for the run (blobs, log,
# records, sidecars as objects; one bucket, `$WITNESSBOX_STORE_URL` set for the whole session;
# each archive has its own key prefix, and `_servers.copy_archive` gives a copy its own).
# Archives made with encrypted=False keep their folder (S3 takes ciphertext only): the tests
# that need one are skipped there. With `WITNESSBOX_TEST_CATALOG=postgresql` as well, `.ci/run`
# runs the PostgreSQL pass's folders a third time this way.

ENV_TEST_STORE = "WITNESSBOX_TEST_STORE"
_S3: list[SeaweedServer] = []


def test_store() -> str:
    """``folder`` or ``s3``: where the archives of this run keep their blobs."""
    value = os.environ.get(ENV_TEST_STORE, "folder").strip().lower()
    if value not in ("folder", "s3"):
        raise pytest.UsageError(f"{ENV_TEST_STORE} must be folder or s3, not {value!r}")
    return value


def _start_store_run() -> None:
    """Start SeaweedFS and point the whole run's archives at a fresh bucket on it."""
    import uuid

    srv = start_seaweedfs()  # a failure to start fails the run: the switch asked for S3
    _S3.append(srv)
    os.environ.update({
        "WITNESSBOX_STORE_URL": f"s3://wb-run-{uuid.uuid4().hex[:10]}/archives",
        "AWS_ENDPOINT_URL": srv.endpoint, "AWS_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "witnessbox-test",
        "AWS_SECRET_ACCESS_KEY": "witnessbox-test", "AWS_EC2_METADATA_DISABLED": "true",
    })


@pytest.fixture
def folder_store_only() -> None:
    """Skip a test that needs blobs in the archive folder (an unencrypted archive) in an S3 run."""
    if test_store() == "s3":
        pytest.skip("unencrypted archives keep their blobs in the folder (S3 holds ciphertext only)")


class _WideFixtureSchemas:
    """A plugin (registered globally: a conftest hook would not see session fixtures) that
    gives each module- or session-wide fixture its own schema in a PostgreSQL run."""

    @pytest.hookimpl(hookwrapper=True)
    def pytest_fixture_setup(self, fixturedef: pytest.FixtureDef[object], request: pytest.FixtureRequest) -> Iterator[None]:
        """In a PostgreSQL run, give each module- or session-wide fixture its own schema."""
        if test_catalog() != "postgresql" or fixturedef.scope == "function" or fixturedef.argname.startswith("postgres"):
            yield
            return
        try:
            srv = shared_postgres()
        except pytest.skip.Exception:
            yield
            return
        name, url = srv.fresh_schema_url()
        old = os.environ.get(ENV_DATABASE_URL)
        os.environ[ENV_DATABASE_URL] = url
        try:
            yield
        finally:
            if old is None:
                os.environ.pop(ENV_DATABASE_URL, None)
            else:
                os.environ[ENV_DATABASE_URL] = old
            fixturedef.addfinalizer(lambda: srv.drop_schema(name))


def pytest_configure(config: pytest.Config) -> None:
    config.pluginmanager.register(_WideFixtureSchemas(), "witnessbox-wide-fixture-schemas")
    if test_store() == "s3" and not _S3:
        _start_store_run()


@pytest.fixture(scope="session")
def postgres_server() -> PostgresServer:
    """A PostgreSQL cluster on 127.0.0.1 for the whole run (skips with the reason it cannot start)."""
    return shared_postgres()


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> Iterator[str]:
    """A URL on a fresh empty schema of the test PostgreSQL, dropped after the test."""
    name, url = postgres_server.fresh_schema_url()
    try:
        yield url
    finally:
        postgres_server.drop_schema(name)


@pytest.fixture(autouse=True)
def catalog_backend(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """The catalog backend of this run; for ``postgresql`` ``$WITNESSBOX_DATABASE_URL`` names a
    fresh schema, so every workspace the test opens keeps its catalog there."""
    backend = test_catalog()
    if backend == "postgresql":
        monkeypatch.setenv(ENV_DATABASE_URL, request.getfixturevalue("postgres_url"))
    else:
        monkeypatch.delenv(ENV_DATABASE_URL, raising=False)
    return backend


@pytest.fixture
def catalog_database_url(catalog_backend: str) -> str:
    """The catalog URL of this run for bare engines (``sqlite://`` is an in-memory database)."""
    return os.environ.get(ENV_DATABASE_URL) or "sqlite://"


@pytest.fixture
def fresh_catalog(catalog_backend: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[], None]]:
    """Call it to give the archives opened from then on a new empty catalog (a fresh schema in
    a PostgreSQL run; nothing to do for SQLite, whose catalog is a file inside each archive).
    For tests that copy one archive many times: copies would otherwise share one catalog."""
    made: list[str] = []

    def fresh() -> None:
        if catalog_backend == "postgresql":
            name, url = shared_postgres().fresh_schema_url()
            made.append(name)
            monkeypatch.setenv(ENV_DATABASE_URL, url)

    yield fresh
    for name in made:
        _PG[0].drop_schema(name)



@pytest.fixture(scope="session")
def ray_cluster() -> Iterator[str]:
    """A two-node Ray cluster on 127.0.0.1 for the run; yields its address (skips when it cannot start)."""
    try:
        cluster = start_ray(nodes=2)
    except ServerUnavailable as e:
        pytest.skip(f"Ray unavailable: {e}")
    try:
        yield cluster.address
    finally:
        cluster.stop()


@pytest.fixture(scope="session")
def seaweedfs() -> Iterator[SeaweedServer]:
    """SeaweedFS's S3 API on 127.0.0.1 for the run (skips with the reason it cannot start)."""
    if _S3:  # an S3 run (WITNESSBOX_TEST_STORE=s3) has one already
        yield _S3[0]
        return
    try:
        srv = start_seaweedfs()
    except ServerUnavailable as e:
        pytest.skip(f"SeaweedFS unavailable: {e}")
    try:
        yield srv
    finally:
        srv.stop()
