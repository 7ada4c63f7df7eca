"""Accounts and sign-in: passphrase rules, TOTP replay, recovery codes, lockout, rate limits,
timeouts, sign out everywhere, key handling and the custody log of sign-ins."""

from __future__ import annotations

import pyotp
import pytest
from web_helpers import ARCHIVE_PASS, CHEAP, USER_PASS, Clock, World, csrf_of, new_client, sign_in, signin_token

from witnessbox.errors import AccountLockedError, InputError, SignInError, WeakPassphraseError
from witnessbox.workspace import Workspace
from witnessbox.workspace.accounts import LOCKOUT_AFTER, check_passphrase, parse_totp_uri_secret


@pytest.fixture
def ws(world: World) -> Workspace:
    w = world.open(ARCHIVE_PASS)
    w.accounts.cost = CHEAP
    yield w  # type: ignore[misc]
    w.close()


def _new_user(ws: Workspace, name: str, role: str = "viewer") -> str:
    e = ws.accounts.add(name, USER_PASS, role, archive_passphrase=ARCHIVE_PASS)
    return parse_totp_uri_secret(e.totp_uri)


@pytest.mark.parametrize("bad", ["short pass", "aaaaaaaaaaaaaaaaaaaa", "passwordpassword", "12345678901234567"])
def test_weak_passphrases_are_refused(bad: str) -> None:
    with pytest.raises(WeakPassphraseError):
        check_passphrase(bad)
    check_passphrase(USER_PASS)


@pytest.mark.parametrize("name", ["", "A", "../x", "<b>", "a b", "x" * 40, "ünï"])
def test_bad_names_are_refused(ws: Workspace, name: str) -> None:
    with pytest.raises(InputError):
        ws.accounts.add(name, USER_PASS, "viewer", archive_passphrase=ARCHIVE_PASS)


def test_wrong_archive_passphrase_makes_no_user(ws: Workspace) -> None:
    from witnessbox.errors import PassphraseError

    with pytest.raises(PassphraseError):
        ws.accounts.add("nokey", USER_PASS, "viewer", archive_passphrase="not the archive passphrase")
    assert "nokey" not in [a.name for a in ws.accounts.list()]


def test_nothing_on_disk_holds_the_archive_passphrase_in_clear(world: World) -> None:
    if world.database_url:
        # On PostgreSQL the accounts are tables of that database: no file in the folder.
        assert not (world.root / "accounts.sqlite").exists()
        with world.open() as w, w.engine.connect() as c:
            tables = c.exec_driver_sql(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()").scalars().all()
            rows = c.exec_driver_sql("SELECT salt, verifier, wrapped FROM accounts_users").all()
        assert {"accounts_users", "accounts_sessions", "accounts_schema_migrations"} <= set(tables)
        data = b"".join(bytes(x) for r in rows for x in r)
        assert data and ARCHIVE_PASS.encode() not in data and USER_PASS.encode() not in data
        return
    data = (world.root / "accounts.sqlite").read_bytes()
    assert ARCHIVE_PASS.encode() not in data and USER_PASS.encode() not in data
    assert (world.root / "accounts.sqlite").stat().st_mode & 0o077 == 0


def test_totp_replay_is_refused(ws: Workspace) -> None:
    secret = _new_user(ws, "replay")
    t = 2_000_000_000.0
    code = pyotp.TOTP(secret).at(t)
    signed = ws.accounts.authenticate("replay", USER_PASS, code, now=t)
    assert signed.archive_passphrase == ARCHIVE_PASS
    with pytest.raises(SignInError):
        ws.accounts.authenticate("replay", USER_PASS, code, now=t)
    with pytest.raises(SignInError):  # an older code after a newer one: also refused
        ws.accounts.authenticate("replay", USER_PASS, pyotp.TOTP(secret).at(t - 30), now=t)
    ws.accounts.authenticate("replay", USER_PASS, pyotp.TOTP(secret).at(t + 30), now=t + 30)


def test_recovery_codes_work_once(ws: Workspace) -> None:
    e = ws.accounts.add("recov", USER_PASS, "viewer", archive_passphrase=ARCHIVE_PASS)
    code = e.recovery_codes[0]
    assert ws.accounts.authenticate("recov", USER_PASS, code).used_recovery_code
    with pytest.raises(SignInError):
        ws.accounts.authenticate("recov", USER_PASS, code)
    assert ws.accounts.remaining_recovery_codes("recov") == len(e.recovery_codes) - 1


def test_lockout_then_admin_unlock_or_time(ws: Workspace) -> None:
    secret = _new_user(ws, "locky")
    t = 2_100_000_000.0
    for _ in range(LOCKOUT_AFTER):
        with pytest.raises(SignInError):
            ws.accounts.authenticate("locky", "wrong passphrase entirely", "000000", now=t)
    with pytest.raises(AccountLockedError):  # even the right passphrase and code
        ws.accounts.authenticate("locky", USER_PASS, pyotp.TOTP(secret).at(t), now=t)
    ws.accounts.unlock("locky")
    ws.accounts.authenticate("locky", USER_PASS, pyotp.TOTP(secret).at(t + 30), now=t + 30)
    for _ in range(LOCKOUT_AFTER):
        with pytest.raises(SignInError):
            ws.accounts.authenticate("locky", "wrong passphrase entirely", "000000", now=t + 60)
    with pytest.raises(AccountLockedError):
        ws.accounts.authenticate("locky", USER_PASS, pyotp.TOTP(secret).at(t + 90), now=t + 90)
    later = t + 16 * 60
    ws.accounts.authenticate("locky", USER_PASS, pyotp.TOTP(secret).at(later), now=later)


def test_disabled_user_cannot_sign_in_and_unknown_names_look_the_same(ws: Workspace) -> None:
    secret = _new_user(ws, "gone")
    ws.accounts.set_disabled("gone")
    with pytest.raises(SignInError) as a:
        ws.accounts.authenticate("gone", USER_PASS, pyotp.TOTP(secret).now())
    with pytest.raises(SignInError) as b:
        ws.accounts.authenticate("nobody-here", USER_PASS, "123456")
    assert a.value.message == b.value.message


def test_reset_2fa_invalidates_old_secret(ws: Workspace) -> None:
    secret = _new_user(ws, "reset")
    e = ws.accounts.reset_2fa("reset")
    t = 2_200_000_000.0
    with pytest.raises(SignInError):
        ws.accounts.authenticate("reset", USER_PASS, pyotp.TOTP(secret).at(t), now=t)
    ws.accounts.authenticate("reset", USER_PASS, pyotp.TOTP(parse_totp_uri_secret(e.totp_uri)).at(t), now=t)


def test_web_sign_in_is_logged_with_the_user_as_actor(app: object, world: World, clock: Clock, ws: Workspace) -> None:
    client = new_client(app)
    token = signin_token(client)
    r = client.post("/signin", data={"name": "rev", "passphrase": "wrong wrong wrong wrong", "code": "123456",
                                     "csrf_token": token})
    assert r.status_code == 401
    sign_in(app, world.users["rev"], clock)
    with world.open() as fresh:
        entries = fresh.log()
    ok = [e for e in entries if e.action == "web.signin" and e.actor == "rev"]
    failed = [e for e in entries if e.action == "web.signin-failed" and e.details.get("user") == "rev"]
    assert ok and failed


def test_rate_limit_per_account(app: object, world: World) -> None:
    client = new_client(app)
    token = signin_token(client)
    codes = []
    for _ in range(12):
        r = client.post("/signin", data={"name": "ratelimited", "passphrase": "x" * 20, "code": "123456",
                                         "csrf_token": token})
        codes.append(r.status_code)
    assert codes[0] == 401 and codes[-1] == 429


def test_idle_timeout_and_lock_now(app: object, world: World, clock: Clock) -> None:
    client = sign_in(app, world.users["vi"], clock)
    assert client.get("/items").status_code == 200
    clock.tick(31 * 60)
    r = client.get("/items")
    assert r.status_code == 303 and r.headers["location"].startswith("/signin")
    client = sign_in(app, world.users["vi"], clock)
    r = client.post("/lock", data={"csrf_token": csrf_of(client)})
    assert r.status_code == 303
    assert client.get("/items").status_code == 303


def test_sign_out_everywhere_ends_every_session_and_wipes_keys(app: object, world: World, clock: Clock) -> None:
    state = app.app.state.witnessbox  # type: ignore[attr-defined]
    one = sign_in(app, world.users["rev"], clock)
    two = sign_in(app, world.users["rev"], clock)
    mine = [s for s in state.sessions.sessions() if s.name == "rev"]
    assert len(mine) >= 2 and all(s.ws is not None for s in mine)
    r = one.post("/signout-everywhere", data={"csrf_token": csrf_of(one)})
    assert r.status_code == 303
    assert two.get("/items").status_code == 303
    assert all(s.ws is None for s in mine)
    assert not [s for s in state.sessions.sessions() if s.name == "rev"]
    # The server's own workspace never holds a key.
    assert state.public_ws._signing is None and state.public_ws._identity_value is None


def test_users_page_needs_recent_reauthentication(app: object, world: World, clock: Clock) -> None:
    admin = sign_in(app, world.users["ada"], clock)
    assert admin.get("/users").status_code == 200
    clock.tick(6 * 60)
    r = admin.get("/users")
    assert r.status_code == 303 and r.headers["location"].startswith("/reauth")
    token = csrf_of(admin, "/reauth")
    r = admin.post("/users", data={"csrf_token": token, "name": "x", "passphrase": USER_PASS, "role": "viewer"})
    assert r.status_code == 403
    clock.tick()
    r = admin.post("/reauth", data={"csrf_token": token, "passphrase": USER_PASS,
                                    "code": world.users["ada"].code(clock), "next": "/users"})
    assert r.status_code == 303 and r.headers["location"] == "/users"
    r = admin.post("/users", data={"csrf_token": token, "name": "newbie", "passphrase": USER_PASS, "role": "viewer"})
    assert r.status_code == 200 and 'id="recovery-codes"' in r.text
    r = admin.post("/users", data={"csrf_token": token, "name": "weakling", "passphrase": "password123456",
                                   "role": "viewer"})
    assert r.status_code == 400
