"""Server-side sessions held in memory, each with its user's unlocked workspace.

The cookie carries a random 256-bit id; the server keeps only its SHA-256, so a memory dump
or log line of the table does not give a usable cookie. Sessions live only in this process on
purpose: the archive key a session unlocked lives only here too, so a restarted server has
forgotten every key and every session at once.

Each way a session is not valid is its own exception (SecureDrop's model), all mapped to
"please sign in" by the app.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from .. import config
from ..errors import NotSignedInError
from ..workspace import Workspace
from ..workspace.access import Scope

IDLE_TIMEOUT = 30 * 60
ABSOLUTE_TIMEOUT = 12 * 3600
REAUTH_VALID = 5 * 60

T = TypeVar("T")


class SessionMissing(NotSignedInError):
    """Please sign in. {detail}"""


class SessionExpired(NotSignedInError):
    """Your session ended (idle for 30 minutes, 12 hours old, or locked): sign in again. {detail}"""


class SessionRevoked(NotSignedInError):
    """You were signed out (signed out everywhere, account changed or disabled): sign in again. {detail}"""


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
    """Creates, finds and ends sessions. Thread-safe."""

    def __init__(self, epoch_of: Callable[[str], int], clock: Callable[[], float] = time.time) -> None:
        self._by_hash: dict[str, Session] = {}
        self._lock = threading.Lock()
        self._epoch_of = epoch_of
        self.clock = clock

    def create(self, scope: Scope, ws: Workspace, address: str) -> tuple[str, Session]:
        """A fresh session (always a new id: a session id never survives a sign-in)."""
        sid = secrets.token_urlsafe(32)
        now = self.clock()
        s = Session(_hash(sid), scope, self._epoch_of(scope.name), secrets.token_urlsafe(32), address, now, now, ws,
                    reauth_at=now)
        with self._lock:
            self._by_hash[s.id_hash] = s
        return sid, s

    def get(self, sid: str | None) -> Session:
        """The live session for a cookie value; touches its idle timer.

        Raises:
            SessionMissing, SessionExpired, SessionRevoked: It is not (or no longer) valid.
        """
        if not sid or len(sid) > 100:
            raise SessionMissing()
        h = _hash(sid)
        with self._lock:
            s = self._by_hash.get(h)
        if s is None:
            raise SessionMissing()
        now = self.clock()
        if now - s.last_seen > IDLE_TIMEOUT or now - s.created > ABSOLUTE_TIMEOUT or s.ws is None:
            self.end(s)
            raise SessionExpired()
        if self._epoch_of(s.name) != s.epoch:
            self.end(s)
            raise SessionRevoked()
        s.last_seen = now
        return s

    def end(self, s: Session) -> None:
        """Sign this session out and wipe its keys."""
        with self._lock:
            self._by_hash.pop(s.id_hash, None)
        s.wipe()

    def end_user(self, name: str) -> int:
        """End every session of ``name``; return how many."""
        with self._lock:
            mine = [s for s in self._by_hash.values() if s.name == name]
        for s in mine:
            self.end(s)
        return len(mine)

    def sessions(self) -> list[Session]:
        with self._lock:
            return list(self._by_hash.values())

    def sweep(self) -> None:
        """End idle and too old sessions (their keys are wiped even if nobody comes back)."""
        now = self.clock()
        for s in self.sessions():
            if now - s.last_seen > IDLE_TIMEOUT or now - s.created > ABSOLUTE_TIMEOUT:
                self.end(s)

    def end_all(self) -> None:
        for s in self.sessions():
            self.end(s)
