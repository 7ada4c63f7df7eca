"""Saving a reviewed 1080p video against its first redaction (issue 12).

Issue 12: "Saving after an edit of one track re-renders and seals a 10-minute 1080p video no
slower than the first redaction (the work is the encode, not detection again)."

A 1920x1080 30 fps clip is made from the real walking video of ``../shared/data/video``
(``one-person-walking.mp4``, 608x1080: three copies side by side, so three people at once, looped
to ``--seconds``), sealed in a temporary encrypted archive and redacted once (anchor:
``ws.redaction.redact_item``, detection and rendering, timed). Then, ``--runs`` times, the review
of the newest copy is opened, one track is edited (a new keyframe moving its box by 4 px on one
of its frames) and saved (``Review.save``: regions file, re-render with no detection, seal, log),
timed. Printed: each time, wall and CPU, and save / first redaction.

Both scale with the number of frames (the 10-minute figure is ``600 / --seconds`` times these,
for both); ``--seconds 600`` runs the issue's exact case (about an hour for the first redaction on
a 2-core machine).

Usage: .venv/bin/python benchmarks/review_save.py [--seconds 60] [--runs 2]
(reads ``WITNESSBOX_VIDEO_DATA`` or ../shared/data/video; nothing is written in the repository.)
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ARCHIVE_PASS = "correct horse battery staple"
W, H, FPS = 1920, 1080, 30
ROOT = Path(__file__).resolve().parents[1]


def video_data() -> Path:
    return Path(os.environ.get("WITNESSBOX_VIDEO_DATA", ROOT.parent / "shared" / "data" / "video"))


def make_video(src: Path, out: Path, seconds: float) -> int:
    """Three copies of ``src`` side by side on a 1920x1080 canvas, looped to ``seconds``."""
    import av

    with av.open(str(src)) as c:
        frames = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    fh, fw = frames[0].shape[:2]
    n = int(seconds * FPS)
    with av.open(str(out), "w") as c:
        vs = c.add_stream("libx264", rate=FPS)
        vs.width, vs.height, vs.pix_fmt = W, H, "yuv420p"
        vs.options = {"preset": "veryfast", "crf": "23"}
        vs.thread_type = "AUTO"
        canvas = np.zeros((H, W, 3), np.uint8)
        pad = (W - 3 * fw) // 2
        for i in range(n):
            # Each copy starts at another point of the clip, so the three people differ.
            for k in range(3):
                f = frames[(i + k * len(frames) // 3) % len(frames)]
                canvas[: min(H, fh), pad + k * fw : pad + (k + 1) * fw] = f[:H]
            fr = av.VideoFrame.from_ndarray(canvas, format="rgb24")
            for pkt in vs.encode(fr):
                c.mux(pkt)
        for pkt in vs.encode():
            c.mux(pkt)
    return n


def timed(fn):  # type: ignore[no-untyped-def]
    w, c = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - w, time.process_time() - c


def load() -> str:
    return " ".join(f"{v:.2f}" for v in os.getloadavg())


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--seconds", type=float, default=60)
    p.add_argument("--runs", type=int, default=2)
    a = p.parse_args()
    src = video_data() / "one-person-walking.mp4"
    if not src.exists():
        print(f"skipped: {src} is absent (set WITNESSBOX_VIDEO_DATA)")
        return 0

    from witnessbox.workspace import Workspace

    with tempfile.TemporaryDirectory(prefix="wb-reviewsave-") as d:
        tmp = Path(d)
        video = tmp / "walk-1080p.mp4"
        n = make_video(src, video, a.seconds)
        print(f"video: {n} frames {W}x{H}, {video.stat().st_size / 1e6:.1f} MB (load {load()})")
        with Workspace.init(tmp / "archive", ARCHIVE_PASS) as ws:
            orig = ws.add([video]).added[0].sha256
            video.unlink()
            first, fw, fc = timed(lambda: ws.redaction.redact_item(orig))
            print(f"first redaction (anchor: detection + render + seal): {fw:.1f} s wall, {fc:.1f} s CPU "
                  f"(load {load()})")
            sha = first.sha256
            for run in range(a.runs):
                rv = ws.review.open(sha, "bench")
                track = max(rv.tracks(), key=lambda t: len(t.keys))
                frame = sorted(track.keys)[len(track.keys) // 2]
                x0, y0, x1, y1 = track.keys[frame][0].box
                rv.set_key(track.id, frame, (x0 + 4, y0, x1 + 4, y1))
                new, sw, sc = timed(rv.save)
                assert new.parent == orig and new.sha256 != sha
                sha = new.sha256
                print(f"save {run + 1} (one track edited, {len(rv.tracks())} tracks): {sw:.1f} s wall, "
                      f"{sc:.1f} s CPU; save / first redaction: wall {sw / fw:.2f}, CPU {sc / fc:.2f} "
                      f"(load {load()})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
