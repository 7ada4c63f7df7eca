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
from redaction_crowd import COVER, EVAL, WIDTHS, _mask, coverage, dev_dir, event_of, events, faces, width_bin

from witnessbox._fsutil import atomic_write
from witnessbox.media.images import load_image
from witnessbox.redact.detector import Detection, MultiScaleDetector, Pass, ScalePlan, _ious, fuse, look_passes
from witnessbox.redact.pipeline import Redactor, RedactOptions, _outward
from witnessbox.redact.tracking import Margin, SizedMargin

ROOT = Path(__file__).resolve().parents[1]
FLOOR = 0.05
FLIP_IF = (0.0, 0.0)  # the mirrored 1x pass only when the look has a box this wide scoring this..0.16
FLIPPED: set[str] = set()
MAIN_MARGIN = SizedMargin(face=32.0)  # main's margin (9406cbe), which "main" and every variant start from
MARGIN: SizedMargin | None = None  # the margin variants apply (with_margin), else the default
SECOND: dict[str, int] = {}  # weak candidates given a second look, per photo (second_look variants)
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
            with atomic_write(f) as fh:  # a run stopped halfway leaves no broken cache
                np.savez(fh, **{f"b{'%g_%d_%g' % k}": v[0] for k, v in passes.items()},
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


Spec = list[tuple[Key, float, float]]  # passes to fuse, each with the width band kept (picture px; 0 = no bound)


def now_spec(ph: Photo, det: MultiScaleDetector) -> Spec:
    """The passes main's pipeline fuses on this photo now: the plan after the 1x look, plus what
    :func:`look_passes` adds (the look's 16-64 px boxes when it upscales, the mirrored 1x pass
    when it does not). CrowdZoom's boxes (under 16 px) are not replayed."""
    sp = det.plan
    plan = sp.passes(ph.w, ph.h)
    if sp.small_face and max(ph.w, ph.h) >= sp.small_face_from and max(p.scale for p in plan) > 1.0:
        b, sc = ph.passes[(1.0, False, 0.0)]
        upscaled = bool((((b[:, 2] - b[:, 0]) < sp.small_face) & (sc >= sp.small_candidate)).any())
        if not upscaled:
            plan = [Pass(1.0)] + [p for p in plan if p.scale < 1.0]
        plan = plan + look_passes(sp, upscaled, (b, sc))[0]
    return [(_key(p), p.min_face, p.max_face) for p in plan]


def fuse_spec(ph: Photo, spec: Spec, raw: float, merge_iou: float = 0.3,
              extra: list[list[tuple[Key, np.ndarray]]] | None = None) -> list[Detection]:
    """Fusion of ``spec``'s passes (boxes over ``raw`` and in each pass's width band), as
    :meth:`MultiScaleDetector._passes` groups them (scale index * 2 + mirrored). ``extra``:
    more scales after the plan's (as CrowdZoom's are), each a list of passes (plain and/or
    mirrored) with a mask of the boxes taken from each."""
    scales = sorted({k[0] for k, _, _ in spec})
    bs, ss, gs = [np.empty((0, 4), np.float32)], [np.empty((0,), np.float32)], [np.empty((0,), np.int64)]
    for k, lo, hi in spec:
        b, s = ph.passes[k if k in ph.passes else (k[0], k[1], 0.0)]
        wd = b[:, 2] - b[:, 0]
        m = (s > raw) & (wd >= lo) & ((wd < hi) if hi else True)
        bs.append(b[m])
        ss.append(s[m])
        gs.append(np.full(int(m.sum()), scales.index(k[0]) * 2 + int(k[1]), np.int64))
    per_scale = {scales.index(x): sum(1 for q, _, _ in spec if q[0] == x) for x in scales}
    for j, group in enumerate(extra or []):
        for k, mask in group:
            b, s = ph.passes[k]
            m = mask & (s > raw)
            bs.append(b[m])
            ss.append(s[m])
            gs.append(np.full(int(m.sum()), (len(scales) + j) * 2 + int(k[1]), np.int64))
        per_scale[len(scales) + j] = len(group)
    return fuse(np.concatenate(bs), np.concatenate(ss), np.concatenate(gs), per_scale, merge_iou)


def now_dets(ph: Photo, det: MultiScaleDetector, thr: float = 0.16) -> list[Detection]:
    """Main's faces on this photo (replayed)."""
    return [d for d in fuse_spec(ph, now_spec(ph, det), 0.1) if d.score >= thr]


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
    oks: dict[tuple[str, int], bool] = {}
    for ph in photos:
        red = red_mask(ph, variant(ph))
        over.append(float((red & ~nears[ph.name]).sum() / (ph.h * ph.w)))
        for i, f in enumerate(ph.truth):
            ok = cover(ph, f["box"], red) >= COVER
            oks[(ph.name, i)] = ok
            for key in ("all", "w " + width_bin(f["box"]), "occ " + f["occlusion"],
                        *(["16+"] if f["box"][2] - f["box"][0] >= 16 else [])):
                s = by.setdefault(key, [0, 0])
                s[0] += 1
                s[1] += int(ok)
    return {"by": by, "over": float(np.mean(over)), "overs": over, "ok": oks}


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
        m = m or MARGIN or margin
        mm = m.for_picture(ph.w, ph.h) if hasattr(m, "for_picture") else m
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

    def main_(ph: Photo) -> list[tuple[float, float, float, float]]:
        return boxes(ph, now_dets(ph, det))

    def second_look(low: float, minw: float, extra: list[list[Key]], near: float = 0.3, maxw: float = 0.0,
                    thr: float = 0.16, group_maxw: dict[int, float] | None = None, cand_raw: float = FLOOR) -> Variant:
        # weak candidates of main's fusion (fused low..0.16 at the review floor, at least minw px,
        # no kept face on them) get a second look: each group of ``extra`` (passes at one scale,
        # plain and/or mirrored) is one more scale of the fusion, of its boxes overlapping a
        # candidate (IoU >= near): what passes over crops around the candidates would give. A
        # group whose passes all run already (the 1x pair of a picture left at 1x) is skipped.
        def v(ph: Photo) -> list[tuple[float, float, float, float]]:
            spec = now_spec(ph, det)
            kept = [d for d in fuse_spec(ph, spec, 0.1) if d.score >= 0.16]
            kb = np.array([d.box for d in kept]) if kept else np.empty((0, 4))
            cands = [d for d in fuse_spec(ph, spec, cand_raw)
                     if low <= d.score < 0.16 and d.box[2] - d.box[0] >= minw
                     and (not maxw or d.box[2] - d.box[0] < maxw) and _best_iou(d.box, kb) < 0.3]
            SECOND[ph.name] = len(cands)
            if not cands:
                return boxes(ph, kept)
            cb = np.array([d.box for d in cands])
            run = {q for q, lo, hi in spec if not lo and not hi}
            groups = []
            for j, g in enumerate(extra):
                if all(k in run for k in g):
                    continue
                gw = (group_maxw or {}).get(j, 0.0)
                gb = cb[(cb[:, 2] - cb[:, 0]) < gw] if gw else cb
                groups.append([(k, np.array([_best_iou(x, gb) >= near for x in ph.passes[k][0]], bool)) for k in g])
            return boxes(ph, [d for d in fuse_spec(ph, spec, 0.1, extra=groups) if d.score >= thr])
        return v

    def with_margin(v: Variant, face: float) -> Variant:
        # v's boxes, the large margin from ``face`` px (v's boxes are grown by main's margin:
        # recomputed from v's detections instead)
        big = SizedMargin(face=face)
        def w(ph: Photo) -> list[tuple[float, float, float, float]]:
            global MARGIN
            MARGIN = big
            try:
                return v(ph)
            finally:
                MARGIN = None
        return w

    def thr_big(t: float, minw: float = 16) -> Variant:
        # faces at least minw px wide kept from fused score t (others 0.16)
        def v(ph: Photo) -> list[tuple[float, float, float, float]]:
            return boxes(ph, [d for d in fuse_spec(ph, now_spec(ph, det), 0.1)
                              if d.score >= 0.16 or (d.score >= t and d.box[2] - d.box[0] >= minw)])
        return v

    def large_margin(x: float, y: float, face: float = 32.0, tall: float = 0.0, tall_y: float = 0.0) -> Variant:
        # the large-face margin; with ``tall``, boxes at least ``tall`` times as high as wide get ``tall_y``
        big = SizedMargin(large=Margin(x=x, y=y), face=face)
        tallm = SizedMargin(large=Margin(x=x, y=tall_y), face=face)
        def v(ph: Photo) -> list[tuple[float, float, float, float]]:
            out = []
            for d in now_dets(ph, det):
                b = d.box
                mm = tallm if tall and (b[3] - b[1]) >= tall * (b[2] - b[0]) else big
                out.append(mm.for_picture(ph.w, ph.h).apply(b))
            return out
        return v

    p15, m15, p1, m1 = (1.5, False, 0.0), (1.5, True, 0.0), (1.0, False, 0.0), (1.0, True, 0.0)
    new = {
        "main": main_,
        "look 0.08 16 1.5x pair": second_look(0.08, 16, [[p15, m15]]),
        "look 0.05 16 1.5x pair": second_look(0.05, 16, [[p15, m15]]),
        "look 0.10 16 1.5x pair": second_look(0.10, 16, [[p15, m15]]),
        "look 0.08 16 1.5x": second_look(0.08, 16, [[p15]]),
        "look 0.08 16 1x pair": second_look(0.08, 16, [[p1, m1]]),
        "look 0.08 16 1x pair + 1.5x pair": second_look(0.08, 16, [[p1, m1], [p15, m15]]),
        "look 0.05 16 1x pair + 1.5x pair": second_look(0.05, 16, [[p1, m1], [p15, m15]]),
        "look 0.08 16 1x mirrored + 1.5x pair": second_look(0.08, 16, [[m1, p15, m15]]),
        "look 0.08 24 1.5x pair": second_look(0.08, 24, [[p15, m15]]),
        "look 0.08 16 1x pair <64 + 1.5x pair": second_look(0.08, 16, [[p1, m1], [p15, m15]], group_maxw={0: 64}),
        "look 0.10 16 1x pair <64 + 1.5x pair": second_look(0.10, 16, [[p1, m1], [p15, m15]], group_maxw={0: 64}),
        "look 0.08 16 1.5x pair + large from 16px": with_margin(second_look(0.08, 16, [[p15, m15]]), 16),
        "look 0.10 16 1.5x pair + large from 16px": with_margin(second_look(0.10, 16, [[p15, m15]]), 16),
        "look 0.08 16 1.5x pair thr 0.15": second_look(0.08, 16, [[p15, m15]], thr=0.15),
        "thr16 0.14": thr_big(0.14),
        "look 0.08 16 1.5x pair raw0.1": second_look(0.08, 16, [[p15, m15]], cand_raw=0.1),
        "look 0.06 16 1.5x pair raw0.1": second_look(0.06, 16, [[p15, m15]], cand_raw=0.1),
        "look 0.05 16 1.5x pair raw0.1": second_look(0.05, 16, [[p15, m15]], cand_raw=0.1),
        "look 0.08 16 1x pair <64 + 1.5x pair raw0.1 + large from 16px":
            with_margin(second_look(0.08, 16, [[p1, m1], [p15, m15]], group_maxw={0: 64}, cand_raw=0.1), 16),
        "look 0.06 16 1x pair <64 + 1.5x pair raw0.1 + large from 16px":
            with_margin(second_look(0.06, 16, [[p1, m1], [p15, m15]], group_maxw={0: 64}, cand_raw=0.1), 16),
        "look 0.08 16 1x pair <64 + 1.5x pair + large from 16px":
            with_margin(second_look(0.08, 16, [[p1, m1], [p15, m15]], group_maxw={0: 64}), 16),
        "look 0.10 16 1x pair <64 + 1.5x pair + large from 16px":
            with_margin(second_look(0.10, 16, [[p1, m1], [p15, m15]], group_maxw={0: 64}), 16),
        "look 0.08 16 1.5x pair raw0.1 + large from 16px": with_margin(second_look(0.08, 16, [[p15, m15]], cand_raw=0.1), 16),
        "thr16 0.15": thr_big(0.15),
        "thr24 0.14": thr_big(0.14, 24),
        "large x 0.36 y 0.36": large_margin(0.36, 0.36),
        "large x 0.40 y 0.36": large_margin(0.40, 0.36),
        "large x 0.32 y 0.42": large_margin(0.32, 0.42),
        "large tall 1.3 y 0.48": large_margin(0.32, 0.36, tall=1.3, tall_y=0.48),
        "large tall 1.2 y 0.44": large_margin(0.32, 0.36, tall=1.2, tall_y=0.44),
        "large from 16px": large_margin(0.32, 0.36, face=16),
        "large from 24px": large_margin(0.32, 0.36, face=24),
        "large x 0.40 y 0.44": large_margin(0.40, 0.44),
        "large x 0.40 y 0.44 from 16px": large_margin(0.40, 0.44, face=16),
    }

    return new | {
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
        spec = now_spec(ph, det)
        keys = [k for k, _, _ in spec]
        allf = fuse_spec(ph, spec, FLOOR)
        dets = now_dets(ph, det)
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
            # the best box overlapping the face in the passes run, and the fused box's aspect
            run_best = max((_best_score(b, *ph.passes[k]) for k in keys if k in ph.passes), default=0.0)
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
            others = max(per.values())
            if fs < FLOOR and c < 0.05 and others < FLOOR:
                why = "unseen"
            elif c < 0.3 and fs < 0.16 and others >= 0.16 and run_best < 0.16:
                why = "other-pass"  # only a pass not run sees it at the threshold (1.5x, mirrored)
            elif c < 0.3 and fs < 0.16 and run_best >= 0.16:
                why = "halved"  # one pass of a pair saw it at the threshold, fusion halved it
            elif c < 0.3:
                why = "weak" if fs < 0.16 else "kept-elsewhere"
            else:
                why = "short"
            own = [d for d in dets if _best_iou(b, np.array([d.box])) >= 0.3]
            out.append({
                "photo": ph.name, "w": round(bw), "h": round(bh), "occlusion": f["occlusion"],
                "plan": "2x" if any(k[0] == 2.0 for k in keys) else "1x", "cover": round(c, 3),
                "event": ph.name.split("_")[1],
                "fused": round(fs, 3), "why": why, "uncovered": where, "per_pass": per,
                "det_box": [round(v) for v in own[0].box] if own else None, "truth": [round(v) for v in b],
            })
    return out


def region_misses(dev: Path, regions: Path, names: list[str]) -> list[dict[str, Any]]:
    """Every face of 16 px and more that a command's regions files (``regions``, e.g. main's
    run over the whole set) leave exposed: photo, event, width, height, occlusion, coverage."""
    ev = events(dev)
    out = []
    for n in names:
        w, h, fs = faces(dev / "annotations" / f"{n}.xml")
        big = [f for f in fs if f["box"][2] - f["box"][0] >= 16]
        if not big:
            continue
        red = _mask(h, w, json.loads((regions / f"{n}.jpg.regions.json").read_text())["regions"])
        for f in big:
            c = coverage(h, w, f["box"], red)
            if c < COVER:
                b = f["box"]
                out.append({"photo": n, "event": event_of(ev, n), "w": round(b[2] - b[0]), "h": round(b[3] - b[1]),
                            "occlusion": f["occlusion"], "cover": round(c, 3), "width": width_bin(b)})
    return out


def print_region_misses(ms: list[dict[str, Any]], n16: dict[str, int]) -> None:
    """The misses of :func:`region_misses` by event, width, occlusion and coverage band."""
    def table(title: str, key: Callable[[dict[str, Any]], str]) -> None:
        c: dict[str, int] = {}
        for m in ms:
            c[key(m)] = c.get(key(m), 0) + 1
        print(f"{title}: " + ", ".join(f"{k} {v}" for k, v in sorted(c.items(), key=lambda kv: -kv[1])))
    print(f"missed 16+ px: {len(ms)} of {sum(n16.values())}")
    table("by event", lambda m: f"{m['event']} ({n16.get(m['event'], 0)})")
    table("by width", lambda m: m["width"])
    table("by occlusion", lambda m: m["occlusion"])
    table("by coverage", lambda m: "0" if m["cover"] < 0.05 else "<0.5" if m["cover"] < 0.5 else
          "0.5-0.9" if m["cover"] < 0.9 else "0.9-0.95")
    table("by aspect (h/w)", lambda m: "<1.2" if m["h"] < 1.2 * m["w"] else "1.2-1.6" if m["h"] < 1.6 * m["w"] else ">=1.6")
    c: dict[str, int] = {}
    for m in ms:
        c[m["photo"]] = c.get(m["photo"], 0) + 1
    print("photos with misses:", len(c), "; most:", ", ".join(f"{k} {v}" for k, v in sorted(c.items(), key=lambda kv: -kv[1])[:15]))


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--every", type=int, default=16)
    ap.add_argument("--offset", type=int, default=0)
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "out" / "crowd_misses")
    ap.add_argument("--misses", action="store_true")
    ap.add_argument("--variants", default="")
    ap.add_argument("--check", type=Path, help="a redaction_crowd.py output folder: replay == command")
    ap.add_argument("--from-regions", type=Path, metavar="DIR",
                    help="list the 16+ px misses of DIR's regions files (a redaction_crowd.py output's "
                         "wb/images) for the photos picked, write the photos holding one to --out/missed.txt, stop")
    ap.add_argument("--names", type=Path, help="photos to take (one name a line, without .jpg) instead of --every")
    a = ap.parse_args()
    dev = dev_dir()
    names = sorted(p.stem for p in (dev / "annotations").glob("*.xml"))[a.offset:: a.every]
    if a.names:
        names = [n.strip() for n in a.names.read_text().split() if n.strip()]
    if a.from_regions:
        ms = region_misses(dev, a.from_regions, names)
        ev = events(dev)
        n16: dict[str, int] = {}
        for n in names:
            k = event_of(ev, n)
            n16[k] = n16.get(k, 0) + sum(1 for f in faces(dev / "annotations" / f"{n}.xml")[2] if f["box"][2] - f["box"][0] >= 16)
        a.out.mkdir(parents=True, exist_ok=True)
        (a.out / "region-misses.json").write_text(json.dumps(ms, indent=1))
        (a.out / "missed.txt").write_text("".join(f"{n}\n" for n in dict.fromkeys(m["photo"] for m in ms)))
        print_region_misses(ms, n16)
        return 0
    opts = RedactOptions(plan=ScalePlan(second=None), margin=MAIN_MARGIN)  # main's (9406cbe) pipeline
    det = Redactor(opts).photo_detector(threads=1)
    assert isinstance(det, MultiScaleDetector)
    photos = load_cache(dev, names, a.out / "cache", det)
    print(f"{len(photos)} photos, {sum(len(p.truth) for p in photos)} faces "
          + (f"({a.names})" if a.names else f"(every {a.every}, offset {a.offset})"))
    if a.check:
        diff = 0
        for ph in photos:
            doc = json.loads((a.check / "wb" / "images" / f"{ph.name}.jpg.regions.json").read_text())
            m = opts.margin.for_picture(ph.w, ph.h)
            mine = sorted(tuple(_outward(m.apply(d.box))) for d in now_dets(ph, det))
            theirs = sorted(tuple(g["box"]) for g in doc["regions"])
            if len(mine) != len(theirs) or any(max(abs(p - q) for p, q in zip(x, y, strict=True)) > 0.02
                                               for x, y in zip(mine, theirs, strict=True)):
                diff += 1
        print(f"replay against the command: {len(photos) - diff} of {len(photos)} photos identical")
    nears = {ph.name: near_mask(ph) for ph in photos}
    if a.misses:
        ms = misses(photos, det, opts.margin)
        tag = a.names.stem if a.names else f"{a.every}-{a.offset}"
        (a.out / f"misses-{tag}.json").write_text(json.dumps(ms, indent=1))
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
        base: dict[str, Any] | None = None  # the first variant's (put "main" first): fixed / lost against it
        for v in (vs if a.variants == "all" else a.variants.split(",")):
            FLIPPED.clear()
            SECOND.clear()
            r = score(photos, vs[v], nears)
            base = base or r
            big = {(ph.name, i) for ph in photos for i, f in enumerate(ph.truth) if f["box"][2] - f["box"][0] >= 16}
            fixed = sum(1 for k in big if r["ok"][k] and not base["ok"][k])
            lost = sum(1 for k in big if base["ok"][k] and not r["ok"][k])
            lost_small = sum(1 for k, ok in base["ok"].items() if ok and not r["ok"][k] and k not in big)
            dover = sum(r["overs"]) - sum(base["overs"])
            print(row(v, r) + f" 16+ fixed {fixed} lost {lost} (<16 lost {lost_small}); over-red. sum {dover:+.4f}"
                  f" (whole set {dover / 2388:+.5f})" + (f" mirrored pass on {len(FLIPPED)} photos" if FLIPPED else "")
                  + (f" second look: {sum(SECOND.values())} candidates on {sum(1 for x in SECOND.values() if x)} photos"
                     if SECOND else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
