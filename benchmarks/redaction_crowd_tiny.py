"""Variants of the closer look at crowds (issue 13, faces under 16 px), in one process.

Runs witnessbox's photo redaction (``Redactor.redact_file``, the command's own code) with each
variant's options on a subset of the crowd tuning set, and scores every run with
../shared/tools/redaction_eval.py and redaction_crowd.py's breakdown (by face width and
occlusion). The CPU time is the process's (user + system) for the redaction only, so variants of
one run compare on a shared machine; "none" is main's plan (no closer look), "default" this
checkout's defaults; the other variants are CrowdZoom at 4x with one setting changed.

Usage: .venv/bin/python benchmarks/redaction_crowd_tiny.py [--every K | --tiny N] [--variants a,b,...]

``--tiny N``: the N photos of the tuning set with the most faces under 8 px, excluding every
24th photo (the set the results are checked on); never the held-out events (not in the set).
"""

from __future__ import annotations

import argparse
import dataclasses
import resource
import shutil
import sys
import time
from pathlib import Path

from _redaction_common import DATA, ROOT, score
from redaction_crowd import WIDTHS, breakdown, dev_dir, faces

from witnessbox.redact.detector import CrowdZoom, ScalePlan
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
}


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


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--every", type=int, default=0)
    ap.add_argument("--tiny", type=int, default=0)
    ap.add_argument("--limit", type=int, default=0)
    ap.add_argument("--facemask", action="store_true", help="facemask-dev (every photo) instead")
    ap.add_argument("--variants", default="none,default")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "out" / "crowd-tiny")
    a = ap.parse_args()
    dev = DATA / "facemask-dev" if a.facemask else dev_dir()
    ext = ".png" if a.facemask else ".jpg"
    if a.facemask:
        names = sorted(p.stem for p in (dev / "annotations").glob("*.xml"))
    elif a.tiny:
        names = tiny_names(dev, a.tiny)
    else:
        names = sorted(p.stem for p in (dev / "annotations").glob("*.xml"))[:: a.every or 24]
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
        b = breakdown(anns, out, names, True)
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
