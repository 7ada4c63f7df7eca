"""Small pieces of the public app: language choice, rate limits, sessions."""

from __future__ import annotations

import pytest

from witnessbox.dropbox import RateLimiter, SourceKeys
from witnessbox.web.dropbox.i18n import negotiate
from witnessbox.web.dropbox.sessions import NotSignedIn, SessionExpired, SessionManager


@pytest.mark.parametrize("header,lang", [
    (None, "en"), ("", "en"), ("be-BY,be;q=0.9,ru;q=0.8", "be"), ("ru-RU,ru;q=0.9,en;q=0.5", "ru"),
    ("de-DE,de;q=0.9", "en"), ("en-US,en;q=0.9", "en"), ("fr;q=1, ru;q=0.2, be;q=0.7", "be"), ("ru;q=x", "ru"),
])
def test_negotiate(header: str | None, lang: str) -> None:
    assert negotiate(header) == lang


def test_rate_limiter_window() -> None:
    now = [0.0]
    rl = RateLimiter(2, 10, clock=lambda: now[0])
    assert rl.allow("a") and rl.allow("a") and not rl.allow("a") and rl.allow("b")
    assert rl.blocked("a") and not rl.blocked("b")
    now[0] = 10.5
    assert not rl.blocked("a") and rl.allow("a")


def test_sessions_expire_and_end() -> None:
    now = [0.0]
    sm = SessionManager(idle=60, lifetime=100, clock=lambda: now[0])
    keys = SourceKeys("0" * 32, "AGE-SECRET-KEY-1X", "age1x")
    s = sm.create(keys)
    assert sm.get(s.id) is s
    with pytest.raises(NotSignedIn):
        sm.get(None)
    with pytest.raises(NotSignedIn):
        sm.get("forged")
    now[0] = 50
    assert sm.get(s.id) is s
    now[0] = 105  # idle for 55 s but alive for 105 s: too old
    with pytest.raises(SessionExpired):
        sm.get(s.id)
    s2 = sm.create(keys)
    assert s2.id != s.id and s2.csrf != s.csrf
    sm.end(s2.id)
    with pytest.raises(NotSignedIn):
        sm.get(s2.id)
