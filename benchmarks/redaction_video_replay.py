"""Replay the video pipeline's tracking on cached detections, to tune what the regions cover.

Detection is the slow part of a video run; tracking, margins and edge cover are not. This runs
witnessbox's own video detector once per clip set (cached as JSON under the clips folder,
git-ignored), then rebuilds the regions exactly as ``Redactor._video_file`` does for each
variant below (``link`` -> ``track_regions`` -> ``EdgeCover`` -> ``finish_regions``) and scores
them with video_eval.py's rule in-process (its own ``ellipse_mask``): protected share of
face-frames, longest exposed run, over-redaction. The default variant's figures equal those of
``redaction_video.py`` on the same clips (same regions files); the chosen defaults are then
checked by that whole command.

Usage: .venv/bin/python benchmarks/redaction_video_replay.py CLIPS_DIR [CLIPS_DIR...] [--only NAME,...]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
from _redaction_common import TOOLS

from witnessbox.media.video import iter_frames, probe_video
from witnessbox.redact.detector import CandidateFrameDetector, Detection
from witnessbox.redact.pipeline import RedactOptions, Redactor, finish_regions
from witnessbox.redact.regions import Region
from witnessbox.redact.tracking import EdgeCover, Margin, TrackPolicy, is_kept, link, track_cover, track_regions

sys.path.insert(0, str(TOOLS))
from redaction_eval import ellipse_mask  # noqa: E402  (the scorer's own mask)

Dets = list[list[Detection]]


def paint(m: np.ndarray, box: list[float] | tuple[float, ...], shape: str) -> None:
    """``m |= ellipse_mask(h, w, box, shape)``, computed in the box only (same arithmetic)."""
    h, w = m.shape
    x0, y0, x1, y1 = box
    xa, ya = max(int(np.floor(x0)), 0), max(int(np.floor(y0)), 0)
    xb, yb = min(int(np.ceil(x1)), w), min(int(np.ceil(y1)), h)
    if xb <= xa or yb <= ya:
        return
    if shape == "box":
        m[ya:yb, xa:xb] = True
        return
    cx, cy, rx, ry = (x0 + x1) / 2, (y0 + y1) / 2, max((x1 - x0) / 2, 0.5), max((y1 - y0) / 2, 0.5)
    yy, xx = np.mgrid[ya:yb, xa:xb]
    m[ya:yb, xa:xb] |= ((xx + 0.5 - cx) / rx) ** 2 + ((yy + 0.5 - cy) / ry) ** 2 <= 1.0


def cached_detections(clips: Path) -> dict[str, tuple[Dets, Dets]]:
    """Per clip: the faces and the weak boxes the default video detector returns per frame."""
    cache = clips / "detections.json"
    if cache.is_file():
        raw = json.loads(cache.read_text())
    else:
        det = Redactor(RedactOptions(), workers=1).video_detector()
        raw = {}
        for clip in sorted(clips.glob("*.mp4")):
            faces, weak = [], []
            for i, fr in enumerate(iter_frames(clip, probe_video(clip))):
                k, w = det.detect_all(fr, i) if isinstance(det, CandidateFrameDetector) else (det(fr, i), [])
                faces.append([[*d.box, d.score] for d in k])
                weak.append([[*d.box, d.score] for d in w])
            raw[clip.name] = [faces, weak]
            print(f"  detected {clip.name}", file=sys.stderr, flush=True)
        cache.write_text(json.dumps(raw))

    def conv(frames: list[list[list[float]]]) -> Dets:
        return [[Detection((b[0], b[1], b[2], b[3]), b[4]) for b in fr] for fr in frames]

    return {name: (conv(v[0]), conv(v[1])) for name, v in raw.items()}


def SizedMargin(x: float, y: float, small: float = 24.0, large: float = 64.0, large_share: float = 0.3) -> Margin:  # noqa: N802
    """A margin whose shares shrink to ``large_share`` from ``small`` to ``large`` px wide boxes."""
    return Margin(x=x, y=y, large_share=large_share, small=small, large=large)


_DEFAULTS = RedactOptions()


@dataclasses.dataclass(frozen=True)
class Variant:
    margin: Margin = _DEFAULTS.video_margin
    track: TrackPolicy = _DEFAULTS.track
    edges: EdgeCover | None = _DEFAULTS.video_edges
    threshold: float = 0.1  # per-frame threshold (at least the detector's own 0.1)
    weak_pad: int | None = None  # frames before/after for tracks whose best score is under keep_score
    post: Callable[[list[Region], int, int], list[Region]] | None = None


def regions_for(v: Variant, faces: Dets, weak: Dets, w: int, h: int) -> list[Region]:
    # Faces only: the weak boxes include the closer look's boxes between its candidate floor and
    # its own threshold (0.15), which the pipeline never hides.
    dets = [[d for d in f if d.score >= v.threshold] for f in faces]
    if v.weak_pad is None:
        found = track_regions(link(dets, v.track), len(dets), v.margin, v.track)
    else:
        weak_pol = dataclasses.replace(v.track, before=v.weak_pad, after=v.weak_pad)
        found = []
        for t in link(dets, v.track):
            if is_kept(t, len(dets), v.track):
                pol = v.track if max(t.scores) >= v.track.keep_score else weak_pol
                found += track_cover(t, len(dets), v.margin, pol)
    if v.edges is not None:
        found = v.edges.apply(found, w, h)
    if v.post is not None:
        found = v.post(found, w, h)
    return list(finish_regions(found))


def evaluate(clips: Path, v: Variant, dets: dict[str, tuple[Dets, Dets]],
             explain: dict[str, float] | None = None) -> dict[str, float | int | str]:
    """video_eval.py's figures for ``v``; ``explain`` gets the over-redaction of the regions
    that touch no labelled face ("stray", summed over frames) and the area by region source."""
    tot = prot = worst = 0
    over: list[float] = []
    exposed: list[str] = []
    for g in sorted(clips.glob("*.gt.json")):
        gt = json.loads(g.read_text())
        w, h = gt["width"], gt["height"]
        name = g.name[: -len(".gt.json")] + ".mp4"
        faces, weak = dets[name]
        byf: dict[int, list[Region]] = {}
        for r in regions_for(v, faces, weak, w, h):
            byf.setdefault(r.frame, []).append(r)
        runs: dict[int, int] = {}
        longest: dict[int, int] = {}
        for f, boxes in enumerate(gt["frames"]):
            red = np.zeros((h, w), bool)
            stray = np.zeros((h, w), bool)
            for r in byf.get(f, []):
                if explain is None:
                    paint(red, r.box, r.shape)
                    continue
                m = ellipse_mask(h, w, list(r.box), r.shape)
                red |= m
                if explain is not None:
                    # A region touching no labelled face: a false detection, or a face the
                    # truth leaves out (under 8 px, or less than 60% inside the frame).
                    touches = any(m[max(int(fc["box"][1]), 0):max(int(np.ceil(fc["box"][3])), 0),
                                    max(int(fc["box"][0]), 0):max(int(np.ceil(fc["box"][2])), 0)].any() for fc in boxes)
                    if not touches:
                        stray |= m
                    explain[r.source] = explain.get(r.source, 0.0) + float(m.sum()) / (h * w)
            near = np.zeros((h, w), bool)
            for fc in boxes:
                b = fc["box"]
                face = np.zeros((h, w), bool)
                paint(face, b, "ellipse")
                ok = (face & red).sum() / max(face.sum(), 1) >= 0.95
                tot += 1
                prot += ok
                runs[fc["id"]] = 0 if ok else runs.get(fc["id"], 0) + 1
                longest[fc["id"]] = max(longest.get(fc["id"], 0), runs[fc["id"]])
                worst = max(worst, runs[fc["id"]])
                bw, bh = b[2] - b[0], b[3] - b[1]
                paint(near, [b[0] - bw / 2, b[1] - bh / 2, b[2] + bw / 2, b[3] + bh / 2], "box")
            over.append(float((red & ~near).sum()) / (h * w))
            if explain is not None:
                explain["stray"] = explain.get("stray", 0.0) + float((stray & ~near).sum()) / (h * w)
                explain["frames"] = explain.get("frames", 0.0) + 1
        exposed += [f"{g.name[:-8]}:{i}({n})" for i, n in sorted(longest.items()) if n > 2]
    return {"face_frames": tot, "protected": prot / max(tot, 1), "longest": worst,
            "over": float(np.mean(over)), "exposed": " ".join(exposed)}


def variants() -> dict[str, Variant]:
    """The variants tried (issue 13). Those named "old ..." start from the defaults before it
    (margin 0.45 at every size, smooth 2, growth 0.06 up to 0.6), "default" is today's."""
    base = Variant(margin=Margin(x=0.45, y=0.45), track=TrackPolicy())  # the old defaults
    tp = TrackPolicy()
    return {
        "default": Variant(),
        "old default": base,
        "margin 0.30": dataclasses.replace(base, margin=Margin(x=0.3, y=0.3)),
        "margin 0.35": dataclasses.replace(base, margin=Margin(x=0.35, y=0.35)),
        "before/after 3": dataclasses.replace(base, track=dataclasses.replace(tp, before=3, after=3)),
        "before/after 0": dataclasses.replace(base, track=dataclasses.replace(tp, before=0, after=0)),
        "growth 0.03": dataclasses.replace(base, track=dataclasses.replace(tp, growth=0.03, max_growth=0.3)),
        "growth 0": dataclasses.replace(base, track=dataclasses.replace(tp, growth=0.0, max_growth=0.0)),
        "smooth 1": dataclasses.replace(base, track=dataclasses.replace(tp, smooth=1)),
        "smooth 0": dataclasses.replace(base, track=dataclasses.replace(tp, smooth=0)),
        "no edge cover": dataclasses.replace(base, edges=None),
        "keep_hits 6": dataclasses.replace(base, track=dataclasses.replace(tp, keep_hits=6)),
        "keep_score 0.5": dataclasses.replace(base, track=dataclasses.replace(tp, keep_score=0.5)),
        "threshold 0.15": dataclasses.replace(base, threshold=0.15),
        "max_gap 8": dataclasses.replace(base, track=dataclasses.replace(tp, max_gap=8)),
        "sized 24-64 0.30": dataclasses.replace(base, margin=SizedMargin(x=0.45, y=0.45)),
        "sized 24-64 0.25": dataclasses.replace(base, margin=SizedMargin(x=0.45, y=0.45, large_share=0.25)),
        "sized 32-96 0.30": dataclasses.replace(base, margin=SizedMargin(x=0.45, y=0.45, small=32, large=96)),
        "sized 16-48 0.30": dataclasses.replace(base, margin=SizedMargin(x=0.45, y=0.45, small=16, large=48)),
        "sized+kh6": dataclasses.replace(base, margin=SizedMargin(x=0.45, y=0.45),
                                         track=dataclasses.replace(tp, keep_hits=6)),
        "sized+kh6+s1": dataclasses.replace(base, margin=SizedMargin(x=0.45, y=0.45),
                                            track=dataclasses.replace(tp, keep_hits=6, smooth=1)),
        "sized+kh6+s1+g3": dataclasses.replace(base, margin=SizedMargin(x=0.45, y=0.45),
                                               track=dataclasses.replace(tp, keep_hits=6, smooth=1, growth=0.03,
                                                                         max_growth=0.3)),
        "sized+kh8+s1+g3+ba4": dataclasses.replace(base, margin=SizedMargin(x=0.45, y=0.45),
                                                   track=dataclasses.replace(tp, keep_hits=8, smooth=1, growth=0.03,
                                                                             max_growth=0.3, before=4, after=4)),
        "sized16+kh6+s1+g3": dataclasses.replace(base, margin=SizedMargin(x=0.45, y=0.45, small=16, large=48),
                                                 track=dataclasses.replace(tp, keep_hits=6, smooth=1, growth=0.03,
                                                                           max_growth=0.3)),
        "sized+s1+g3": dataclasses.replace(base, margin=SizedMargin(x=0.45, y=0.45),
                                           track=dataclasses.replace(tp, smooth=1, growth=0.03, max_growth=0.3)),
        "s1+g3": dataclasses.replace(base, track=dataclasses.replace(tp, smooth=1, growth=0.03, max_growth=0.3)),
        "weak tracks pad 2": dataclasses.replace(base, weak_pad=2),
        "weak tracks pad 0": dataclasses.replace(base, weak_pad=0),
        # combinations of the single steps that kept recall
        "m30+t15": dataclasses.replace(base, margin=Margin(x=0.3, y=0.3), threshold=0.15),
        "m30+s0": dataclasses.replace(base, margin=Margin(x=0.3, y=0.3), track=dataclasses.replace(tp, smooth=0)),
        "m30+s1": dataclasses.replace(base, margin=Margin(x=0.3, y=0.3), track=dataclasses.replace(tp, smooth=1)),
        "m30+t15+s1": dataclasses.replace(base, margin=Margin(x=0.3, y=0.3), threshold=0.15,
                                          track=dataclasses.replace(tp, smooth=1)),
        "m30+t15+s0": dataclasses.replace(base, margin=Margin(x=0.3, y=0.3), threshold=0.15,
                                          track=dataclasses.replace(tp, smooth=0)),
        "m30+t15+s0+ba3": dataclasses.replace(base, margin=Margin(x=0.3, y=0.3), threshold=0.15,
                                              track=dataclasses.replace(tp, smooth=0, before=3, after=3)),
        "m30+t15+s0+g3": dataclasses.replace(base, margin=Margin(x=0.3, y=0.3), threshold=0.15,
                                             track=dataclasses.replace(tp, smooth=0, growth=0.03, max_growth=0.3)),
    }


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("clips", type=Path, nargs="+")
    ap.add_argument("--only", default="", help="comma-separated variant names")
    ap.add_argument("--explain", action="store_true", help="over-redaction of regions touching no labelled face")
    a = ap.parse_args()
    vs = variants()
    names = [n for n in vs if not a.only or n in a.only.split(",")]
    for clips in a.clips:
        dets = cached_detections(clips)
        print(f"{clips.name}:")
        print(f"  {'variant':20s} {'protected':>9s} {'longest':>7s} {'over':>7s}  exposed > 2 frames")
        for n in names:
            ex: dict[str, float] | None = {} if a.explain else None
            r = evaluate(clips, vs[n], dets, ex)
            print(f"  {n:20s} {r['protected']:9.4f} {r['longest']:7d} {r['over']:7.4f}  {r['exposed']}", flush=True)
            if ex:
                fr = ex.pop("frames")
                print("    " + ", ".join(f"{k} {v / fr:.4f}" for k, v in ex.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
