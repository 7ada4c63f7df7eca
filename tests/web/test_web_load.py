"""Load: 20 concurrent uploads of 100 MB each to a real `witnessbox serve`: each sealed exactly
once, nothing lost or doubled, the server's memory flat (streamed to disk, never held whole),
and `verify` passes afterwards. Sizes can be lowered with WITNESSBOX_LOAD_MB for a quick run."""

from __future__ import annotations

import hashlib
import json
import os
import re
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pyotp
import pytest
from live_server import cli, serving

from witnessbox.workspace import Workspace

ARCHIVE_PASS = "correct horse battery staple"
USER_PASS = "violet tundra marmalade kiosk 42"
UPLOADS = 20
MB = int(os.environ.get("WITNESSBOX_LOAD_MB", "100"))

pytestmark = pytest.mark.slow


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def _body(seed: int, boundary: str) -> Iterator[bytes]:
    """A deterministic file of MB megabytes, generated as it is sent (never whole in memory)."""
    yield (f"--{boundary}\r\nContent-Disposition: form-data; name=\"files\"; filename=\"load-{seed}.bin\"\r\n"
           "Content-Type: application/octet-stream\r\n\r\n").encode()
    for block in _blocks(seed):
        yield block
    yield f"\r\n--{boundary}--\r\n".encode()


def _blocks(seed: int) -> Iterator[bytes]:
    h = hashlib.sha256(str(seed).encode()).digest()
    block = h * (1 << 15)  # 1 MiB
    for i in range(MB):
        yield i.to_bytes(8, "big") + block[8:]


def _sha(seed: int) -> str:
    d = hashlib.sha256()
    for b in _blocks(seed):
        d.update(b)
    return d.hexdigest()


def test_twenty_concurrent_uploads(tmp_path: Path) -> None:
    root = tmp_path / "archive"
    Workspace.init(root, ARCHIVE_PASS).close()
    user = json.loads(cli("user", "add", "ed", "--role", "editor", "--json", "--archive", str(root),
                          env={"WITNESSBOX_PASSPHRASE": ARCHIVE_PASS, "WITNESSBOX_USER_PASSPHRASE": USER_PASS}).stdout)
    with serving(root) as (url, proc):
        c = httpx.Client(base_url=url, headers={"Origin": url}, timeout=900,
                         limits=httpx.Limits(max_connections=UPLOADS + 2))
        token = re.search(r'name="csrf_token" value="([^"]+)"', c.get("/signin").text).group(1)  # type: ignore[union-attr]
        r = c.post("/signin", data={"name": "ed", "passphrase": USER_PASS, "csrf_token": token,
                                    "code": pyotp.parse_uri(user["totp_uri"]).now()}, follow_redirects=False)
        assert r.status_code == 303, r.text
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', c.get("/intake").text).group(1)  # type: ignore[union-attr]
        base = _rss_kib(proc.pid)
        peak = [base]
        done = threading.Event()

        def sample() -> None:
            while not done.is_set():
                peak[0] = max(peak[0], _rss_kib(proc.pid))
                time.sleep(0.05)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()

        def upload(seed: int) -> dict[str, object]:
            r = c.post(f"/intake?csrf_token={csrf}", content=_body(seed, f"Load{seed}"),
                       headers={"Content-Type": f"multipart/form-data; boundary=Load{seed}", "Accept": "application/json"})
            assert r.status_code == 200, r.text
            result: dict[str, object] = r.json()["results"][0]
            return result

        try:
            with ThreadPoolExecutor(UPLOADS) as pool:
                results = list(pool.map(upload, range(UPLOADS)))
        finally:
            done.set()
            sampler.join()
    assert [r["status"] for r in results] == ["added"] * UPLOADS
    assert sorted(str(r["sha256"]) for r in results) == sorted(_sha(i) for i in range(UPLOADS))
    # Flat: the server never held the 20 files (20 x MB) in memory; far below one file's size
    # per upload. The margin covers decoders, SQLite and 20 request buffers.
    assert (peak[0] - base) / 1024 < max(300, MB * 3), (base, peak[0])
    with Workspace.open(root, ARCHIVE_PASS) as ws:
        assert len(ws.items()) == UPLOADS
        seals = [e for e in ws.log() if e.action == "add"]
        assert len(seals) == UPLOADS
        assert ws.verify().ok
    assert not [p for p in (root / "tmp").iterdir() if "-web-" in p.name]
