"""A real `witnessbox serve` on 127.0.0.1 (a free port), for the CLI and browser tests."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cli(*args: str, env: dict[str, str] | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
    full = {**os.environ, **(env or {})}
    r = subprocess.run([sys.executable, "-m", "witnessbox", *args], capture_output=True, text=True, env=full,
                       timeout=300, check=False)
    if check and r.returncode != 0:
        raise AssertionError(f"witnessbox {' '.join(args)} failed ({r.returncode}): {r.stderr}")
    return r


def _listens(pid: int, port: int) -> bool:
    """True when process ``pid`` owns the socket listening on 127.0.0.1:``port`` (Linux /proc):
    another program on this shared machine may have grabbed the port we picked."""
    inodes = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        parts = line.split()
        local, state, inode = parts[1], parts[3], parts[9]
        if state == "0A" and int(local.split(":")[1], 16) == port:
            inodes.add(inode)
    try:
        fds = list(Path(f"/proc/{pid}/fd").iterdir())
    except OSError:
        return False
    for fd in fds:
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:[") and target[8:-1] in inodes:
            return True
    return False


def _start(archive: Path, *extra: str) -> tuple[str, subprocess.Popen[bytes]] | None:
    """Start a server on a free port; None when the port was taken meanwhile (try another)."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "witnessbox", "serve", "--port", str(port), "--archive", str(archive),
                             *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        if proc.poll() is not None:
            return None
        try:
            with urllib.request.urlopen(f"{url}/healthz", timeout=2) as r:
                if r.read() == b"ok" and _listens(proc.pid, port):
                    return url, proc
        except OSError:
            pass
        if time.monotonic() > deadline:
            proc.kill()
            out = proc.stdout.read().decode() if proc.stdout else ""
            raise AssertionError(f"server did not start: {out}")
        time.sleep(0.2)


@contextmanager
def serving(archive: Path, *extra: str) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """``witnessbox serve`` on a free loopback port; ``extra``: more options (``--site DIR``)."""
    started = None
    for _ in range(5):
        started = _start(archive, *extra)
        if started is not None:
            break
    if started is None:
        raise AssertionError("witnessbox serve could not start on a free port (5 tries)")
    url, proc = started
    try:
        yield url, proc
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
