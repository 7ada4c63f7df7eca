"""Opening the review of a long, already analysed video (issue 12): the review state's size and
build time, whole (every key, the format before windowing) against windowed (track summaries
and the keys of the frames around the current one, docs/review-screen.md), in the same run.

The review is synthetic: a small video of ``--seconds`` at 30 fps and a regions file of
``--tracks`` overlapping detector tracks with a key on every frame they cover (detection is not
run: the copy is rendered from the regions file, as a review's save does), plus a few
suggestions. Measured:

1. In-process: building the state (``state_json`` as it was before, copied below, against
   ``Review.state_doc(0)``) and its JSON text; size and time. Then the page and one edit through
   the app (in-process HTTP), and one window of keys (``review/keys``).
2. In chromium (unless ``--no-browser``): ``JSON.parse`` of both texts (same run), and the time
   from opening the review page to its first frame on screen with its regions
   (``#review[data-loaded='1']``); then a jump to the middle (a window fetched on demand),
   and ``--steps`` one-frame steps from there (right arrow to the frame painted; median, p95).

Usage: .venv/bin/python benchmarks/review_long_state.py [--seconds 600] [--tracks 30]
       [--steps 60] [--look-ms 150] [--no-browser]
(the video is 320x180 to keep encoding short on a 2-core machine: the state does not depend on
the picture's size beyond the digits of its coordinates.)
"""

from __future__ import annotations

import argparse
import html
import json
import re
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "web"))
sys.path.insert(0, str(ROOT / "benchmarks"))

from review_speed import ARCHIVE_PASS, USER_PASS, browser_sign_in, sign_in  # noqa: E402

W, H, FPS = 320, 180, 30


def make_video(path: Path, frames: int) -> None:
    from witnessbox.media.video import VideoWriter

    yy, xx = np.mgrid[0:H, 0:W]
    base = np.repeat(((xx // 8 + yy // 8) % 64 * 3).astype(np.uint8)[:, :, None], 3, axis=2)
    with open(path, "wb") as f:
        vw = VideoWriter(f, W, H, Fraction(FPS))
        for i in range(frames):
            a = base.copy()
            a[:12, : 1 + i % W] = 230
            vw.write(a)
        vw.close()


def analysed_copy(ws: Any, original: str, frames: int, tracks: int) -> str:
    """A redacted copy with ``tracks`` detector tracks (a key on every frame each covers) and
    some suggestions, rendered from them (no detection)."""
    from witnessbox.redact.pipeline import finish_regions
    from witnessbox.redact.regions import MediaInfo, Region, parse_regions
    from witnessbox.redact.suggestions import Suggestion, SuggestionsFile, TrackRef

    rng = np.random.default_rng(7)
    per: list[list[Region]] = []
    sightings: list[tuple[int, ...]] = []
    span = int(frames * 0.8)
    for k in range(tracks):
        start = (k * (frames - span)) // max(1, tracks - 1)
        x, y = 10 + (k % 10) * 29, 20 + (k // 10) * 50
        regs, seen = [], []
        for f in range(start, start + span):
            dx = 8 * np.sin(f / 90 + k)
            if f % 7:
                s = float(rng.uniform(0.2, 0.95))
                regs.append(Region(f, "ellipse", (x + dx, y, x + dx + 24, y + 30), round(s, 4), "detector"))
                seen.append(f)
            else:  # carried by the tracker between sightings
                regs.append(Region(f, "ellipse", (x + dx, y, x + dx + 24, y + 30), 0.0, "track"))
        per.append(regs)
        sightings.append(tuple(seen))
    doc = {"version": 1, "media": {"width": W, "height": H, "frames": frames, "fps": float(FPS)},
           "source_sha256": original, "regions": [],
           "method": {"detector": "synthetic", "fill": "solid", "params": {}},
           "tool": {"name": "witnessbox", "version": "0"}}
    import dataclasses

    rf = dataclasses.replace(parse_regions(doc), regions=finish_regions(r for regs in per for r in regs))
    index: dict[Region, list[int]] = {}
    for i, r in enumerate(rf.regions):
        index.setdefault(r, []).append(i)
    refs = []
    for k, regs in enumerate(per):
        ix = sorted(index[r].pop(0) for r in finish_regions(regs))
        refs.append(TrackRef(f"t{k + 1}", tuple(ix), sightings[k], 0.95))
    sugg = []
    for j in range(20):
        first = (j * frames) // 20
        last = min(first + 29, frames - 1)
        sugg.append(Suggestion(f"s{j + 1}", "below_threshold", first, last, 0.2, None,
                               tuple(Region(f, "box", (100.0, 100.0, 120.0, 124.0), 0.2, "detector")
                                     for f in range(first, last + 1))))
    sf = SuggestionsFile(MediaInfo(W, H, frames, float(FPS)), original, "", tuple(refs), tuple(sugg), {})
    return ws.redaction.redact_reviewed(original, regions=rf, suggestions=sf).sha256  # type: ignore[no-any-return]


def whole_state_json(rv: Any) -> dict[str, Any]:
    """The review state as the screen got it before windowing (web/views_review.py, a02327a)."""
    def _region(r: Any) -> list[Any]:
        return [r.shape, *(round(float(v), 2) for v in r.box), r.source, round(float(r.score), 4)]

    st = rv.state
    status = rv.status()
    tracks = [{
        "id": t.id, "origin": t.origin, "start": t.start, "end": t.end, "decision": t.decision,
        "reason": t.reason, "static": t.static, "best_score": round(float(t.best_score), 4),
        "sightings": list(t.sightings), "removed": sorted(t.removed),
        "keys": {str(f): [_region(r) for r in regs] for f, regs in sorted(t.keys.items())},
    } for t in rv.tracks()]
    suggestions = [{
        "id": s.id, "kind": s.kind, "first": s.first, "last": s.last, "score": round(float(s.score), 4),
        "track": s.track, "decision": st.suggestion_decisions.get(s.id),
        "reason": st.suggestion_reasons.get(s.id, ""), "hidden_as": st.suggestion_tracks.get(s.id),
        "regions": [[r.frame, *_region(r)] for r in s.regions],
    } for s in rv.suggestions()]
    m = st.media
    return {
        "kind": rv.kind, "derivative": rv.derivative.sha256, "original": rv.original, "reviewer": rv.reviewer,
        "media": {"width": m.width, "height": m.height, "frames": m.frames, "fps": m.fps or 25.0},
        "tracks": tracks, "suggestions": suggestions, "low_score": 0.3,
        "status": {**status.to_json(), "blockers": status.blockers()},
        "shown": sorted(rv.shown()) if rv.frames <= 20000 else [],
        "can_undo": rv.can_undo, "can_redo": rv.can_redo,
    }


STEPS_JS = """async ([n, look]) => {
  const c = document.getElementById('rv-canvas');
  const out = [];
  for (let i = 0; i < n; i++) {
    const want = String(Number(c.dataset.frame) + 1);
    const t = performance.now();
    await new Promise((res) => {
      const mo = new MutationObserver(() => { if (c.dataset.frame === want) { mo.disconnect(); res(); } });
      mo.observe(c, { attributes: true, attributeFilter: ['data-frame'] });
      document.dispatchEvent(new KeyboardEvent('keydown', { key: 'ArrowRight', bubbles: true }));
    });
    await new Promise((res) => requestAnimationFrame(() => setTimeout(res, 0)));  // painted
    out.push(performance.now() - t);
    await new Promise((res) => setTimeout(res, look));
  }
  return out;
}"""
"""Steps in the page: a right arrow, then the time until the next frame is on the canvas (its
regions are drawn in the same task) and the page was painted."""


def timed(fn: Any) -> tuple[Any, float]:
    t = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=600.0)
    ap.add_argument("--tracks", type=int, default=30)
    ap.add_argument("--no-browser", action="store_true")
    ap.add_argument("--steps", type=int, default=60, help="one-frame steps timed in chromium")
    ap.add_argument("--look-ms", type=int, default=150, help="time looking at each frame between steps")
    a = ap.parse_args()

    from web_helpers import Clock

    from witnessbox.web.app import WebConfig, create_app
    from witnessbox.web.sessions import SessionManager
    from witnessbox.workspace import Workspace
    from witnessbox.workspace.accounts import Argon2Cost, parse_totp_uri_secret

    frames = int(a.seconds * FPS)
    tmp = Path(tempfile.mkdtemp(prefix="review-long-"))
    video = tmp / "long.mp4"
    _, t = timed(lambda: make_video(video, frames))
    print(f"made {frames} frames of {W}x{H} in {t:.0f} s")
    with Workspace.init(tmp / "archive", ARCHIVE_PASS) as ws:
        orig = ws.add([video]).added[0].sha256
        copy, t = timed(lambda: analysed_copy(ws, orig, frames, a.tracks))
        print(f"rendered the analysed copy ({a.tracks} tracks) in {t:.0f} s")
        ws.accounts.cost = Argon2Cost(time_cost=1, memory_kib=8192, parallelism=1)
        secret = parse_totp_uri_secret(ws.accounts.add("rev", USER_PASS, "reviewer", (),
                                                       archive_passphrase=ARCHIVE_PASS).totp_uri)
        rv, t_open = timed(lambda: ws.review.open(copy, "rev", log=False))
        keys = sum(len(t.keys) for t in rv.tracks())
        print(f"review opened in {t_open:.2f} s: {len(rv.tracks())} tracks, {keys} keys, "
              f"{len(rv.suggestions())} suggestions")
        _, t_status = timed(rv.status)
        rows = []
        for name, fn in (("whole (before)", lambda: whole_state_json(rv)), ("windowed (after)", lambda: rv.state_doc(0)),
                         ("whole (before)", lambda: whole_state_json(rv)), ("windowed (after)", lambda: rv.state_doc(0))):
            doc, t_build = timed(fn)
            text, t_dump = timed(lambda: json.dumps(doc, separators=(",", ":")))  # noqa: B023
            rows.append((name, len(text), t_build, t_dump, text))
        print(f"of which Review.status (in both): {t_status:.2f} s")
        for name, size, tb, td, _ in rows[2:]:  # the second round (warm)
            print(f"{name:>17}: {size / 1e6:.2f} MB of JSON, built in {tb:.2f} s + dumped in {td:.2f} s")
        whole, win = rows[2], rows[3]
        print(f"ratio whole/windowed: size {whole[1] / win[1]:.0f}x, build+dump "
              f"{(whole[2] + whole[3]) / (win[2] + win[3]):.1f}x")
        whole_text, win_text = whole[4], win[4]

    clock = Clock()
    clock.t = time.time() - 31
    probe = Workspace.open(tmp / "archive")
    app = create_app(WebConfig(archive=tmp / "archive"), sessions=SessionManager(probe.accounts, clock=clock))
    c: Any = sign_in(app, clock, secret, "rev")
    for _ in range(2):
        page, t_page = timed(lambda: c.get(f"/items/{copy}/review"))
        assert page.status_code == 200, page.text
    csrf = html.unescape(re.search(r'data-csrf="([^"]+)"', page.text).group(1))  # type: ignore[union-attr]
    op, t_op = timed(lambda: c.post(f"/items/{copy}/review/op", json={"op": "accept", "track": "t1", "at": 0},
                                   headers={"X-CSRF-Token": csrf}))
    assert op.status_code == 200, op.text
    mid = frames // 2
    r, t_keys = timed(lambda: c.get(f"/items/{copy}/review/keys", params={"first": mid - 150, "last": mid + 150}))
    assert r.status_code == 200, r.text
    print(f"through the app (in-process HTTP): page {len(page.content) / 1e6:.2f} MB in {t_page:.2f} s; "
          f"one edit (accept) answered {len(op.content) / 1e3:.0f} kB in {t_op:.2f} s; a window of 301 frames of keys "
          f"{len(r.content) / 1e3:.0f} kB in {t_keys * 1000:.0f} ms")
    probe.close()

    if a.no_browser or not Path("/usr/bin/chromium").exists():
        return 0
    from live_server import serving
    from playwright.sync_api import sync_playwright

    with serving(tmp / "archive") as (url, _p), sync_playwright() as p:
        b = p.chromium.launch(executable_path="/usr/bin/chromium", args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--no-first-run"])
        pg = b.new_page(viewport={"width": 1600, "height": 1000})
        parse = "(s) => { const t = performance.now(); JSON.parse(s); return performance.now() - t; }"
        pw = pg.evaluate(parse, whole_text)
        pn = pg.evaluate(parse, win_text)
        print(f"chromium JSON.parse: whole {pw:.0f} ms, windowed {pn:.1f} ms (ratio {pw / max(pn, 0.1):.0f}x)")
        browser_sign_in(pg, url, secret)
        _, anchor0 = timed(lambda: json.loads(whole_text))
        t = time.perf_counter()
        pg.goto(f"{url}/items/{copy}/review", timeout=180_000)
        pg.wait_for_selector("#review[data-loaded='1']", timeout=120_000)
        t_first = time.perf_counter() - t
        _, anchor1 = timed(lambda: json.loads(whole_text))
        anchor = (anchor0 + anchor1) / 2
        drawn = pg.locator("#rv-overlay .rg").count()
        print(f"chromium: review page opened to first frame on screen with its regions in {t_first:.2f} s "
              f"({drawn} regions drawn on frame 0); anchor: json.loads of the whole state ({len(whole_text) / 1e6:.0f} MB) in Python just "
              f"before and after, {anchor:.2f} s on average: first frame / anchor {t_first / anchor:.1f}x")
        parts = pg.evaluate("""() => {
          const n = performance.getEntriesByType('navigation')[0];
          const f = performance.getEntriesByType('resource').find((e) => e.name.includes('/review/frame'));
          return [n.responseStart, n.responseEnd, n.domContentLoadedEventEnd, f ? f.startTime : -1, f ? f.responseEnd : -1,
                  n.transferSize || n.encodedBodySize];
        }""")
        print("chromium: of which (ms from the request) the page's first byte {:.0f}, its last byte {:.0f}, "
              "the DOM loaded {:.0f}, the first frame asked for {:.0f}, received {:.0f} (page {:.2f} MB)".format(
                  *parts[:5], parts[5] / 1e6))
        t = time.perf_counter()
        pg.evaluate(f"() => {{ const s = document.getElementById('rv-seek'); s.value = '{mid}'; "
                    "s.dispatchEvent(new Event('input')); }")
        pg.wait_for_function(f"() => document.getElementById('rv-canvas').dataset.frame === '{mid}' && "
                             "document.getElementById('rv-overlay').dataset.keys === 'loaded'", timeout=60_000)
        print(f"chromium: a jump to frame {mid} (its keys fetched on demand) in {(time.perf_counter() - t) * 1000:.0f} ms "
              f"({pg.locator('#rv-overlay .rg').count()} regions drawn)")
        steps = pg.evaluate(STEPS_JS, [a.steps, a.look_ms])
        steps.sort()
        print(f"chromium: {a.steps} one-frame steps (right arrow, {a.look_ms} ms looking at each) from frame {mid}, "
              f"key press to the frame painted with its regions: median {steps[len(steps) // 2]:.0f} ms, "
              f"p95 {steps[min(len(steps) - 1, int(0.95 * len(steps)))]:.0f} ms, max {steps[-1]:.0f} ms")
        b.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
