"""Server-side sessions, each with its user's unlocked workspace held in this process.

The cookie carries a random 256-bit id; the server keeps only its SHA-256, so a memory dump
or log line of the table does not give a usable cookie. The unlocked workspace (the archive
passphrase and keys) lives only in the process that unwrapped it, on purpose: a restarted
server has forgotten every key at once, and no key ever crosses to another process.

What is shared is the session's *record* in the accounts database (``accounts_sessions``:
the id's hash, the user, created, last seen, expiry, revoked; see ``ws.accounts``). Every
request checks it, so with several web app processes on one PostgreSQL database a sign-out
everywhere, a disabled account or a role change (the user's session epoch) and a revoked
session end the session in whichever process holds it. An id presented to a process that
does not hold it is refused with one message (:class:`SessionElsewhere`).

Each way a session is not valid is its own exception (SecureDrop's model), all mapped to
"please sign in" by the app.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from .. import config
from ..errors import NotSignedInError, WitnessboxError
from ..workspace import Workspace
from ..workspace.access import Scope
from ..workspace.accounts import Accounts, SessionRecord

IDLE_TIMEOUT = 30 * 60
ABSOLUTE_TIMEOUT = 12 * 3600
REAUTH_VALID = 5 * 60
#: How often a session's "last seen" is written to the accounts database (the Users page).
TOUCH_EVERY = 60

T = TypeVar("T")
_log = logging.getLogger(__name__)


class SessionMissing(NotSignedInError):
    """Please sign in. {detail}"""


class SessionExpired(NotSignedInError):
    """Your session ended (idle for 30 minutes, 12 hours old, or locked): sign in again. {detail}"""


class SessionRevoked(NotSignedInError):
    """You were signed out (signed out everywhere, account changed or disabled): sign in again. {detail}"""


class SessionElsewhere(NotSignedInError):
    """Your session is held by another server of this web app, which alone holds its keys: sign in again here. {detail}"""


def _hash(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


@dataclass(eq=False)
class Session:
    """One signed-in browser. ``ws`` holds the unlocked archive keys until :meth:`wipe`."""

    id_hash: str
    scope: Scope
    epoch: int
    csrf_token: str
    address: str
    created: float
    last_seen: float
    ws: Workspace | None
    reauth_at: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def name(self) -> str:
        return self.scope.name

    def run(self, fn: Callable[..., T], *args: object, **kwargs: object) -> T:
        """Call ``fn(ws, *args)`` with this session's workspace, acting as the user.

        One call at a time per session: a Workspace is not thread-safe.

        Raises:
            SessionExpired: The keys were wiped meanwhile.
        """
        with self.lock:
            if self.ws is None:
                raise SessionExpired()
            with config.acting_as(self.name):
                return fn(self.ws, *args, **kwargs)

    def wipe(self) -> None:
        """Forget the unlocked keys (Workspace.close drops the key objects and passphrase)."""
        with self.lock:
            if self.ws is not None:
                self.ws.close()
                self.ws = None

    def check_csrf(self, token: str) -> bool:
        return hmac.compare_digest(self.csrf_token.encode(), token.encode())


class SessionManager:
    """Creates, finds and ends sessions. Thread-safe.

    ``accounts`` records each session (hashed id, user, times, revoked) in the accounts
    database; the unlocked workspaces stay in this object.
    """

    def __init__(self, accounts: Accounts, clock: Callable[[], float] = time.time) -> None:
        self._by_hash: dict[str, Session] = {}
        self._lock = threading.Lock()
        self._accounts = accounts
        self.clock = clock

    def create(self, scope: Scope, ws: Workspace, address: str) -> tuple[str, Session]:
        """A fresh session (always a new id: a session id never survives a sign-in)."""
        sid = secrets.token_urlsafe(32)
        now = self.clock()
        try:
            s = Session(_hash(sid), scope, self._accounts.session_epoch(scope.name), secrets.token_urlsafe(32),
                        address, now, now, ws, reauth_at=now)
            self._accounts.record_session(s.id_hash, s.name, s.epoch, now, now + ABSOLUTE_TIMEOUT)
        except BaseException:
            ws.close()  # no session without its record: the keys are forgotten at once
            raise
        with self._lock:
            self._by_hash[s.id_hash] = s
        return sid, s

    def get(self, sid: str | None) -> Session:
        """The live session for a cookie value; touches its idle timer.

        Raises:
            SessionMissing, SessionExpired, SessionRevoked: It is not (or no longer) valid.
            SessionElsewhere: Valid, but held by another process of the web app.
        """
        if not sid or len(sid) > 100:
            raise SessionMissing()
        h = _hash(sid)
        with self._lock:
            s = self._by_hash.get(h)
        now = self.clock()
        if s is None:
            record = self._accounts.session_record(h)
            if record is not None and record.live(now):
                raise SessionElsewhere()
            raise SessionMissing()
        if now - s.last_seen > IDLE_TIMEOUT or now - s.created > ABSOLUTE_TIMEOUT or s.ws is None:
            self.end(s)
            raise SessionExpired()
        record = self._accounts.session_record(h)
        # No record (purged, or the database was replaced) ends the session too: fail closed.
        if record is None or record.revoked is not None or record.user_epoch != s.epoch:
            self.end(s)
            raise SessionRevoked()
        if now - record.last_seen >= TOUCH_EVERY:
            self._accounts.touch_session(h, now)
        s.last_seen = now
        return s

    def end(self, s: Session) -> None:
        """Sign this session out, wipe its keys and mark its record revoked."""
        with self._lock:
            self._by_hash.pop(s.id_hash, None)
        s.wipe()
        try:
            self._accounts.revoke_session(s.id_hash, self.clock())
        except WitnessboxError:
            # The keys are gone already; a record left valid only makes another process answer
            # "held by another server", and it is purged at its expiry.
            _log.warning("could not mark a session signed out in the accounts database", exc_info=True)

    def end_user(self, name: str) -> int:
        """End every session of ``name`` held here; return how many (other processes end
        theirs at their next request: :meth:`Accounts.end_sessions` revokes the records)."""
        with self._lock:
            mine = [s for s in self._by_hash.values() if s.name == name]
        for s in mine:
            self.end(s)
        return len(mine)

    def sessions(self) -> list[Session]:
        """The sessions held by this process."""
        with self._lock:
            return list(self._by_hash.values())

    def everywhere(self) -> list[SessionRecord]:
        """Every live session of every process sharing the accounts database (no keys)."""
        return self._accounts.live_sessions(self.clock())

    def sweep(self) -> None:
        """End idle and too old sessions (their keys are wiped even if nobody comes back), and
        purge expired records."""
        now = self.clock()
        for s in self.sessions():
            if now - s.last_seen > IDLE_TIMEOUT or now - s.created > ABSOLUTE_TIMEOUT:
                self.end(s)
        self._accounts.purge_sessions(now)

    def end_all(self) -> None:
        """Stopping the server: every session held here ends (keys wiped, records revoked)."""
        for s in self.sessions():
            self.end(s)
