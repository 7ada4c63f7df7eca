"""A server killed with SIGKILL in the middle of an upload: the archive stays consistent
(`verify` passes), nothing of the upload is sealed, and its staging folder goes away."""

from __future__ import annotations

import json
import os
import re
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pyotp
import pytest
from live_server import cli, serving

from witnessbox.workspace import Workspace

ARCHIVE_PASS = "correct horse battery staple"
USER_PASS = "violet tundra marmalade kiosk 42"

pytestmark = pytest.mark.slow


def test_kill_9_during_upload_then_verify(tmp_path: Path) -> None:
    root = tmp_path / "archive"
    Workspace.init(root, ARCHIVE_PASS).close()
    user = json.loads(cli("user", "add", "ed", "--role", "editor", "--json", "--archive", str(root),
                          env={"WITNESSBOX_PASSPHRASE": ARCHIVE_PASS, "WITNESSBOX_USER_PASSPHRASE": USER_PASS}).stdout)
    with serving(root) as (url, proc):
        c = httpx.Client(base_url=url, headers={"Origin": url}, follow_redirects=False, timeout=30)
        token = re.search(r'name="csrf_token" value="([^"]+)"', c.get("/signin").text).group(1)  # type: ignore[union-attr]
        r = c.post("/signin", data={"name": "ed", "passphrase": USER_PASS, "csrf_token": token,
                                    "code": pyotp.parse_uri(user["totp_uri"]).now()})
        assert r.status_code == 303, r.text
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', c.get("/intake").text).group(1)  # type: ignore[union-attr]
        sent = threading.Event()

        def body() -> Iterator[bytes]:
            yield (b"--B0undary\r\nContent-Disposition: form-data; name=\"files\"; filename=\"long.bin\"\r\n"
                   b"Content-Type: application/octet-stream\r\n\r\n")
            for i in range(10_000):
                yield os.urandom(1 << 20)
                if i == 20:
                    sent.set()
                time.sleep(0.01)

        def upload() -> None:
            try:
                c.post(f"/intake?csrf_token={csrf}", content=body(),
                       headers={"Content-Type": "multipart/form-data; boundary=B0undary"})
            except httpx.HTTPError:
                pass  # the server is gone: expected

        t = threading.Thread(target=upload, daemon=True)
        t.start()
        assert sent.wait(60)
        staged = [p for p in (root / "tmp").iterdir() if "-web-" in p.name]
        assert staged, "the upload is being staged on disk"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
        t.join(30)
    with Workspace.open(root, ARCHIVE_PASS) as ws:
        report = ws.verify()
        assert report.ok, report.problems
        assert ws.items() == []
    assert not [p for p in (root / "tmp").iterdir() if "-web-" in p.name]
