"""Hashing throughput on full-resolution photos: witnessbox against a plain ``pdqhash`` call.

Photos: the first N facemask-dev photos scaled up to 4000x3000 (12 MP, a phone photo) and saved
as JPEG quality 90 under benchmarks/out/trace_fullres/ (made once, deterministic).
Anchor: decode the full image with PIL, then ``pdqhash.compute`` on it (one hash).
witnessbox: ``fingerprint_file`` (JPEG draft decoding, border trim, downscale, PDQ of the frame and
its mirror, ORB features of both): everything the archive stores for a photo.
Target (issue 6): at least 4x the anchor's photos per second.

Usage: .venv/bin/python benchmarks/trace_throughput.py [--photos 20]
"""

from __future__ import annotations

import argparse
import os
import re
import time
from pathlib import Path

import numpy as np
import pdqhash
from PIL import Image

from witnessbox.trace import fingerprint_file

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("WITNESSBOX_DATA", ROOT.parent / "shared" / "data"))


def _photos(n: int, out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    src = sorted((DATA / "facemask-dev" / "images").glob("*.png"), key=lambda p: int(re.sub(r"\D", "", p.stem)))
    paths = []
    for p in src[:n]:
        dst = out / f"{p.stem}-12mp.jpg"
        if not dst.exists():
            img = Image.open(p).convert("RGB")
            size = (4000, 3000) if img.width >= img.height else (3000, 4000)
            img.resize(size, Image.Resampling.BICUBIC).save(dst, quality=90)
        paths.append(dst)
    return paths


def _anchor(p: Path) -> None:
    rgb = np.asarray(Image.open(p).convert("RGB"))
    pdqhash.compute(rgb)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--photos", type=int, default=20)
    args = ap.parse_args()
    paths = _photos(args.photos, ROOT / "benchmarks" / "out" / "trace_fullres")
    fingerprint_file(paths[0])
    _anchor(paths[0])  # warm-up both
    t = time.perf_counter()
    for p in paths:
        _anchor(p)
    t_anchor = time.perf_counter() - t
    t = time.perf_counter()
    for p in paths:
        fingerprint_file(p)
    t_wb = time.perf_counter() - t
    arrays = [np.asarray(Image.open(p).convert("RGB")) for p in paths[:5]]
    t = time.perf_counter()
    for a in arrays:
        pdqhash.compute(a)
    t_call = (time.perf_counter() - t) / len(arrays)
    n = len(paths)
    print(f"{n} photos, 12 MP JPEG")
    print(f"pdqhash.compute alone on a decoded 12 MP array: {t_call * 1e3:.0f} ms each")
    print(f"anchor (PIL decode + pdqhash.compute, full image): {n / t_anchor:6.2f} photos/s ({t_anchor / n * 1e3:.0f} ms each)")
    print(f"witnessbox fingerprint_file (hash+mirror+features): {n / t_wb:6.2f} photos/s ({t_wb / n * 1e3:.0f} ms each)")
    print(f"ratio: {t_anchor / t_wb:.1f}x the anchor (target >= 4x)")


if __name__ == "__main__":
    main()
