"""A real Chromium, with JavaScript on and off, walks the drop box as a source would; the
archive then imports what arrived, replies, and the source reads the reply."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from dropbox_helpers import Server, leaks
from media_fixtures import SECRET_MODEL, jpeg_with_gps

from witnessbox.workspace import Workspace

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]
STATEMENT = "On Tuesday the riot unit dragged three students into a van outside the library"
REPLY = "Thank you. Could you tell us roughly what time it was?"

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    exe = CHROMIUM if Path(CHROMIUM).exists() else shutil.which("chromium")
    if exe is None:
        pytest.skip("Debian's chromium is not installed (.ci/run installs it)")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=exe, args=ARGS)
        yield b
        b.close()


class Watch:
    def __init__(self, page: Any) -> None:
        self.problems: list[str] = []
        page.on("console", lambda m: self.problems.append(f"console {m.type}: {m.text}") if m.type in ("error", "warning") else None)
        page.on("pageerror", lambda e: self.problems.append(f"page error: {e}"))
        page.on("requestfailed", lambda r: self.problems.append(f"request failed: {r.url}"))


@pytest.mark.parametrize("javascript", [True, False], ids=["js-on", "js-off"])
def test_source_submits_comes_back_and_reads_a_reply(browser: Any, server: Server, ws: Workspace, tmp_path: Path,
                                                    javascript: bool) -> None:
    photo = jpeg_with_gps(3)
    doc = b"internal order no. " + os.urandom(4000).hex().encode()
    extra = b"second visit: " + os.urandom(3000).hex().encode()
    (tmp_path / "up").mkdir()
    for name, data in (("photo.jpg", photo), ("order.txt", doc), ("later.txt", extra)):
        (tmp_path / "up" / name).write_bytes(data)

    # first visit: a codename, two files and a statement
    ctx = browser.new_context(java_script_enabled=javascript)
    page = ctx.new_page()
    watch = Watch(page)
    page.goto(f"{server.url}/en/")
    assert ctx.cookies() == []
    page.click("a[href='/en/new']")
    codename = page.inner_text("#new-codename").strip()
    assert len(codename.split()) == 7
    assert ctx.cookies() == []
    page.click("form[action='/en/create'] button")
    assert page.url.endswith("/en/source")
    [cookie] = ctx.cookies()
    assert cookie["name"] == "dropbox_session" and cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    assert codename not in cookie["value"]
    assert page.is_checked("#strip")
    page.set_input_files("#files", [str(tmp_path / "up" / "photo.jpg"), str(tmp_path / "up" / "order.txt")])
    page.fill("#statement", STATEMENT)
    page.fill("#unit", "riot unit")
    page.click("#send")
    assert page.is_visible("#sent"), page.inner_text("main")
    assert page.is_visible("#no-replies")
    page.click("form[action='/en/logout'] button")
    assert ctx.cookies() == []
    ctx.close()

    # second visit, another browser session, in Belarusian: sign in, add a file
    ctx = browser.new_context(java_script_enabled=javascript)
    page = ctx.new_page()
    watch2 = Watch(page)
    page.goto(f"{server.url}/be/")
    page.fill("#codename", codename.upper())
    page.click("button[type=submit]")
    assert page.url.endswith("/be/source")
    page.set_input_files("#files", [str(tmp_path / "up" / "later.txt")])
    page.click("#send")
    assert page.is_visible("#sent") and "Дзякуй" in page.inner_text("#sent")

    # the archive imports everything once and replies
    report = ws.dropbox.import_(server.inbox)
    assert report.ok and len(report.imported) == 2
    assert ws.dropbox.import_(server.inbox).imported == []
    assert len([i for i in ws.items() if i.source == "dropbox"]) == 3
    first = min(report.imported, key=lambda s: s.files)  # ids are random: find the second by its one file
    second = next(s for s in report.imported if s is not first)
    assert (first.files, second.files) == (1, 2)
    ws.dropbox.reply(second.id, REPLY)

    page.reload()
    assert REPLY in page.inner_text("main")
    assert not watch.problems and not watch2.problems, watch.problems + watch2.problems
    ctx.close()

    photo_item = next(i for i in ws.items() if i.source == "dropbox" and i.name.endswith("photo.jpg"))
    with ws.open_original(photo_item.sha256) as f:
        assert SECRET_MODEL.encode() not in f.read()  # the box was ticked: no device tags
    assert ws.verify().ok
    actions = [e.action for e in ws.log()]
    assert actions.count("dropbox.import") == 2 and actions.count("dropbox.verify") == 2
    for step in ("add", "catalog.incident.link", "catalog.testimony.add", "dropbox.reply"):
        assert step in actions
    texts = [ws.incidents.read_testimony(t.id).text for s in report.imported for t in ws.incidents.testimonies(s.incident or "")]
    assert any(STATEMENT in t and "riot unit" in t for t in texts)

    # the drop box's disk: ciphertext only, no statement, no codename, none of the files' bytes
    assert leaks(server.inbox, [doc[:48], doc[-48:], extra[:48], photo[-64:], SECRET_MODEL.encode(),
                                STATEMENT.encode(), codename.encode(), codename.split()[0].encode() + b" ",
                                REPLY.encode()]) == []
    for p in (server.inbox / "submissions").rglob("*.age"):
        assert p.read_bytes().startswith(b"age-encryption.org/v1\n")
