"""Uploading a large video through the drop box vs plain `age` encryption of the same file.

    .venv/bin/python benchmarks/dropbox_upload.py [--sizes-mb 256,1024] [--strip-mb 64] [--workdir /tmp/...]

For each size a fresh `witnessbox dropbox serve` process runs on 127.0.0.1; a source signs in
over HTTP and uploads one long MP4 (packets of the shared test video looped, no re-encoding;
random bytes with an MP4 header when ../shared/data is absent) with metadata removal off, as a
source sending footage as taken would (removal works in memory and is capped by --strip-mb).
Timed: from the first byte of the request to the server's answer, so parsing, encryption,
fsync and COMMIT are included. Anchor, same run, same file: `age -r RECIPIENT -o OUT FILE`
(Debian's `age`; pyrage's `encrypt_io` when it is missing). Peak memory: the server's VmHWM
(fresh process per size) and the anchor's max RSS. Target (issue 15): throughput >= 0.5x the
anchor, memory flat as the size grows. An optional row uploads a smaller photo-free video
*with* metadata removal (in memory) to show its cost.

Default sizes are 256 MB and 1 GB (the issue's 1 GB target); the machine is shared (2 cores
for six engineers; client and server share them too), so compare rows of one run only.
"""

from __future__ import annotations

import argparse
import http.client
import os
import re
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "dropbox"))

from dropbox_helpers import Client, Server  # noqa: E402
from seal_throughput import SHARED, _remux_long_video  # noqa: E402

PASSPHRASE = "benchmark passphrase"


def make_video(dest: Path, size: int) -> None:
    src = next(iter(sorted(SHARED.glob("*.mp4"))), None) if SHARED.is_dir() else None
    if src is not None:
        _remux_long_video(src, dest, size)
        return
    with open(dest, "wb") as f:
        f.write(b"\0\0\0\x20ftypisom\0\0\x02\0isomiso2avc1mp41")
        left = size
        while left > 0:
            n = min(left, 8 << 20)
            f.write(os.urandom(n))
            left -= n


def _body(fields: list[tuple[str, str]], path: Path, boundary: str) -> tuple[Iterator[bytes], int]:
    head = b"".join(f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode()
                    for k, v in fields)
    head += (f'--{boundary}\r\nContent-Disposition: form-data; name="files"; filename="{path.name}"\r\n'
             "Content-Type: video/mp4\r\n\r\n").encode()
    tail = f"\r\n--{boundary}--\r\n".encode()
    size = len(head) + path.stat().st_size + len(tail)

    def gen() -> Iterator[bytes]:
        yield head
        with open(path, "rb") as f:
            while block := f.read(1 << 20):
                yield block
        yield tail

    return gen(), size


def upload(server: Server, path: Path, strip: bool) -> float:
    c = Client(server.port)
    c.new_source()
    fields = [("csrf", c.csrf())] + ([("strip", "1")] if strip else []) + [("statement", "benchmark")]
    boundary = uuid.uuid4().hex
    body, size = _body(fields, path, boundary)
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=3600)
    t = time.perf_counter()
    conn.putrequest("POST", "/en/submit", skip_host=True, skip_accept_encoding=True)
    for k, v in {"Host": f"127.0.0.1:{server.port}", "Origin": server.url, "Cookie": c.cookie or "",
                 "Content-Type": f"multipart/form-data; boundary={boundary}", "Content-Length": str(size)}.items():
        conn.putheader(k, v)
    conn.endheaders()
    try:
        for block in body:
            conn.send(block)
    except ConnectionError:
        pass  # the server answered early (a refusal): read what it said
    r = conn.getresponse()
    text = r.read()
    elapsed = time.perf_counter() - t
    if r.status != 303:
        raise SystemExit(f"upload refused: HTTP {r.status}: {re.sub(rb'<[^>]+>', b'', text)[-600:]!r}")
    return elapsed


def vm_hwm_mb(pid: int) -> float:
    m = re.search(r"VmHWM:\s+(\d+) kB", Path(f"/proc/{pid}/status").read_text())
    return int(m.group(1)) / 1024 if m else 0.0


def anchor(path: Path, recipient: str, out: Path) -> tuple[float, float]:
    """Seconds and peak RSS (MB) of plain age encryption of ``path``."""
    age = shutil.which("age")
    if age:
        cmd = [age, "-r", recipient, "-o", str(out), str(path)]
    else:
        code = ("import pyrage,sys;r=pyrage.x25519.Recipient.from_str(sys.argv[1]);"
                "pyrage.encrypt_io(open(sys.argv[2],'rb'),open(sys.argv[3],'wb'),[r])")
        cmd = [sys.executable, "-c", code, recipient, str(path), str(out)]
    t = time.perf_counter()
    proc = subprocess.Popen(cmd)
    # VmHWM of the child after exec: its own peak (ru_maxrss would count the forked Python parent).
    peak = 0.0
    while proc.poll() is None:
        try:
            peak = max(peak, vm_hwm_mb(proc.pid))
        except (OSError, ValueError):
            pass
        time.sleep(0.005)
    if proc.returncode:
        raise SystemExit(f"{cmd[0]} failed")
    with open(out, "rb") as f:
        os.fsync(f.fileno())  # the drop box fsyncs its parts: so does the anchor
    elapsed = time.perf_counter() - t
    return elapsed, peak


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes-mb", default="256,1024")
    ap.add_argument("--strip-mb", type=int, default=64, help="size of the extra row with metadata removal (0: skip)")
    ap.add_argument("--repeat", type=int, default=3, help="runs per contender; the best time counts")
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/witnessbox-bench-dropbox"))
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes_mb.split(",")]
    work = args.workdir
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    from witnessbox.workspace import Workspace

    with Workspace.init(work / "archive", PASSPHRASE) as ws:
        ws.dropbox.recipient(work / "recipient.txt")
    recipient = (work / "recipient.txt").read_text().strip()
    anchor_name = "age" if shutil.which("age") else "pyrage.encrypt_io"
    print(f"{'size':>8} {'drop box s':>10} {'MB/s':>7} {anchor_name + ' s':>8} {'MB/s':>7} {'ratio':>6} "
          f"{'server peak MB':>14} {'anchor peak MB':>14}")
    rows = [(mb, False) for mb in sizes] + ([(args.strip_mb, True)] if args.strip_mb else [])
    try:
        for mb, strip in rows:
            video = work / f"video-{mb}.mp4"
            make_video(video, mb << 20)
            size = video.stat().st_size
            with open(video, "rb") as f:  # warm the page cache for both contenders
                while f.read(8 << 20):
                    pass
            a_s, d_s, a_mem, peak = float("inf"), float("inf"), 0.0, 0.0
            for _ in range(args.repeat):  # alternate the contenders: the shared machine's load drifts
                t, m = anchor(video, recipient, work / "anchor.age")
                (work / "anchor.age").unlink()
                a_s, a_mem = min(a_s, t), max(a_mem, m)
                server = Server(work / f"inbox-{mb}-{strip}", work / "recipient.txt", "--max-file-mb",
                                str(2 * mb + 64), "--max-total-mb", str(2 * mb + 64), "--strip-mb", str(2 * mb + 64))
                try:
                    d_s = min(d_s, upload(server, video, strip))
                    peak = max(peak, vm_hwm_mb(server.proc.pid))
                finally:
                    server.stop()
                shutil.rmtree(work / f"inbox-{mb}-{strip}")
            label = f"{mb} MB" + (" strip" if strip else "")
            print(f"{label:>8} {d_s:10.2f} {size / d_s / 1e6:7.1f} {a_s:8.2f} {size / a_s / 1e6:7.1f} "
                  f"{a_s / d_s:6.2f} {peak:14.0f} {a_mem:14.0f}", flush=True)
            video.unlink()
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
