"""Publishing from the browser, redacting from the item page, drop-box replies (issue 11 follow-up).

An archive of its own (these tests publish, redact and reply, which would change what the
shared archive's tests see), served in process with ``site`` and ``dropbox_inbox`` set.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from _review_done import approve_reviewed
from PIL import Image
from starlette.testclient import TestClient
from web_helpers import ARCHIVE_PASS, CHEAP, USER_PASS, Clock, User, csrf_of, reauth, sign_in

from witnessbox.catalog import IncidentInput, make_timespan
from witnessbox.dropbox import Inbox, KdfParams, SourceKeys, Statement, generate
from witnessbox.web.app import RateLimiter, WebConfig, create_app
from witnessbox.web.sessions import REAUTH_VALID, SessionManager
from witnessbox.workspace import Workspace
from witnessbox.workspace.accounts import parse_totp_uri_secret

KDF = KdfParams(time_cost=1, memory_kib=8192, parallelism=1)


@dataclass
class Plus:
    root: Path
    site: Path
    inbox: Inbox
    source: SourceKeys
    submission: str
    incident: str
    photo: str
    photo_bytes: bytes
    text: str
    clock: Clock
    users: dict[str, User]
    clients: dict[str, TestClient]


def _photo() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (64, 48), (120, 90, 60)).save(buf, "JPEG")
    return buf.getvalue()


@pytest.fixture(scope="module")
def plus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Plus]:
    base = tmp_path_factory.mktemp("webplus")
    root = base / "archive"
    src = base / "src"
    src.mkdir()
    photo_bytes = _photo()
    (src / "street.jpg").write_bytes(photo_bytes)
    (src / "note.txt").write_bytes(b"a note\n")
    users: dict[str, User] = {}
    with Workspace.init(root, ARCHIVE_PASS) as ws:
        ws.incidents.add_region("Minsk")
        region = ws.incidents.regions()[0].slug
        added = {r.name: r.sha256 for r in ws.add([src / "street.jpg", src / "note.txt"], source="chat").added}
        inc = ws.incidents.add(IncidentInput(title="Detention at the market", time=make_timespan("2026-03-01"),
                                             place="Market", region=region, categories=()))
        ws.incidents.link(inc.id, added["street.jpg"])
        ws.incidents.set_status(inc.id, "verified")
        ws.incidents.set_status(inc.id, "published")
        ws.dropbox.recipient(base / "recipient.txt")
        ws.accounts.cost = CHEAP
        for name, role in (("ed", "editor"), ("vi", "viewer")):
            e = ws.accounts.add(name, USER_PASS, role, (), archive_passphrase=ARCHIVE_PASS)
            users[name] = User(name, role, (), parse_totp_uri_secret(e.totp_uri), e.recovery_codes)
    inbox = Inbox.create(base / "inbox", (base / "recipient.txt").read_text(), KDF)
    keys = inbox.derive(generate())
    assert keys is not None
    inbox.register_source(keys)
    sub = inbox.new_submission(keys, language="en")
    sink = sub.add_file("report.txt", strip_metadata=True)
    sink.write(b"what I saw\n")
    sub.close_file()
    sub.set_statement(Statement("Officers beat a man at the bus stop"))
    state = sub.commit()

    clock = Clock()
    probe = Workspace.open(root)
    sessions = SessionManager(probe.accounts, clock=clock)
    app = create_app(WebConfig(archive=root, site=base / "site", dropbox_inbox=inbox.root), sessions=sessions)
    app.app.state.witnessbox.per_address = RateLimiter(1_000_000, 900)  # type: ignore[attr-defined]
    clients = {name: sign_in(app, u, clock) for name, u in users.items()}
    yield Plus(root, base / "site", inbox, keys, state.id, inc.id, added["street.jpg"], photo_bytes,
               added["note.txt"], clock, users, clients)
    sessions.end_all()
    probe.close()


def _site_bytes(site: Path) -> list[tuple[Path, bytes]]:
    return [(p, p.read_bytes()) for p in sorted(site.rglob("*")) if p.is_file()]


def _params(root: Path, copy: str) -> dict[str, object]:
    with Workspace.open(root) as ws:
        side = next(p for n, p in ws.sidecars(copy).items() if n.endswith(".regions.json"))
        params: dict[str, object] = json.loads(side.read_text())["method"]["params"]
        return params


def test_redact_from_the_item_page_is_logged_with_the_user(plus: Plus) -> None:
    ed, vi = plus.clients["ed"], plus.clients["vi"]
    assert 'id="redact-form"' in ed.get(f"/items/{plus.photo}").text
    assert 'id="redact-form"' not in vi.get(f"/items/{plus.photo}").text
    assert 'id="redact-form"' not in ed.get(f"/items/{plus.text}").text
    assert vi.post(f"/items/{plus.photo}/redact", data={"csrf_token": csrf_of(vi)}).status_code == 403
    assert ed.post(f"/items/{plus.photo}/redact").status_code == 403  # no CSRF token

    r = ed.post(f"/items/{plus.photo}/redact", data={"csrf_token": csrf_of(ed)})
    assert r.status_code == 303, r.text
    copy = r.headers["location"].removeprefix("/items/")
    with Workspace.open(plus.root) as ws:
        rec = ws.item(copy)
        assert rec.parent == plus.photo
        entries = [e for e in ws.log(copy) if e.action == "redact"]
        assert [e.actor for e in entries] == ["ed"]
    assert "second_low" not in _params(plus.root, copy)  # the defaults: no second look
    page = ed.get(f"/items/{copy}").text
    assert plus.photo[:12] in page and 'id="redact-form"' not in page  # a copy is not redacted again
    r = ed.post(f"/items/{copy}/redact", data={"csrf_token": csrf_of(ed)})
    assert r.status_code == 400 and "already a redacted copy" in r.text
    r = ed.post(f"/items/{plus.text}/redact", data={"csrf_token": csrf_of(ed)})  # not a photo or video
    assert r.status_code == 400
    with Workspace.open(plus.root) as ws:
        assert [c.sha256 for c in ws.children(plus.photo)] == [copy]  # nothing else was sealed


def test_thorough_box_on_the_redact_form_adds_the_second_look(plus: Plus, tmp_path: Path) -> None:
    ed = plus.clients["ed"]
    assert 'name="thorough"' in ed.get(f"/items/{plus.photo}").text
    photo = tmp_path / "crowd.png"
    Image.new("RGB", (80, 60), (30, 60, 90)).save(photo)
    with Workspace.open(plus.root, ARCHIVE_PASS) as ws:
        sha = ws.add([photo], source="chat").added[0].sha256
    r = ed.post(f"/items/{sha}/redact", data={"csrf_token": csrf_of(ed), "thorough": "1"})
    assert r.status_code == 303, r.text
    assert _params(plus.root, r.headers["location"].removeprefix("/items/"))["second_low"] == 0.08


def test_publish_from_the_browser(plus: Plus) -> None:
    ed, vi = plus.clients["ed"], plus.clients["vi"]
    assert vi.post("/publish", data={"csrf_token": csrf_of(vi)}).status_code == 403
    plus.clock.tick(REAUTH_VALID + 1)  # signing in counts as re-authentication for a while
    page = ed.get("/publish").text
    assert 'id="publish-reauth"' in page and 'id="publish-form"' not in page
    r = ed.post("/publish", data={"csrf_token": csrf_of(ed)})  # not re-authenticated
    assert r.status_code == 403 and not plus.site.exists()

    reauth(ed, plus.users["ed"], plus.clock)
    page = ed.get("/publish").text
    assert 'id="publish-form"' in page and 'id="allow-removals"' not in page
    r = ed.post("/publish", data={"csrf_token": csrf_of(ed)})
    assert r.status_code == 200 and 'id="publish-done"' in r.text, r.text
    pages = {p.relative_to(plus.site).as_posix() for p, _ in _site_bytes(plus.site)}
    assert f"incidents/{plus.incident}.html" in pages
    # Nothing unapproved goes out: the original and its redacted copy (not approved by a
    # reviewer) are both left out by the library's gate.
    with Workspace.open(plus.root, ARCHIVE_PASS) as ws:
        copies = [c.sha256 for c in ws.children(plus.photo)]
        assert any(e.action == "publish" and e.actor == "ed" for e in ws.log())
    assert copies
    for path, data in _site_bytes(plus.site):
        assert plus.photo_bytes not in data, path
        assert path.suffix.lower() not in (".jpg", ".jpeg", ".webp", ".png", ".mp4", ".webm"), path
    assert "Detention at the market" in (plus.site / "incidents" / f"{plus.incident}.html").read_text()

    # Once a reviewer approved the copy, the same button publishes it (re-encoded), never the original.
    with Workspace.open(plus.root, ARCHIVE_PASS) as ws:
        approve_reviewed(ws, copies[0])
    r = ed.post("/publish", data={"csrf_token": csrf_of(ed)})
    assert r.status_code == 200 and 'id="publish-done"' in r.text, r.text
    media = [p for p, _ in _site_bytes(plus.site) if p.suffix.lower() in (".jpg", ".jpeg", ".webp", ".png")]
    assert media
    for path, data in _site_bytes(plus.site):
        assert plus.photo_bytes not in data, path

    # Unpublished since: the build would remove its page, and says so; nothing changes until
    # the editor ticks the confirmation box.
    with Workspace.open(plus.root, ARCHIVE_PASS) as ws:
        ws.incidents.set_status(plus.incident, "draft")
    before = _site_bytes(plus.site)
    r = ed.post("/publish", data={"csrf_token": csrf_of(ed)})
    assert r.status_code == 422 and 'id="publish-error"' in r.text
    assert 'id="allow-removals"' in r.text and f"<li><code>{plus.incident}</code></li>" in r.text
    assert _site_bytes(plus.site) == before
    r = ed.post("/publish", data={"csrf_token": csrf_of(ed), "allow_removals": "on"})
    assert r.status_code == 200 and 'id="publish-done"' in r.text, r.text
    assert not (plus.site / "incidents" / f"{plus.incident}.html").exists()


def test_dropbox_replies_from_the_staff_app(plus: Plus) -> None:
    ed, vi = plus.clients["ed"], plus.clients["vi"]
    assert vi.get("/dropbox").status_code == 403
    assert vi.post("/dropbox/reply", data={"csrf_token": csrf_of(vi), "submission": plus.submission,
                                           "message": "x"}).status_code == 403
    page = ed.get("/dropbox").text
    assert plus.submission in page and 'id="reply-form"' in page
    r = ed.post("/dropbox/reply", data={"csrf_token": csrf_of(ed), "submission": plus.submission, "message": "   "})
    assert r.status_code == 400 and 'id="reply-error"' in r.text
    r = ed.post("/dropbox/reply", data={"csrf_token": csrf_of(ed), "submission": "2026-01-01-ffffffffffffffff",
                                        "message": "hello"})
    assert r.status_code == 404
    assert plus.inbox.replies(plus.source) == []
    secret = "We received it. <b>Thank you</b>; send the longer video if you can."
    r = ed.post("/dropbox/reply", data={"csrf_token": csrf_of(ed), "submission": plus.submission, "message": secret})
    assert r.status_code == 200 and 'id="reply-done"' in r.text, r.text
    assert [x.text for x in plus.inbox.replies(plus.source)] == [secret]
    with Workspace.open(plus.root) as ws:
        assert [e.actor for e in ws.log() if e.action == "dropbox.reply"] == ["ed"]


def test_pages_say_how_to_set_the_folders(clients: dict[str, TestClient]) -> None:
    ed = clients["ed"]  # the shared app: no --site, no --dropbox-inbox
    page = ed.get("/publish").text
    assert 'id="publish-no-site"' in page and "--site" in page and 'id="publish-form"' not in page
    page = ed.get("/dropbox").text
    assert 'id="dropbox-no-inbox"' in page and "--dropbox-inbox" in page
    r = ed.post("/dropbox/reply", data={"csrf_token": csrf_of(ed), "submission": "x", "message": "y"})
    assert r.status_code == 400
