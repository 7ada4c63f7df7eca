"""Upload throughput through the web app against `witnessbox add` on the same files (issue 11).

    .venv/bin/python benchmarks/web_upload.py [--size-gb 2] [--files 8] [--workdir /tmp/witnessbox-web-bench]

Makes --files random files totalling --size-gb under --workdir (never in the repository), then
(1) the anchor: `witnessbox add` of the folder into a fresh encrypted archive; (2) a real
`witnessbox serve` on 127.0.0.1 with a fresh archive, one signed-in editor, and each file
POSTed to /intake as the intake page sends them (one streamed request per file). Both seal
the same bytes with encryption on. Prints seconds, MB/s, the ratio, and the server's peak
resident memory sampled during the uploads (streaming: it must not grow with file size).
Target (issue 11): ratio >= 0.5.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "web"))

ARCHIVE_PASS = "benchmark passphrase"
USER_PASS = "violet tundra marmalade kiosk 42"


def _rss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def _file_body(path: Path, boundary: str) -> Iterator[bytes]:
    yield (f"--{boundary}\r\nContent-Disposition: form-data; name=\"files\"; filename=\"{path.name}\"\r\n"
           "Content-Type: application/octet-stream\r\n\r\n").encode()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            yield chunk
    yield f"\r\n--{boundary}--\r\n".encode()


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size-gb", type=float, default=2.0)
    ap.add_argument("--files", type=int, default=8)
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/witnessbox-web-bench"))
    args = ap.parse_args()
    import httpx
    import pyotp
    from live_server import cli, serving

    from witnessbox.workspace import Workspace

    work = args.workdir
    shutil.rmtree(work, ignore_errors=True)
    src = work / "src"
    src.mkdir(parents=True)
    per = int(args.size_gb * (1 << 30)) // args.files
    for i in range(args.files):
        with open(src / f"clip-{i}.bin", "wb") as f:
            left = per
            while left:
                n = min(left, 16 << 20)
                f.write(os.urandom(n))
                left -= n
    total_mb = per * args.files / 1e6
    env = {"WITNESSBOX_PASSPHRASE": ARCHIVE_PASS, "WITNESSBOX_USER_PASSPHRASE": USER_PASS}
    for p in src.iterdir():  # warm the page cache for both contenders
        with open(p, "rb") as f:
            while f.read(1 << 24):
                pass

    a_root = work / "anchor"
    Workspace.init(a_root, ARCHIVE_PASS).close()
    t = time.perf_counter()
    cli("add", str(src), "--archive", str(a_root), env=env)
    anchor = time.perf_counter() - t

    w_root = work / "web"
    Workspace.init(w_root, ARCHIVE_PASS).close()
    user = json.loads(cli("user", "add", "ed", "--role", "editor", "--json", "--archive", str(w_root), env=env).stdout)
    peak = [0]
    with serving(w_root) as (url, proc):
        c = httpx.Client(base_url=url, headers={"Origin": url}, timeout=600)
        token = re.search(r'name="csrf_token" value="([^"]+)"', c.get("/signin").text).group(1)  # type: ignore[union-attr]
        r = c.post("/signin", data={"name": "ed", "passphrase": USER_PASS, "csrf_token": token,
                                    "code": pyotp.parse_uri(user["totp_uri"]).now()}, follow_redirects=False)
        assert r.status_code == 303, r.text
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', c.get("/intake").text).group(1)  # type: ignore[union-attr]
        base_rss = _rss_kib(proc.pid)
        done = threading.Event()

        def sample() -> None:
            while not done.is_set():
                peak[0] = max(peak[0], _rss_kib(proc.pid))
                time.sleep(0.05)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        t = time.perf_counter()
        for p in sorted(src.iterdir()):
            r = c.post(f"/intake?csrf_token={csrf}", content=_file_body(p, "BenchBoundary"),
                       headers={"Content-Type": "multipart/form-data; boundary=BenchBoundary", "Accept": "application/json"})
            assert r.status_code == 200 and r.json()["results"][0]["status"] == "added", r.text
        web = time.perf_counter() - t
        done.set()
        sampler.join()
    print(f"{args.files} files, {total_mb:.0f} MB (random bytes), encryption on")
    print(f"anchor: witnessbox add   {anchor:8.1f} s  {total_mb / anchor:7.1f} MB/s")
    print(f"web upload (serve)       {web:8.1f} s  {total_mb / web:7.1f} MB/s  ratio {anchor / web:.2f}x (target >= 0.5x)")
    print(f"server RSS: {base_rss / 1024:.0f} MiB before uploads, {peak[0] / 1024:.0f} MiB peak (file size {per / 2**20:.0f} MiB)")
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
