"""A real drop-box server in a subprocess on 127.0.0.1, and a small HTTP client for it."""

from __future__ import annotations

import http.client
import os
import re
import signal
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

PASSPHRASE = "correct horse battery staple 42"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """``witnessbox dropbox serve`` as a user would start it."""

    def __init__(self, inbox: Path, recipient_file: Path, *extra: str) -> None:
        self.inbox = inbox
        self.port = free_port()
        self.log = inbox.parent / f"server-{self.port}.log"
        self._logf = open(self.log, "wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "witnessbox", "dropbox", "serve", "--inbox", str(inbox), "--recipient",
             str(recipient_file), "--host", "127.0.0.1", "--port", str(self.port), *extra],
            stdout=self._logf, stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 60
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    break
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("the drop box did not start: " + self.log.read_text())
                time.sleep(0.1)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def kill9(self) -> None:
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._logf.close()


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    set_cookies: list[str]
    body: str


@dataclass
class Client:
    """HTTP/1.1 over http.client; keeps the one session cookie the server may set."""

    port: int
    cookie: str | None = None
    seen_cookies: list[str] = field(default_factory=list)

    def request(self, method: str, path: str, body: bytes | None = None, headers: dict[str, str] | None = None) -> Reply:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
        h = {"Origin": f"http://127.0.0.1:{self.port}", **(headers or {})}
        if self.cookie:
            h["Cookie"] = self.cookie
        conn.request(method, path, body=body, headers=h)
        r = conn.getresponse()
        data = r.read().decode("utf-8", "replace")
        cookies = r.headers.get_all("set-cookie") or []
        for c in cookies:
            self.seen_cookies.append(c)
            name_value = c.split(";")[0]
            self.cookie = None if "max-age=0" in c.lower() or name_value.endswith("=") or 'expires=thu, 01 jan 1970' in c.lower() else name_value
        conn.close()
        return Reply(r.status, {k.lower(): v for k, v in r.headers.items()}, cookies, data)

    def get(self, path: str) -> Reply:
        return self.request("GET", path)

    def post_form(self, path: str, fields: dict[str, str], headers: dict[str, str] | None = None) -> Reply:
        from urllib.parse import urlencode

        return self.request("POST", path, urlencode(fields).encode(),
                            {"Content-Type": "application/x-www-form-urlencoded", **(headers or {})})

    def post_multipart(self, path: str, fields: list[tuple[str, str]], files: list[tuple[str, bytes]]) -> Reply:
        body, ctype = multipart(fields, files)
        return self.request("POST", path, body, {"Content-Type": ctype})

    # -- flows ----------------------------------------------------------------------------------
    def new_source(self, lang: str = "en") -> str:
        page = self.get(f"/{lang}/new").body
        code = re.search(r'name="codename" value="([^"]+)"', page)
        token = re.search(r'name="token" value="([^"]+)"', page)
        assert code and token, page
        r = self.post_form(f"/{lang}/create", {"codename": code.group(1), "token": token.group(1)})
        assert r.status == 303, r.body
        return code.group(1)

    def login(self, codename: str, lang: str = "en") -> Reply:
        return self.post_form(f"/{lang}/login", {"codename": codename})

    def csrf(self, lang: str = "en") -> str:
        m = re.search(r'name="csrf" value="([^"]+)"', self.get(f"/{lang}/source").body)
        assert m
        return m.group(1)

    def submit(self, files: list[tuple[str, bytes]], statement: str = "", strip: bool = True, lang: str = "en",
               **details: str) -> Reply:
        fields = [("csrf", self.csrf(lang))]
        if strip:
            fields.append(("strip", "1"))
        fields += [("statement", statement)] + list(details.items())
        return self.post_multipart(f"/{lang}/submit", fields, files)


def multipart(fields: list[tuple[str, str]], files: list[tuple[str, bytes]]) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    out = bytearray()
    for name, value in fields:
        out += f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode() + value.encode() + b"\r\n"
    for fname, data in files:
        out += (f'--{boundary}\r\nContent-Disposition: form-data; name="files"; filename="{fname}"\r\n'
                "Content-Type: application/octet-stream\r\n\r\n").encode() + data + b"\r\n"
    out += f"--{boundary}--\r\n".encode()
    return bytes(out), f"multipart/form-data; boundary={boundary}"


def disk_bytes(root: Path) -> list[tuple[Path, bytes]]:
    """Every file under ``root`` with its bytes (for plaintext scans)."""
    return [(p, p.read_bytes()) for p in sorted(root.rglob("*")) if p.is_file()]


def leaks(root: Path, needles: list[bytes]) -> list[str]:
    """Files under ``root`` that contain any needle (plaintext that should never be on disk)."""
    found = []
    for p, data in disk_bytes(root):
        for n in needles:
            if n and n in data:
                found.append(f"{p.relative_to(root)} holds {n[:30]!r}")
    return found
