"""Server-side sessions of signed-in sources: the cookie holds a random id, nothing else.

The codename is never kept. What a session holds (the keys derived from the codename, the
secret reply identity among them) lives only in this process's memory and is dropped on
sign-out, after ``idle`` seconds without a request, after ``lifetime`` seconds in all, and on
restart. Each way a session can be invalid is its own exception, so a handler says exactly
why a source is sent back to sign in.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from ...dropbox import SourceKeys

COOKIE = "dropbox_session"


class SessionError(Exception):
    """The request has no usable session."""


class NotSignedIn(SessionError):
    """No session cookie, or one this server never issued."""


class SessionExpired(SessionError):
    """The session was idle too long or lived too long."""


@dataclass
class Session:
    id: str
    keys: SourceKeys
    csrf: str
    created: float
    last_seen: float
    flash: str = field(default="")


class SessionManager:
    """All live sessions, in memory."""

    def __init__(self, idle: float = 30 * 60, lifetime: float = 3 * 3600,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.idle = idle
        self.lifetime = lifetime
        self._clock = clock
        self._sessions: dict[str, Session] = {}
        self._lock = threading.Lock()

    def create(self, keys: SourceKeys) -> Session:
        now = self._clock()
        s = Session(secrets.token_urlsafe(32), keys, secrets.token_urlsafe(32), now, now)
        with self._lock:
            self._sweep(now)
            self._sessions[s.id] = s
        return s

    def _sweep(self, now: float) -> None:
        for sid in [k for k, s in self._sessions.items() if self._expired(s, now)]:
            del self._sessions[sid]

    def _expired(self, s: Session, now: float) -> bool:
        return now - s.last_seen > self.idle or now - s.created > self.lifetime

    def get(self, session_id: str | None) -> Session:
        """The live session of this id, its idle timer restarted.

        Raises:
            NotSignedIn: No id, or an unknown one.
            SessionExpired: It timed out (it is removed).
        """
        if not session_id:
            raise NotSignedIn()
        now = self._clock()
        with self._lock:
            s = self._sessions.get(session_id)
            if s is None:
                raise NotSignedIn()
            if self._expired(s, now):
                del self._sessions[session_id]
                raise SessionExpired()
            s.last_seen = now
            return s

    def end(self, session_id: str | None) -> None:
        with self._lock:
            self._sessions.pop(session_id or "", None)

    def __len__(self) -> int:
        return len(self._sessions)
