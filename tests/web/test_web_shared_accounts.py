"""Accounts and sessions shared by several web app processes on one accounts database.

Each test runs on the run's backend: the archive's ``accounts.sqlite`` (two processes on one
machine), or with ``WITNESSBOX_TEST_CATALOG=postgresql`` a fresh PostgreSQL schema (web apps on
several machines). The unlocked keys of a session stay in the app that made it; what is shared
is the session's record, so a revocation in one app ends the session in the other.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pyotp
import pytest
from starlette.testclient import TestClient
from web_helpers import ARCHIVE_PASS, CHEAP, ORIGIN, USER_PASS, Clock, User, csrf_of, new_client, sign_in

from witnessbox.ledger.index import drop_all
from witnessbox.web.app import RateLimiter, WebConfig, create_app
from witnessbox.web.sessions import SessionManager
from witnessbox.workspace import Workspace
from witnessbox.workspace.accounts import parse_totp_uri_secret


@dataclass
class Pair:
    root: Path
    one: Workspace
    two: Workspace
    users: dict[str, User]
    clock: Clock


@pytest.fixture
def pair(tmp_path: Path) -> Iterator[Pair]:
    """One archive opened twice (two processes' workspaces), with an admin and a reviewer."""
    root = tmp_path / "archive"
    Workspace.init(root, ARCHIVE_PASS).close()
    one, two = Workspace.open(root, ARCHIVE_PASS), Workspace.open(root, ARCHIVE_PASS)
    one.accounts.cost = two.accounts.cost = CHEAP
    users = {}
    for name, role in (("ada", "admin"), ("rev", "reviewer")):
        e = one.accounts.add(name, USER_PASS, role, archive_passphrase=ARCHIVE_PASS)
        users[name] = User(name, role, (), parse_totp_uri_secret(e.totp_uri), e.recovery_codes)
    try:
        yield Pair(root, one, two, users, Clock())
    finally:
        one.close()
        two.close()


def _app(p: Pair, probe: Workspace) -> tuple[object, SessionManager]:
    sessions = SessionManager(probe.accounts, clock=p.clock)
    app = create_app(WebConfig(archive=p.root), sessions=sessions)
    app.app.state.witnessbox.per_address = RateLimiter(1_000_000, 900)  # type: ignore[attr-defined]
    return app, sessions


def _with_cookie_of(app: object, client: TestClient) -> TestClient:
    other = new_client(app)
    other.cookies.set("wb_session", client.cookies["wb_session"])
    return other


def test_two_workspaces_see_the_same_users(pair: Pair) -> None:
    # On PostgreSQL the accounts are in the database, not in a file of the folder.
    assert (pair.root / "accounts.sqlite").exists() == (not pair.one.database_url)
    assert [a.name for a in pair.one.accounts.list()] == [a.name for a in pair.two.accounts.list()] == ["ada", "rev"]
    pair.two.accounts.add("late", USER_PASS, "viewer", archive_passphrase=ARCHIVE_PASS)
    assert "late" in [a.name for a in pair.one.accounts.list()]
    pair.one.accounts.set_disabled("late")
    assert pair.two.accounts.get("late").disabled
    # A lockout counted in one process locks the account in the other.
    for _ in range(5):
        with pytest.raises(Exception):  # noqa: B017,PT011 - SignInError, then AccountLockedError
            pair.one.accounts.authenticate("rev", "wrong wrong wrong wrong", "000000")
    assert pair.two.accounts.get("rev").locked_until is not None
    pair.two.accounts.unlock("rev")
    assert pair.one.accounts.get("rev").failures == 0


def test_revoking_in_one_app_ends_the_session_in_the_other(pair: Pair) -> None:
    app1, s1 = _app(pair, pair.one)
    app2, s2 = _app(pair, pair.two)
    rev1 = sign_in(app1, pair.users["rev"], pair.clock)
    rev2 = sign_in(app2, pair.users["rev"], pair.clock)
    assert rev1.get("/items").status_code == 200 and rev2.get("/items").status_code == 200
    held2 = [s for s in s2.sessions() if s.name == "rev"]
    assert len(held2) == 1 and held2[0].ws is not None
    # Each app sees both sessions (the records), but holds only its own keys.
    assert len([r for r in s1.everywhere() if r.name == "rev"]) == 2
    assert len([s for s in s1.sessions() if s.name == "rev"]) == 1

    # Sign out everywhere in app 1 ends the session app 2 holds, and wipes its keys there.
    r = rev1.post("/signout-everywhere", data={"csrf_token": csrf_of(rev1)})
    assert r.status_code == 303
    r = rev2.get("/items")
    assert r.status_code == 303 and r.headers["location"].startswith("/signin") and "why=" not in r.headers["location"]
    assert held2[0].ws is None and not [s for s in s2.sessions() if s.name == "rev"]
    assert not [r for r in s2.everywhere() if r.name == "rev"]

    # A role change made through the other workspace (the CLI on another machine) too.
    rev1 = sign_in(app1, pair.users["rev"], pair.clock)
    assert rev1.get("/items").status_code == 200
    pair.two.accounts.set_role("rev", "viewer")
    assert rev1.get("/items").status_code == 303
    assert not [s for s in s1.sessions() if s.name == "rev"]


def test_a_session_presented_to_another_app_asks_to_sign_in_there(pair: Pair) -> None:
    app1, s1 = _app(pair, pair.one)
    app2, s2 = _app(pair, pair.two)
    ada1 = sign_in(app1, pair.users["ada"], pair.clock)
    stray = _with_cookie_of(app2, ada1)
    r = stray.get("/items")
    assert r.status_code == 303 and "why=elsewhere" in r.headers["location"]
    page = stray.get(r.headers["location"])
    assert "іншым серверы гэтай вэб-праграмы" in page.text  # Belarusian, the default language
    stray.cookies.set("wb_lang", "en")
    assert "held by another server of this web app" in stray.get(r.headers["location"]).text
    r = stray.post("/signout", data={"csrf_token": "x"}, headers={"Origin": ORIGIN})
    assert r.status_code in (401, 403)
    assert not s2.sessions()  # app 2 never got the keys
    assert ada1.get("/items").status_code == 200  # and the session lives on in app 1
    # Signed out in app 1: the id is then simply unknown everywhere.
    ada1.post("/signout", data={"csrf_token": csrf_of(ada1)})
    r = stray.get("/items")
    assert r.status_code == 303 and "why=" not in r.headers["location"]


def test_a_user_revoked_by_an_admin_in_one_app_is_signed_out_of_the_other(pair: Pair) -> None:
    app1, _s1 = _app(pair, pair.one)
    app2, s2 = _app(pair, pair.two)
    ada1 = sign_in(app1, pair.users["ada"], pair.clock)
    rev2 = sign_in(app2, pair.users["rev"], pair.clock)
    page = ada1.get("/users")
    assert page.status_code == 200
    r = ada1.post("/users/rev/action", data={"csrf_token": csrf_of(ada1, "/users"), "action": "disable"})
    assert r.status_code == 200, r.text
    assert rev2.get("/items").status_code == 303
    assert not s2.sessions()
    pair.clock.tick()
    client = new_client(app2)
    from web_helpers import signin_token

    token = signin_token(client)
    r = client.post("/signin", data={"name": "rev", "passphrase": USER_PASS,
                                     "code": pyotp.TOTP(pair.users["rev"].secret).at(pair.clock()), "csrf_token": token})
    assert r.status_code == 401


def test_reindex_keeps_the_accounts(pair: Pair) -> None:
    pair.one.reindex()
    assert [a.name for a in pair.two.accounts.list()] == ["ada", "rev"]
    if pair.one.database_url:
        drop_all(pair.one.engine)  # a lost server catalog: the accounts' tables stay
        assert [a.name for a in pair.two.accounts.list()] == ["ada", "rev"]


def test_an_accounts_file_from_before_is_upgraded_in_place(pair: Pair) -> None:
    if pair.one.database_url:
        pytest.skip("an accounts.sqlite from before exists only in a folder")
    path = pair.root / "accounts.sqlite"
    pair.one.close()
    pair.two.close()
    # Put the file back in the layout of witnessbox before these migrations (PRAGMA user_version 1).
    c = sqlite3.connect(path)
    for t in ("users", "recovery_codes", "pending_events"):
        c.execute(f"ALTER TABLE accounts_{t} RENAME TO {t}")
    c.execute("DROP TABLE accounts_sessions")
    c.execute("DROP TABLE accounts_schema_migrations")
    c.execute("PRAGMA user_version = 1")
    c.commit()
    c.close()
    ws = Workspace.open(pair.root, ARCHIVE_PASS)
    try:
        t = 2_000_000_000.0
        signed = ws.accounts.authenticate("rev", USER_PASS, pyotp.TOTP(pair.users["rev"].secret).at(t), now=t)
        assert signed.archive_passphrase == ARCHIVE_PASS
        assert [a.name for a in ws.accounts.list()] == ["ada", "rev"]
    finally:
        ws.close()
    c = sqlite3.connect(path)
    try:
        tables = {r[0] for r in c.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        assert c.execute("PRAGMA user_version").fetchone()[0] == 2
    finally:
        c.close()
    assert {"accounts_users", "accounts_recovery_codes", "accounts_pending_events", "accounts_sessions"} <= tables
    assert not tables & {"users", "recovery_codes", "pending_events"}
    assert path.stat().st_mode & 0o077 == 0
