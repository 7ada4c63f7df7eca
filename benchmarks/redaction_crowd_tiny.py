"""Variants of the closer look at crowds (issue 13, faces under 16 px), in one process.

Runs witnessbox's photo redaction (``Redactor.redact_file``, the command's own code) with each
variant's options on a subset of the crowd tuning set, and scores every run with
../shared/tools/redaction_eval.py and redaction_crowd.py's breakdown (by face width and
occlusion). The CPU time is the process's (user + system) for the redaction only, so variants of
one run compare on a shared machine; "none" is main's plan (no closer look), "default" this
checkout's defaults; the other variants are CrowdZoom at 4x with one setting changed.

Usage: .venv/bin/python benchmarks/redaction_crowd_tiny.py [--every K | --tiny N] [--variants a,b,...]
       .venv/bin/python benchmarks/redaction_crowd_tiny.py --misses DIR [--every K]

``--misses DIR``: why the faces under 16 px are missed, from the regions and suggestions files
of a ``redaction_crowd.py`` run (``DIR/wb/images``, e.g. the whole set's): ``short`` (a hiding
ellipse lies on the face, under 95% of it hidden), ``weak`` (a suggestion lies on it: seen
under the hiding threshold), ``unseen`` (neither, the 0.05 floor); and where the closer look
stood: ``small picture`` (under ``CrowdZoom.picture_from``), ``1x`` (the 1x look left the
picture at 1x, or it is too large to upscale), ``no crowd cell`` (upscaled, the face's cell
held fewer than ``min_count`` candidates; the 1x look and the 2x pass are rerun at the floor
for the photos holding such misses, cached in ``--out``/misses), ``strip`` (inside a strip).

``--tiny N``: the N photos of the tuning set with the most faces under 8 px, excluding every
24th photo (the set the results are checked on); never the held-out events (not in the set).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import resource
import shutil
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
from _redaction_common import DATA, ROOT, score
from redaction_crowd import COVER, EVAL, WIDTHS, _mask, breakdown, coverage, dev_dir, event_of, events, faces
from redaction_video_replay import paint

from witnessbox._fsutil import atomic_write_text
from witnessbox.media.images import load_image
from witnessbox.redact.detector import CrowdZoom, MultiScaleDetector, Pass, ScalePlan
from witnessbox.redact.pipeline import RedactOptions, Redactor


def _plan(**crowd: object) -> RedactOptions:
    return RedactOptions(plan=ScalePlan(crowd=CrowdZoom(**{"zoom": 4.0, **crowd})))  # type: ignore[arg-type]


VARIANTS: dict[str, RedactOptions] = {
    "default": RedactOptions(),  # this checkout's defaults (CrowdZoom at 5x)
    "none": RedactOptions(plan=ScalePlan(crowd=None)),  # main's plan: no closer look at crowds
    "z4": _plan(),
    "z3": _plan(zoom=3.0),
    "z4flip": _plan(flip=True),
    "z3flip": _plan(zoom=3.0, flip=True),
    "z4c1": _plan(min_count=1),
    "z4c3": _plan(min_count=3),
    "z4s16": _plan(small=16.0, keep_below=20.0),
    "z4k12": _plan(keep_below=12.0),
    "z3c1": _plan(zoom=3.0, min_count=1),
    "z4c05": _plan(candidate=0.05),
    "z5": _plan(zoom=5.0),
    "z5c05": _plan(zoom=5.0, candidate=0.05),
    "z6": _plan(zoom=6.0),
    "z6k12": _plan(zoom=6.0, keep_below=12.0),
    "z4small": _plan(picture_from=0),
    "z4c05n3": _plan(candidate=0.05, min_count=3),
    "z4c05n4": _plan(candidate=0.05, min_count=4),
    "z4c07": _plan(candidate=0.07),
    "z4cell96": _plan(cell=96),
    "z4cell192": _plan(cell=192),
    "pad8": _plan(zoom=5.0, candidate=0.05, pad=8),  # the kept defaults with one change
    "n3": _plan(zoom=5.0, candidate=0.05, min_count=3),
    "n4": _plan(zoom=5.0, candidate=0.05, min_count=4),
    # helper small: the strips' own threshold for faces under 16 px (0.12 is the default since
    # then; the variants above, measured before, ran with none: add threshold=0.0 to rerun them)
    "st0": RedactOptions(plan=ScalePlan(crowd=CrowdZoom(threshold=0.0))),
    "st12": RedactOptions(plan=ScalePlan(crowd=CrowdZoom(threshold=0.12))),
    "st10": RedactOptions(plan=ScalePlan(crowd=CrowdZoom(threshold=0.10))),
    "st08": RedactOptions(plan=ScalePlan(crowd=CrowdZoom(threshold=0.08))),
    "st10u8": RedactOptions(plan=ScalePlan(crowd=CrowdZoom(threshold=0.10, threshold_below=8.0))),
}


FLOOR = 0.05  # the review suggestions' floor (RedactOptions.suggest_floor)


def cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def tiny_names(dev: Path, n: int) -> list[str]:
    every24 = set(sorted(p.stem for p in (dev / "annotations").glob("*.xml"))[::24])
    counts = []
    for xml in sorted((dev / "annotations").glob("*.xml")):
        if xml.stem in every24:
            continue
        _, _, fs = faces(xml)
        counts.append((-sum(1 for f in fs if f["box"][2] - f["box"][0] < 8), xml.stem))
    return sorted(s for _, s in sorted(counts)[:n])


def _looks(det: MultiScaleDetector, dev: Path, name: str, cache: Path) -> dict[str, Any]:
    """The 1x look's decision and the closer look's strips of one photo (cached)."""
    f = cache / f"{name}.json"
    if f.exists():
        return json.loads(f.read_text())
    rgb = np.ascontiguousarray(load_image(dev / "images" / f"{name}.jpg").frames[0][:, :, :3])
    h, w = rgb.shape[:2]
    sp, z = det.plan, det.plan.crowd
    assert z is not None
    plan = sp.passes(w, h)
    top = max(p.scale for p in plan)
    out: dict[str, Any] = {"upscaled": top > 1.0, "strips": [], "cells": []}
    if top > 1.0 and max(w, h) >= sp.small_face_from:
        b, sc = det._pass(rgb, Pass(1.0), FLOOR)
        out["upscaled"] = bool((((b[:, 2] - b[:, 0]) < sp.small_face) & (sc >= sp.small_candidate)).any())
    if out["upscaled"] and max(w, h) >= z.picture_from:
        b, sc = det._pass(rgb, Pass(top), FLOOR)
        out["strips"] = [list(map(int, s)) for s in z.strips(b, sc, w, h)]
        pick = ((b[:, 2] - b[:, 0]) < z.small) & (sc >= z.candidate)
        out["cells"] = [[float((b[i, 0] + b[i, 2]) / 2), float((b[i, 1] + b[i, 3]) / 2), float(sc[i])]
                        for i in np.flatnonzero(pick)]
    atomic_write_text(f, json.dumps(out))  # a run stopped halfway leaves no broken cache
    return out


def misses(dev: Path, regions_dir: Path, names: list[str], cache: Path) -> None:
    """Faces under 16 px missed in ``regions_dir``, by cause and by event (module docstring)."""
    cache.mkdir(parents=True, exist_ok=True)
    ev = events(dev)
    det = Redactor(RedactOptions()).photo_detector()
    assert isinstance(det, MultiScaleDetector) and det.plan.crowd is not None
    z = det.plan.crowd
    table: dict[str, Counter[str]] = {}
    total: Counter[str] = Counter()
    c0 = cpu()
    for n in names:
        w, h, fs = faces(dev / "annotations" / f"{n}.xml")
        tiny = [f for f in fs if f["box"][2] - f["box"][0] < 16]
        if not tiny:
            continue
        doc = json.loads((regions_dir / f"{n}.jpg.regions.json").read_text())
        red = _mask(h, w, doc["regions"])
        sp = regions_dir / f"{n}.jpg.suggestions.json"
        sregs = [g for s in json.loads(sp.read_text()).get("suggestions", []) for g in s.get("regions", [])] \
            if sp.exists() else []
        smask = _mask(h, w, sregs)
        looks: dict[str, Any] | None = None
        for f in tiny:
            c = coverage(h, w, f["box"], red)
            if c >= COVER:
                continue
            why = "short" if c >= 0.5 else "weak" if coverage(h, w, f["box"], smask) > 0.5 else "unseen"
            if max(w, h) < z.picture_from:
                where = "small picture"
            else:
                looks = looks or _looks(det, dev, n, cache)
                cx, cy = (f["box"][0] + f["box"][2]) / 2, (f["box"][1] + f["box"][3]) / 2
                if not looks["upscaled"]:
                    where = "1x"
                elif any(x0 <= cx < x1 and y0 <= cy < y1 for x0, y0, x1, y1 in looks["strips"]):
                    where = "strip"
                else:
                    k = sum(1 for x, y, _ in looks["cells"] if x // z.cell == cx // z.cell and y // z.cell == cy // z.cell)
                    where = f"cell {min(k, z.min_count - 1)}"
            bw = "<8" if f["box"][2] - f["box"][0] < 8 else "8-16"
            for key in (f"{why} / {where}", f"{why} / *", f"* / {where}", "* / *"):
                table.setdefault(event_of(ev, n), Counter())[key] += 1
                total[key + " / " + bw] += 1
                total[key] += 1
    print(f"faces under 16 px missed, by cause (cpu {cpu() - c0:.1f} s):")
    for k, v in sorted(total.items(), key=lambda kv: -kv[1]):
        print(f"  {k:40s} {v:6d}")
    print("by event (worst first): all / short / weak / unseen | small picture / 1x / cell 0 / cell 1-2 / strip")
    for e, c in sorted(table.items(), key=lambda kv: -kv[1]["* / *"]):
        print(f"  {e:30s} {c['* / *']:5d} / {c['short / *']:4d} / {c['weak / *']:4d} / {c['unseen / *']:4d} | "
              f"{c['* / small picture']:4d} / {c['* / 1x']:4d} / {c['* / cell 0']:4d} / "
              f"{c['* / cell 1'] + c['* / cell 2']:4d} / {c['* / strip']:4d}")


def _face_width(region_box: list[float]) -> float:
    """Width of the detection behind a hiding ellipse of a small face (photo margin of pictures
    of 800 px and more for faces under 32 px: 0.32 of the width and 3 px on each side)."""
    return (region_box[2] - region_box[0] - 6.0) / 1.64


Rule = tuple[float, float, float]


def _grown(box: list[float], grow: float, maxw: float) -> list[float]:
    if grow and _face_width(box) < maxw:
        return [box[0] - grow, box[1] - grow, box[2] + grow, box[3] + grow]
    return box


def accept(dev: Path, regions_dir: Path, names: list[str], rules: list[Rule]) -> None:
    """Replay a lower hiding threshold for small boxes: the regions plus every suggestion of a
    face narrower than ``maxw`` px scoring at least ``t`` (``rules``: ``(t, maxw, grow)``; the
    ellipses of such faces, kept or accepted, grown by ``grow`` px on each side), scored with
    the scorer's rule (95% of the face's ellipse; over-redaction outside the grown boxes)."""
    keys = ["all", "<8", "8-16", "16+"]
    got = {r: Counter[str]() for r in [(1.0, 0.0, 0.0), *rules]}
    over: dict[Rule, list[float]] = {r: [] for r in got}
    n_faces: Counter[str] = Counter()
    c0 = cpu()
    for n in names:
        w, h, fs = faces(dev / "annotations" / f"{n}.xml")
        doc = json.loads((regions_dir / f"{n}.jpg.regions.json").read_text())
        regs = [g["box"] for g in doc["regions"] if g.get("frame", 0) == 0]
        near = np.zeros((h, w), bool)
        for f in fs:
            b = f["box"]
            bw, bh = b[2] - b[0], b[3] - b[1]
            xa, ya = max(int(np.floor(b[0] - bw / 2)), 0), max(int(np.floor(b[1] - bh / 2)), 0)
            near[ya:min(int(np.ceil(b[3] + bh / 2)), h), xa:min(int(np.ceil(b[2] + bw / 2)), w)] = True
        sp = regions_dir / f"{n}.jpg.suggestions.json"
        sugg = [(s["score"], g["box"]) for s in json.loads(sp.read_text()).get("suggestions", [])
                for g in s.get("regions", [])] if sp.exists() else []
        ells = []
        for f in fs:
            e = EVAL.ellipse_mask(h, w, f["box"], "ellipse")
            bw = f["box"][2] - f["box"][0]
            ells.append((e, e.sum(), ["all", "<8" if bw < 8 else "8-16" if bw < 16 else "16+"]))
            for k in ells[-1][2]:
                n_faces[k] += 1
        for r in got:
            t, maxw, grow = r
            red = np.zeros((h, w), bool)
            for box in regs:
                paint(red, _grown(box, grow, maxw), "ellipse")
            for sc, box in sugg:
                if sc >= t and _face_width(box) < maxw:
                    paint(red, _grown(box, grow, maxw), "ellipse")
            over[r].append(float((red & ~near).sum() / (h * w)))
            for e, area, ks in ells:
                if (e & red).sum() / max(area, 1) >= COVER:
                    for k in ks:
                        got[r][k] += 1
    print(f"photos {len(names)}, faces {n_faces['all']} (cpu {cpu() - c0:.1f} s)")
    print(f"{'threshold':>9s} {'under px':>8s} {'over-red.':>9s} " + " ".join(f"{k:>12s}" for k in keys))
    for r in got:
        cells = " ".join(f"{got[r][k] / max(n_faces[k], 1):.4f}/{n_faces[k] - got[r][k]:<5d}" for k in keys)
        lab = ("main", "") if r == (1.0, 0.0, 0.0) else (f"{r[0]:.2f}", f"{r[1]:g} +{r[2]:g}")
        print(f"{lab[0]:>9s} {lab[1]:>8s} {float(np.mean(over[r])):9.4f} " + cells, flush=True)


def _names(dev: Path, prefixes: str) -> list[str]:
    """Every photo of the tuning set, or those of the events whose names start with one of the
    comma-separated ``prefixes``."""
    names = sorted(p.stem for p in (dev / "annotations").glob("*.xml"))
    if not prefixes:
        return names
    ev = events(dev)
    return [n for n in names if any(event_of(ev, n).startswith(e) for e in prefixes.split(","))]


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--every", type=int, default=0)
    ap.add_argument("--tiny", type=int, default=0)
    ap.add_argument("--limit", type=int, default=0)
    ap.add_argument("--events", default="", help="only these events (comma-separated name prefixes, e.g. 47--Matador)")
    ap.add_argument("--facemask", action="store_true", help="facemask-dev (every photo) instead")
    ap.add_argument("--variants", default="none,default")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "out" / "crowd-tiny")
    ap.add_argument("--misses", type=Path, help="a redaction_crowd.py output: why faces under 16 px are missed")
    ap.add_argument("--accept", type=Path, help="a redaction_crowd.py output: replay small-box thresholds")
    ap.add_argument("--rules", default="0.12:16,0.10:16,0.08:16,0.06:16,0.10:12,0.08:12,0.10:8,0.08:8",
                    help="threshold:under-px[:grow-px] for --accept")
    a = ap.parse_args()
    if a.accept:
        dev = dev_dir()
        names = _names(dev, a.events)[:: a.every or 1]
        rules = [(float(t), float(m), float(g)) for t, m, g in ((r + ":0").split(":")[:3] for r in a.rules.split(","))]
        accept(dev, a.accept / "wb" / "images", names, rules)
        return 0
    if a.misses:
        dev = dev_dir()
        names = _names(dev, "")[:: a.every or 1]
        misses(dev, a.misses / "wb" / "images", names, a.out / "misses")
        return 0
    dev = DATA / "facemask-dev" if a.facemask else dev_dir()
    ext = ".png" if a.facemask else ".jpg"
    if a.facemask:
        names = sorted(p.stem for p in (dev / "annotations").glob("*.xml"))
    elif a.tiny:
        names = tiny_names(dev, a.tiny)
    else:
        names = _names(dev, a.events)[:: a.every or (1 if a.events else 24)]
    if a.limit:
        names = names[: a.limit]
    anns = a.out / "annotations"
    shutil.rmtree(a.out, ignore_errors=True)
    anns.mkdir(parents=True)
    for n in names:
        shutil.copy(dev / "annotations" / f"{n}.xml", anns)
    keys = ["all", "16+", *("w " + lab for _, _, lab in WIDTHS), "occ heavy"]
    what = "facemask-dev" if a.facemask else f"--tiny {a.tiny}" if a.tiny else f"every {a.every or 24}th"
    print(f"photos: {len(names)}  ({what})")
    print(f"{'variant':10s} {'cpu s':>7s} {'wall s':>7s} {'over-red.':>9s} " + " ".join(f"{k:>12s}" for k in keys))
    # Sessions (and the int8 copy) are made once per process: made here, outside the timing.
    (a.out / "warm").mkdir()
    Redactor(VARIANTS["none"]).redact_file(dev / "images" / f"{names[0]}{ext}", a.out / "warm" / f"w{ext}")
    for v in a.variants.split(","):
        opts = VARIANTS[v]
        out = a.out / v
        out.mkdir()
        red = Redactor(opts)
        c0, t0 = cpu(), time.perf_counter()
        for n in names:
            red.redact_file(dev / "images" / f"{n}{ext}", out / f"{n}{ext}")
        c1, t1 = cpu(), time.perf_counter()
        r = score("redaction_eval.py", anns, out)
        if a.facemask:  # no width breakdown (redaction_crowd.py reads .jpg names)
            print(f"{v:10s} {c1 - c0:7.1f} {t1 - t0:7.1f} {r['over_redaction_mean']:9.4f} "
                  f"{r['protected_share']:.4f}/{r['faces']}", flush=True)
            continue
        b = breakdown(anns, out, names, True, events(dev))
        cells = [f"{b['by'].get(k, [0, 0])[1] / max(b['by'].get(k, [0, 0])[0], 1):.4f}/{b['by'].get(k, [0, 0])[0]:<5d}"
                 for k in keys]
        row = " ".join(f"{c:>12s}" for c in cells)
        print(f"{v:10s} {c1 - c0:7.1f} {t1 - t0:7.1f} {r['over_redaction_mean']:9.4f} " + row
              + f"  sugg/photo {b['suggestions'] / max(len(names), 1):.1f}", flush=True)
        if opts.plan.crowd is not None:
            print(f"           crowd: {dataclasses.asdict(opts.plan.crowd)}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
