"""The web app's accounts on SQLite (``accounts.sqlite``, the anchor) and on PostgreSQL.

Measures, for each database, on one archive with one user:

* ``authenticate``: one sign-in check (argon2id at the default cost, t=3 m=64 MiB, then the
  TOTP step and the lockout counters written): what a sign-in costs in the library;
* ``web sign-in``: ``POST /signin`` through the app (authenticate, unlock the archive keys,
  log ``web.signin``, record the session);
* ``session check``: ``SessionManager.get`` of a live session (the query every request makes
  for the session's record and the user's epoch).

PostgreSQL is a throwaway cluster on 127.0.0.1 (``tests/_servers.start_postgres``).
Run: ``.venv/bin/python benchmarks/accounts_db.py [--runs 5] [--checks 300]``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "tests" / "web"))

from _servers import start_postgres  # noqa: E402

ARCHIVE_PASS = "correct horse battery staple"
USER_PASS = "violet tundra marmalade kiosk 42"


class Clock:
    def __init__(self) -> None:
        self.t = 1_900_000_000.0

    def __call__(self) -> float:
        return self.t


def _ms(samples: list[float]) -> str:
    return f"{statistics.median(samples) * 1000:8.2f} (min {min(samples) * 1000:.2f}, max {max(samples) * 1000:.2f})"


def measure(label: str, database_url: str | None, runs: int, checks: int) -> dict[str, list[float]]:
    import pyotp
    from starlette.testclient import TestClient

    from witnessbox.web.app import RateLimiter, WebConfig, create_app
    from witnessbox.web.sessions import SessionManager
    from witnessbox.workspace import Workspace
    from witnessbox.workspace.accounts import parse_totp_uri_secret

    if database_url:
        os.environ["WITNESSBOX_DATABASE_URL"] = database_url
    else:
        os.environ.pop("WITNESSBOX_DATABASE_URL", None)
    out: dict[str, list[float]] = {"authenticate": [], "web sign-in": [], "session check": []}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "archive"
        Workspace.init(root, ARCHIVE_PASS).close()
        ws = Workspace.open(root, ARCHIVE_PASS)
        e = ws.accounts.add("ada", USER_PASS, "admin", archive_passphrase=ARCHIVE_PASS)
        secret = parse_totp_uri_secret(e.totp_uri)
        totp = pyotp.TOTP(secret)
        clock = Clock()
        for _ in range(runs):
            clock.t += 31
            t0 = time.perf_counter()
            ws.accounts.authenticate("ada", USER_PASS, totp.at(clock.t), now=clock.t)
            out["authenticate"].append(time.perf_counter() - t0)
        sessions = SessionManager(ws.accounts, clock=clock)
        app = create_app(WebConfig(archive=root), sessions=sessions)
        app.app.state.witnessbox.per_address = RateLimiter(1_000_000, 900)  # type: ignore[attr-defined]
        app.app.state.witnessbox.per_account = RateLimiter(1_000_000, 900)  # type: ignore[attr-defined]
        sid = ""
        for _ in range(runs):
            client = TestClient(app, base_url="http://testserver", headers={"Origin": "http://testserver"},
                                follow_redirects=False)
            import re

            page = client.get("/signin")
            m = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
            assert m
            clock.t += 31
            t0 = time.perf_counter()
            r = client.post("/signin", data={"name": "ada", "passphrase": USER_PASS, "code": totp.at(clock.t),
                                             "csrf_token": m.group(1), "next": "/items"})
            out["web sign-in"].append(time.perf_counter() - t0)
            assert r.status_code == 303, r.text
            sid = client.cookies["wb_session"]
        check: Callable[[], object] = lambda: sessions.get(sid)  # noqa: E731
        for _ in range(checks):
            t0 = time.perf_counter()
            check()
            out["session check"].append(time.perf_counter() - t0)
        sessions.end_all()
        ws.close()
    print(f"{label}:")
    for k, v in out.items():
        print(f"  {k:14s} ms median {_ms(v)}  n={len(v)}")
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--checks", type=int, default=300)
    args = ap.parse_args()
    print(f"load: {os.getloadavg()}")
    anchor = measure("SQLite (accounts.sqlite, anchor)", None, args.runs, args.checks)
    srv = start_postgres()
    try:
        _name, url = srv.fresh_schema_url()
        pg = measure("PostgreSQL (127.0.0.1)", url, args.runs, args.checks)
    finally:
        srv.stop()
    print("PostgreSQL / SQLite (medians):")
    for k in anchor:
        print(f"  {k:14s} x{statistics.median(pg[k]) / statistics.median(anchor[k]):.2f}")
    print(f"load: {os.getloadavg()}")


if __name__ == "__main__":
    main()
