"""Photo redaction benchmark: witnessbox against deface 1.5.0, in the same run.

Quality: both tools' regions on ../shared/data/facemask-dev are scored by
../shared/tools/redaction_eval.py (protected share, over-redaction). deface writes no regions
file, so its regions are rebuilt with deface's own code and defaults (CenterFace at the
picture's size, threshold 0.2, mask scale 1.3, ellipses), which is what its CLI draws.
Speed: wall time of the whole `witnessbox redact` command against the whole `deface` command
over the same photos (each on its own copy; deface on onnxruntime).

Usage: .venv/bin/python benchmarks/redaction_photos.py [--limit N] [--out DIR] [--skip-deface]
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

from _redaction_common import (
    DATA,
    DEFACE_EP,
    ROOT,
    VENV,
    deface_regions,
    score,
    timed,
)


def evaluate(annotations: Path, regions: Path) -> dict[str, float]:
    return score("redaction_eval.py", annotations, regions)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--limit", type=int, default=0, help="only the first N photos (iteration)")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "out" / "photos")
    ap.add_argument("--skip-deface", action="store_true")
    a = ap.parse_args()
    src = DATA / "facemask-dev"
    if not src.is_dir():
        print(f"no data at {src}")
        return 2
    out = a.out
    shutil.rmtree(out, ignore_errors=True)
    imgs, anns = out / "in" / "images", out / "in" / "annotations"
    imgs.mkdir(parents=True)
    anns.mkdir(parents=True)
    names = sorted(p.stem for p in (src / "annotations").glob("*.xml"))
    if a.limit:
        names = names[: a.limit]
    for n in names:
        shutil.copy(src / "images" / f"{n}.png", imgs)
        shutil.copy(src / "annotations" / f"{n}.xml", anns)
    dimgs = out / "deface_in"
    shutil.copytree(imgs, dimgs)

    t_wb = timed([str(VENV / "witnessbox"), "redact", str(imgs), "-o", str(out / "wb")])
    wb = evaluate(anns, out / "wb" / "images")
    rows = [("witnessbox", wb, t_wb)]
    if not a.skip_deface:
        t_df = timed([str(VENV / "deface"), str(dimgs), *DEFACE_EP])
        deface_regions(sorted(imgs.glob("*.png")), out / "deface_regions")
        df = evaluate(anns, out / "deface_regions")
        rows.append(("deface 1.5.0", df, t_df))
    print(f"photos: {len(names)}  faces: {wb['faces']}")
    print(f"{'tool':14s} {'protected':>10s} {'over-red.':>10s} {'wall s':>8s} {'photos/s':>9s}")
    for name, r, t in rows:
        print(f"{name:14s} {r['protected_share']:10.4f} {r['over_redaction_mean']:10.4f} {t:8.1f} {len(names) / t:9.1f}")
    if len(rows) == 2:
        print(f"speed ratio (deface time / witnessbox time): {rows[1][2] / rows[0][2]:.2f}  (target >= 1.0)")
    print("per class (witnessbox):", wb["per_class"])
    if len(rows) == 2:
        print("per class (deface):    ", rows[1][1]["per_class"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
