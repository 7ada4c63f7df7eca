"""Where the photo detector's CPU time goes, by kind of pass, on crowd tuning-set photos.

Runs the command's own photo detector (``Redactor(options).photo_detector``, one inference
thread, the int8 copy as the command runs it) in this process on every ``--every`` K-th photo
of the crowd tuning set (the first ``--limit`` N: 100 of every 16th are the speed benchmark's
photos), as ``redact`` calls it (review suggestions included), and times every run of the
network by the pass that asked for it: the plain passes by scale (1x look, 2x, half size), the
mirrored parts of the 1x look, the crowd strips and the second look. CPU time of this process.

Usage: .venv/bin/python benchmarks/redaction_cpu_by_pass.py [--every 16] [--limit 100] [--thorough]
"""

from __future__ import annotations

import argparse
import collections
import time
from collections.abc import Callable
from typing import Any

import numpy as np
from PIL import Image
from redaction_crowd import dev_dir

from witnessbox.redact import detector as D
from witnessbox.redact.pipeline import Redactor, RedactOptions


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--every", type=int, default=16)
    ap.add_argument("--limit", type=int, default=100)
    ap.add_argument("--thorough", action="store_true", help="with the second look (redact --thorough)")
    a = ap.parse_args()
    dev = dev_dir()
    names = sorted(p.stem for p in (dev / "annotations").glob("*.xml"))[:: a.every][: a.limit]
    opts = RedactOptions().thorough() if a.thorough else RedactOptions()

    kind = ["other"]  # the pass running now, innermost last
    cpu: collections.defaultdict[str, float] = collections.defaultdict(float)
    pixels: collections.Counter[str] = collections.Counter()
    runs: collections.Counter[str] = collections.Counter()
    raw = D.CenterFace.raw

    def timed_raw(self: D.CenterFace, rgb: np.ndarray, *args: Any, **kw: Any) -> Any:
        t = time.process_time()
        try:
            return raw(self, rgb, *args, **kw)
        finally:
            cpu[kind[-1]] += time.process_time() - t
            pixels[kind[-1]] += rgb.shape[0] * rgb.shape[1]
            runs[kind[-1]] += 1

    def labelled(method: str, label: Callable[[tuple[Any, ...]], str]) -> None:
        inner = getattr(D.MultiScaleDetector, method)

        def wrapper(self: D.MultiScaleDetector, *args: Any, **kw: Any) -> Any:
            kind.append(label(args))
            try:
                return inner(self, *args, **kw)
            finally:
                kind.pop()

        setattr(D.MultiScaleDetector, method, wrapper)

    D.CenterFace.raw = timed_raw  # type: ignore[method-assign]
    labelled("_crowd_passes", lambda _: "crowd strips (5x)")
    labelled("_mirrored_look", lambda _: "1x look, mirrored parts")
    labelled("_second_passes", lambda _: "second look")
    # A plain pass inside one of those keeps that one's name.
    labelled("_pass", lambda args: kind[-1] if kind[-1] != "other" else
             f"pass {args[1].scale:g}x{' mirrored' if args[1].mirrored else ''}")

    det = Redactor(opts, workers=1).photo_detector(threads=1)
    assert isinstance(det, D.MultiScaleDetector)
    det(np.zeros((64, 64, 3), np.uint8))  # sessions made before the clock starts
    for c in (cpu, pixels, runs):
        c.clear()
    t0 = time.process_time()
    for n in names:
        rgb = np.asarray(Image.open(dev / "images" / f"{n}.jpg").convert("RGB"))
        det.detect_all(rgb, opts.suggest_floor)
    total = time.process_time() - t0
    print(f"{len(names)} photos (every {a.every}th){', thorough' if a.thorough else ''}: detection {total:.1f} s CPU")
    for k, v in sorted(cpu.items(), key=lambda kv: -kv[1]):
        print(f"  {k:26s} {v:6.1f} s {v / total:6.1%}  {runs[k]:5d} runs {pixels[k] / 1e6:8.1f} Mpx")
    rest = total - sum(cpu.values())
    print(f"  {'resizing, fusion, copies':26s} {rest:6.1f} s {rest / total:6.1%}")


if __name__ == "__main__":
    main()
