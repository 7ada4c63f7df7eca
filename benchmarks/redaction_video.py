"""Video redaction benchmark: witnessbox against deface 1.5.0, in the same run.

Speed: frames per second of the whole `witnessbox redact` command against the whole `deface`
command on ../shared/data/video/one-person-walking.mp4 (target: at least 2x).
Recall: clips with known face boxes built by ../shared/tools/make_clips.py from facemask-dev
(a crop window pans and zooms, some frames blurred), scored by ../shared/tools/video_eval.py:
share of face-frames protected and the longest run of frames in which one face is exposed
(targets: >= 0.98 and <= 2). deface's regions are rebuilt per frame with its own code and
defaults (threshold 0.2, mask scale 1.3), which is what its CLI draws; it has no tracking.

Usage: .venv/bin/python benchmarks/redaction_video.py [--clips N] [--frames F] [--skip-speed] [--skip-deface]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path

from _redaction_common import (
    DATA,
    DEFACE_EP,
    ROOT,
    TOOLS,
    VENV,
    deface_detector,
    deface_frame_regions,
    score,
    timed,
)


def deface_video_regions(clips: Path, out: Path) -> None:
    """Per-frame regions of what deface's CLI draws on each clip (its defaults)."""
    import imageio.v2 as iio

    cf = deface_detector()
    out.mkdir(parents=True, exist_ok=True)
    for clip in sorted(clips.glob("*.mp4")):
        reader = iio.get_reader(clip)
        regs, n, w, h = [], 0, 0, 0
        for n, frame in enumerate(reader):
            h, w = frame.shape[:2]
            regs.extend(deface_frame_regions(cf, frame, n))
        reader.close()
        doc = {"version": 1, "media": {"width": w, "height": h, "frames": n + 1}, "regions": regs}
        (out / (clip.name + ".regions.json")).write_text(json.dumps(doc))


def video_eval(clips: Path, regions: Path) -> dict[str, float]:
    return score("video_eval.py", clips, regions)


def count_frames(path: Path) -> int:
    import av

    with av.open(str(path)) as c:
        return sum(1 for _ in c.decode(video=0))


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--clips", type=int, default=12)
    ap.add_argument("--frames", type=int, default=90)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "out" / "video")
    ap.add_argument("--skip-speed", action="store_true")
    ap.add_argument("--skip-recall", action="store_true")
    ap.add_argument("--skip-deface", action="store_true")
    a = ap.parse_args()
    out = a.out
    out.mkdir(parents=True, exist_ok=True)
    if not a.skip_speed:
        walk = DATA / "video" / "one-person-walking.mp4"
        n = count_frames(walk)
        shutil.rmtree(out / "speed", ignore_errors=True)
        (out / "speed").mkdir()
        t_wb = timed([str(VENV / "witnessbox"), "redact", str(walk), "-o", str(out / "speed")])
        print(f"speed on {walk.name} ({n} frames), whole command:")
        print(f"  witnessbox   {t_wb:7.1f} s  {n / t_wb:6.1f} fps")
        if not a.skip_deface:
            t_df = timed([str(VENV / "deface"), str(walk), "-o", str(out / "speed" / "deface.mp4"), *DEFACE_EP])
            print(f"  deface 1.5.0 {t_df:7.1f} s  {n / t_df:6.1f} fps")
            print(f"  ratio {t_df / t_wb:.2f}x  (target >= 2)")
    if a.skip_recall:
        return 0
    clips = out / f"clips-{a.clips}x{a.frames}-{a.seed}"
    if not clips.is_dir():
        subprocess.run([sys.executable, str(TOOLS / "make_clips.py"), str(DATA / "facemask-dev" / "annotations"),
                        str(DATA / "facemask-dev" / "images"), str(clips), str(a.clips), str(a.frames), str(a.seed)],
                       check=True)
    shutil.rmtree(out / "wb", ignore_errors=True)
    subprocess.run([str(VENV / "witnessbox"), "redact", *map(str, sorted(clips.glob("*.mp4"))), "-o", str(out / "wb")],
                   check=True, stdout=subprocess.DEVNULL)
    rows = [("witnessbox", video_eval(clips, out / "wb"))]
    if not a.skip_deface:
        deface_video_regions(clips, out / "deface")
        rows.append(("deface 1.5.0", video_eval(clips, out / "deface")))
    print(f"recall on {a.clips} clips x {a.frames} frames ({rows[0][1]['face_frames']} face-frames):")
    print(f"  {'tool':14s} {'protected':>10s} {'longest exposed run':>20s} {'over-red.':>10s}")
    for name, r in rows:
        print(f"  {name:14s} {r['protected_share']:10.4f} {r['longest_exposed_run']:20d} {r['over_redaction_mean']:10.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
