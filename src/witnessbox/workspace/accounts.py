"""Use case: the web app's accounts (``ws.accounts``): who may sign in, with what role and keys.

Storage (SQLAlchemy, the catalog's migration mechanism with ``database=ACCOUNTS``): by
default ``accounts.sqlite`` beside the catalog, file mode 0600; with
``$WITNESSBOX_DATABASE_URL`` the ``accounts_*`` tables of that PostgreSQL database, so every web
app process sharing it sees the same users and sessions. Never in the catalog's own tables,
because ``witnessbox reindex`` deletes the catalog and rebuilds it from the custody log, and
accounts hold secrets that must never go into the log (``drop_all`` keeps ``accounts_*``).

Keys (``docs/web-security.md``): for each user one argon2id derivation of their passphrase
(64 bytes, salt and cost stored) gives a verifier (only ``sha256(first half)`` is stored) and a
wrapping key (second half) under which the archive passphrase is sealed with AES-256-GCM
(associated data: the user name). Nothing on disk opens the archive without some user's
passphrase; the server unwraps the archive passphrase at sign-in and forgets it at sign-out.

Accounts hold only a login name, a role and regions: never a person's real name or contacts.
"""

from __future__ import annotations

import base64
import builtins
import enum
import hashlib
import hmac
import json
import os
import re
import secrets
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy import event

from ..errors import (
    AccountLockedError,
    ArchiveError,
    InputError,
    NotFoundError,
    SignInError,
    UsageError,
    WeakPassphraseError,
)
from ..ledger import index as _index
from ..ledger.index import ACCOUNTS, ddl, is_postgresql, register_migration

if TYPE_CHECKING:
    from .core import Workspace

ACCOUNTS_DB = "accounts.sqlite"
MIN_PASSPHRASE = 14
MAX_PASSPHRASE = 1024
#: failures in a row before an account locks, and for how long it stays locked.
LOCKOUT_AFTER = 5
LOCKOUT_FOR = timedelta(minutes=15)
RECOVERY_CODES = 10
TOTP_ISSUER = "witnessbox"
_NAME_RE = re.compile(r"[a-z0-9][a-z0-9._-]{1,31}")


class Role(enum.StrEnum):
    """What a user may do. Each role includes the rights of those below it, except that a
    reviewer's review rights are not an editor's intake rights (see :meth:`allows`)."""

    ADMIN = "admin"
    EDITOR = "editor"
    REVIEWER = "reviewer"
    VIEWER = "viewer"

    def allows(self, needed: Role) -> bool:
        """True when this role may do what ``needed`` may do."""
        if self is Role.ADMIN or needed is Role.VIEWER:
            return True
        if self is Role.EDITOR:
            return needed in (Role.EDITOR, Role.REVIEWER)
        return self is needed


@dataclass(frozen=True)
class Argon2Cost:
    """argon2id cost of the passphrase derivation (stored per user, so it can be raised)."""

    time_cost: int = 3
    memory_kib: int = 65536
    parallelism: int = 1

    def to_json(self) -> dict[str, int]:
        return {"t": self.time_cost, "m": self.memory_kib, "p": self.parallelism}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Argon2Cost:
        return cls(int(d["t"]), int(d["m"]), int(d["p"]))


@dataclass(frozen=True)
class Account:
    """What may be shown about an account (never its secrets)."""

    name: str
    role: Role
    regions: tuple[str, ...]
    disabled: bool
    created_at: str
    failures: int
    locked_until: str | None

    @property
    def all_regions(self) -> bool:
        """True when the user is not limited to some regions."""
        return not self.regions

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "role": self.role.value, "regions": list(self.regions),
                "disabled": self.disabled, "created_at": self.created_at, "failures": self.failures,
                "locked_until": self.locked_until}


@dataclass(frozen=True)
class Enrollment:
    """A new account's second factor: shown once, never stored in the clear again."""

    account: Account
    totp_uri: str
    recovery_codes: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {"name": self.account.name, "role": self.account.role.value,
                "totp_uri": self.totp_uri, "recovery_codes": list(self.recovery_codes)}


@dataclass(frozen=True)
class SignedIn:
    """A successful sign-in: the account and the archive passphrase it unwrapped."""

    account: Account
    archive_passphrase: str
    used_recovery_code: bool


@dataclass(frozen=True)
class PendingEvent:
    """A sign-in failure noted while no key could sign the custody log (flushed later)."""

    id: int
    time: str
    name: str
    reason: str
    address: str


def _now() -> datetime:
    return datetime.now(UTC)


def _iso(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def check_name(name: str) -> str:
    """A valid login name (lower case letters, digits, ``._-``; 2 to 32 characters).

    Raises:
        InputError: Anything else (names are ids in the custody log: no spaces, no markup).
    """
    if not isinstance(name, str) or not _NAME_RE.fullmatch(name):
        raise InputError("a login name is 2 to 32 lower-case letters, digits, '.', '_' or '-', starting with a letter or digit")
    return name


def check_passphrase(passphrase: str, name: str = "") -> None:
    """Refuse short or guessable passphrases (zxcvbn score below 3).

    Raises:
        WeakPassphraseError: Too short, too long, or too easy to guess.
    """
    if len(passphrase) < MIN_PASSPHRASE:
        raise WeakPassphraseError(f"use at least {MIN_PASSPHRASE} characters (a few unusual words work well)")
    if len(passphrase) > MAX_PASSPHRASE:
        raise WeakPassphraseError(f"use at most {MAX_PASSPHRASE} characters")
    from zxcvbn import zxcvbn

    # zxcvbn's run time grows with length; its first 100 characters decide the score anyway.
    result = zxcvbn(passphrase[:100], user_inputs=[name, "witnessbox"])
    if int(result["score"]) < 3:
        hint = (result.get("feedback") or {}).get("warning") or "add more unusual words"
        raise WeakPassphraseError(str(hint))


def _derive(passphrase: str, salt: bytes, cost: Argon2Cost) -> tuple[bytes, bytes]:
    """(verifier, wrapping key): one argon2id run, split in two independent halves."""
    from argon2.low_level import Type, hash_secret_raw

    raw = hash_secret_raw(passphrase.encode("utf-8"), salt, time_cost=cost.time_cost,
                          memory_cost=cost.memory_kib, parallelism=cost.parallelism, hash_len=64, type=Type.ID)
    return hashlib.sha256(raw[:32]).digest(), raw[32:]


def _wrap(key: bytes, name: str, secret: str) -> bytes:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    nonce = os.urandom(12)
    return nonce + AESGCM(key).encrypt(nonce, secret.encode("utf-8"), name.encode())


def _unwrap(key: bytes, name: str, blob: bytes) -> str:
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    try:
        return AESGCM(key).decrypt(blob[:12], blob[12:], name.encode()).decode("utf-8")
    except (InvalidTag, ValueError) as e:
        raise SignInError() from e


def _code_hash(code: str) -> str:
    return hashlib.sha256(code.replace("-", "").strip().lower().encode()).hexdigest()


def _new_recovery_codes() -> tuple[str, ...]:
    alphabet = "abcdefghjkmnpqrstuvwxyz23456789"
    codes = []
    for _ in range(RECOVERY_CODES):
        s = "".join(secrets.choice(alphabet) for _ in range(10))
        codes.append(f"{s[:5]}-{s[5:]}")
    return tuple(codes)


_LEGACY_TABLES = ("users", "recovery_codes", "pending_events")


def _accounts_v1(c: sa.Connection) -> None:
    """Users, recovery codes and noted sign-in failures.

    An ``accounts.sqlite`` made before these migrations (``PRAGMA user_version`` 1, tables
    ``users``, ``recovery_codes``, ``pending_events``) has exactly these tables: they are
    renamed in place, rows untouched, and ``user_version`` becomes 2 (the version that says
    ``accounts_schema_migrations`` keeps the history; an older witnessbox then fails loudly on
    the missing ``users`` table rather than starting with no users).
    """
    if not is_postgresql(c):
        legacy = {r[0] for r in c.exec_driver_sql("SELECT name FROM sqlite_master WHERE type='table'")}
        if set(_LEGACY_TABLES) <= legacy:
            for t in _LEGACY_TABLES:
                c.exec_driver_sql(f"ALTER TABLE {t} RENAME TO accounts_{t}")
            c.exec_driver_sql("PRAGMA user_version = 2")
            return
        c.exec_driver_sql("PRAGMA user_version = 2")
    ddl(c,
        "CREATE TABLE accounts_users (name TEXT PRIMARY KEY, role TEXT NOT NULL, regions TEXT NOT NULL,"
        " salt BLOB NOT NULL, cost TEXT NOT NULL, verifier BLOB NOT NULL, wrapped BLOB NOT NULL,"
        " totp_secret TEXT NOT NULL, totp_last_step INTEGER NOT NULL DEFAULT 0,"
        " disabled INTEGER NOT NULL DEFAULT 0, failures INTEGER NOT NULL DEFAULT 0, locked_until TEXT,"
        " session_epoch INTEGER NOT NULL DEFAULT 0, created_at TEXT NOT NULL)")
    ddl(c, "CREATE TABLE accounts_recovery_codes (name TEXT NOT NULL, code_hash TEXT NOT NULL, used_at TEXT,"
           " PRIMARY KEY (name, code_hash))")
    # SQLite's INTEGER PRIMARY KEY numbers rows itself; PostgreSQL needs an identity column.
    ident = "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY" if is_postgresql(c) else "INTEGER PRIMARY KEY"
    ddl(c, f"CREATE TABLE accounts_pending_events (id {ident}, time TEXT NOT NULL, name TEXT NOT NULL,"
           " reason TEXT NOT NULL, address TEXT NOT NULL)")


def _accounts_v2(c: sa.Connection) -> None:
    """Sessions of every web app process sharing the database (never their keys)."""
    ddl(c, "CREATE TABLE accounts_sessions (id_hash TEXT PRIMARY KEY, name TEXT NOT NULL, epoch INTEGER NOT NULL,"
           " created REAL NOT NULL, last_seen REAL NOT NULL, expires REAL NOT NULL, revoked REAL)")
    ddl(c, "CREATE INDEX accounts_sessions_name ON accounts_sessions(name)")


register_migration("accounts", 1, _accounts_v1, database=ACCOUNTS)
register_migration("accounts", 2, _accounts_v2, database=ACCOUNTS)


@dataclass(frozen=True)
class SessionRecord:
    """What the accounts database knows of one web session (never its keys)."""

    id_hash: str
    name: str
    epoch: int
    created: float
    last_seen: float
    expires: float
    revoked: float | None
    user_epoch: int | None
    """The user's current session epoch (None: the user is gone)."""

    def live(self, now: float) -> bool:
        """Not signed out, not expired, and the user's epoch has not moved since sign-in."""
        return self.revoked is None and now < self.expires and self.user_epoch == self.epoch


def _sqlite_engine(path: Path) -> sa.Engine:
    """``accounts.sqlite``: WAL, a busy timeout, one connection per use (like the catalog's
    engine), and writes that take SQLite's write lock when they begin (``BEGIN IMMEDIATE``), so
    a read-then-write never fails on a lock upgrade."""
    engine = sa.create_engine(f"sqlite:///{path}", connect_args={"timeout": 30}, poolclass=sa.pool.NullPool)

    @event.listens_for(engine, "connect")
    def _connect(dbapi_conn, _record) -> None:  # type: ignore[no-untyped-def]
        dbapi_conn.isolation_level = None  # SQLAlchemy's "begin" below issues BEGIN itself
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.close()

    @event.listens_for(engine, "begin")
    def _begin(conn: sa.Connection) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get("wb_write") else "BEGIN")

    return engine


class Accounts:
    """The accounts of one archive's web app. Thread-safe (one connection per call)."""

    def __init__(self, ws: Workspace, cost: Argon2Cost | None = None) -> None:
        self._ws = ws
        self.path = ws.root / ACCOUNTS_DB
        self.cost = cost or Argon2Cost()
        self._sqlite: sa.Engine | None = None
        self._migrated: sa.Engine | None = None
        self._generation = -1

    # -- storage ------------------------------------------------------------------------------
    @property
    def on_server(self) -> bool:
        """True when the accounts live in the PostgreSQL database of ``$WITNESSBOX_DATABASE_URL``."""
        return bool(self._ws.database_url)

    def _engine(self) -> sa.Engine:
        if self.on_server:
            # The catalog's engine: that database is claimed by this archive (claim_catalog).
            engine = self._ws.engine
        else:
            if self._sqlite is None:
                if not self.path.exists():
                    # Created with 0600 before SQLite writes a byte: it holds wrapped keys.
                    fd = os.open(self.path, os.O_CREAT | os.O_WRONLY, 0o600)
                    os.close(fd)
                self._sqlite = _sqlite_engine(self.path)
            engine = self._sqlite
        gen = _index.registry_generation(ACCOUNTS)
        if self._migrated is not engine or self._generation != gen:
            try:
                _index.migrate(engine, ACCOUNTS)
            except sa.exc.OperationalError as e:
                raise ArchiveError(f"cannot use the accounts database ({str(e.orig).strip().splitlines()[0]})") from e
            self._migrated, self._generation = engine, gen
        return engine

    @contextmanager
    def _db(self, *, write: bool = True) -> Iterator[sa.Connection]:
        """One transaction. Raises ArchiveError when the database cannot be reached (the
        caller fails closed: no sign-in, no session)."""
        try:
            with self._engine().connect() as c:
                if write:
                    c.execution_options(wb_write=True)
                with c.begin():
                    yield c
        except sa.exc.OperationalError as e:
            raise ArchiveError(f"cannot use the accounts database ({str(e.orig).strip().splitlines()[0]})") from e

    def close(self) -> None:
        """Release the SQLite engine (a server's engine is the workspace's)."""
        if self._sqlite is not None:
            self._sqlite.dispose()
            self._sqlite = None
            self._migrated = None

    @staticmethod
    def _account(r: sa.Row[Any]) -> Account:
        name, role, regions, disabled, created_at, failures, locked_until = tuple(r)
        return Account(name, Role(role), tuple(json.loads(regions)), bool(disabled), created_at, int(failures), locked_until)

    _COLS = "name, role, regions, disabled, created_at, failures, locked_until"

    def _row(self, c: sa.Connection, name: str) -> Account:
        r = c.execute(sa.text(f"SELECT {self._COLS} FROM accounts_users WHERE name=:n"), {"n": name}).first()
        if r is None:
            raise NotFoundError(f"no user {name!r}: see `witnessbox user list`")
        return self._account(r)

    # -- reading ------------------------------------------------------------------------------
    def list(self) -> builtins.list[Account]:
        """Every account, by name."""
        with self._db(write=False) as c:
            return [self._account(r) for r in c.execute(sa.text(f"SELECT {self._COLS} FROM accounts_users ORDER BY name"))]

    def get(self, name: str) -> Account:
        """One account.

        Raises:
            NotFoundError: No such user.
        """
        with self._db(write=False) as c:
            return self._row(c, name)

    def session_epoch(self, name: str) -> int:
        """Changes whenever the user's sessions must end (sign out everywhere, disable, role)."""
        with self._db(write=False) as c:
            r = c.execute(sa.text("SELECT session_epoch FROM accounts_users WHERE name=:n"), {"n": name}).first()
            return -1 if r is None else int(r[0])

    # -- changes ------------------------------------------------------------------------------
    def add(self, name: str, passphrase: str, role: Role | str, regions: Sequence[str] = (),
            *, archive_passphrase: str) -> Enrollment:
        """Create an account; return its TOTP URI and recovery codes (shown once).

        Args:
            archive_passphrase: The archive's passphrase, checked here and wrapped for the user.

        Raises:
            InputError: Bad name, unknown role or region, or the name is taken.
            WeakPassphraseError: The user's passphrase is too weak.
            PassphraseError: ``archive_passphrase`` is wrong.
        """
        import pyotp

        check_name(name)
        try:
            role = Role(role)
        except ValueError as e:
            raise InputError(f"unknown role {role!r}: use one of {', '.join(r.value for r in Role)}") from e
        check_passphrase(passphrase, name)
        slugs = self._region_slugs(regions)
        self._check_archive_passphrase(archive_passphrase)
        salt = os.urandom(16)
        verifier, key = _derive(passphrase, salt, self.cost)
        secret = pyotp.random_base32()
        codes = _new_recovery_codes()
        taken = InputError(f"there is already a user {name!r}")
        try:
            with self._db() as c:
                if c.execute(sa.text("SELECT 1 FROM accounts_users WHERE name=:n"), {"n": name}).first():
                    raise taken
                c.execute(
                    sa.text("INSERT INTO accounts_users (name, role, regions, salt, cost, verifier, wrapped, totp_secret,"
                            " created_at) VALUES (:n, :role, :regions, :salt, :cost, :verifier, :wrapped, :secret, :at)"),
                    {"n": name, "role": role.value, "regions": json.dumps(list(slugs)), "salt": salt,
                     "cost": json.dumps(self.cost.to_json()), "verifier": verifier,
                     "wrapped": _wrap(key, name, archive_passphrase), "secret": secret, "at": _iso(_now())},
                )
                self._new_codes(c, name, codes)
                account = self._row(c, name)
        except sa.exc.IntegrityError as e:  # another process added the same name meanwhile
            raise taken from e
        self._ws.log_action("web.user-add", [], {"user": name, "role": role.value, "regions": list(slugs)})
        return Enrollment(account, pyotp.TOTP(secret).provisioning_uri(name=name, issuer_name=TOTP_ISSUER), codes)

    @staticmethod
    def _new_codes(c: sa.Connection, name: str, codes: Sequence[str]) -> None:
        c.execute(sa.text("INSERT INTO accounts_recovery_codes (name, code_hash) VALUES (:n, :h)"),
                  [{"n": name, "h": _code_hash(x)} for x in codes])

    def _check_archive_passphrase(self, archive_passphrase: str) -> None:
        from .core import Workspace

        probe = Workspace.open(self._ws.root, archive_passphrase, database_url=self._ws.database_url)
        try:
            probe.verified_passphrase()
        finally:
            probe.close()

    def _region_slugs(self, regions: Iterable[str]) -> tuple[str, ...]:
        wanted = [r for r in regions if r.strip()]
        if not wanted:
            return ()
        known: dict[str, str] = {}
        for reg in self._ws.incidents.regions():
            known[reg.slug] = reg.slug
            known[reg.name.casefold()] = reg.slug
        out = []
        for r in wanted:
            slug = known.get(r) or known.get(r.strip().casefold())
            if slug is None:
                raise InputError(f"unknown region {r[:80]!r}: see `witnessbox region list`")
            out.append(slug)
        return tuple(dict.fromkeys(out))

    @staticmethod
    def _end_sessions(c: sa.Connection, name: str) -> None:
        """Move the user's session epoch on and mark their recorded sessions revoked: every web
        app process sharing this database refuses them at their next request."""
        c.execute(sa.text("UPDATE accounts_users SET session_epoch=session_epoch+1 WHERE name=:n"), {"n": name})
        c.execute(sa.text("UPDATE accounts_sessions SET revoked=:t WHERE name=:n AND revoked IS NULL"),
                  {"n": name, "t": time.time()})

    def set_role(self, name: str, role: Role | str, regions: Sequence[str] | None = None) -> Account:
        """Change a user's role (and regions); their sessions end.

        Raises:
            NotFoundError: No such user.
            InputError: Unknown role or region.
        """
        try:
            role = Role(role)
        except ValueError as e:
            raise InputError(f"unknown role {role!r}") from e
        slugs = None if regions is None else self._region_slugs(regions)
        with self._db() as c:
            self._row(c, name)
            c.execute(sa.text("UPDATE accounts_users SET role=:r WHERE name=:n"), {"r": role.value, "n": name})
            if slugs is not None:
                c.execute(sa.text("UPDATE accounts_users SET regions=:r WHERE name=:n"),
                          {"r": json.dumps(list(slugs)), "n": name})
            self._end_sessions(c, name)
            account = self._row(c, name)
        self._ws.log_action("web.user-role", [], {"user": name, "role": role.value, "regions": list(account.regions)})
        return account

    def set_disabled(self, name: str, disabled: bool = True) -> Account:
        """Disable (or enable) an account; a disabled account cannot sign in and its sessions end.

        Raises:
            NotFoundError: No such user.
        """
        with self._db() as c:
            self._row(c, name)
            c.execute(sa.text("UPDATE accounts_users SET disabled=:d WHERE name=:n"), {"d": int(disabled), "n": name})
            self._end_sessions(c, name)
            account = self._row(c, name)
        self._ws.log_action("web.user-disable" if disabled else "web.user-enable", [], {"user": name})
        return account

    def reset_2fa(self, name: str) -> Enrollment:
        """New TOTP secret and recovery codes (old ones stop working); sessions end.

        Raises:
            NotFoundError: No such user.
        """
        import pyotp

        secret = pyotp.random_base32()
        codes = _new_recovery_codes()
        with self._db() as c:
            self._row(c, name)
            c.execute(sa.text("UPDATE accounts_users SET totp_secret=:s, totp_last_step=0 WHERE name=:n"),
                      {"s": secret, "n": name})
            c.execute(sa.text("DELETE FROM accounts_recovery_codes WHERE name=:n"), {"n": name})
            self._new_codes(c, name, codes)
            self._end_sessions(c, name)
            account = self._row(c, name)
        self._ws.log_action("web.user-reset-2fa", [], {"user": name})
        return Enrollment(account, pyotp.TOTP(secret).provisioning_uri(name=name, issuer_name=TOTP_ISSUER), codes)

    def unlock(self, name: str) -> Account:
        """Lift a lockout (an admin's decision; never an e-mail link).

        Raises:
            NotFoundError: No such user.
        """
        with self._db() as c:
            self._row(c, name)
            c.execute(sa.text("UPDATE accounts_users SET failures=0, locked_until=NULL WHERE name=:n"), {"n": name})
            account = self._row(c, name)
        self._ws.log_action("web.user-unlock", [], {"user": name})
        return account

    def end_sessions(self, name: str) -> None:
        """Sign the user out everywhere: their session epoch moves on and their recorded
        sessions are revoked, in every web app process sharing this database.

        Raises:
            NotFoundError: No such user.
        """
        with self._db() as c:
            self._row(c, name)
            self._end_sessions(c, name)

    # -- web sessions (their records; the keys stay in the process that unwrapped them) -------
    def record_session(self, id_hash: str, name: str, epoch: int, created: float, expires: float) -> None:
        """Note a new session (its id's SHA-256, never the id or any key)."""
        with self._db() as c:
            c.execute(sa.text("INSERT INTO accounts_sessions (id_hash, name, epoch, created, last_seen, expires)"
                              " VALUES (:h, :n, :e, :c, :c, :x)"),
                      {"h": id_hash, "n": name, "e": epoch, "c": created, "x": expires})

    def session_record(self, id_hash: str) -> SessionRecord | None:
        """The recorded session and its user's current epoch (one query), or None."""
        with self._db(write=False) as c:
            r = c.execute(sa.text(
                "SELECT s.id_hash, s.name, s.epoch, s.created, s.last_seen, s.expires, s.revoked, u.session_epoch"
                " FROM accounts_sessions s LEFT JOIN accounts_users u ON u.name = s.name WHERE s.id_hash=:h"),
                {"h": id_hash}).first()
        if r is None:
            return None
        return SessionRecord(str(r[0]), str(r[1]), int(r[2]), float(r[3]), float(r[4]), float(r[5]),
                             None if r[6] is None else float(r[6]), None if r[7] is None else int(r[7]))

    def touch_session(self, id_hash: str, now: float) -> None:
        """Note that the session was used (for the Users page; idle timeouts are the holder's)."""
        with self._db() as c:
            c.execute(sa.text("UPDATE accounts_sessions SET last_seen=:t WHERE id_hash=:h"), {"t": now, "h": id_hash})

    def revoke_session(self, id_hash: str, now: float) -> None:
        """Mark one session signed out (kept until it would have expired, then purged)."""
        with self._db() as c:
            c.execute(sa.text("UPDATE accounts_sessions SET revoked=:t WHERE id_hash=:h AND revoked IS NULL"),
                      {"t": now, "h": id_hash})

    def live_sessions(self, now: float) -> builtins.list[SessionRecord]:
        """Every session still valid, whichever process holds it."""
        with self._db(write=False) as c:
            rows = c.execute(sa.text(
                "SELECT s.id_hash, s.name, s.epoch, s.created, s.last_seen, s.expires, s.revoked, u.session_epoch"
                " FROM accounts_sessions s JOIN accounts_users u ON u.name = s.name"
                " WHERE s.revoked IS NULL AND s.expires > :t AND s.epoch = u.session_epoch ORDER BY s.created"),
                {"t": now}).all()
        return [SessionRecord(str(r[0]), str(r[1]), int(r[2]), float(r[3]), float(r[4]), float(r[5]), None, int(r[7]))
                for r in rows]

    def purge_sessions(self, now: float) -> int:
        """Delete the records of sessions past their absolute expiry; return how many."""
        with self._db() as c:
            return int(c.execute(sa.text("DELETE FROM accounts_sessions WHERE expires <= :t"), {"t": now}).rowcount)

    # -- signing in ---------------------------------------------------------------------------
    def authenticate(self, name: str, passphrase: str, code: str, *, address: str = "",
                     now: float | None = None) -> SignedIn:
        """Check passphrase and second factor (a TOTP code or an unused recovery code).

        The same :class:`SignInError` is raised whatever was wrong, and an unknown name costs
        the same argon2id run, so the answer tells nothing about which names exist. Each
        failure counts towards the lockout and is kept in ``accounts_pending_events`` until a
        signed-in session writes it to the custody log (nothing can sign while nobody is signed in).

        Raises:
            SignInError: Wrong name, passphrase or code, or the account is disabled.
            AccountLockedError: Too many failures; locked until a time or an admin's unlock.
        """
        t = time.time() if now is None else now
        moment = datetime.fromtimestamp(t, UTC)
        name = name.strip().lower()[:64]
        with self._db(write=False) as c:
            row = c.execute(sa.text("SELECT salt, cost, verifier, wrapped, totp_secret, totp_last_step, disabled, failures,"
                                    " locked_until FROM accounts_users WHERE name=:n"), {"n": name}).first()
        if row is None:
            _derive(passphrase[:MAX_PASSPHRASE], b"\0" * 16, self.cost)  # same time as a real check
            self._fail(name, "unknown name", address, moment)
            raise SignInError()
        salt, cost, verifier, wrapped, secret, last_step, disabled, failures, locked_until = row
        salt, verifier, wrapped = bytes(salt), bytes(verifier), bytes(wrapped)
        if locked_until is not None and locked_until > _iso(moment):
            self._fail(name, "locked", address, moment, count=False)
            raise AccountLockedError(locked_until)
        got, key = _derive(passphrase[:MAX_PASSPHRASE], salt, Argon2Cost.from_json(json.loads(cost)))
        if not hmac.compare_digest(got, verifier) or disabled:
            self._fail(name, "disabled" if disabled else "passphrase", address, moment)
            raise SignInError()
        step = self._second_factor(name, secret, int(last_step), code, t)
        if step is None:
            self._fail(name, "code", address, moment)
            raise SignInError()
        archive_passphrase = _unwrap(key, name, wrapped)
        with self._db() as c:
            if step > 0:
                # Replay protection: a code is accepted only for a later time step than the last.
                updated = c.execute(sa.text("UPDATE accounts_users SET totp_last_step=:s, failures=0, locked_until=NULL"
                                            " WHERE name=:n AND totp_last_step<:s"), {"s": step, "n": name}).rowcount
                if not updated:
                    raise SignInError()
            else:
                c.execute(sa.text("UPDATE accounts_users SET failures=0, locked_until=NULL WHERE name=:n"), {"n": name})
            account = self._row(c, name)
        return SignedIn(account, archive_passphrase, step == 0)

    def _second_factor(self, name: str, secret: str, last_step: int, code: str, t: float) -> int | None:
        """The TOTP time step the code matches (> last_step), 0 for a recovery code (now used
        up), or None."""
        import pyotp

        code = code.strip().replace(" ", "")
        if re.fullmatch(r"[0-9]{6}", code):
            totp = pyotp.TOTP(secret)
            now_step = int(t // totp.interval)
            for step in (now_step - 1, now_step, now_step + 1):
                if step > last_step and hmac.compare_digest(totp.generate_otp(step), code):
                    return step
            return None
        if re.fullmatch(r"[a-z0-9]{5}-?[a-z0-9]{5}", code.lower()):
            with self._db() as c:
                used = c.execute(sa.text("UPDATE accounts_recovery_codes SET used_at=:t WHERE name=:n AND code_hash=:h"
                                         " AND used_at IS NULL"),
                                 {"t": _iso(_now()), "n": name, "h": _code_hash(code)}).rowcount
            return 0 if used else None
        return None

    def _fail(self, name: str, reason: str, address: str, moment: datetime, *, count: bool = True) -> None:
        with self._db() as c:
            if count:
                c.execute(sa.text("UPDATE accounts_users SET failures=failures+1 WHERE name=:n"), {"n": name})
                c.execute(sa.text("UPDATE accounts_users SET locked_until=:u WHERE name=:n AND failures>=:k"),
                          {"u": _iso(moment + LOCKOUT_FOR), "n": name, "k": LOCKOUT_AFTER})
            # The tried name is user-controlled: kept short and printable, shown escaped.
            shown = "".join(ch for ch in name if ch.isprintable())[:64]
            c.execute(sa.text("INSERT INTO accounts_pending_events (time, name, reason, address) VALUES (:t, :n, :r, :a)"),
                      {"t": _iso(moment), "n": shown, "r": reason, "a": address[:64]})

    def remaining_recovery_codes(self, name: str) -> int:
        """How many unused recovery codes the user has left."""
        with self._db(write=False) as c:
            return int(c.execute(sa.text("SELECT count(*) FROM accounts_recovery_codes WHERE name=:n AND used_at IS NULL"),
                                 {"n": name}).scalar_one())

    def flush_pending_events(self) -> int:
        """Write noted sign-in failures to the custody log (needs the archive key); return count.

        Raises:
            PassphraseError: The workspace has no key (nothing is removed then).
        """
        with self._db(write=False) as c:
            rows = [PendingEvent(*r) for r in c.execute(
                sa.text("SELECT id, time, name, reason, address FROM accounts_pending_events ORDER BY id"))]
        if not rows:
            return 0
        logged = 0
        with self._ws.transaction():
            for ev in rows:
                with self._db() as c:
                    # Another process flushing at once: whoever deletes the row logs it.
                    gone = c.execute(sa.text("DELETE FROM accounts_pending_events WHERE id=:i"), {"i": ev.id}).rowcount
                    if gone:
                        self._ws.log_action("web.signin-failed", [], {"user": ev.name, "at": ev.time, "reason": ev.reason,
                                                                      "address": ev.address})
                        logged += 1
        return logged


def parse_totp_uri_secret(uri: str) -> str:
    """The base32 secret in an ``otpauth://`` URI (for tests and for showing it as text)."""
    from urllib.parse import parse_qs, urlparse

    secret = parse_qs(urlparse(uri).query).get("secret", [""])[0]
    if not secret:
        raise UsageError("not an otpauth URI with a secret")
    base64.b32decode(secret + "=" * (-len(secret) % 8))
    return secret
