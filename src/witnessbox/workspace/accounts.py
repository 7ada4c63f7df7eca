"""Use case: the web app's accounts (``ws.accounts``): who may sign in, with what role and keys.

Storage: ``accounts.sqlite`` beside the catalog, file mode 0600. It is *not* in
``catalog.sqlite``, because ``witnessbox reindex`` deletes the catalog and rebuilds it from the
custody log, and accounts hold secrets that must never go into the log. Its schema is versioned
with ``PRAGMA user_version`` and the migrations below (:data:`_MIGRATIONS`).

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
import sqlite3
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import (
    AccountLockedError,
    InputError,
    NotFoundError,
    SignInError,
    UsageError,
    WeakPassphraseError,
)

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


def _v1(c: sqlite3.Connection) -> None:
    c.execute(
        "CREATE TABLE users (name TEXT PRIMARY KEY, role TEXT NOT NULL, regions TEXT NOT NULL,"
        " salt BLOB NOT NULL, cost TEXT NOT NULL, verifier BLOB NOT NULL, wrapped BLOB NOT NULL,"
        " totp_secret TEXT NOT NULL, totp_last_step INTEGER NOT NULL DEFAULT 0,"
        " disabled INTEGER NOT NULL DEFAULT 0, failures INTEGER NOT NULL DEFAULT 0, locked_until TEXT,"
        " session_epoch INTEGER NOT NULL DEFAULT 0, created_at TEXT NOT NULL)"
    )
    c.execute("CREATE TABLE recovery_codes (name TEXT NOT NULL, code_hash TEXT NOT NULL, used_at TEXT,"
              " PRIMARY KEY (name, code_hash))")
    c.execute("CREATE TABLE pending_events (id INTEGER PRIMARY KEY, time TEXT NOT NULL, name TEXT NOT NULL,"
              " reason TEXT NOT NULL, address TEXT NOT NULL)")


#: Schema migrations of ``accounts.sqlite``, applied in order (``PRAGMA user_version``).
_MIGRATIONS = (_v1,)


class Accounts:
    """The accounts of one archive's web app. Thread-safe (one SQLite connection per call)."""

    def __init__(self, ws: Workspace, cost: Argon2Cost | None = None) -> None:
        self._ws = ws
        self.path = ws.root / ACCOUNTS_DB
        self.cost = cost or Argon2Cost()
        self._migrated = False

    # -- storage ------------------------------------------------------------------------------
    @contextmanager
    def _db(self, *, write: bool = True) -> Iterator[sqlite3.Connection]:
        new = not self.path.exists()
        if new:
            # Created with 0600 before SQLite writes a byte: it holds wrapped keys.
            fd = os.open(self.path, os.O_CREAT | os.O_WRONLY, 0o600)
            os.close(fd)
        c = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        try:
            c.execute("PRAGMA journal_mode=WAL")
            if not self._migrated:
                self._migrate(c)
            # Reads (every request checks the session epoch) take no write lock.
            c.execute("BEGIN IMMEDIATE" if write else "BEGIN")
            try:
                yield c
            except BaseException:
                c.execute("ROLLBACK")
                raise
            c.execute("COMMIT")
        finally:
            c.close()

    def _migrate(self, c: sqlite3.Connection) -> None:
        c.execute("BEGIN IMMEDIATE")
        try:
            version = int(c.execute("PRAGMA user_version").fetchone()[0])
            for n, fn in enumerate(_MIGRATIONS[version:], start=version + 1):
                fn(c)
                c.execute(f"PRAGMA user_version = {n}")
            c.execute("COMMIT")
        except BaseException:
            c.execute("ROLLBACK")
            raise
        self._migrated = True

    @staticmethod
    def _account(r: sqlite3.Row | tuple[Any, ...]) -> Account:
        name, role, regions, disabled, created_at, failures, locked_until = r
        return Account(name, Role(role), tuple(json.loads(regions)), bool(disabled), created_at, int(failures), locked_until)

    _COLS = "name, role, regions, disabled, created_at, failures, locked_until"

    def _row(self, c: sqlite3.Connection, name: str) -> Account:
        r = c.execute(f"SELECT {self._COLS} FROM users WHERE name=?", (name,)).fetchone()
        if r is None:
            raise NotFoundError(f"no user {name!r}: see `witnessbox user list`")
        return self._account(r)

    # -- reading ------------------------------------------------------------------------------
    def list(self) -> builtins.list[Account]:
        """Every account, by name."""
        with self._db(write=False) as c:
            return [self._account(r) for r in c.execute(f"SELECT {self._COLS} FROM users ORDER BY name")]

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
            r = c.execute("SELECT session_epoch FROM users WHERE name=?", (name,)).fetchone()
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
        with self._db() as c:
            if c.execute("SELECT 1 FROM users WHERE name=?", (name,)).fetchone():
                raise InputError(f"there is already a user {name!r}")
            c.execute(
                "INSERT INTO users (name, role, regions, salt, cost, verifier, wrapped, totp_secret, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (name, role.value, json.dumps(list(slugs)), salt, json.dumps(self.cost.to_json()), verifier,
                 _wrap(key, name, archive_passphrase), secret, _iso(_now())),
            )
            c.executemany("INSERT INTO recovery_codes (name, code_hash) VALUES (?, ?)", [(name, _code_hash(x)) for x in codes])
            account = self._row(c, name)
        self._ws.log_action("web.user-add", [], {"user": name, "role": role.value, "regions": list(slugs)})
        return Enrollment(account, pyotp.TOTP(secret).provisioning_uri(name=name, issuer_name=TOTP_ISSUER), codes)

    def _check_archive_passphrase(self, archive_passphrase: str) -> None:
        from .core import Workspace

        probe = Workspace.open(self._ws.root, archive_passphrase)
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
            c.execute("UPDATE users SET role=?, session_epoch=session_epoch+1 WHERE name=?", (role.value, name))
            if slugs is not None:
                c.execute("UPDATE users SET regions=? WHERE name=?", (json.dumps(list(slugs)), name))
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
            c.execute("UPDATE users SET disabled=?, session_epoch=session_epoch+1 WHERE name=?", (int(disabled), name))
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
            c.execute("UPDATE users SET totp_secret=?, totp_last_step=0, session_epoch=session_epoch+1 WHERE name=?",
                      (secret, name))
            c.execute("DELETE FROM recovery_codes WHERE name=?", (name,))
            c.executemany("INSERT INTO recovery_codes (name, code_hash) VALUES (?, ?)", [(name, _code_hash(x)) for x in codes])
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
            c.execute("UPDATE users SET failures=0, locked_until=NULL WHERE name=?", (name,))
            account = self._row(c, name)
        self._ws.log_action("web.user-unlock", [], {"user": name})
        return account

    def end_sessions(self, name: str) -> None:
        """Sign the user out everywhere (their session epoch moves on).

        Raises:
            NotFoundError: No such user.
        """
        with self._db() as c:
            self._row(c, name)
            c.execute("UPDATE users SET session_epoch=session_epoch+1 WHERE name=?", (name,))

    # -- signing in ---------------------------------------------------------------------------
    def authenticate(self, name: str, passphrase: str, code: str, *, address: str = "",
                     now: float | None = None) -> SignedIn:
        """Check passphrase and second factor (a TOTP code or an unused recovery code).

        The same :class:`SignInError` is raised whatever was wrong, and an unknown name costs
        the same argon2id run, so the answer tells nothing about which names exist. Each
        failure counts towards the lockout and is kept in ``pending_events`` until a signed-in
        session writes it to the custody log (nothing can sign while nobody is signed in).

        Raises:
            SignInError: Wrong name, passphrase or code, or the account is disabled.
            AccountLockedError: Too many failures; locked until a time or an admin's unlock.
        """
        t = time.time() if now is None else now
        moment = datetime.fromtimestamp(t, UTC)
        name = name.strip().lower()[:64]
        with self._db(write=False) as c:
            row = c.execute("SELECT salt, cost, verifier, wrapped, totp_secret, totp_last_step, disabled, failures,"
                            " locked_until FROM users WHERE name=?", (name,)).fetchone()
        if row is None:
            _derive(passphrase[:MAX_PASSPHRASE], b"\0" * 16, self.cost)  # same time as a real check
            self._fail(name, "unknown name", address, moment)
            raise SignInError()
        salt, cost, verifier, wrapped, secret, last_step, disabled, failures, locked_until = row
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
                updated = c.execute("UPDATE users SET totp_last_step=?, failures=0, locked_until=NULL"
                                    " WHERE name=? AND totp_last_step<?", (step, name, step)).rowcount
                if not updated:
                    raise SignInError()
            else:
                c.execute("UPDATE users SET failures=0, locked_until=NULL WHERE name=?", (name,))
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
                used = c.execute("UPDATE recovery_codes SET used_at=? WHERE name=? AND code_hash=? AND used_at IS NULL",
                                 (_iso(_now()), name, _code_hash(code))).rowcount
            return 0 if used else None
        return None

    def _fail(self, name: str, reason: str, address: str, moment: datetime, *, count: bool = True) -> None:
        with self._db() as c:
            if count:
                c.execute("UPDATE users SET failures=failures+1 WHERE name=?", (name,))
                c.execute("UPDATE users SET locked_until=? WHERE name=? AND failures>=?",
                          (_iso(moment + LOCKOUT_FOR), name, LOCKOUT_AFTER))
            # The tried name is user-controlled: kept short and printable, shown escaped.
            shown = "".join(ch for ch in name if ch.isprintable())[:64]
            c.execute("INSERT INTO pending_events (time, name, reason, address) VALUES (?, ?, ?, ?)",
                      (_iso(moment), shown, reason, address[:64]))

    def remaining_recovery_codes(self, name: str) -> int:
        """How many unused recovery codes the user has left."""
        with self._db(write=False) as c:
            return int(c.execute("SELECT count(*) FROM recovery_codes WHERE name=? AND used_at IS NULL",
                                 (name,)).fetchone()[0])

    def flush_pending_events(self) -> int:
        """Write noted sign-in failures to the custody log (needs the archive key); return count.

        Raises:
            PassphraseError: The workspace has no key (nothing is removed then).
        """
        with self._db(write=False) as c:
            rows = [PendingEvent(*r) for r in c.execute("SELECT id, time, name, reason, address FROM pending_events ORDER BY id")]
        if not rows:
            return 0
        with self._ws.transaction():
            for ev in rows:
                self._ws.log_action("web.signin-failed", [], {"user": ev.name, "at": ev.time, "reason": ev.reason,
                                                              "address": ev.address})
                with self._db() as c:
                    c.execute("DELETE FROM pending_events WHERE id=?", (ev.id,))
        return len(rows)


def parse_totp_uri_secret(uri: str) -> str:
    """The base32 secret in an ``otpauth://`` URI (for tests and for showing it as text)."""
    from urllib.parse import parse_qs, urlparse

    secret = parse_qs(urlparse(uri).query).get("secret", [""])[0]
    if not secret:
        raise UsageError("not an otpauth URI with a secret")
    base64.b32decode(secret + "=" * (-len(secret) % 8))
    return secret
