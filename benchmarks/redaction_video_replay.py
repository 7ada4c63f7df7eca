"""Replay the video pipeline's tracking on cached detections, to tune what the regions cover.

Detection is the slow part of a video run; tracking, margins and edge cover are not. This runs
witnessbox's own video detector once per clip set (cached as JSON under the clips folder,
git-ignored), then rebuilds the regions exactly as ``Redactor._video_file`` does for each
variant below (``link`` -> ``track_regions`` -> ``EdgeCover`` -> ``finish_regions``) and scores
them with video_eval.py's rule in-process (its own ``ellipse_mask``): protected share of
face-frames, longest exposed run, over-redaction. The default variant's figures equal those of
``redaction_video.py`` on the same clips (same regions files); the chosen defaults are then
checked by that whole command.

Second look (``--verify``, issue 13): every weak track (best score under ``keep_score``) is
looked at again on up to three of its sightings, the crop around its box enlarged 2x and 3x
(cached as ``closer.json`` beside ``detections.json``); variants may drop weak tracks the
closer look rejects. ``--tracks`` prints where the over-redaction comes from, by kind of track:
a labelled face, a face the truth leaves out (rebuilt from the photo's annotations with
make_clips.py's own geometry: under 8 px or less than 60% inside the frame), or nothing.

Usage: .venv/bin/python benchmarks/redaction_video_replay.py CLIPS_DIR [CLIPS_DIR...] [--only NAME,...]
       [--explain] [--tracks] [--verify]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
from _redaction_common import DATA, TOOLS

from witnessbox.media.video import iter_frames, probe_video
from witnessbox.redact.detector import CandidateFrameDetector, Detection
from witnessbox.redact.pipeline import RedactOptions, Redactor, finish_regions
from witnessbox.redact.regions import Region
from witnessbox.redact.tracking import (
    Box,
    EdgeCover,
    Margin,
    Track,
    TrackPolicy,
    _grow,
    _lerp,
    _union,
    is_kept,
    link,
    track_cover,
    track_regions,
)

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
WIDER_DEV = Path(os.environ.get("WITNESSBOX_WIDER_DEV", Path(__file__).resolve().parents[2] / "wider-dev"))


@dataclasses.dataclass(frozen=True)
class Variant:
    margin: Margin = _DEFAULTS.video_margin
    track: TrackPolicy = _DEFAULTS.track
    edges: EdgeCover | None = _DEFAULTS.video_edges
    threshold: float = 0.1  # per-frame threshold (at least the detector's own 0.1)
    weak_pad: int | None = None  # frames before/after for tracks whose best score is under keep_score
    post: Callable[[list[Region], int, int], list[Region]] | None = None
    # Second look: a weak track (best score under keep_score) is dropped when no closer look at
    # it scores at least this (None: off).
    verify: float | None = None
    # Margins from the track's own jitter: (least share, shares per unit of jitter, most share).
    jitter: tuple[float, float, float] | None = None
    # Carried boxes (before/after/gaps) move with the track's own velocity; growth as given.
    motion: bool = False
    # Union of the neighbours within ``smooth`` frames shifted by the track's motion first
    # (``aligned_from``: only for tracks whose best score reaches it).
    aligned: bool = False
    aligned_from: float = 0.0
    # Weak tracks whose boxes' aspect (h/w) lies outside this range are dropped.
    aspect: tuple[float, float] | None = None
    # Oracle bound, not a method: tracks on no annotated face (labelled or not, see all_faces)
    # whose best score is under this are dropped, using the truth.
    oracle: float | None = None
    # Weak tracks kept only because the video's start or end may have cut them short need this
    # many sightings (None: 1, as today; 0: no such rule).
    cut: int | None = None


def _centre(b: Box) -> tuple[float, float]:
    return (b[0] + b[2]) / 2, (b[1] + b[3]) / 2


def _shift(b: Box, dx: float, dy: float) -> Box:
    return (b[0] + dx, b[1] + dy, b[2] + dx, b[3] + dy)


def velocity(t: Track, at: int, span: int = 5) -> tuple[float, float]:
    """Centre motion in px per frame around sighting ``at`` (from up to ``span`` sightings)."""
    i0, i1 = max(0, at - span // 2), min(len(t.frames) - 1, at + span // 2)
    if i1 == i0:
        i0, i1 = max(0, i1 - span + 1), min(len(t.frames) - 1, i0 + span - 1)
    if i1 == i0 or t.frames[i1] == t.frames[i0]:
        return 0.0, 0.0
    (ax, ay), (bx, by) = _centre(t.boxes[i0]), _centre(t.boxes[i1])
    n = t.frames[i1] - t.frames[i0]
    return (bx - ax) / n, (by - ay) / n


def jitter(t: Track) -> float:
    """Median frame-to-frame wobble of the box (centre and size against the neighbours'
    mean, after the track's own motion), as a share of the box width."""
    if len(t.frames) < 3:
        return 1.0
    res = []
    for i in range(1, len(t.frames) - 1):
        a, b, c = t.boxes[i - 1], t.boxes[i], t.boxes[i + 1]
        fa, fb, fc = t.frames[i - 1], t.frames[i], t.frames[i + 1]
        k = (fb - fa) / (fc - fa)
        pred = _lerp(a, c, k)
        wdt = max(b[2] - b[0], 1.0)
        res.append(max(abs(b[j] - pred[j]) for j in range(4)) / wdt)
    return float(np.median(res))


def cover(t: Track, n: int, margin: Margin, pol: TrackPolicy, v: Variant) -> list[Region]:
    """``track_cover`` with the variant's motion options."""
    if not (v.motion or v.aligned):
        return track_cover(t, n, margin, pol)
    out: list[Region] = []
    first, last = t.frames[0], t.frames[-1]
    seen = dict(zip(t.frames, range(len(t.frames)), strict=True))
    j = 0
    for f in range(max(0, first - pol.before), min(n, last + pol.after + 1)):
        if f in seen:
            i = j = seen[f]
            box = t.boxes[i]
            vx, vy = velocity(t, i) if v.aligned and max(t.scores) >= v.aligned_from else (0.0, 0.0)
            for k in range(len(t.frames)):
                d = t.frames[k] - f
                if k != i and abs(d) <= pol.smooth:
                    box = _union(box, _shift(t.boxes[k], -vx * d, -vy * d))
            out.append(Region(f, "ellipse", margin.apply(box), t.scores[i], "detector"))
            continue
        if f < first:
            vx, vy = velocity(t, 0) if v.motion else (0.0, 0.0)
            box = _grow(_shift(t.boxes[0], vx * (f - first), vy * (f - first)),
                        min(pol.max_growth, pol.growth * (first - f)))
        elif f > last:
            vx, vy = velocity(t, len(t.frames) - 1) if v.motion else (0.0, 0.0)
            box = _grow(_shift(t.boxes[-1], vx * (f - last), vy * (f - last)),
                        min(pol.max_growth, pol.growth * (f - last)))
        else:
            while j + 1 < len(t.frames) and t.frames[j + 1] < f:
                j += 1
            fa, fb = t.frames[j], t.frames[j + 1]
            dist = min(f - fa, fb - f)
            box = _grow(_lerp(t.boxes[j], t.boxes[j + 1], (f - fa) / (fb - fa)), min(pol.max_growth, pol.growth * dist))
        out.append(Region(f, "ellipse", margin.apply(box), 0.0, "track"))
    return out


def kept_tracks(v: Variant, dets: Dets, clip: str, closer: dict[str, dict[str, list[float]]] | None,
                truth: list[list[Box]] | None = None) -> list[Track]:
    """The tracks the variant hides."""
    out = []
    for t in link(dets, v.track):
        if not is_kept(t, len(dets), v.track):
            continue
        if v.cut is not None and max(t.scores) < v.track.keep_score and len(t.frames) < v.track.keep_hits \
                and (v.cut == 0 or len(t.frames) < v.cut):
            continue
        if v.oracle is not None and truth is not None and max(t.scores) < v.oracle:
            if 2 * sum(_hit(b, truth[f]) for f, b in zip(t.frames, t.boxes, strict=True)) < len(t.frames):
                continue
        weak = max(t.scores) < v.track.keep_score
        if weak and v.aspect is not None:
            asp = float(np.median([(b[3] - b[1]) / max(b[2] - b[0], 1e-6) for b in t.boxes]))
            if not v.aspect[0] <= asp <= v.aspect[1]:
                continue
        if weak and v.verify is not None:
            looks = (closer or {}).get(clip, {})
            best = max((max(looks.get(k, [0.0])) for k in look_keys(t)), default=0.0)
            if best < v.verify:
                continue
        out.append(t)
    return out


def look_keys(t: Track, n: int = 3) -> list[str]:
    """The sightings a second look examines: the ``n`` best-scoring ones."""
    best = sorted(range(len(t.frames)), key=lambda i: -t.scores[i])[:n]
    return [f"{t.frames[i]}:" + ",".join(f"{c:.1f}" for c in t.boxes[i]) for i in sorted(best)]


def regions_for(v: Variant, faces: Dets, weak: Dets, w: int, h: int, clip: str = "",
                closer: dict[str, dict[str, list[float]]] | None = None,
                truth: list[list[Box]] | None = None) -> list[Region]:
    # Faces only: the weak boxes include the closer look's boxes between its candidate floor and
    # its own threshold (0.15), which the pipeline never hides.
    dets = [[d for d in f if d.score >= v.threshold] for f in faces]
    plain = v.weak_pad is None and v.verify is None and v.jitter is None and not v.motion and not v.aligned \
        and v.aspect is None and v.oracle is None and v.cut is None
    if plain:
        found = track_regions(link(dets, v.track), len(dets), v.margin, v.track)
    else:
        weak_pol = v.track if v.weak_pad is None else dataclasses.replace(v.track, before=v.weak_pad, after=v.weak_pad)
        found = []
        for t in kept_tracks(v, dets, clip, closer, truth):
            pol = v.track if max(t.scores) >= v.track.keep_score else weak_pol
            m = v.margin
            if v.jitter is not None:
                lo, k, hi = v.jitter
                share = min(hi, lo + k * jitter(t))
                m = dataclasses.replace(m, x=share, y=share)
            found += cover(t, len(dets), m, pol, v)
    if v.edges is not None:
        found = v.edges.apply(found, w, h)
    if v.post is not None:
        found = v.post(found, w, h)
    return list(finish_regions(found))


def frames_of(clip: Path) -> list[np.ndarray]:
    return list(iter_frames(clip, probe_video(clip)))


def closer_looks(clips: Path, dets: dict[str, tuple[Dets, Dets]]) -> dict[str, dict[str, list[float]]]:
    """Per clip and examined sighting of a weak default track: the best score of a face found
    by the second look (crop of 4x the box's side around it, at least 64 px, enlarged 2x, 3x and
    2x mirrored) whose centre lies in the sighting's box grown by half (cached: closer.json)."""
    from witnessbox.redact.detector import CenterFace, _resized, _unscale, detect_mirrored

    cache = clips / "closer.json"
    raw: dict[str, dict[str, list[float]]] = json.loads(cache.read_text()) if cache.is_file() else {}
    net: CenterFace | None = None
    pol = TrackPolicy()
    changed = False
    for name, (faces, _) in sorted(dets.items()):
        have = raw.setdefault(name, {})
        todo: list[tuple[str, int, Box]] = []
        for t in link(faces, pol):
            if is_kept(t, len(faces), pol) and max(t.scores) < pol.keep_score:
                for k in look_keys(t):
                    if k not in have:
                        f = int(k.split(":")[0])
                        todo.append((k, f, t.boxes[t.frames.index(f)]))
        if not todo:
            continue
        net = net or CenterFace(0.02, threads=0)
        frames = frames_of(clips / name)
        for k, f, b in todo:
            fr = frames[f]
            hh, ww = fr.shape[:2]
            (cx, cy), side = _centre(b), max(b[2] - b[0], b[3] - b[1])
            half = max(2 * side, 32.0)
            x0, y0 = max(0, int(cx - half)), max(0, int(cy - half))
            x1, y1 = min(ww, int(np.ceil(cx + half))), min(hh, int(np.ceil(cy + half)))
            crop = np.ascontiguousarray(fr[y0:y1, x0:x1])
            g = _grow(b, 0.5)
            scores = []
            for sc, mirror in ((2.0, False), (3.0, False), (2.0, True)):
                img = _resized(crop, sc)
                found = detect_mirrored(net, img) if mirror else net(img)
                sx, sy = img.shape[1] / (x1 - x0), img.shape[0] / (y1 - y0)
                best = 0.0
                for d in found:
                    u = _unscale(d, sx, sy, x0, y0)
                    ux, uy = _centre(u.box)
                    if g[0] <= ux <= g[2] and g[1] <= uy <= g[3] and 0.4 < (u.box[2] - u.box[0]) / max(b[2] - b[0], 1e-6) < 2.5:
                        best = max(best, u.score)
                scores.append(round(best, 4))
            have[k] = scores
            changed = True
        print(f"  looked closer at {len(todo)} sightings in {name}", file=sys.stderr, flush=True)
    if changed:
        cache.write_text(json.dumps(raw))
    return raw


def all_faces(clips: Path) -> dict[str, list[list[Box]]]:
    """Per clip and frame, every annotated face of the clip's photo in clip pixels, labelled or
    not (make_clips.py's own random draws and geometry, replayed from the folder's seed)."""
    import math
    import random
    import xml.etree.ElementTree as ET

    import cv2

    seed = int(clips.name.rsplit("-", 1)[1])
    root = WIDER_DEV if "crowd" in clips.name else DATA / "facemask-dev"
    ann = root / "annotations"
    rng = random.Random(seed)
    cands = []
    for xf in sorted(ann.glob("*.xml")):
        r = ET.parse(xf).getroot()
        w, h = int(r.findtext("size/width") or 0), int(r.findtext("size/height") or 0)
        boxes = [[float(o.findtext("bndbox/" + k) or 0) for k in ("xmin", "ymin", "xmax", "ymax")]
                 for o in r.findall("object")]
        if w >= h and len(boxes) >= 2:
            cands.append((xf.stem, boxes))
    gts = sorted(clips.glob("*.gt.json"))
    out: dict[str, list[list[Box]]] = {}
    W, H, UP = 640, 360, 2.0  # noqa: N806  (make_clips.py's names)
    for ci, (name, boxes) in enumerate(rng.sample(cands, len(gts))):
        gt = json.loads(gts[ci].read_text())
        assert gt["source"] == name, (gt["source"], name)
        z0, z1 = rng.uniform(0.75, 1.0), rng.uniform(0.75, 1.0)
        img = cv2.imread(str(next((root / "images").glob(name + ".*"))))
        bh, bw = round(img.shape[0] * UP), round(img.shape[1] * UP)
        frames = len(gt["frames"])
        per: list[list[Box]] = []
        for f in range(frames):
            t = f / (frames - 1)
            z = z0 + (z1 - z0) * t
            ww = min(bw, bh * W / H) * z
            wh = ww * H / W
            cx = ww / 2 + (bw - ww) * (0.5 + 0.5 * math.sin(2 * math.pi * t + ci))
            cy = wh / 2 + (bh - wh) * (0.5 + 0.5 * math.cos(math.pi * t + ci))
            x0, y0, s = cx - ww / 2, cy - wh / 2, W / ww
            per.append([((b[0] * UP - x0) * s, (b[1] * UP - y0) * s, (b[2] * UP - x0) * s, (b[3] * UP - y0) * s)
                        for b in boxes])
        out[gts[ci].name[: -len(".gt.json")] + ".mp4"] = per
    return out


def _hit(box: Box, faces: list[Box]) -> bool:
    """Whether a detector box sits on one of ``faces`` (its centre inside the face's box grown
    by half, or the face's centre inside it)."""
    cx, cy = _centre(box)
    for fb in faces:
        g = _grow(fb, 0.5)
        fx, fy = _centre(fb)
        if (g[0] <= cx <= g[2] and g[1] <= cy <= g[3]) or (box[0] <= fx <= box[2] and box[1] <= fy <= box[3]):
            return True
    return False


def track_report(clips: Path, v: Variant, dets: dict[str, tuple[Dets, Dets]],
                 closer: dict[str, dict[str, list[float]]] | None) -> None:
    """Over-redaction by kind of kept track (each track's regions alone, outside the labelled
    faces' neighbourhoods), and the weak tracks one by one."""
    full = all_faces(clips)
    area: dict[str, float] = {}
    count: dict[str, int] = {}
    frames_total = 0
    rows = []
    for g in sorted(clips.glob("*.gt.json")):
        gt = json.loads(g.read_text())
        w, h = gt["width"], gt["height"]
        name = g.name[: -len(".gt.json")] + ".mp4"
        frames_total += len(gt["frames"])
        faces = [[d for d in f if d.score >= v.threshold] for f in dets[name][0]]
        near = []
        for boxes in gt["frames"]:
            m = np.zeros((h, w), bool)
            for fc in boxes:
                b = fc["box"]
                bw, bh = b[2] - b[0], b[3] - b[1]
                paint(m, [b[0] - bw / 2, b[1] - bh / 2, b[2] + bw / 2, b[3] + bh / 2], "box")
            near.append(m)
        for t in link(faces, v.track):
            if not is_kept(t, len(faces), v.track):
                continue
            lab = sum(_hit(b, [tuple(fc["box"]) for fc in gt["frames"][f]]) for f, b in zip(t.frames, t.boxes, strict=True))
            anyf = sum(_hit(b, full[name][f]) for f, b in zip(t.frames, t.boxes, strict=True))
            kind = "labelled" if lab * 2 >= len(t.frames) else "unlabelled face" if anyf * 2 >= len(t.frames) else "nothing"
            strength = "strong" if max(t.scores) >= v.track.keep_score else "weak"
            regs = track_cover(t, len(faces), v.margin, v.track)
            if v.edges is not None:
                regs = v.edges.apply(regs, w, h)
            byf: dict[int, list[Region]] = {}
            for r in regs:
                byf.setdefault(r.frame, []).append(r)
            a = 0.0
            for f, rs in byf.items():
                m = np.zeros((h, w), bool)
                for r in rs:
                    paint(m, r.box, r.shape)
                a += float((m & ~near[f]).sum()) / (h * w)
            key = f"{strength} {kind}"
            area[key] = area.get(key, 0.0) + a
            count[key] = count.get(key, 0) + 1
            if strength == "weak":
                looks = (closer or {}).get(name, {})
                sc = [max(looks[k]) for k in look_keys(t) if k in looks]
                asp = float(np.median([(b[3] - b[1]) / max(b[2] - b[0], 1e-6) for b in t.boxes]))
                wd = float(np.median([b[2] - b[0] for b in t.boxes]))
                rows.append((kind, name, t.frames[0], len(t.frames), max(t.scores), wd, asp, jitter(t),
                             max(sc, default=-1.0), a / len(gt["frames"])))
    print(f"  over-redaction by kept track kind (alone; share of all {frames_total} frames):")
    for k in sorted(area):
        print(f"    {k:24s} {count[k]:4d} tracks  {area[k] / frames_total:.4f}")
    print("  weak tracks: kind, clip, first frame, sightings, best score, width, aspect h/w, jitter, closer best, over")
    for r in sorted(rows, key=lambda r: (r[0], -r[-1])):
        print(f"    {r[0]:15s} {r[1]} f{r[2]:<3d} n{r[3]:<3d} s{r[4]:.2f} w{r[5]:5.1f} a{r[6]:.2f} j{r[7]:.3f} "
              f"c{r[8]:.2f} o{r[9]:.4f}")


def evaluate(clips: Path, v: Variant, dets: dict[str, tuple[Dets, Dets]],
             explain: dict[str, float] | None = None,
             closer: dict[str, dict[str, list[float]]] | None = None) -> dict[str, float | int | str]:
    """video_eval.py's figures for ``v``; ``explain`` gets the over-redaction of the regions
    that touch no labelled face ("stray", summed over frames) and the area by region source."""
    tot = prot = worst = 0
    over: list[float] = []
    exposed: list[str] = []
    full = all_faces(clips) if v.oracle is not None else {}
    for g in sorted(clips.glob("*.gt.json")):
        gt = json.loads(g.read_text())
        w, h = gt["width"], gt["height"]
        name = g.name[: -len(".gt.json")] + ".mp4"
        faces, weak = dets[name]
        byf: dict[int, list[Region]] = {}
        for r in regions_for(v, faces, weak, w, h, name, closer, full.get(name)):
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
    (margin 0.45 at every size, smooth 2, growth 0.06 up to 0.6, boxes carried in place),
    "default" is today's."""
    base = Variant(margin=Margin(x=0.45, y=0.45), track=TrackPolicy())  # the old defaults
    tp = TrackPolicy()
    old = {
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
    # Issue 13, second round (run with --verify): second looks, shapes, jitter, motion; all from
    # the defaults before it ("old default"). "jitter+motion+g3" became the default.
    d = base
    g3 = dataclasses.replace(tp, growth=0.03, max_growth=0.3)
    new = {
        "verify 0.05": dataclasses.replace(d, verify=0.05),
        "verify 0.1": dataclasses.replace(d, verify=0.1),
        "verify 0.2": dataclasses.replace(d, verify=0.2),
        "verify 0.3": dataclasses.replace(d, verify=0.3),
        "aspect 1.0-1.8": dataclasses.replace(d, aspect=(1.0, 1.8)),
        "jitter 0.30+2j": dataclasses.replace(d, jitter=(0.30, 2.0, 0.45)),
        "jitter 0.25+3j": dataclasses.replace(d, jitter=(0.25, 3.0, 0.45)),
        "jitter 0.35+2j": dataclasses.replace(d, jitter=(0.35, 2.0, 0.45)),
        "motion": dataclasses.replace(d, motion=True),
        "motion+g3": dataclasses.replace(d, motion=True, track=g3),
        "aligned": dataclasses.replace(d, aligned=True),
        "aligned+motion": dataclasses.replace(d, aligned=True, motion=True),
        "aligned+motion+g3": dataclasses.replace(d, aligned=True, motion=True, track=g3),
        "box shape": dataclasses.replace(d, post=lambda rs, w, h: [dataclasses.replace(r, shape="box") for r in rs]),
        "verify 0.05+jitter+motion+g3": dataclasses.replace(d, verify=0.05, jitter=(0.30, 2.0, 0.45), motion=True,
                                                            track=g3),
        "jitter+motion": dataclasses.replace(d, jitter=(0.30, 2.0, 0.45), motion=True),
        "jitter+motion+g3": dataclasses.replace(d, jitter=(0.30, 2.0, 0.45), motion=True, track=g3),
        "jitter 0.20+3j+motion+g3": dataclasses.replace(d, jitter=(0.20, 3.0, 0.45), motion=True, track=g3),
        "jitter 0.15+3j+motion+g3": dataclasses.replace(d, jitter=(0.15, 3.0, 0.45), motion=True, track=g3),
        "jitter 0.20+2j+motion+g3": dataclasses.replace(d, jitter=(0.20, 2.0, 0.45), motion=True, track=g3),
        "jitter+motion+g3+aligned strong": dataclasses.replace(d, jitter=(0.30, 2.0, 0.45), motion=True, track=g3,
                                                               aligned=True, aligned_from=0.3),
        "jitter+motion+g3+aligned 0.6": dataclasses.replace(d, jitter=(0.30, 2.0, 0.45), motion=True, track=g3,
                                                            aligned=True, aligned_from=0.6),
        "jitter+motion+g2": dataclasses.replace(d, jitter=(0.30, 2.0, 0.45), motion=True,
                                                track=dataclasses.replace(tp, growth=0.02, max_growth=0.2)),
        "motion+g4": dataclasses.replace(d, motion=True, track=dataclasses.replace(tp, growth=0.04, max_growth=0.4)),
        "no cut rule": dataclasses.replace(d, cut=0),
        "cut needs 2 sightings": dataclasses.replace(d, cut=2),
        "verify 0.05+jitter+motion": dataclasses.replace(d, verify=0.05, jitter=(0.30, 2.0, 0.45), motion=True),
        "oracle: drop weak on no face": dataclasses.replace(d, oracle=0.3),
        "oracle: drop under 0.5 on no face": dataclasses.replace(d, oracle=0.5),
        "oracle: drop all on no face": dataclasses.replace(d, oracle=1.01),
        "oracle all + margin 0.30": dataclasses.replace(d, oracle=1.01, margin=Margin(x=0.3, y=0.3)),
    }
    return {**old, **new}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("clips", type=Path, nargs="+")
    ap.add_argument("--only", default="", help="comma-separated variant names")
    ap.add_argument("--explain", action="store_true", help="over-redaction of regions touching no labelled face")
    ap.add_argument("--tracks", action="store_true", help="over-redaction by kind of track (default variant)")
    ap.add_argument("--verify", action="store_true", help="second looks at weak tracks (cached), for verify variants")
    a = ap.parse_args()
    vs = variants()
    names = [n for n in vs if not a.only or n in a.only.split(",")]
    for clips in a.clips:
        dets = cached_detections(clips)
        closer = closer_looks(clips, dets) if a.verify else None
        print(f"{clips.name}:")
        if a.tracks:
            track_report(clips, vs["default"], dets, closer)
        print(f"  {'variant':20s} {'protected':>9s} {'longest':>7s} {'over':>7s}  exposed > 2 frames")
        for n in names:
            ex: dict[str, float] | None = {} if a.explain else None
            r = evaluate(clips, vs[n], dets, ex, closer)
            print(f"  {n:20s} {r['protected']:9.4f} {r['longest']:7d} {r['over']:7.4f}  {r['exposed']}", flush=True)
            if ex:
                fr = ex.pop("frames")
                print("    " + ", ".join(f"{k} {v / fr:.4f}" for k, v in ex.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
