"""Video redaction benchmark: witnessbox against deface 1.5.0, in the same run.

Speed: frames per second of the whole `witnessbox redact` command against the whole `deface`
command on ../shared/data/video/one-person-walking.mp4 (target: at least 2x).
Recall: clips with known face boxes built by ../shared/tools/make_clips.py from facemask-dev
(a crop window pans and zooms, some frames blurred), scored by ../shared/tools/video_eval.py:
share of face-frames protected and the longest run of frames in which one face is exposed
(targets: >= 0.98 and <= 2). deface's regions are rebuilt per frame with its own code and
defaults (threshold 0.2, mask scale 1.3), which is what its CLI draws; it has no tracking.
Recall is printed twice: as video_eval.py scores it, and without the face-frames whose box lies
wholly outside the frame (a make_clips.py defect, see without_ghosts), with the faces exposed
for more than 2 frames in a row. --seed 11 gives a second set of clips to check against.

--crowd builds the clips from the crowd tuning set instead ($WITNESSBOX_WIDER_DEV, default
../wider-dev beside the repository; see ../shared/tools/wider_dev.sh).

Usage: .venv/bin/python benchmarks/redaction_video.py [--clips N] [--frames F] [--seed S] [--crowd] [--skip-speed] [--skip-recall] [--skip-deface]
"""

from __future__ import annotations

import argparse
import json
import os
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
    timed_cpu,
)


# The crowd tuning set (../shared/tools/wider_dev.sh): WIDER FACE validation photos of everyday
# events, the protest/riot/march/street events held out.
WIDER_DEV = Path(os.environ.get("WITNESSBOX_WIDER_DEV", ROOT.parent / "wider-dev"))


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


def without_ghosts(clips: Path) -> tuple[Path, int]:
    """A copy of the clips' truth files without the boxes that lie wholly outside the frame.

    make_clips.py keeps a face when its visible area is at least 60% of its box, computed as
    (x1 - x0) * (y1 - y0) after clipping; a box beyond two edges at once (a corner) gives two
    negative sides whose product passes. Such a face has no pixel in the frame, so no region can
    protect it and video_eval.py counts it as exposed. The benchmark prints both scores.
    """
    out = clips / "without-ghosts"
    out.mkdir(exist_ok=True)
    dropped = 0
    for g in sorted(clips.glob("*.gt.json")):
        gt = json.loads(g.read_text())
        w, h = gt["width"], gt["height"]
        frames = []
        for boxes in gt["frames"]:
            keep = [b for b in boxes if min(b["box"][2], w) > max(b["box"][0], 0) and min(b["box"][3], h) > max(b["box"][1], 0)]
            dropped += len(boxes) - len(keep)
            frames.append(keep)
        (out / g.name).write_text(json.dumps({**gt, "frames": frames}))
    return out, dropped


def exposed_faces(clips: Path, regions: Path, longer_than: int = 2) -> list[str]:
    """``clip:face (run)`` for every face exposed for more than ``longer_than`` frames in a row,
    by video_eval.py's own rule (95% of the inscribed ellipse inside the frame's regions)."""
    import numpy as np

    sys.path.insert(0, str(TOOLS))
    from redaction_eval import ellipse_mask  # the scorer's own mask

    out = []
    for g in sorted(clips.glob("*.gt.json")):
        gt = json.loads(g.read_text())
        w, h = gt["width"], gt["height"]
        doc = json.loads((regions / (g.name[: -len(".gt.json")] + ".mp4.regions.json")).read_text())
        by_frame: dict[int, list[dict]] = {}
        for r in doc["regions"]:
            by_frame.setdefault(int(r["frame"]), []).append(r)
        run: dict[int, int] = {}
        worst: dict[int, int] = {}
        for f, boxes in enumerate(gt["frames"]):
            red = np.zeros((h, w), bool)
            for r in by_frame.get(f, []):
                red |= ellipse_mask(h, w, r["box"], r.get("shape", "ellipse"))
            for fc in boxes:
                face = ellipse_mask(h, w, fc["box"], "ellipse")
                ok = (face & red).sum() / max(face.sum(), 1) >= 0.95
                run[fc["id"]] = 0 if ok else run.get(fc["id"], 0) + 1
                worst[fc["id"]] = max(worst.get(fc["id"], 0), run[fc["id"]])
        out += [f"{g.name[:-8]}:{i} ({n})" for i, n in sorted(worst.items()) if n > longer_than]
    return out


def make_clip_set(out: Path, n: int, frames: int, seed: int, crowd: bool) -> Path:
    """The clips of one seed (cached): from facemask-dev, or with ``crowd`` from the crowd
    tuning set (WIDER FACE validation photos, non-commercial: read in place, never copied
    into the repository; make_clips.py wants IMAGES/NAME.png, so a git-ignored folder of links
    named .png points at the photos, which OpenCV reads by content)."""
    clips = out / f"clips-{'crowd-' if crowd else ''}{n}x{frames}-{seed}"
    if clips.is_dir():
        return clips
    if crowd:
        ann, imgs = WIDER_DEV / "annotations", out / "wider-dev-png"
        imgs.mkdir(parents=True, exist_ok=True)
        for p in (WIDER_DEV / "images").iterdir():
            link = imgs / (p.stem + ".png")
            if not link.exists():
                link.symlink_to(p.resolve())
    else:
        ann, imgs = DATA / "facemask-dev" / "annotations", DATA / "facemask-dev" / "images"
    subprocess.run([sys.executable, str(TOOLS / "make_clips.py"), str(ann), str(imgs), str(clips), str(n), str(frames),
                    str(seed)], check=True)
    return clips


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
    ap.add_argument("--crowd", action="store_true", help=f"clips from the crowd tuning set ({WIDER_DEV})")
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
    clips = make_clip_set(out, a.clips, a.frames, a.seed, a.crowd)
    shutil.rmtree(out / "wb", ignore_errors=True)
    t_clips, c_clips = timed_cpu([str(VENV / "witnessbox"), "redact", *map(str, sorted(clips.glob("*.mp4"))),
                                  "-o", str(out / "wb")])
    tools = [("witnessbox", out / "wb")]
    if not a.skip_deface:
        deface_video_regions(clips, out / "deface")
        tools.append(("deface 1.5.0", out / "deface"))
    fixed, ghosts = without_ghosts(clips)
    for title, truth in [("all face-frames, as video_eval.py scores them", clips),
                         (f"without the {ghosts} face-frames wholly outside the frame (see without_ghosts)", fixed)]:
        rows = [(name, video_eval(truth, regs)) for name, regs in tools]
        print(f"recall on {a.clips} clips x {a.frames} frames, {title} ({rows[0][1]['face_frames']} face-frames):")
        print(f"  {'tool':14s} {'protected':>10s} {'longest exposed run':>20s} {'over-red.':>10s}")
        for name, r in rows:
            print(f"  {name:14s} {r['protected_share']:10.4f} {r['longest_exposed_run']:20d} {r['over_redaction_mean']:10.4f}")
        print(f"  witnessbox faces exposed > 2 frames in a row: {', '.join(exposed_faces(truth, out / 'wb')) or 'none'}")
    n_frames = sum(len(json.loads(g.read_text())["frames"]) for g in clips.glob("*.gt.json"))
    print(f"speed on the clips (crowds: the closer look at small faces runs often), whole command, {n_frames} frames:")
    print(f"  witnessbox   {t_clips:7.1f} s  {n_frames / t_clips:6.1f} fps  (CPU {c_clips:.1f} s)")
    if not a.skip_deface:
        own = out / "deface-clips"  # deface writes NAME_anonymized.mp4 beside its inputs
        shutil.rmtree(own, ignore_errors=True)
        own.mkdir()
        for clip in sorted(clips.glob("*.mp4")):
            shutil.copy(clip, own / clip.name)
        t_df, c_df = timed_cpu([str(VENV / "deface"), *map(str, sorted(own.glob("*.mp4"))), *DEFACE_EP])
        print(f"  deface 1.5.0 {t_df:7.1f} s  {n_frames / t_df:6.1f} fps  (CPU {c_df:.1f} s)")
        print(f"  ratio {t_df / t_clips:.2f}x, in CPU time {c_df / c_clips:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
