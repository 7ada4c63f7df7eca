"""The public app over real HTTP: a `witnessbox dropbox serve` process on 127.0.0.1."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from dropbox_helpers import Client, Server, leaks, multipart

from witnessbox.web.dropbox import ROUTES
from witnessbox.workspace import Workspace

pytestmark = pytest.mark.slow

GET_PATHS = [r.path.replace("{lang}", "en") for r in ROUTES if r.methods == ("GET",) and r.auth == "public"]


def test_headers_on_every_page_and_no_cookie_before_sign_in(server: Server) -> None:
    c = Client(server.port)
    for path in [*GET_PATHS, "/static/dropbox.css", "/en/nope", "/xx/"]:
        r = c.get(path)
        csp = r.headers["content-security-policy"]
        assert "default-src 'none'" in csp and "script-src" not in csp and "frame-ancestors 'none'" in csp, path
        assert r.headers["referrer-policy"] == "same-origin" and r.headers["x-frame-options"] == "DENY"
        assert "server" not in r.headers and "date" not in r.headers
        assert r.set_cookies == [], path
    assert c.get("/en/nope").status == 404
    assert "<script" not in c.get("/en/").body


def test_every_unsafe_route_is_protected(server: Server) -> None:
    posts = [r for r in ROUTES if "POST" in r.methods]
    assert {r.csrf for r in posts} <= {"session-token", "codename-token", "origin"}
    signed_in = Client(server.port)
    signed_in.new_source()
    for r in posts:
        path = r.path.replace("{lang}", "en")
        c = signed_in if r.auth == "source" else Client(server.port)
        evil = c.post_form(path, {"codename": "x", "csrf": signed_in.csrf()}, {"Origin": "http://evil.example"})
        assert evil.status == 403, (path, evil.status)
        if r.csrf in ("session-token", "codename-token"):
            missing = c.post_form(path, {"codename": "abacus " * 7})
            assert missing.status in (401, 403), (path, missing.status)
    # a session-token form posted without the session is sent to sign in
    assert Client(server.port).post_form("/en/logout", {"csrf": "x"}).status == 401
    assert signed_in.get("/en/source").status == 200  # nothing above ended the real session


def test_session_cookie_and_sign_out(server: Server) -> None:
    c = Client(server.port)
    c.new_source()
    [cookie] = c.seen_cookies
    low = cookie.lower()
    assert low.startswith("dropbox_session=") and "httponly" in low and "samesite=strict" in low and "path=/" in low
    assert "max-age" not in low and "expires" not in low  # ends with the browser session
    assert c.get("/en/source").status == 200
    r = c.post_form("/en/logout", {"csrf": c.csrf()})
    assert r.status == 303
    assert c.get("/en/source").status == 401


def test_wrong_codename_reveals_nothing_and_is_rate_limited(server: Server) -> None:
    code = Client(server.port).new_source()
    words = code.split()
    wrong = " ".join(reversed(words))
    a = Client(server.port).login(wrong)
    b = Client(server.port).login("not a codename at all")
    assert a.status == b.status == 403 and a.body == b.body and a.set_cookies == b.set_cookies == []
    assert code not in a.body and wrong not in a.body
    statuses = [Client(server.port).login(wrong).status for _ in range(12)]
    assert 429 in statuses and statuses[-1] == 429
    # while limited, even the right codename waits (the limit is for all sign-ins: behind Tor
    # every source has the same address)
    r = Client(server.port).login(code)
    assert r.status == 429 and r.set_cookies == []
    assert "Too many attempts" in r.body


@pytest.mark.parametrize("server", [("--max-file-mb", "1", "--max-total-mb", "2")], indirect=True)
def test_size_limits_have_clear_messages_and_leave_nothing(server: Server) -> None:
    c = Client(server.port)
    c.new_source("ru")
    r = c.submit([("big.bin", os.urandom(1_200_000))], "text", strip=False, lang="ru")
    assert r.status == 413 and "Слишком большой размер" in r.body and "1 МБ" in r.body
    c2 = Client(server.port)
    c2.new_source("en")
    r = c2.submit([("a.bin", os.urandom(900_000)), ("b.bin", os.urandom(900_000)), ("c.bin", os.urandom(900_000))],
                  strip=False)
    assert r.status == 413 and "all together at most 2 MB" in r.body
    r = c2.submit([], "")
    assert r.status == 400 and "Nothing to send" in r.body
    assert not any((server.inbox / "submissions").iterdir())


def test_kill_9_during_an_upload_leaves_nothing_that_imports(server: Server, ws: Workspace) -> None:
    c = Client(server.port)
    c.new_source()
    marker = os.urandom(16).hex().encode()
    chunk = (marker + b"-") * 20000
    head, ctype = multipart([("csrf", c.csrf()), ("statement", "never arrives")], [])
    boundary = ctype.split("boundary=")[1]
    head = head[: -len(f"--{boundary}--\r\n")]
    part = (f'--{boundary}\r\nContent-Disposition: form-data; name="files"; filename="clip.bin"\r\n\r\n').encode()
    s = socket.create_connection(("127.0.0.1", server.port))
    assert c.cookie
    s.sendall((f"POST /en/submit HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\nCookie: {c.cookie}\r\n"
               f"Content-Type: {ctype}\r\nContent-Length: {50 * len(chunk)}\r\n\r\n").encode() + head + part)
    for _ in range(14):  # more than the server's 4 MiB batch: part of it must reach the disk
        s.sendall(chunk)
    deadline = time.monotonic() + 60
    while True:
        parts = list((server.inbox / "submissions").glob("*/file-001.age"))
        if parts and parts[0].stat().st_size > len(chunk):
            break
        assert time.monotonic() < deadline, "the upload never reached the disk"
        time.sleep(0.05)
    server.kill9()
    s.close()
    [folder] = list((server.inbox / "submissions").iterdir())
    assert not (folder / "COMMIT").exists()
    assert leaks(server.inbox, [marker, b"never arrives"]) == []
    before = len(ws.log())
    report = ws.dropbox.import_(server.inbox)
    assert report.imported == [] and report.refused[0][0] == folder.name
    assert len(ws.log()) == before and not [i for i in ws.items() if i.source == "dropbox"]


def test_no_access_log(server: Server) -> None:
    c = Client(server.port)
    c.request("GET", "/en/", headers={"User-Agent": "Mozilla/5.0 UniqueAgent/1.2.3"})
    c.login("abacus abacus abacus abacus abacus abacus abacus")
    server.stop()
    log = server.log.read_text()
    assert "UniqueAgent" not in log and "GET /" not in log and "POST" not in log
    assert not re.search(r"127\.0\.0\.1:\d+ -", log)


def test_non_loopback_listening_needs_the_proxy_flag(tmp_path: Path, recipient_file: Path) -> None:
    r = subprocess.run([sys.executable, "-m", "witnessbox", "dropbox", "serve", "--inbox", str(tmp_path / "i"),
                        "--recipient", str(recipient_file), "--host", "0.0.0.0"], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 2 and "--behind-proxy" in r.stderr
    assert not (tmp_path / "i").exists()
