"""`witnessbox user ...` and `witnessbox serve` as a user runs them (real processes)."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path

import pytest
from live_server import cli, serving

from witnessbox.workspace import Workspace

ARCHIVE_PASS = "correct horse battery staple"
USER_PASS = "violet tundra marmalade kiosk 42"


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("webcli") / "archive"
    with Workspace.init(root, ARCHIVE_PASS) as ws:
        ws.incidents.add_region("Homiel")
    return root


def env() -> dict[str, str]:
    return {"WITNESSBOX_PASSPHRASE": ARCHIVE_PASS, "WITNESSBOX_USER_PASSPHRASE": USER_PASS}


def test_user_commands(archive: Path) -> None:
    r = cli("user", "add", "sasha", "--role", "editor", "--region", "Homiel", "--json", "--archive", str(archive), env=env())
    data = json.loads(r.stdout)
    assert set(data) == {"name", "role", "totp_uri", "recovery_codes"}
    assert data["name"] == "sasha" and data["role"] == "editor" and data["totp_uri"].startswith("otpauth://totp/")
    assert len(data["recovery_codes"]) == 10
    listed = json.loads(cli("user", "list", "--json", "--archive", str(archive), env=env()).stdout)
    assert [u["name"] for u in listed] == ["sasha"] and listed[0]["regions"] == ["homiel-00f8cef2"]
    cli("user", "disable", "sasha", "--archive", str(archive), env=env())
    assert json.loads(cli("user", "list", "--json", "--archive", str(archive), env=env()).stdout)[0]["disabled"]
    again = json.loads(cli("user", "reset-2fa", "sasha", "--json", "--archive", str(archive), env=env()).stdout)
    assert again["totp_uri"] != data["totp_uri"]
    with Workspace.open(archive) as ws:
        assert [e.actor for e in ws.log() if e.action == "web.user-add"]


@pytest.mark.parametrize("args, message", [
    (["user", "add", "weak", "--role", "viewer"], "too weak"),
    (["user", "add", "bad name", "--role", "viewer"], "login name"),
    (["user", "add", "norole", "--role", "king"], "unknown role"),
    (["user", "disable", "nobody"], "no user"),
])
def test_user_errors_are_one_line(archive: Path, args: list[str], message: str) -> None:
    e = env()
    if args[2] == "weak":
        e["WITNESSBOX_USER_PASSPHRASE"] = "password1234567"
    r = cli(*args, "--archive", str(archive), env=e, check=False)
    assert r.returncode != 0 and message in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr


@pytest.mark.parametrize("host", ["0.0.0.0", "192.0.2.1", "::"])
def test_serve_refuses_non_loopback_without_tls(archive: Path, host: str) -> None:
    r = cli("serve", "--host", host, "--archive", str(archive), check=False)
    assert r.returncode == 2 and "TLS" in r.stderr


def test_serve_answers_healthz_on_loopback(archive: Path) -> None:
    with serving(archive) as (url, _proc):
        with urllib.request.urlopen(f"{url}/healthz") as r:
            assert r.read() == b"ok"
            assert r.headers["content-security-policy"].startswith("default-src 'none'")
        with urllib.request.urlopen(f"{url}/signin") as r:
            assert r.status == 200


def test_serve_site_and_dropbox_inbox_reach_the_pages(archive: Path, tmp_path: Path) -> None:
    """``--site`` and ``--dropbox-inbox`` of a real ``witnessbox serve`` show on the pages that use them."""
    import html
    import http.cookiejar
    import re
    import urllib.parse

    import pyotp

    from witnessbox.dropbox import Inbox
    from witnessbox.workspace.accounts import parse_totp_uri_secret

    with Workspace.open(archive, ARCHIVE_PASS) as ws:
        ws.dropbox.recipient(tmp_path / "recipient.txt")
    inbox = Inbox.create(tmp_path / "inbox", (tmp_path / "recipient.txt").read_text())
    site = tmp_path / "public site"
    r = cli("user", "add", "pubed", "--role", "editor", "--json", "--archive", str(archive), env=env())
    secret = parse_totp_uri_secret(json.loads(r.stdout)["totp_uri"])
    with serving(archive, "--site", str(site), "--dropbox-inbox", str(inbox.root)) as (url, _proc):
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
        with opener.open(f"{url}/signin") as resp:
            m = re.search(r'name="csrf_token" value="([^"]+)"', resp.read().decode())
        assert m
        form = urllib.parse.urlencode({"name": "pubed", "passphrase": USER_PASS, "code": pyotp.TOTP(secret).now(),
                                       "csrf_token": m.group(1), "next": "/publish"}).encode()
        req = urllib.request.Request(f"{url}/signin", data=form, headers={"Origin": url})
        with opener.open(req) as resp:
            page = html.unescape(resp.read().decode())
        assert 'id="publish-form"' in page and str(site) in page, page
        with opener.open(f"{url}/dropbox") as resp:
            page = html.unescape(resp.read().decode())
        assert 'id="submissions"' in page and str(inbox.root) in page and 'id="dropbox-no-inbox"' not in page
