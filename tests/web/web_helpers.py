"""Shared pieces of the web tests (an archive with users in two regions, signed-in clients); the fixtures are re-exported by conftest.py."""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pyotp
import pytest
from starlette.testclient import TestClient

from witnessbox.catalog import IncidentInput, make_timespan
from witnessbox.web.app import WebConfig, create_app
from witnessbox.web.sessions import SessionManager
from witnessbox.workspace import Workspace
from witnessbox.workspace.accounts import Argon2Cost, parse_totp_uri_secret

ARCHIVE_PASS = "correct horse battery staple"
USER_PASS = "violet tundra marmalade kiosk 42"
ORIGIN = "http://testserver"
CHEAP = Argon2Cost(time_cost=1, memory_kib=8192, parallelism=1)


class Clock:
    """A settable clock: TOTP steps and session timeouts advance only when a test says so."""

    def __init__(self) -> None:
        self.t = 1_900_000_000.0

    def __call__(self) -> float:
        return self.t

    def tick(self, seconds: float = 31) -> None:
        self.t += seconds


@dataclass
class User:
    name: str
    role: str
    regions: tuple[str, ...]
    secret: str
    codes: tuple[str, ...]

    def code(self, clock: Clock) -> str:
        return pyotp.TOTP(self.secret).at(clock())


USERS = (
    ("ada", "admin", ()),
    ("ed", "editor", ()),
    ("rev", "reviewer", ()),
    ("vi", "viewer", ()),
    ("homed", "editor", ("Homiel",)),
    ("homvi", "viewer", ("Homiel",)),
)


@dataclass
class World:
    root: Path
    users: dict[str, User]
    minsk_incident: str
    homiel_incident: str
    minsk_item: str
    homiel_item: str
    database_url: str | None = None
    """The catalog (and accounts) database of a PostgreSQL run; None: the archive's SQLite files."""

    def open(self, passphrase: str | None = None) -> Workspace:
        """The archive on its own database (a test's fresh schema is another one)."""
        return Workspace.open(self.root, passphrase, database_url=self.database_url)


def _add_users(ws: Workspace) -> dict[str, User]:
    out = {}
    ws.accounts.cost = CHEAP
    for name, role, regions in USERS:
        e = ws.accounts.add(name, USER_PASS, role, regions, archive_passphrase=ARCHIVE_PASS)
        out[name] = User(name, role, regions, parse_totp_uri_secret(e.totp_uri), e.recovery_codes)
    return out


@pytest.fixture(scope="session")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    root = tmp_path_factory.mktemp("web") / "archive"
    ws = Workspace.init(root, ARCHIVE_PASS)
    try:
        ws.incidents.add_region("Мінск")
        ws.incidents.add_region("Homiel")
        regions = {r.name: r.slug for r in ws.incidents.regions()}
        src = root.parent / "src"
        src.mkdir()
        (src / "minsk.txt").write_bytes(b"minsk evidence\n")
        (src / "homiel.txt").write_bytes(b"homiel evidence\n")
        rep = ws.add([src / "minsk.txt", src / "homiel.txt"], source="chat")
        by_name = {r.name: r.sha256 for r in rep.added}
        a = ws.incidents.add(IncidentInput(title="Затрыманне ля ёлкі", time=make_timespan("2026-03-01"),
                                           place="Кастрычніцкая", region=regions["Мінск"], categories=()))
        b = ws.incidents.add(IncidentInput(title="Homiel search", time=make_timespan("2026-03-02"),
                                           place="Savetskaja", region=regions["Homiel"], categories=()))
        ws.incidents.link(a.id, by_name["minsk.txt"])
        ws.incidents.link(b.id, by_name["homiel.txt"])
        ws.incidents.add_testimony(a.id, "I saw the bus.", language="be", given_on="2026-03-02", contact="via the lawyer")
        users = _add_users(ws)
    finally:
        ws.close()
    return World(root, users, a.id, b.id, by_name["minsk.txt"], by_name["homiel.txt"], ws.database_url)


@pytest.fixture(scope="session")
def clock() -> Clock:
    return Clock()


@pytest.fixture(scope="session")
def app(world: World, clock: Clock) -> Iterator[object]:
    config = WebConfig(archive=world.root)
    probe = world.open()
    sessions = SessionManager(probe.accounts, clock=clock)
    with world_database(world):
        application = create_app(config, sessions=sessions)
    # Every in-process client signs in from the same address ("testclient"): the per-address
    # limit is tested on its own (test_rate_limit_per_address) and lifted for the rest.
    from witnessbox.web.app import RateLimiter

    application.app.state.witnessbox.per_address = RateLimiter(1_000_000, 900)  # type: ignore[attr-defined]
    yield application
    sessions.end_all()
    probe.close()


@contextlib.contextmanager
def world_database(world: World) -> Iterator[None]:
    """``$WITNESSBOX_DATABASE_URL`` set to the world's database for the block (the app pins
    the URL it starts with)."""
    old = os.environ.get("WITNESSBOX_DATABASE_URL")
    if world.database_url:
        os.environ["WITNESSBOX_DATABASE_URL"] = world.database_url
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("WITNESSBOX_DATABASE_URL", None)
        else:
            os.environ["WITNESSBOX_DATABASE_URL"] = old


def new_client(app: object) -> TestClient:
    return TestClient(app, base_url=ORIGIN, headers={"Origin": ORIGIN}, follow_redirects=False)  # type: ignore[arg-type]


def signin_token(client: TestClient) -> str:
    page = client.get("/signin")
    m = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert m, page.text
    return m.group(1)


def sign_in(app: object, user: User, clock: Clock, code: str | None = None) -> TestClient:
    client = new_client(app)
    token = signin_token(client)
    clock.tick()
    r = client.post("/signin", data={"name": user.name, "passphrase": USER_PASS, "code": code or user.code(clock),
                                     "csrf_token": token, "next": "/items"})
    assert r.status_code == 303, r.text
    return client


def csrf_of(client: TestClient, path: str = "/items") -> str:
    m = re.search(r'name="csrf_token" value="([^"]+)"', client.get(path).text)
    assert m
    return m.group(1)


_CLIENTS: dict[str, TestClient] = {}


@pytest.fixture
def clients(app: object, world: World, clock: Clock) -> dict[str, TestClient]:
    """A signed-in client per user, signed in again when a test ended its session (timeouts)."""
    from witnessbox.errors import NotSignedInError

    sessions = app.app.state.witnessbox.sessions  # type: ignore[attr-defined]
    for name, u in world.users.items():
        c = _CLIENTS.get(name)
        try:
            if c is None:
                raise NotSignedInError()
            sessions.get(c.cookies.get("wb_session"))
        except NotSignedInError:
            _CLIENTS[name] = sign_in(app, u, clock)
    return dict(_CLIENTS)


def reauth(client: TestClient, user: User, clock: Clock) -> None:
    clock.tick()
    r = client.post("/reauth", data={"csrf_token": csrf_of(client), "passphrase": USER_PASS, "code": user.code(clock),
                                     "next": "/"})
    assert r.status_code == 303, r.text
