"""Opening the review of a REAL-sized 1080p original (issue 12): what comes before the first frame
once the review's own work is done (benchmarks/review_long_state.py measures that part).

A 10-minute 1080p H.264 video (x264 ultrafast, 30 fps, ``--mbps`` average bitrate so its size is
that of camera footage: a few noise textures cycled under a moving bar, the frame number drawn in
as bits) is sealed in a temporary encrypted archive, then, ``--runs`` times:

1. ``Workspace.open_original`` (the age payload decrypted: in memory, or an anonymous unlinked file),
2. ``FrameIndex.build`` on the decrypted stream (every packet read),
3. ``FrameReader(f, probe_video(f), frames).read(0)`` on the stream the review's player opens
   (``open_original(sha, random_access=True)`` where the code has it: chunks decrypted as read),
   then 30 steps forward and a jump to the end; ``total_to_frame0`` is what the screen waits on,

each part timed, and the first frame checked against the number drawn in. Anchor (same run):
plain PyAV decode of frame 0 from the decrypted bytes (``av.open`` on the decrypted stream, first
frame to RGB), no index.

Usage: .venv/bin/python benchmarks/review_real_open.py [--seconds 600] [--mbps 12] [--runs 3]
(making the video takes a few minutes on a 2-core machine; nothing is written in the repository.)
"""

from __future__ import annotations

import argparse
import contextlib
import inspect
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ARCHIVE_PASS = "correct horse battery staple"
W, H, FPS = 1920, 1080, 30
SEGMENT = 300  # frames encoded; the rest repeats them
BIT = 32  # size of a bit's square in the drawn frame number


def make_video(path: Path, frames: int, mbps: float) -> None:
    """``SEGMENT`` frames encoded once (a keyframe every second, no B-frames), their packets then
    repeated with shifted timestamps up to ``frames`` (frame ``i`` shows the number ``i % SEGMENT``)."""
    import av

    rng = np.random.default_rng(3)
    textures = [rng.integers(40, 200, (H * 3 // 2, W), dtype=np.uint8) for _ in range(4)]
    seg = path.with_name("segment.mp4")
    with av.open(str(seg), "w") as c:
        vs = c.add_stream("libx264", rate=FPS)
        vs.width, vs.height, vs.pix_fmt = W, H, "yuv420p"
        vs.bit_rate = int(mbps * 1e6)
        vs.options = {"preset": "ultrafast", "x264-params": f"keyint={FPS}:min-keyint={FPS}:scenecut=0:bframes=0"}
        vs.thread_type = "AUTO"
        for i in range(min(frames, SEGMENT)):
            a = textures[(i // 15) % len(textures)].copy()
            x = (i * 7) % (W - 200)
            a[400:600, x:x + 200] = 230
            for b in range(16):  # frame number, bit b: a white or black square
                a[:BIT, b * BIT:(b + 1) * BIT] = 255 if (i >> b) & 1 else 0
            fr = av.VideoFrame.from_ndarray(a, format="yuv420p")
            fr.pts = i
            for pkt in vs.encode(fr):
                c.mux(pkt)
        for pkt in vs.encode():
            c.mux(pkt)
    with av.open(str(seg)) as src, av.open(str(path), "w") as out:
        ins = src.streams.video[0]
        os_ = out.add_stream_from_template(ins)
        pkts = [p for p in src.demux(ins) if p.size]
        step = SEGMENT * int(round(1 / (ins.time_base * FPS)))
        for r in range((frames + SEGMENT - 1) // SEGMENT):
            for p in pkts[: frames - r * SEGMENT]:
                q = av.Packet(bytes(p))
                q.pts, q.dts = p.pts + r * step, p.dts + r * step
                q.is_keyframe, q.time_base, q.stream = p.is_keyframe, p.time_base, os_
                out.mux(q)
    seg.unlink()


def number_of(rgb: np.ndarray) -> int:
    return sum(1 << b for b in range(16) if rgb[4:BIT - 4, b * BIT + 4:(b + 1) * BIT - 4, 1].mean() > 128)


def load() -> str:
    return " ".join(f"{v:.2f}" for v in os.getloadavg())


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--seconds", type=float, default=600)
    p.add_argument("--mbps", type=float, default=12)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--workdir", type=Path, help="keep the archive here and reuse it on the next run "
                   "(outside the repository; to compare two versions of the code on the same video)")
    a = p.parse_args()

    import av

    from witnessbox.media.video import FrameIndex, FrameReader, probe_video
    from witnessbox.workspace import Workspace

    frames = int(a.seconds * FPS)
    with contextlib.ExitStack() as stack:
        tmp = a.workdir or Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="wb-realopen-")))
        if (tmp / "sha").exists():
            sha = (tmp / "sha").read_text()
        else:
            video = tmp / "long.mp4"
            t = time.perf_counter()
            make_video(video, frames, a.mbps)
            print(f"video: {frames} frames 1080p, {video.stat().st_size / 1e6:.0f} MB, made in "
                  f"{time.perf_counter() - t:.0f} s (load {load()})")
            with Workspace.init(tmp / "archive", ARCHIVE_PASS) as ws:
                # Fingerprinting for tracing is not what is measured here (and decodes the video).
                ws.tracing.on_sealed = lambda *_a, **_k: None  # type: ignore[method-assign]
                sha = ws.add([video]).added[0].sha256
            video.unlink()
            (tmp / "sha").write_text(sha)
        rows: list[dict[str, float]] = []
        with Workspace.open(tmp / "archive", ARCHIVE_PASS) as ws:
            t = time.perf_counter()
            ws._identity()  # noqa: SLF001 - the key is unlocked once per session, not per review
            print(f"key unlock (once per session, not counted below): {time.perf_counter() - t:.2f} s")
            # What the review's player opens (chunks decrypted as read, where this version has it).
            review_open = ({"random_access": True}
                           if "random_access" in inspect.signature(ws.open_original).parameters else {})
            print(f"the reader's stream: open_original({review_open or ''})")
            for run in range(a.runs):
                r: dict[str, float] = {}
                t0 = time.perf_counter()
                with ws.open_original(sha) as f:
                    r["open_original"] = time.perf_counter() - t0
                    t = time.perf_counter()
                    with av.open(f, "r") as c:
                        fr0 = next(iter(c.decode(c.streams.video[0])))
                        anchor = fr0.to_ndarray(format="rgb24")
                    r["anchor"] = time.perf_counter() - t
                    assert number_of(anchor) == 0
                    t = time.perf_counter()
                    fi = FrameIndex.build(f)
                    r["index_build"] = time.perf_counter() - t
                    assert fi is not None and len(fi.pts) == frames, "index"
                t0 = time.perf_counter()
                with ws.open_original(sha, **review_open) as f:
                    t1 = time.perf_counter()
                    with FrameReader(f, probe_video(f), frames) as reader:
                        first = reader.read(0)
                        t2 = time.perf_counter()
                        got = [number_of(reader.read(k)) for k in range(1, 31)]
                        t3 = time.perf_counter()
                        assert number_of(first) == 0 and got == [k % SEGMENT for k in range(1, 31)], got
                        far = frames - 5
                        assert number_of(reader.read(far)) == far % SEGMENT
                        t4 = time.perf_counter()
                r["reader_open_original"] = t1 - t0
                r["reader_first_frame"] = t2 - t1
                r["total_to_frame0"] = t2 - t0
                r["next_30_frames"] = t3 - t2
                r["jump_to_end"] = t4 - t3
                rows.append(r)
                print(f"run {run + 1}: " + ", ".join(f"{k} {v:.2f} s" for k, v in r.items()) + f" (load {load()})")
        print("median over runs (shared machine, load " + load() + "):")
        for k in rows[0]:
            print(f"  {k:22s} {statistics.median(r[k] for r in rows):7.2f} s")
        print("anchor: plain PyAV decode of frame 0 from the decrypted bytes = "
              f"{statistics.median(r['anchor'] for r in rows):.2f} s; "
              f"total to frame 0 (decrypt + reader + frame 0) = "
              f"{statistics.median(r['total_to_frame0'] for r in rows):.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
