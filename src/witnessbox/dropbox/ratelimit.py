"""In-memory sliding-window rate limits (the drop box keeps no record of who asked, only counts).

Keys are lookup ids or fixed names (``"signin"``), never addresses: behind Tor every source
shares one address, and the server is not to learn addresses anyway. State is lost on restart,
which is acceptable: a restart costs an attacker as much as it gives.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable


class RateLimiter:
    """At most ``limit`` events per ``window`` seconds for each key."""

    def __init__(self, limit: int, window: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.limit = limit
        self.window = window
        self._clock = clock
        self._events: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def _prune(self, key: str, now: float) -> deque[float]:
        q = self._events.setdefault(key, deque())
        while q and q[0] <= now - self.window:
            q.popleft()
        return q

    def allow(self, key: str) -> bool:
        """Count one event for ``key``; False (and not counted) when over the limit."""
        with self._lock:
            now = self._clock()
            q = self._prune(key, now)
            if len(q) >= self.limit:
                return False
            q.append(now)
            if len(self._events) > 100_000:  # bound memory: drop keys with no recent events
                for k in [k for k, v in self._events.items() if not v]:
                    del self._events[k]
            return True

    def blocked(self, key: str) -> bool:
        """True when ``key`` is at its limit now (nothing counted)."""
        with self._lock:
            return len(self._prune(key, self._clock())) >= self.limit
