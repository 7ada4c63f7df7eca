"""Frame-exact access for the review screen (issue 12): how long to show frame N of a video.

Measures on ../shared/data/video/one-person-walking.mp4 (or --video): building the
:class:`~witnessbox.media.video.FrameIndex` (packets only), the first frame, random frames and
one-frame steps through ``read_frame`` with the index and through a ``FrameReader`` (a player),
against the anchor measured in the same
run: decoding the whole video once from the start (what ``read_frame`` without an index costs
for the last frame).

Usage: .venv/bin/python benchmarks/review_frames.py [--video PATH] [--samples N]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from pathlib import Path

from _redaction_common import DATA


def main() -> int:
    from witnessbox.media.video import FrameIndex, FrameReader, iter_frames, probe_video, read_frame

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--video", type=Path, default=DATA / "video" / "one-person-walking.mp4")
    ap.add_argument("--samples", type=int, default=30)
    a = ap.parse_args()
    info = probe_video(a.video)
    t = time.perf_counter()
    n = sum(1 for _ in iter_frames(a.video, info))
    full = time.perf_counter() - t
    t = time.perf_counter()
    fi = FrameIndex.build(a.video)
    build = time.perf_counter() - t
    assert fi is not None and len(fi.pts) == n
    t = time.perf_counter()
    read_frame(a.video, 0, info, frame_index=fi, frames=n)
    first = time.perf_counter() - t
    rnd = random.Random(7)
    rand_t, step_t = [], []
    for _ in range(a.samples):
        i = rnd.randrange(n - 1)
        t = time.perf_counter()
        read_frame(a.video, i, info, frame_index=fi, frames=n)
        rand_t.append(time.perf_counter() - t)
        t = time.perf_counter()
        read_frame(a.video, i + 1, info, frame_index=fi, frames=n)
        step_t.append(time.perf_counter() - t)

    # A player: jump somewhere, then step forwards one frame at a time and back a few.
    jump_t, fwd_t, back_t = [], [], []
    with FrameReader(a.video, info, n) as reader:
        for _ in range(max(3, a.samples // 5)):
            i = rnd.randrange(n - 20)
            t = time.perf_counter()
            reader.read(i)
            jump_t.append(time.perf_counter() - t)
            for j in range(i + 1, i + 16):
                t = time.perf_counter()
                reader.read(j)
                fwd_t.append(time.perf_counter() - t)
            for j in range(i + 14, i + 10, -1):
                t = time.perf_counter()
                reader.read(j)
                back_t.append(time.perf_counter() - t)

    def p95(v: list[float]) -> float:
        return sorted(v)[max(0, int(len(v) * 0.95) - 1)]

    print(f"{a.video.name}: {n} frames {info.width}x{info.height}, {len(fi.keyframes)} keyframes")
    print(f"anchor: decode all frames from the start {full:.2f} s ({n / full:.0f} fps)")
    print(f"frame index (packets only): {build * 1000:.0f} ms ({build / full:.3f}x the anchor)")
    print(f"first frame: {first * 1000:.0f} ms")
    print(f"random frame: median {statistics.median(rand_t) * 1000:.0f} ms, p95 {p95(rand_t) * 1000:.0f} ms "
          f"(p95 {p95(rand_t) / full:.3f}x the anchor)")
    print(f"one-frame step (each a fresh seek): median {statistics.median(step_t) * 1000:.0f} ms, "
          f"p95 {p95(step_t) * 1000:.0f} ms")
    print(f"FrameReader: jump median {statistics.median(jump_t) * 1000:.0f} ms; step forward p95 "
          f"{p95(fwd_t) * 1000:.1f} ms ({p95(fwd_t) / (full / n):.2f}x the anchor's time per frame); "
          f"step back (kept frames) p95 {p95(back_t) * 1000:.2f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
