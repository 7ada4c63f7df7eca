"""Review suggestions benchmark (issue 13 target 6): of the faces the pipeline misses, how many
does a suggestion point the reviewer at, and how many suggestions per image does that cost?

Runs the photo pipeline with its defaults over ../shared/data/facemask-dev (it writes a regions
file and a suggestions file per photo), then scores with the conventions of
../shared/tools/redaction_eval.py (its ``ellipse_mask``; a face is protected when 95% of the
ellipse inscribed in its box lies inside the hidden shapes). For every missed face:

- *pointed at*: some suggestion's shape covers at least half of the face's ellipse (the
  reviewer looking at that suggestion sees that face);
- *fixed*: hiding the suggestions that touch it makes it protected by the 95% rule.

Suggestions are written at the default floor (0.05, or ``--floor``); the rows for higher floors keep the
suggestions scoring at least that (an approximation of running with that floor: fusion at a
higher floor sees fewer weak boxes). Anchor measured in the same run: the detector time per
photo without suggestions (``MultiScaleDetector.__call__``) against with them (``detect_all``).

Usage: .venv/bin/python benchmarks/review_suggestions.py [--limit N] [--out DIR] [--time-photos N] [--floor F]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import statistics
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import numpy as np

from _redaction_common import DATA, ROOT, TOOLS

FLOORS = [0.05, 0.08, 0.10, 0.12, 0.14]


def _eval_tool() -> Any:
    spec = importlib.util.spec_from_file_location("redaction_eval", TOOLS / "redaction_eval.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _faces(xml: Path) -> tuple[int, int, list[list[float]]]:
    r = ET.parse(xml).getroot()
    w, h = int(r.findtext("size/width") or 0), int(r.findtext("size/height") or 0)
    boxes = [[float(o.findtext("bndbox/" + k) or 0) for k in ("xmin", "ymin", "xmax", "ymax")] for o in r.findall("object")]
    return w, h, boxes


def redact_all(images: list[Path], out: Path, floor: float) -> float:
    from witnessbox.redact.pipeline import Redactor, RedactOptions

    out.mkdir(parents=True, exist_ok=True)
    t = time.perf_counter()
    rep = Redactor(RedactOptions(suggest_floor=floor)).redact_paths(images, out)
    if rep.failed:
        raise SystemExit(f"{len(rep.failed)} photos failed: {rep.failed[0]}")
    return time.perf_counter() - t


def measure(images: list[Path], annotations: Path, out: Path) -> dict[str, Any]:
    ev = _eval_tool()
    misses: list[dict[str, Any]] = []  # per missed face: best suggestion coverage per floor
    faces = protected = 0
    per_image: dict[float, list[int]] = {f: [] for f in FLOORS}
    for img in images:
        w, h, boxes = _faces(annotations / (img.stem + ".xml"))
        regs = json.loads((out / (img.name + ".regions.json")).read_text())
        sugg = json.loads((out / (img.name + ".suggestions.json")).read_text())
        w, h = regs["media"]["width"], regs["media"]["height"]
        red = np.zeros((h, w), bool)
        for g in regs["regions"]:
            if g["frame"] == 0:
                red |= ev.ellipse_mask(h, w, g["box"], g["shape"])
        shapes = [(s["score"], ev.ellipse_mask(h, w, r["box"], r["shape"])) for s in sugg["suggestions"]
                  for r in s["regions"] if r["frame"] == 0]
        for f in FLOORS:
            per_image[f].append(sum(1 for s in sugg["suggestions"] if s["score"] >= f))
        for b in boxes:
            face = ev.ellipse_mask(h, w, b, "ellipse")
            area = max(int(face.sum()), 1)
            faces += 1
            if (face & red).sum() / area >= 0.95:
                protected += 1
                continue
            m: dict[str, Any] = {"width": b[2] - b[0], "covered": (face & red).sum() / area}
            for f in FLOORS:
                near = [s for sc, s in shapes if sc >= f and (s & face).any()]
                pointed = any((s & face).sum() / area >= 0.5 for s in near)
                fixed_mask = red.copy()
                for s in near:
                    fixed_mask |= s
                m[f"pointed@{f}"] = pointed
                m[f"fixed@{f}"] = (face & fixed_mask).sum() / area >= 0.95
            misses.append(m)
    rows = []
    # A miss under half covered is a face the reviewer sees no region on; the others are faces
    # the pipeline hid in part (a region too small), which the overlay itself shows.
    unseen = [m for m in misses if m["covered"] < 0.5]
    for f in FLOORS:
        n = len(misses)
        rows.append({
            "floor": f,
            "misses": n,
            "pointed_at": sum(m[f"pointed@{f}"] for m in misses),
            "pointed_share": round(sum(m[f"pointed@{f}"] for m in misses) / max(n, 1), 4),
            "fixed_share": round(sum(m[f"fixed@{f}"] for m in misses) / max(n, 1), 4),
            "unseen_misses": len(unseen),
            "unseen_pointed_share": round(sum(m[f"pointed@{f}"] for m in unseen) / max(len(unseen), 1), 4),
            "suggestions_per_image": round(statistics.mean(per_image[f]), 2),
            "suggestions_per_image_median": statistics.median(per_image[f]),
            "suggestions_per_image_max": max(per_image[f]),
        })
    return {"images": len(images), "faces": faces, "protected": protected,
            "protected_share": round(protected / max(faces, 1), 4), "rows": rows}


def detector_cost(images: list[Path]) -> dict[str, float]:
    """Anchor: detector time per photo with and without the suggestions, same detector, same run."""
    from witnessbox.media.images import load_image
    from witnessbox.redact.detector import CenterFace, MultiScaleDetector

    det = MultiScaleDetector(CenterFace(0.1, threads=1), threshold=0.16)
    rgbs = [np.ascontiguousarray(load_image(p).frames[0][..., :3]) for p in images]
    det(rgbs[0])  # warm up
    plain, both = [], []
    for rgb in rgbs:  # interleaved, so that load on the machine hits both alike
        t = time.perf_counter()
        det(rgb)
        plain.append(time.perf_counter() - t)
        t = time.perf_counter()
        det.detect_all(rgb, 0.05)
        both.append(time.perf_counter() - t)
    return {"photos": len(rgbs), "plain_s": round(sum(plain), 2), "with_suggestions_s": round(sum(both), 2),
            "ratio": round(sum(both) / sum(plain), 3)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--limit", type=int, default=0, help="Only the first N photos (0: all).")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "out" / "review-suggestions")
    ap.add_argument("--time-photos", type=int, default=40, help="Photos for the timing anchor.")
    ap.add_argument("--reuse", action="store_true", help="Score the regions and suggestions already in --out.")
    ap.add_argument("--floor", type=float, default=0.05, help="suggest_floor of the run (default: the default).")
    a = ap.parse_args()
    if a.floor < FLOORS[0]:
        FLOORS.insert(0, a.floor)
    fm = DATA / "facemask-dev"
    images = sorted((fm / "images").glob("*.png"))
    if a.limit:
        images = images[: a.limit]
    took = 0.0 if a.reuse else redact_all(images, a.out, a.floor)
    res = measure(images, fm / "annotations", a.out)
    res["redact_s"] = round(took, 1)
    res["detector_cost"] = detector_cost(images[: a.time_photos])
    print(json.dumps(res, indent=1))
    print(f"\nfacemask-dev: {res['images']} photos, {res['faces']} faces, protected share {res['protected_share']}")
    print("floor  misses  pointed-at share  fixed-by-hiding share  unseen misses (<50% covered): pointed-at share"
          "  suggestions/image (median, max)")
    for r in res["rows"]:
        print(f"{r['floor']:<6} {r['misses']:<7} {r['pointed_share']:<17} {r['fixed_share']:<22} "
              f"{r['unseen_misses']}: {r['unseen_pointed_share']:<39} "
              f"{r['suggestions_per_image']} ({r['suggestions_per_image_median']}, {r['suggestions_per_image_max']})")
    c = res["detector_cost"]
    print(f"detector time with suggestions / without (anchor, same run, {c['photos']} photos): {c['ratio']}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
