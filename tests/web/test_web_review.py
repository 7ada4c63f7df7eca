"""The review screen's server side through the app (in-process, real HTTP semantics): roles and
regions, frames exact by index, opening logged, the forms that work without JavaScript, approval
refused until ready, a copy whose regions name another original refused, and no plaintext of
the original left on disk after a review."""

from __future__ import annotations

import io
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyotp
import pytest
from web_helpers import Clock, new_client, signin_token
from PIL import Image
from review_helpers import (
    ARCHIVE_PASS,
    FACE,
    MISSED,
    NUMBERED_FRAMES,
    POSTER,
    USER_PASS,
    ReviewWorld,
    build,
    frame_number,
)
from starlette.testclient import TestClient

from witnessbox.web.app import WebConfig, create_app
from witnessbox.web.sessions import SessionManager
from witnessbox.workspace import Workspace


@pytest.fixture(scope="module")
def rworld(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ReviewWorld]:
    base = tmp_path_factory.mktemp("webreview")
    # Every temporary file of this process goes under the test's own folder, so that the
    # plaintext scan below sees all of them.
    old = tempfile.tempdir
    tmp = base / "tmp"
    tmp.mkdir()
    tempfile.tempdir = str(tmp)
    try:
        w = build(base)
        _forge(w, base)
        yield w
    finally:
        tempfile.tempdir = old


def _forge(w: ReviewWorld, base: Path) -> None:
    """A redacted copy of the numbered clip that carries the scene's regions file."""
    with Workspace.open(w.root, ARCHIVE_PASS) as ws:
        scene_copy = ws.review.latest(w.video)
        regions = ws.sidecars(scene_copy.sha256)[scene_copy.name + ".regions.json"]
        red = base / "forged.mp4"
        with ws.open_original(ws.review.latest(w.numbered).sha256) as f:
            red.write_bytes(f.read() + b"\0")
        side = base / "forged.mp4.regions.json"
        side.write_bytes(regions.read_bytes())
        forged = ws.add_derivative(w.numbered, red, kind="redacted", method="hand", sidecars={side.name: side})
        w.forged = forged.sha256


@pytest.fixture(scope="module")
def rapp(rworld: ReviewWorld) -> Iterator[tuple[object, Clock]]:
    clock = Clock()
    probe = Workspace.open(rworld.root)
    sessions = SessionManager(probe.accounts, clock=clock)
    yield create_app(WebConfig(archive=rworld.root), sessions=sessions), clock
    sessions.end_all()
    probe.close()


_SIGNED: dict[str, TestClient] = {}


def client(rapp: tuple[object, Clock], rworld: ReviewWorld, name: str) -> TestClient:
    if name in _SIGNED:
        return _SIGNED[name]
    app, clock = rapp
    c = new_client(app)
    token = signin_token(c)
    clock.tick()
    r = c.post("/signin", data={"name": name, "passphrase": USER_PASS, "csrf_token": token, "next": "/items",
                                "code": pyotp.TOTP(rworld.users[name][2]).at(clock())})
    assert r.status_code == 303, r.text
    _SIGNED[name] = c
    return c


def page_csrf(c: TestClient, item: str) -> tuple[str, str]:
    r = c.get(f"/items/{item}/review")
    assert r.status_code == 200, r.text
    m = re.search(r'data-csrf="([^"]+)"', r.text)
    assert m
    return r.text, m.group(1)


def frame(c: TestClient, item: str, csrf: str, n: int, view: str = "original") -> np.ndarray:
    r = c.post(f"/items/{item}/review/frame", json={"n": n, "view": view}, headers={"X-CSRF-Token": csrf})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "image/jpeg" and r.headers["cache-control"] == "no-store"
    return np.asarray(Image.open(io.BytesIO(r.content)).convert("RGB"))


def test_viewer_and_other_region_cannot_open(rapp: tuple[object, Clock], rworld: ReviewWorld) -> None:
    vi = client(rapp, rworld, "vi")
    assert vi.get(f"/items/{rworld.photo}/review").status_code == 403
    token = re.search(r'name="csrf_token" value="([^"]+)"', vi.get("/items").text).group(1)  # type: ignore[union-attr]
    for path in ("frame", "op", "save", "approve"):
        r = vi.post(f"/items/{rworld.photo}/review/{path}", data={"csrf_token": token, "op": "undo", "n": "0"})
        assert r.status_code == 403, path
    homr = client(rapp, rworld, "homr")
    r = homr.get(f"/items/{rworld.photo}/review")
    assert r.status_code == 404 and "street.png" not in r.text
    token = re.search(r'name="csrf_token" value="([^"]+)"', homr.get("/items").text).group(1)  # type: ignore[union-attr]
    r = homr.post(f"/items/{rworld.video}/review/frame", json={"n": 0}, headers={"X-CSRF-Token": token})
    assert r.status_code == 404 and r.headers.get("content-type", "").startswith("text/html")
    # Without the session's token nothing is served, even to a reviewer.
    rev = client(rapp, rworld, "rev")
    assert rev.post(f"/items/{rworld.video}/review/frame", json={"n": 0}).status_code == 403
    assert rev.post(f"/items/{rworld.video}/review/frame", json={"n": 0},
                    headers={"X-CSRF-Token": "forged" * 7}).status_code == 403


def test_frames_are_exact_by_index_and_recorded(rapp: tuple[object, Clock], rworld: ReviewWorld) -> None:
    rev = client(rapp, rworld, "rev")
    item = rworld.numbered_copy  # the original's newest copy is the forged one (see _forge)
    _, csrf = page_csrf(rev, item)
    # forwards, a jump back across a keyframe, ten at a time, the last frame, again the first
    order = [0, 1, 2, 3, 13, 12, 11, 25, 24, 35, NUMBERED_FRAMES - 1, 5, 0, 36]
    for n in order:
        assert frame_number(frame(rev, item, csrf, n)) == n
    bad = rev.post(f"/items/{item}/review/frame", json={"n": NUMBERED_FRAMES},
                   headers={"X-CSRF-Token": csrf})
    assert bad.status_code == 400 and "no frame" in bad.json()["error"]
    rev.get(f"/items/{item}/review")  # frames served are recorded in batches; opening again records the rest
    with Workspace.open(rworld.root, ARCHIVE_PASS) as ws:
        st = ws.review.status(item, "rev")
        assert st.frames_not_shown == NUMBERED_FRAMES - len(set(order)), "every frame served is recorded as shown"
        opened = [e for e in ws.log(rworld.numbered) if e.action == "review.open"]
        assert opened and opened[-1].actor == "rev", "opening the original is in the custody log"


def test_photo_review_with_forms_only(rapp: tuple[object, Clock], rworld: ReviewWorld) -> None:
    """Decisions, a drawn region, save and approve as plain form posts (no JavaScript)."""
    rev = client(rapp, rworld, "rev")
    text, csrf = page_csrf(rev, rworld.photo)
    tracks = re.findall(r'<tr data-track="([^"]+)">', text)
    assert len(tracks) == 2
    url = f"/items/{rworld.photo}/review"
    r = rev.post(url + "/approve", data={"csrf_token": csrf})
    assert r.status_code == 409 and "undecided" in r.text and "never shown" in r.text
    with Workspace.open(rworld.root, ARCHIVE_PASS) as ws:
        assert ws.review.approvers(ws.review.latest(rworld.photo).sha256) == (), "nothing approved"

    st = _state(rev, rworld.photo)
    keys = {i: t["keys"] for i, t in st["window"]["tracks"].items()}  # type: ignore[attr-defined]
    poster = next(t["id"] for t in st["tracks"] if keys[t["id"]]["0"][0][1] + keys[t["id"]]["0"][0][3] > 2 * 120)
    face = next(t["id"] for t in st["tracks"] if t["id"] != poster)
    r = rev.post(url + "/op", data={"csrf_token": csrf, "op": "reject", "track": poster})
    assert r.status_code == 400 and "reason" in r.text, "leaving a detected face visible needs a reason"
    for data in ({"op": "reject", "track": poster, "reason": "a face on a printed poster"},
                 {"op": "accept", "track": face},
                 {"op": "add_region", "frame": "0", "shape": "box", "box": ",".join(str(v) for v in MISSED)}):
        r = rev.post(url + "/op", data={"csrf_token": csrf, **data})
        assert r.status_code == 303, r.text
    r = rev.post(url + "/approve", data={"csrf_token": csrf})
    assert r.status_code == 409 and "unsaved" in r.text
    # The redacted view renders what saving now would hide: the drawn face, not the poster.
    red = frame(rev, rworld.photo, csrf, 0, "redacted")
    with Workspace.open(rworld.root, ARCHIVE_PASS) as ws, ws.open_original(rworld.photo) as f:
        orig = np.asarray(Image.open(f).convert("RGB"))
    assert abs(_mean(red, MISSED) - _mean(orig, MISSED)) > 60
    assert abs(_mean(red, POSTER) - _mean(orig, POSTER)) < 20
    assert abs(_mean(red, FACE) - _mean(orig, FACE)) > 60
    frame(rev, rworld.photo, csrf, 0)
    r = rev.post(url + "/save", data={"csrf_token": csrf})
    assert r.status_code == 303 and r.headers["location"].endswith("done=saved")
    r = rev.post(url + "/approve", data={"csrf_token": csrf})
    assert r.status_code == 303, r.text
    with Workspace.open(rworld.root, ARCHIVE_PASS) as ws:
        copy = ws.review.latest(rworld.photo)
        assert ws.review.approvers(copy.sha256) == ("rev",)
        saved = {e.action: e for e in ws.log(copy.sha256)}
        assert saved["review.save"].actor == "rev" and saved["approve"].actor == "rev"
        assert saved["review.save"].details["rejected"] == [{"track": poster, "reason": "a face on a printed poster"}]


def test_a_copy_with_regions_of_another_original_is_refused(rapp: tuple[object, Clock], rworld: ReviewWorld) -> None:
    rev = client(rapp, rworld, "rev")
    forged = rworld.forged
    r = rev.get(f"/items/{forged}/review")
    assert r.status_code == 400 and "another original" in r.text and "data-csrf" not in r.text
    token = re.search(r'name="csrf_token" value="([^"]+)"', rev.get("/items").text).group(1)  # type: ignore[union-attr]
    r = rev.post(f"/items/{forged}/review/frame", json={"n": 0}, headers={"X-CSRF-Token": token})
    assert r.status_code == 400 and "another original" in r.json()["error"]


def test_no_plaintext_of_the_original_left_on_disk(rapp: tuple[object, Clock], rworld: ReviewWorld) -> None:
    rev = client(rapp, rworld, "rev")
    _, csrf = page_csrf(rev, rworld.video)
    for n in (0, 1, 2, 10, 29):
        frame(rev, rworld.video, csrf, n)
    frame(rev, rworld.video, csrf, 3, "redacted")
    r = rev.post(f"/items/{rworld.video}/review/op", json={"op": "add_region", "frame": 0, "box": [60, 40, 90, 70]},
                 headers={"X-CSRF-Token": csrf})
    assert r.status_code == 200
    assert rev.post(f"/items/{rworld.video}/review/save", data={"csrf_token": csrf}).status_code == 303
    with Workspace.open(rworld.root, ARCHIVE_PASS) as ws, ws.open_original(rworld.video) as f:
        plain = f.read()
    probes = [plain[i : i + 48] for i in range(len(plain) // 5, len(plain), len(plain) // 5)][:4]
    assert probes and all(len(p) == 48 for p in probes)
    roots = [rworld.root, Path(tempfile.gettempdir())]
    for top in roots:
        for p in top.rglob("*"):
            if p.is_file() and not p.is_symlink():
                data = p.read_bytes()
                assert not any(probe in data for probe in probes), f"plaintext of the original in {p}"


def _state(c: TestClient, item: str) -> dict[str, object]:
    import html
    import json

    text = c.get(f"/items/{item}/review").text
    m = re.search(r'data-state="([^"]*)"', text)
    assert m
    return json.loads(html.unescape(m.group(1)))  # type: ignore[no-any-return]


def _mean(a: np.ndarray, box: tuple[float, float, float, float], inset: int = 6) -> float:
    x0, y0, x1, y1 = (int(v) for v in box)
    return float(a[y0 + inset : y1 - inset, x0 + inset : x1 - inset].mean())


def test_every_frame_served_counts_at_approval(rapp: tuple[object, Clock], rworld: ReviewWorld) -> None:
    """Frames are recorded in batches: approving right after the last frame still sees them all,
    and one frame short is refused."""
    rev = client(rapp, rworld, "ed")  # another reviewer: the frames shown to "rev" do not count
    item = rworld.numbered_copy
    _, csrf = page_csrf(rev, item)
    for n in range(NUMBERED_FRAMES - 1):
        frame(rev, item, csrf, n)
    r = rev.post(f"/items/{item}/review/approve", data={"csrf_token": csrf})
    assert r.status_code == 409 and f"1 frame(s) never shown to ed (first: {NUMBERED_FRAMES - 1})" in r.text
    frame(rev, item, csrf, NUMBERED_FRAMES - 1)
    r = rev.post(f"/items/{item}/review/approve", data={"csrf_token": csrf})
    assert r.status_code == 303, r.text
    with Workspace.open(rworld.root, ARCHIVE_PASS) as ws:
        assert ws.review.approvers(item) == ("ed",)


def test_keys_route_answers_a_window_to_reviewers_of_the_region(rapp: tuple[object, Clock], rworld: ReviewWorld) -> None:
    rev = client(rapp, rworld, "rev")
    st = _state(rev, rworld.video)
    page = st["window"]
    n = st["media"]["frames"]  # type: ignore[index]
    assert (page["first"], page["last"]) == (0, min(n - 1, 150))  # type: ignore[index]
    assert all("keys" not in t for t in st["tracks"])  # type: ignore[attr-defined]
    url = f"/items/{rworld.video}/review/keys"
    r = rev.get(url, params={"first": 0, "last": n - 1})
    assert r.status_code == 200 and r.headers["cache-control"] == "no-store"
    assert r.json() == page, "the page's window and the route's answer agree"
    r = rev.get(url, params={"first": 3, "last": 4})
    assert r.status_code == 200
    part = r.json()
    assert (part["first"], part["last"]) == (3, 4)
    for tid, t in part["tracks"].items():
        inside = {f for f in t["keys"] if 3 <= int(f) <= 4}
        assert inside == {f for f in page["tracks"][tid]["keys"] if 3 <= int(f) <= 4}, tid  # type: ignore[index]
        full = {int(g) for g, v in page["tracks"][tid]["keys"].items() if v}  # type: ignore[index]
        below, above = [g for g in full if g < 3], [g for g in full if g > 4]
        nearest = ({max(below)} if below else set()) | ({min(above)} if above else set())
        assert {int(f) for f in t["keys"]} - {int(f) for f in inside} == nearest, tid  # the nearest key each side
    for sid, regs in part["suggestions"].items():
        assert regs == [x for x in page["suggestions"][sid] if 3 <= x[0] <= 4]  # type: ignore[index]
    assert rev.get(url, params={"first": 5, "last": 2}).status_code == 400
    assert rev.get(url, params={"first": "x", "last": 2}).status_code == 400
    # Roles and regions: a viewer may not read it, a user of another region does not see the item.
    vi = client(rapp, rworld, "vi")
    assert vi.get(url, params={"first": 0, "last": 4}).status_code == 403
    homr = client(rapp, rworld, "homr")
    r = homr.get(url, params={"first": 0, "last": 4})
    assert r.status_code == 404 and r.headers.get("content-type", "").startswith("text/html")
