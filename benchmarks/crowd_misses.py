"""Why faces of 16 px and more are missed on the crowd tuning set, and what would hide them.

Every network pass is run once per photo at the review floor (0.05) and cached (boxes and
scores, ``--out``/cache); the photo pipeline (:class:`MultiScaleDetector`'s plan, the 1x look,
fusion, threshold, :class:`SizedMargin`) is then replayed on the cache with the scorer's own
rule (95% of the face's inscribed ellipse hidden; over-redaction outside every face box grown by
half its size on each side), so that variants cost seconds. The replay of the defaults must
equal the whole command's figures (checked with ``--check DIR``, a ``redaction_crowd.py`` output).

- ``--misses``: every missed face of at least 16 px: width, occlusion, the best score of a box
  overlapping it (IoU >= 0.3) in each cached pass, the fused score, the coverage reached, and
  why: ``unseen`` (no box over the floor), ``weak`` (fused under the threshold), ``short`` (a
  hiding ellipse lies on it but covers under 95%; where the uncovered part lies).
- ``--variants``: the defaults and each remedy tried (names in ``make_variants``).

The replay's "default" is the pipeline before ``look_passes`` (main's code at ded20b8: the
plan's passes only); "keep1 16-64 + flip" is what ``ScalePlan.look_keep`` and ``look_flip`` do
now (its figures within 0.0001 over-redaction of the command's on every 16th photo), and
``--misses`` lists the misses of the former (benchmarks/REDACTION.md, helper ``midfaces``).

Usage: .venv/bin/python benchmarks/crowd_misses.py --every 16 [--offset 0] [--misses] [--variants a,b|all]
       [--check benchmarks/out/crowd16-main]   (a redaction_crowd.py output of main's code)
The crowd tuning set's images are only read; nothing of them is written outside benchmarks/out/.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from redaction_crowd import COVER, EVAL, WIDTHS, dev_dir, faces, width_bin

from witnessbox.media.images import load_image
from witnessbox.redact.detector import Detection, MultiScaleDetector, Pass, fuse
from witnessbox.redact.pipeline import Redactor, RedactOptions, _outward
from witnessbox.redact.tracking import Margin, SizedMargin

ROOT = Path(__file__).resolve().parents[1]
FLOOR = 0.05
FLIP_IF = (0.0, 0.0)  # the mirrored 1x pass only when the look has a box this wide scoring this..0.16
FLIPPED: set[str] = set()
MAXW = 1e9  # the widest 1x box the keep1 variants add (set per variant)
# Passes cached for every photo: (scale, mirrored, min_face).
CACHED = [(1.0, False, 0.0), (1.0, True, 0.0), (2.0, False, 0.0), (0.5, False, 64.0), (1.5, False, 0.0),
          (1.5, True, 0.0)]

Key = tuple[float, bool, float]


def _key(p: Pass) -> Key:
    return (p.scale, p.mirrored, p.min_face)


class Photo:
    def __init__(self, name: str, w: int, h: int, truth: list[dict[str, Any]], passes: dict[Key, tuple[np.ndarray, np.ndarray]]):
        self.name, self.w, self.h, self.truth, self.passes = name, w, h, truth, passes


def load_cache(dev: Path, names: list[str], cache: Path, det: MultiScaleDetector) -> list[Photo]:
    cache.mkdir(parents=True, exist_ok=True)
    out = []
    t0 = time.process_time()
    for i, n in enumerate(names):
        f = cache / f"{n}.npz"
        w, h, truth = faces(dev / "annotations" / f"{n}.xml")
        passes: dict[Key, tuple[np.ndarray, np.ndarray]] = {}
        want = CACHED + [k for k in map(_key, det.plan.passes(w, h)) if k not in CACHED]
        if f.exists():
            z = np.load(f)
            for k in want:
                tag = "%g_%d_%g" % k
                if f"b{tag}" in z:
                    passes[k] = (z[f"b{tag}"], z[f"s{tag}"])
        missing = [k for k in want if k not in passes]
        if missing:
            img = load_image(dev / "images" / f"{n}.jpg")
            rgb = np.ascontiguousarray(img.frames[0][..., :3])
            w, h = img.width, img.height
            for k in missing:
                passes[k] = det._pass(rgb, Pass(*k), FLOOR)
            np.savez(f, **{f"b{'%g_%d_%g' % k}": v[0] for k, v in passes.items()},
                     **{f"s{'%g_%d_%g' % k}": v[1] for k, v in passes.items()})
        out.append(Photo(n, w, h, truth, passes))
        if missing and (i + 1) % 25 == 0:
            print(f"  cached {i + 1}/{len(names)} ({time.process_time() - t0:.0f} s CPU)", file=sys.stderr)
    return out


# --- replay -------------------------------------------------------------------------------


def plan_keys(ph: Photo, det: MultiScaleDetector) -> list[Key]:
    """The passes the pipeline runs on this photo (its 1x look included)."""
    sp = det.plan
    plan = sp.passes(ph.w, ph.h)
    if sp.small_face and max(ph.w, ph.h) >= sp.small_face_from and max(p.scale for p in plan) > 1.0:
        b, sc = ph.passes[(1.0, False, 0.0)]
        if not (((b[:, 2] - b[:, 0]) < sp.small_face) & (sc >= sp.small_candidate)).any():
            plan = [Pass(1.0)] + [p for p in plan if p.scale < 1.0]
    return [_key(p) for p in plan]


def fused(ph: Photo, keys: list[Key], raw: float, merge_iou: float = 0.3,
          minw: dict[Key, float] | None = None, raw1: dict[Key, float] | None = None) -> list[Detection]:
    """Fusion of these passes' boxes scoring over ``raw`` (every fused score, no threshold).

    ``minw``: for some passes, keep only boxes at least this wide (picture pixels).
    """
    scales = sorted({k[0] for k in keys})
    bs, ss, gs = [np.empty((0, 4), np.float32)], [np.empty((0,), np.float32)], [np.empty((0,), np.int64)]
    for k in keys:
        b, s = ph.passes[k]
        m = s > max(raw, (raw1 or {}).get(k, 0.0)) if k in (minw or {}) else s > raw
        if minw and k in minw:
            m &= (b[:, 2] - b[:, 0]) >= minw[k]
            m &= (b[:, 2] - b[:, 0]) < MAXW
        bs.append(b[m])
        ss.append(s[m])
        gs.append(np.full(int(m.sum()), scales.index(k[0]) * 2 + int(k[1]), np.int64))
    per_scale = {scales.index(s): sum(1 for q in keys if q[0] == s) for s in scales}
    return fuse(np.concatenate(bs), np.concatenate(ss), np.concatenate(gs), per_scale, merge_iou)


def fuse_second(boxes: np.ndarray, scores: np.ndarray, groups: np.ndarray, per_scale: dict[int, int],
                iou: float, second: int) -> list[Detection]:
    """:func:`fuse`, but boxes of group ``second`` (the 1x look of an upscaled photo) only
    vouch: a cluster scores max(the usual fused score, mean of its best ``second`` box and its
    best box of the other passes)."""
    if boxes.shape[0] == 0:
        return []
    rest = np.argsort(-scores, kind="stable")
    area = np.maximum(boxes[:, 2] - boxes[:, 0], 0) * np.maximum(boxes[:, 3] - boxes[:, 1], 0)
    out: list[Detection] = []
    while rest.size:
        i = int(rest[0])
        b = boxes[rest]
        xx0 = np.maximum(boxes[i, 0], b[:, 0])
        yy0 = np.maximum(boxes[i, 1], b[:, 1])
        xx1 = np.minimum(boxes[i, 2], b[:, 2])
        yy1 = np.minimum(boxes[i, 3], b[:, 3])
        inter = np.maximum(xx1 - xx0, 0) * np.maximum(yy1 - yy0, 0)
        ov = inter / np.maximum(area[i] + area[rest] - inter, 1e-9)
        hit = ov >= iou
        hit[0] = True
        members = np.sort(rest[hit])
        rest = rest[~hit]
        wts = scores[members][:, None]
        box = (boxes[members] * wts).sum(0) / wts.sum()
        best: dict[int, float] = {}
        for g, sc in zip(groups[members].tolist(), scores[members].tolist(), strict=True):
            best[g] = max(best.get(g, 0.0), sc)
        sec = best.pop(second, None)
        by_scale: dict[int, float] = {}
        for g, sc in best.items():
            by_scale[g // 2] = by_scale.get(g // 2, 0.0) + sc
        f = max((v / per_scale.get(k, 1) for k, v in by_scale.items()), default=0.0)
        if sec is not None:
            f = max(f, (sec + max(best.values(), default=0.0)) / 2)
        out.append(Detection((float(box[0]), float(box[1]), float(box[2]), float(box[3])), float(f)))
    return out


def fused_second(ph: Photo, keys: list[Key], second: Key, minw: float, raw: float = 0.1) -> list[Detection]:
    scales = sorted({k[0] for k in keys})
    bs, ss, gs = [], [], []
    for k in keys:
        b, s = ph.passes[k]
        m = s > raw
        bs.append(b[m])
        ss.append(s[m])
        gs.append(np.full(int(m.sum()), scales.index(k[0]) * 2 + int(k[1]), np.int64))
    b, s = ph.passes[second]
    m = (s > raw) & ((b[:, 2] - b[:, 0]) >= minw)
    bs.append(b[m])
    ss.append(s[m])
    gs.append(np.full(int(m.sum()), 99, np.int64))
    per_scale = {scales.index(x): sum(1 for q in keys if q[0] == x) for x in scales}
    return fuse_second(np.concatenate(bs), np.concatenate(ss), np.concatenate(gs), per_scale, 0.3, 99)


def default_dets(ph: Photo, det: MultiScaleDetector, thr: float = 0.16) -> list[Detection]:
    return [d for d in fused(ph, plan_keys(ph, det), 0.1) if d.score >= thr]


def ellipse(h: int, w: int, box: Any) -> np.ndarray:
    return EVAL.ellipse_mask(h, w, box, "ellipse")


def red_mask(ph: Photo, boxes: list[tuple[float, float, float, float]]) -> np.ndarray:
    red = np.zeros((ph.h, ph.w), bool)
    for b in boxes:
        red |= ellipse(ph.h, ph.w, _outward(b))
    return red


def near_mask(ph: Photo) -> np.ndarray:
    near = np.zeros((ph.h, ph.w), bool)
    for f in ph.truth:
        b = f["box"]
        bw, bh = b[2] - b[0], b[3] - b[1]
        near |= EVAL.ellipse_mask(ph.h, ph.w, [b[0] - bw / 2, b[1] - bh / 2, b[2] + bw / 2, b[3] + bh / 2], "box")
    return near


def cover(ph: Photo, box: list[float], red: np.ndarray) -> float:
    face = ellipse(ph.h, ph.w, box)
    return float((face & red).sum() / max(face.sum(), 1))


Variant = Callable[[Photo], list[tuple[float, float, float, float]]]


def score(photos: list[Photo], variant: Variant, nears: dict[str, np.ndarray]) -> dict[str, Any]:
    by: dict[str, list[int]] = {}
    over = []
    for ph in photos:
        red = red_mask(ph, variant(ph))
        over.append(float((red & ~nears[ph.name]).sum() / (ph.h * ph.w)))
        for f in ph.truth:
            ok = cover(ph, f["box"], red) >= COVER
            for key in ("all", "w " + width_bin(f["box"]), "occ " + f["occlusion"],
                        *(["16+"] if f["box"][2] - f["box"][0] >= 16 else [])):
                s = by.setdefault(key, [0, 0])
                s[0] += 1
                s[1] += int(ok)
    return {"by": by, "over": float(np.mean(over))}


def row(name: str, r: dict[str, Any], cpu: str = "") -> str:
    keys = ["all", "16+", *("w " + lab for _, _, lab in WIDTHS), "occ none", "occ partial", "occ heavy"]
    cells = []
    for k in keys:
        n, ok = r["by"].get(k, [0, 0])
        cells.append(f"{ok / max(n, 1):.4f}" if k in ("all",) else f"{ok / max(n, 1):.3f}")
    n, ok = r["by"]["all"]
    n16, ok16 = r["by"]["16+"]
    cells[1] += f" ({n16 - ok16})"
    return f"| {name} | {' | '.join(cells[:1])} ({n - ok}) | {r['over']:.4f} | {' | '.join(cells[1:])} |{cpu}"


# --- variants -----------------------------------------------------------------------------


def make_variants(det: MultiScaleDetector, margin: SizedMargin) -> dict[str, Variant]:
    def boxes(ph: Photo, dets: list[Detection], m: Any = None) -> list[tuple[float, float, float, float]]:
        mm = (m or margin).for_picture(ph.w, ph.h) if hasattr(m or margin, "for_picture") else (m or margin)
        return [mm.apply(d.box) for d in dets]

    def default(ph: Photo) -> list[tuple[float, float, float, float]]:
        return boxes(ph, default_dets(ph, det))

    def thr(t: float) -> Variant:
        return lambda ph: boxes(ph, default_dets(ph, det, t))

    def with_flip1(ph: Photo) -> list[tuple[float, float, float, float]]:
        # photos left at 1x also get the mirrored 1x pass (fused as a pair)
        keys = plan_keys(ph, det)
        if (1.0, False, 0.0) in keys:
            keys = keys + [(1.0, True, 0.0)]
        return boxes(ph, [d for d in fused(ph, keys, 0.1) if d.score >= 0.16])

    def agree(t_low: float, minw: float) -> Variant:
        # a second opinion: a box >= minw px scoring t_low..0.16 in the plan's fusion is kept
        # when an extra pass (mirrored 1x / 1.5x) sees it too at >= t_low
        def v(ph: Photo) -> list[tuple[float, float, float, float]]:
            keys = plan_keys(ph, det)
            base = [d for d in fused(ph, keys, 0.1)]
            kept = [d for d in base if d.score >= 0.16]
            cand = [d for d in base if t_low <= d.score < 0.16 and d.box[2] - d.box[0] >= minw]
            if cand:
                other = [k for k in ((1.0, True, 0.0), (1.5, False, 0.0)) if k not in keys]
                ob = np.concatenate([ph.passes[k][0][ph.passes[k][1] >= t_low] for k in other])
                for d in cand:
                    if ob.size and _best_iou(d.box, ob) >= 0.4:
                        kept.append(d)
            return boxes(ph, kept)
        return v

    def keep1c(minw: float, support: float, flip: bool = False, raw1: float = 0.1) -> Variant:
        # keep1, but a face that only the 1x look's boxes make (no default face on it) is kept
        # only when the 2x pass has a box of at least ``support`` on it too
        k1 = keep1(minw, flip, raw1=raw1)
        def v(ph: Photo) -> list[tuple[float, float, float, float]]:
            keys = plan_keys(ph, det)
            if (1.0, False, 0.0) in keys:
                return k1(ph)
            base = [d for d in fused(ph, keys, 0.1) if d.score >= 0.16]
            one = (1.0, False, 0.0)
            extra = [d for d in fused(ph, keys + [one], 0.1, minw={one: minw}, raw1={one: raw1}) if d.score >= 0.16]
            bb = np.array([d.box for d in base]) if base else np.empty((0, 4))
            b2, s2 = ph.passes[(2.0, False, 0.0)]
            b2 = b2[s2 >= support]
            kept = list(base)
            for d in extra:
                if _best_iou(d.box, bb) >= 0.3:
                    continue
                if _best_iou(d.box, b2) >= 0.3:
                    kept.append(d)
            return boxes(ph, kept)
        return v

    def flip_if(minw: float, low: float, v: Variant) -> Variant:
        def w(ph: Photo) -> list[tuple[float, float, float, float]]:
            global FLIP_IF
            FLIP_IF = (minw, low)
            try:
                return v(ph)
            finally:
                FLIP_IF = (0.0, 0.0)
        return w

    def banded(maxw: float, v: Variant) -> Variant:
        def w(ph: Photo) -> list[tuple[float, float, float, float]]:
            global MAXW
            MAXW = maxw
            try:
                return v(ph)
            finally:
                MAXW = 1e9
        return w

    def keep1(minw: float, flip: bool = False, thr: float = 0.16, flip_all: bool = False, raw1: float = 0.1) -> Variant:
        # photos upscaled after the 1x look keep that look's boxes of at least minw px as a
        # scale of their own; with flip, photos left at 1x also run the mirrored 1x pass
        def v(ph: Photo) -> list[tuple[float, float, float, float]]:
            keys = plan_keys(ph, det)
            one, onem = (1.0, False, 0.0), (1.0, True, 0.0)
            mw: dict[Key, float] = {}
            if one not in keys and max(ph.w, ph.h) >= det.plan.small_face_from:
                keys = keys + [one]
                mw[one] = minw
                if flip_all:
                    keys.append(onem)
                    mw[onem] = minw
            elif flip and one in keys:
                b1, s1 = ph.passes[one]
                weak = ((b1[:, 2] - b1[:, 0]) >= FLIP_IF[0]) & (s1 >= FLIP_IF[1]) & (s1 < 0.16)
                if FLIP_IF[1] == 0 or weak.any():
                    keys = keys + [onem]
                    FLIPPED.add(ph.name)
            return boxes(ph, [d for d in fused(ph, keys, 0.1, minw=mw, raw1={one: raw1}) if d.score >= thr])
        return v

    def second(minw: float, flip: bool = False, thr: float = 0.16) -> Variant:
        # the 1x look's boxes of an upscaled photo vouch for the 2x pass's (mean of the two)
        def v(ph: Photo) -> list[tuple[float, float, float, float]]:
            keys = plan_keys(ph, det)
            one = (1.0, False, 0.0)
            if one in keys or max(ph.w, ph.h) < det.plan.small_face_from:
                if flip and one in keys:
                    keys = keys + [(1.0, True, 0.0)]
                return boxes(ph, [d for d in fused(ph, keys, 0.1) if d.score >= thr])
            return boxes(ph, [d for d in fused_second(ph, keys, one, minw) if d.score >= thr])
        return v

    def pair15(minw: float) -> Variant:
        def v(ph: Photo) -> list[tuple[float, float, float, float]]:
            keys = plan_keys(ph, det) + [(1.5, False, 0.0), (1.5, True, 0.0)]
            mw = {(1.5, False, 0.0): minw, (1.5, True, 0.0): minw}
            return boxes(ph, [d for d in fused(ph, keys, 0.1, minw=mw) if d.score >= 0.16])
        return v

    def extra15(ph: Photo) -> list[tuple[float, float, float, float]]:
        keys = plan_keys(ph, det) + [(1.5, False, 0.0)]
        return boxes(ph, [d for d in fused(ph, keys, 0.1) if d.score >= 0.16])

    def tall(y: float, face: float = 32.0) -> Variant:
        m = SizedMargin(large=Margin(x=0.32, y=y), face=face)
        return lambda ph: boxes(ph, default_dets(ph, det), m)

    return {
        "default": default,
        "thr 0.14": thr(0.14),
        "thr 0.12": thr(0.12),
        "flip 1x": with_flip1,
        "agree 0.10 16px": agree(0.10, 16),
        "agree 0.12 16px": agree(0.12, 16),
        "1.5x extra": extra15,
        "1.5x pair 16": pair15(16),
        "keep1 16": keep1(16),
        "keep1 24": keep1(24),
        "keep1 32": keep1(32),
        "keep1 16 + flip": keep1(16, True),
        "keep1 24 + flip": keep1(24, True),
        "keep1 16 + flip + flip2": keep1(16, True, flip_all=True),
        "keep1 16 raw1 0.2": keep1(16, raw1=0.2),
        "keep1 16-64": banded(64, keep1(16)),
        "keep1 16-48": banded(48, keep1(16)),
        "keep1 16-64 + flip": banded(64, keep1(16, True)),
        "keep1 16-48 + flip": banded(48, keep1(16, True)),
        "keep1 16-64 raw1 0.2": banded(64, keep1(16, raw1=0.2)),
        "keep1 16-64 + flip if 16px 0.10": flip_if(16, 0.10, banded(64, keep1(16, True))),
        "keep1 16-64 + flip if 16px 0.12": flip_if(16, 0.12, banded(64, keep1(16, True))),
        "keep1 16-64 + flip if 24px 0.10": flip_if(24, 0.10, banded(64, keep1(16, True))),
        "keep1c 16-64 s0.05": banded(64, keep1c(16, 0.05)),
        "keep1c 16-64 s0.05 + flip": banded(64, keep1c(16, 0.05, True)),
        "second 16": second(16),
        "second 12": second(12),
        "second 24": second(24),
        "second 16 + flip": second(16, True),
        "second 12 + flip": second(12, True),
        "keep1 16 raw1 0.25": keep1(16, raw1=0.25),
        "keep1 16 raw1 0.2 + flip": keep1(16, True, raw1=0.2),
        "keep1c 16 s0.05": keep1c(16, 0.05),
        "keep1c 16 s0.08": keep1c(16, 0.08),
        "keep1c 16 s0.05 + flip": keep1c(16, 0.05, True),
        "keep1c 16 s0.08 + flip": keep1c(16, 0.08, True),
        "keep1c 12 s0.05 + flip": keep1c(12, 0.05, True),
        "large y 0.42": tall(0.42),
        "large y 0.48": tall(0.48),
    }


def _ious(box: Any, b: np.ndarray) -> np.ndarray:
    """Overlap (IoU) of ``box`` with each row of ``b``."""
    xx0 = np.maximum(box[0], b[:, 0])
    yy0 = np.maximum(box[1], b[:, 1])
    xx1 = np.minimum(box[2], b[:, 2])
    yy1 = np.minimum(box[3], b[:, 3])
    inter = np.maximum(xx1 - xx0, 0) * np.maximum(yy1 - yy0, 0)
    a = (box[2] - box[0]) * (box[3] - box[1])
    ab = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    return np.asarray(inter / np.maximum(a + ab - inter, 1e-9))


def _best_iou(box: Any, b: np.ndarray) -> float:
    return float(_ious(box, b).max()) if b.size else 0.0


def _best_score(box: Any, b: np.ndarray, s: np.ndarray, iou: float = 0.3) -> float:
    if b.size == 0:
        return 0.0
    hit = _ious(box, b) >= iou
    return float(s[hit].max()) if hit.any() else 0.0


def misses(photos: list[Photo], det: MultiScaleDetector, margin: SizedMargin) -> list[dict[str, Any]]:
    out = []
    for ph in photos:
        keys = plan_keys(ph, det)
        allf = fused(ph, keys, FLOOR)
        dets = [d for d in fused(ph, keys, 0.1) if d.score >= 0.16]
        m = margin.for_picture(ph.w, ph.h)
        regs = [m.apply(d.box) for d in dets]
        red = red_mask(ph, regs)
        for f in ph.truth:
            b = f["box"]
            if b[2] - b[0] < 16:
                continue
            c = cover(ph, b, red)
            if c >= COVER:
                continue
            per = {("%gx%s" % (k[0], "m" if k[1] else "")): round(_best_score(b, *ph.passes[k]), 3) for k in CACHED}
            fb = [d for d in allf if _best_iou(b, np.array([d.box])) >= 0.3]
            fs = max((d.score for d in fb), default=0.0)
            # the hiding ellipse(s) overlapping the face: where is the uncovered part?
            face = ellipse(ph.h, ph.w, b)
            un = face & ~red
            ys, xs = np.nonzero(un)
            cx, cy, bw, bh = (b[0] + b[2]) / 2, (b[1] + b[3]) / 2, b[2] - b[0], b[3] - b[1]
            where = ""
            if xs.size:
                dx, dy = (xs.mean() + 0.5 - cx) / bw, (ys.mean() + 0.5 - cy) / bh
                where = ("top" if dy < -0.15 else "bottom" if dy > 0.15 else "") + \
                        ("left" if dx < -0.15 else "right" if dx > 0.15 else "")
                where = where or "ring"
            if fs < FLOOR and c < 0.05:
                why = "unseen"
            elif c < 0.3:
                why = "weak" if fs < 0.16 else "kept-elsewhere"
            else:
                why = "short"
            own = [d for d in dets if _best_iou(b, np.array([d.box])) >= 0.3]
            out.append({
                "photo": ph.name, "w": round(bw), "h": round(bh), "occlusion": f["occlusion"],
                "plan": "2x" if any(k[0] == 2.0 for k in keys) else "1x", "cover": round(c, 3),
                "fused": round(fs, 3), "why": why, "uncovered": where, "per_pass": per,
                "det_box": [round(v) for v in own[0].box] if own else None, "truth": [round(v) for v in b],
            })
    return out


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--every", type=int, default=16)
    ap.add_argument("--offset", type=int, default=0)
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "out" / "crowd_misses")
    ap.add_argument("--misses", action="store_true")
    ap.add_argument("--variants", default="")
    ap.add_argument("--check", type=Path, help="a redaction_crowd.py output folder: replay == command")
    a = ap.parse_args()
    dev = dev_dir()
    names = sorted(p.stem for p in (dev / "annotations").glob("*.xml"))[a.offset:: a.every]
    opts = RedactOptions()
    det = Redactor(opts).photo_detector(threads=1)
    assert isinstance(det, MultiScaleDetector)
    photos = load_cache(dev, names, a.out / "cache", det)
    print(f"{len(photos)} photos, {sum(len(p.truth) for p in photos)} faces (every {a.every}, offset {a.offset})")
    if a.check:
        diff = 0
        for ph in photos:
            doc = json.loads((a.check / "wb" / "images" / f"{ph.name}.jpg.regions.json").read_text())
            m = opts.margin.for_picture(ph.w, ph.h)
            mine = sorted(tuple(_outward(m.apply(d.box))) for d in default_dets(ph, det))
            theirs = sorted(tuple(g["box"]) for g in doc["regions"])
            if len(mine) != len(theirs) or any(max(abs(p - q) for p, q in zip(x, y, strict=True)) > 0.02
                                               for x, y in zip(mine, theirs, strict=True)):
                diff += 1
        print(f"replay against the command: {len(photos) - diff} of {len(photos)} photos identical")
    nears = {ph.name: near_mask(ph) for ph in photos}
    if a.misses:
        ms = misses(photos, det, opts.margin)
        (a.out / f"misses-{a.every}-{a.offset}.json").write_text(json.dumps(ms, indent=1))
        for m in ms:
            print(f"{m['photo'][:40]:40s} {m['w']:4d}x{m['h']:<4d} {m['occlusion']:8s} {m['plan']} "
                  f"cover {m['cover']:.2f} fused {m['fused']:.2f} {m['why']:14s} {m['uncovered']:10s} "
                  + " ".join(f"{k}:{v:.2f}" for k, v in m["per_pass"].items()))
        whys: dict[str, int] = {}
        for m in ms:
            whys[m["why"]] = whys.get(m["why"], 0) + 1
        print("missed 16+ px:", len(ms), whys)
    if a.variants:
        vs = make_variants(det, opts.margin)
        print("| variant | protected | over-red. | 16+ px | <8 | 8-16 | 16-32 | 32-64 | 64+ | none | partial | heavy |")
        print("|---|---|---|---|---|---|---|---|---|---|---|---|")
        for v in (vs if a.variants == "all" else a.variants.split(",")):
            FLIPPED.clear()
            print(row(v, score(photos, vs[v], nears)) + (f" mirrored pass on {len(FLIPPED)} photos" if FLIPPED else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
