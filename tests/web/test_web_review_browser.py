"""The review screen in a real Debian chromium against a real `witnessbox serve` on 127.0.0.1:
a photo reviewed with the mouse, a video reviewed with the keyboard only (add a missed face,
reject a false positive, hide a weak face and extend its track across the frames where it was
not seen, play every frame, save, approve), then published: the published pixels hide the faces
drawn in the browser and show the rejected poster. The frame on the canvas is the frame whose
index the screen says (a clip with its frame numbers drawn into its pixels). Any console error
or warning (CSP violations included), page error or failed request fails the test."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import av
import numpy as np
import pyotp
import pytest
from live_server import serving
from PIL import Image
from review_helpers import (
    FACE,
    FACE_A,
    FACE_C,
    FACE_D,
    MISSED,
    NUMBERED_FRAMES,
    POSTER,
    POSTER_V,
    SCENE_FRAMES,
    USER_PASS,
    ReviewWorld,
    build,
    mean,
    publish,
)

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "web"

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian's chromium is not installed (.ci/run installs it)")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, ReviewWorld, Path]]:
    base = tmp_path_factory.mktemp("webreviewbrowser")
    w = build(base)
    with serving(w.root) as (url, _proc):
        yield url, w, base


class Watch:
    def __init__(self, page: Any) -> None:
        self.problems: list[str] = []
        page.on("console", lambda m: self.problems.append(f"console {m.type}: {m.text}")
                if m.type in ("error", "warning") and "409" not in m.text
                and "willReadFrequently" not in m.text else None)  # the test's own pixel readback
        page.on("pageerror", lambda e: self.problems.append(f"page error: {e}"))
        # A quick navigation aborts the lazily fetched favicon (net::ERR_ABORTED): expected, as
        # in test_web_browser.py; any other failed request fails the test.
        page.on("requestfailed", lambda r: None if r.failure == "net::ERR_ABORTED" and r.url.endswith("/static/icon.svg")
                else self.problems.append(f"request failed: {r.url} {r.failure}"))
        page.on("dialog", lambda d: (self.problems.append(f"dialog: {d.message}"), d.dismiss()))


_USED_CODES: dict[str, int] = {}


def sign_in(browser: Any, url: str, w: ReviewWorld, name: str) -> tuple[Any, Any, Watch]:
    context = browser.new_context(locale="en")
    page = context.new_page()
    watch = Watch(page)
    page.goto(f"{url}/lang?lang=en&next=/signin")
    role, regions, secret, codes = w.users[name]
    # A TOTP code is used once per user; later sign-ins of the same user take a recovery code.
    i = _USED_CODES.get(name, -1)
    code = pyotp.TOTP(secret).now() if i < 0 else codes[i]
    _USED_CODES[name] = i + 1
    page.fill("input[name=name]", name)
    page.fill("input[name=passphrase]", USER_PASS)
    page.fill("input[name=code]", code)
    page.click("button[type=submit]")
    page.wait_for_url("**/items")
    return context, page, watch


def open_review(page: Any, url: str, item: str) -> dict[str, Any]:
    page.goto(f"{url}/items/{item}/review")
    page.wait_for_selector("#review[data-loaded='1']", timeout=60_000)
    return json.loads(page.locator("#review").get_attribute("data-state"))  # type: ignore[no-any-return]


def wait_frame(page: Any, n: int) -> None:
    page.wait_for_selector(f"#rv-canvas[data-frame='{n}']", timeout=30_000)


def canvas_number(page: Any) -> int:
    """The frame number drawn into the pixels on the canvas (see redact_helpers.numbered_frame)."""
    return int(page.evaluate("""() => {
        const c = document.getElementById('rv-canvas');
        const g = c.getContext('2d');
        let n = 0;
        for (let b = 0; b < 12; b++) {
            const d = g.getImageData(4 + b * 8 + 2, 4 + 2, 4, 4).data;
            let s = 0;
            for (let i = 0; i < d.length; i += 4) s += (d[i] + d[i + 1] + d[i + 2]) / 3;
            n = (n << 1) | (s / 16 > 128 ? 1 : 0);
        }
        return n;
    }"""))


def svg_point(page: Any, x: float, y: float, w: int, h: int) -> tuple[float, float]:
    bb = page.locator("#rv-overlay").bounding_box()
    return bb["x"] + x * bb["width"] / w, bb["y"] + y * bb["height"] / h


def test_the_frame_on_screen_is_the_frame_of_its_index(browser: Any, served: tuple[str, ReviewWorld, Path]) -> None:
    url, w, _ = served
    context, page, watch = sign_in(browser, url, w, "rev")
    open_review(page, url, w.numbered_copy)
    wait_frame(page, 0)
    assert canvas_number(page) == 0
    expected = 0
    for key, delta in [("ArrowRight", 1), ("ArrowRight", 1), ("Shift+ArrowRight", 10), ("ArrowLeft", -1),
                       ("Shift+ArrowRight", 10), ("Shift+ArrowLeft", 10 * -1), ("ArrowRight", 1)]:
        page.keyboard.press(key)
        expected += delta
        wait_frame(page, expected)
        assert page.locator("#rv-frame-no").inner_text() == str(expected)
        assert canvas_number(page) == expected
    # Keys pressed faster than frames arrive: the screen ends on the last one asked for.
    for _ in range(7):
        page.keyboard.press("ArrowRight")
    expected += 7
    wait_frame(page, expected)
    assert canvas_number(page) == expected
    page.keyboard.press("f")  # the next frame never shown
    wait_frame(page, expected + 1)
    assert canvas_number(page) == expected + 1
    # The seek bar lands exactly too.
    page.locator("#rv-seek").fill(str(NUMBERED_FRAMES - 1))
    wait_frame(page, NUMBERED_FRAMES - 1)
    assert canvas_number(page) == NUMBERED_FRAMES - 1
    assert not watch.problems, watch.problems
    context.close()


def test_viewer_cannot_open_the_review(browser: Any, served: tuple[str, ReviewWorld, Path]) -> None:
    url, w, _ = served
    context, page, _ = sign_in(browser, url, w, "vi")
    page.goto(f"{url}/items/{w.photo}")
    assert page.locator("a[href$='/review']").count() == 0, "the item page offers the review to reviewers only"
    r = page.goto(f"{url}/items/{w.photo}/review")
    assert r.status == 403 and page.locator("#rv-canvas").count() == 0
    context.close()
    context, page, _ = sign_in(browser, url, w, "homr")
    r = page.goto(f"{url}/items/{w.photo}/review")
    assert r.status == 404 and "street.png" not in page.content()
    context.close()


def test_photo_and_video_reviews_end_to_end(browser: Any, served: tuple[str, ReviewWorld, Path]) -> None:
    url, w, base = served
    context, page, watch = sign_in(browser, url, w, "rev")

    # -- the photo, with the mouse ------------------------------------------------------------------
    page.goto(f"{url}/items/{w.photo}")
    page.click("a[href$='/review']")
    page.wait_for_selector("#review[data-loaded='1']", timeout=60_000)
    st = json.loads(page.locator("#review").get_attribute("data-state"))
    W, H = st["media"]["width"], st["media"]["height"]
    assert page.locator("#rv-overlay .rg.detector").count() == 2
    keys = {i: t["keys"] for i, t in st["window"]["tracks"].items()}  # the keys around frame 0
    poster = next(t["id"] for t in st["tracks"] if keys[t["id"]]["0"][0][1] + keys[t["id"]]["0"][0][3] > 240)
    face = next(t["id"] for t in st["tracks"] if t["id"] != poster)

    page.click("#rv-approve")  # refused, with the reasons
    assert "undecided" in page.locator("#review-message").inner_text()
    page.wait_for_selector("#review[data-loaded='1']", timeout=60_000)

    # reject the false positive: click it, write the reason, reject
    page.locator(f"#rv-overlay [data-track='{poster}']").click()
    page.fill("#rv-reason", "a face on a printed poster")
    page.locator(f"#rv-tracks tr[data-track='{poster}'] button", has_text="reject").click()
    page.wait_for_selector(f"#rv-overlay .rg.rejected[data-track='{poster}']")
    page.locator(f"#rv-tracks tr[data-track='{face}'] button", has_text="accept").click()
    page.wait_for_selector(f"#rv-tracks tr[data-track='{face}']:not(.undecided)")
    # draw the missed face by dragging a box over it
    x0, y0 = svg_point(page, MISSED[0] - 2, MISSED[1] - 2, W, H)
    x1, y1 = svg_point(page, MISSED[2] + 2, MISSED[3] + 2, W, H)
    page.mouse.move(x0, y0)
    page.mouse.down()
    page.mouse.move((x0 + x1) / 2, (y0 + y1) / 2, steps=4)
    page.mouse.move(x1, y1, steps=4)
    page.mouse.up()
    page.wait_for_selector("#rv-overlay .rg.manual")
    assert page.locator("#rv-tracks tbody tr").count() == 3
    # move it a little with the mouse, then undo the move (undo and redo)
    manual = page.locator("#rv-overlay .rg.manual")
    bb = manual.bounding_box()
    page.mouse.move(bb["x"] + bb["width"] / 2, bb["y"] + bb["height"] / 2)
    page.mouse.down()
    page.mouse.move(bb["x"] + bb["width"] / 2 + 30, bb["y"] + bb["height"] / 2, steps=3)
    page.mouse.up()
    page.wait_for_function(f"() => document.querySelector('#rv-overlay .rg.manual').getBoundingClientRect().x > {bb['x'] + 15}")
    page.click("#rv-undo")
    page.wait_for_function(f"() => +document.querySelector('#rv-overlay .rg.manual').getAttribute('x') === {MISSED[0] - 2}",
                           timeout=10_000)
    # the redacted view
    page.click("#rv-view")
    page.wait_for_selector("#rv-canvas[data-view='redacted']")
    page.click("#rv-view")
    page.wait_for_selector("#rv-canvas[data-view='original']")
    # help overlay
    page.keyboard.press("?")
    assert page.locator("#rv-help").is_visible()
    page.keyboard.press("Escape")
    assert not page.locator("#rv-help").is_visible()
    page.click("#rv-save")
    page.wait_for_url("**done=saved")
    page.wait_for_selector("#review[data-loaded='1']", timeout=60_000)
    page.click("#rv-approve")
    page.wait_for_url("**done=approved")
    assert "Approved" in page.locator("#review-message").inner_text()

    # -- the video, with the keyboard only ----------------------------------------------------------
    st = open_review(page, url, w.video)
    wait_frame(page, 0)
    tracks = st["tracks"]
    keys = {i: t["keys"] for i, t in st["window"]["tracks"].items()}  # the keys around frame 0
    face_a = next(t["id"] for t in tracks if keys[t["id"]].get("0") and keys[t["id"]]["0"][0][1] < FACE_A[0])
    poster_v = next(t["id"] for t in tracks if t["id"] != face_a)
    kinds = {s["kind"]: s["id"] for s in st["suggestions"]}
    assert set(kinds) == {"gap", "dropped_track", "below_threshold"}

    def selected() -> str | None:
        row = page.locator("#rv-tracks tr.selected, #rv-suggestions tr.selected")
        if row.count() == 0:
            return None
        return row.first.get_attribute("data-track") or row.first.get_attribute("data-suggestion")

    def select_track(tid: str) -> None:
        for _ in range(len(tracks) + 2):
            page.keyboard.press("t")
            page.wait_for_selector("#rv-tracks tr.selected")
            if selected() == tid:
                return
        raise AssertionError(f"could not select {tid}")

    def settle() -> None:
        page.evaluate("() => new Promise((r) => setTimeout(r, 300))")

    select_track(poster_v)
    page.keyboard.press("r")  # no reason yet: the reason field takes the focus
    assert page.evaluate("() => document.activeElement.id") == "rv-reason"
    page.keyboard.type("a printed poster, not a person")
    page.keyboard.press("Enter")
    page.wait_for_selector(f"#rv-tracks tr[data-track='{poster_v}']:not(.undecided)")
    select_track(face_a)
    page.keyboard.press("a")
    page.wait_for_selector(f"#rv-tracks tr[data-track='{face_a}']:not(.undecided)")

    # suggestions: "u" walks the undecided ones
    for _ in range(3):
        page.keyboard.press("u")
        page.wait_for_selector("#rv-suggestions tr.selected")
        sid = selected()
        if sid == kinds["gap"]:
            page.keyboard.press("r")  # dismissed: the carried region covers the face
        else:
            page.keyboard.press("a")  # hidden (and its new track selected)
        page.wait_for_selector(f"#rv-suggestions tr[data-suggestion='{sid}']:not(.undecided)")
        if sid == kinds["below_threshold"]:
            # Face C was seen weakly in frames 10-12 only: extend its track over the whole clip.
            settle()
            weak = selected()
            assert weak is not None and weak.startswith("s"), weak
            page.keyboard.press("Shift+ArrowLeft")  # frame 0 (10 back from wherever it is, clamped)
            page.keyboard.press("Shift+ArrowLeft")
            wait_frame(page, 0)
            page.keyboard.press("e")
            settle()
            for _ in range(3):
                page.keyboard.press("Shift+ArrowRight")
            wait_frame(page, SCENE_FRAMES - 1)
            page.keyboard.press("e")
            settle()
            page.wait_for_function(
                f"() => {{ const s = JSON.stringify([...document.querySelectorAll('#rv-tracks tr[data-track=\"{weak}\"] td')].map(t => t.textContent)); return s.includes('0–{SCENE_FRAMES - 1}'); }}")
            page.keyboard.press("Shift+ArrowLeft")
            page.keyboard.press("Shift+ArrowLeft")
            page.keyboard.press("Shift+ArrowLeft")
            wait_frame(page, 0)

    # Face D was never detected: a new box ("n"), moved with i/j/k/l and grown with "]", then
    # extended to the last frame.
    for _ in range(3):
        page.keyboard.press("Shift+ArrowLeft")
    wait_frame(page, 0)
    page.keyboard.press("n")
    page.wait_for_selector("#rv-overlay .rg.manual.selected")
    # n makes a 12 px box at (42, 30); one step is 1 px, ten with shift.
    for key, times in (("Shift+l", 2), ("l", 8), ("Shift+k", 1), ("k", 6), ("]", 4)):
        for _ in range(times):
            page.keyboard.press(key)
    settle()
    drawn = selected()
    assert drawn is not None and drawn.startswith("m")
    page.wait_for_function(
        f"() => document.querySelector('#rv-overlay .rg.manual.selected') && "
        f"Math.abs(+document.querySelector('#rv-overlay .rg.manual.selected').getAttribute('x') - {FACE_D[0] - 4}) < 0.01 && "
        f"Math.abs(+document.querySelector('#rv-overlay .rg.manual.selected').getAttribute('width') - 20) < 0.01", timeout=30_000)
    for _ in range(3):
        page.keyboard.press("Shift+ArrowRight")
    wait_frame(page, SCENE_FRAMES - 1)
    page.keyboard.press("e")
    page.wait_for_function(
        f"() => [...document.querySelectorAll('#rv-tracks tr[data-track=\"{drawn}\"] td')].some(t => t.textContent === '0–{SCENE_FRAMES - 1}')")
    # every frame shown: play from the start (space)
    page.keyboard.press("Shift+ArrowLeft")
    page.keyboard.press("Shift+ArrowLeft")
    page.keyboard.press("Shift+ArrowLeft")
    wait_frame(page, 0)
    page.keyboard.press(" ")
    page.wait_for_function(f"() => document.getElementById('rv-shown-count').textContent === 'shown {SCENE_FRAMES} / {SCENE_FRAMES}'",
                           timeout=120_000)
    settle()
    page.keyboard.press("Control+s")
    page.wait_for_url("**done=saved", timeout=120_000)
    page.wait_for_selector("#review[data-loaded='1']", timeout=60_000)
    assert page.locator("#rv-blockers li.ok").count() == 1, page.locator("#rv-blockers").inner_text()
    page.locator("#rv-approve").focus()
    page.keyboard.press("Enter")
    page.wait_for_url("**done=approved")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "review-video.png"), full_page=True)
    assert not watch.problems, watch.problems
    context.close()

    # -- published: the faces drawn in the browser are hidden, the rejected posters are not -----------
    media = publish(w.root, w.incident, base / "site")
    photo = np.asarray(Image.open(media[".jpg"] if ".jpg" in media else media[".png"]).convert("RGB"))
    Image.fromarray(photo).save(ARTIFACTS / "review-published-photo.png")
    assert mean(photo, MISSED) < 80, "the face drawn with the mouse is hidden in the published photo"
    assert mean(photo, FACE) < 80
    assert mean(photo, POSTER) > 180, "the rejected false positive stays visible"
    with av.open(str(media[".mp4"])) as c:
        frames = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    assert len(frames) == SCENE_FRAMES
    for i, a in enumerate(frames):
        assert mean(a, FACE_D, 3) < 120, f"face D (drawn with the keyboard) visible in frame {i}"
        assert mean(a, FACE_C, 3) < 120, f"face C (hidden suggestion, extended) visible in frame {i}"
        assert mean(a, POSTER_V, 3) > 180, f"the rejected poster is hidden in frame {i}"
