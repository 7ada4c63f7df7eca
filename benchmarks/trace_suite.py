"""Robustness suite for copy tracing: witnessbox against plain PDQ (the anchor), same run.

Generates, deterministically (fixed seeds), copies of originals under each transform at two
strengths, then indexes originals and copies together and queries every item:

- recall per transform: share of copies whose query finds their original;
- false matches: unordered pairs of items from different sources that match either way,
  among all such pairs.

Originals: the first PHOTOS photos of ../shared/data/facemask-dev (by number), CLIPS pan/zoom
clips made from the next photos, and clips made from ../shared/data/video.
Transforms (strength 1 / 2): recompress JPEG q40 / q15 (video: x264 crf 36 / 46); resize to
50% / 25%; grayscale 60% / 100%; logo: a corner badge 18% / 25% wide, plus a translucent text
watermark across the picture at 2; crop 7% / 15% of each axis at a random place; flip /
flip + 75% + JPEG q40; screen recording: the picture in a 16:9 (or 9:16) frame with black bars,
gamma 1.25 / 0.7 (+ blur, grey bars, JPEG q60 at 2), video at 1/2 / 1/3 of the frame rate;
trim (video only): the middle 60% / 25%.

Anchor: ``pdqhash.compute`` on the whole decoded image, one hash per image (one per second for
video), match at distance <= 31.

Usage: .venv/bin/python benchmarks/trace_suite.py [--photos 100] [--clips 4] [--out DIR]
       [--ablations]  (also: the PDQ path alone, without flips, without border trimming)
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import re
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import av
import cv2
import numpy as np
import pdqhash
from PIL import Image, ImageDraw, ImageFont

from witnessbox.trace import FingerprintIndex, Fingerprints, fingerprint_file
from witnessbox.trace import pdq as wpdq

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("WITNESSBOX_DATA", ROOT.parent / "shared" / "data"))
SUITE_VERSION = 3

Array = np.ndarray


@dataclass(frozen=True)
class Case:
    key: str
    path: str
    source: str  # originals and their copies share it
    transform: str  # "original" for originals
    strength: int  # 0 for originals, else 1 or 2
    kind: str  # photo | video


# ---------------------------------------------------------------- frame transforms


def _jpeg(rgb: Array, quality: int) -> Array:
    ok, buf = cv2.imencode(".jpg", rgb[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, quality])
    return cv2.imdecode(buf, cv2.IMREAD_COLOR)[..., ::-1].copy()


def _resize(rgb: Array, s: float) -> Array:
    h, w = rgb.shape[:2]
    return cv2.resize(rgb, (max(2, int(w * s) // 2 * 2), max(2, int(h * s) // 2 * 2)), interpolation=cv2.INTER_AREA)


def _gray(rgb: Array, amount: float) -> Array:
    y = wpdq.luma(rgb)[..., None]
    return np.clip(rgb * (1 - amount) + y * amount, 0, 255).astype(np.uint8)


def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    return ImageFont.load_default(size=max(8, size))


def _logo(rgb: Array, strength: int, rng: np.random.Generator) -> Array:
    img = Image.fromarray(rgb).convert("RGBA")
    w, h = img.size
    over = Image.new("RGBA", img.size, (0, 0, 0, 0))
    d = ImageDraw.Draw(over)
    lw, lh = int(w * (0.18 if strength == 1 else 0.25)), int(h * (0.08 if strength == 1 else 0.11))
    corner = int(rng.integers(4))
    x = 6 if corner % 2 == 0 else w - lw - 6
    y = 6 if corner < 2 else h - lh - 6
    d.rounded_rectangle((x, y, x + lw, y + lh), radius=lh // 4, fill=(200, 20, 40, 255))
    d.text((x + lh // 4, y + lh // 6), "NEWS 24", fill=(255, 255, 255, 255), font=_font(int(lh * 0.6)))
    if strength == 2:
        d.text((w * 0.08, h * 0.42), "@reupload_channel", fill=(255, 255, 255, 110), font=_font(int(w * 0.08)))
    return np.asarray(Image.alpha_composite(img, over).convert("RGB"))


def _crop_box(h: int, w: int, frac: float, rng: np.random.Generator) -> tuple[int, int, int, int]:
    cw, ch = int(w * (1 - frac)), int(h * (1 - frac))
    x0, y0 = int(rng.integers(0, w - cw + 1)), int(rng.integers(0, h - ch + 1))
    return x0, y0, x0 + cw, y0 + ch


def _screen(rgb: Array, strength: int) -> Array:
    """A phone/monitor recording: the picture inside black bars, gamma, softer, recompressed."""
    h, w = rgb.shape[:2]
    portrait_canvas = (w >= h) == (strength == 2)
    cw, ch = (360, 640) if portrait_canvas else (640, 360)
    fill = 0.96 if strength == 1 else 0.88
    s = min(cw / w, ch / h) * fill
    pic = cv2.resize(rgb, (int(w * s), int(h * s)), interpolation=cv2.INTER_AREA)
    gamma = 1.25 if strength == 1 else 0.7
    pic = (255 * (pic / 255.0) ** gamma).astype(np.uint8)
    if strength == 2:
        pic = cv2.GaussianBlur(pic, (3, 3), 0.8)
    canvas = np.full((ch, cw, 3), 4 if strength == 1 else 14, np.uint8)
    y0, x0 = (ch - pic.shape[0]) // 2, (cw - pic.shape[1]) // 2
    canvas[y0 : y0 + pic.shape[0], x0 : x0 + pic.shape[1]] = pic
    return _jpeg(canvas, 80 if strength == 1 else 60)


TRANSFORMS = ("recompress", "resize", "grayscale", "logo", "crop", "flip", "screen", "trim")


def frame_transform(name: str, strength: int, seed: int) -> Callable[[Array], Array] | None:
    """Per-frame function for a transform (trim has none); the crop window is fixed per copy."""
    if name == "recompress":
        return lambda a: _jpeg(a, 40 if strength == 1 else 15)
    if name == "resize":
        return lambda a: _resize(a, 0.5 if strength == 1 else 0.25)
    if name == "grayscale":
        return lambda a: _gray(a, 0.6 if strength == 1 else 1.0)
    if name == "logo":
        return lambda a: _logo(a, strength, np.random.default_rng(seed))
    if name == "crop":
        frac = 0.07 if strength == 1 else 0.15

        def crop(a: Array) -> Array:
            x0, y0, x1, y1 = _crop_box(a.shape[0], a.shape[1], frac, np.random.default_rng(seed))
            return np.ascontiguousarray(a[y0:y1, x0:x1])

        return crop
    if name == "flip":
        if strength == 1:
            return lambda a: np.ascontiguousarray(a[:, ::-1])
        return lambda a: _jpeg(_resize(np.ascontiguousarray(a[:, ::-1]), 0.75), 40)
    if name == "screen":
        return lambda a: _screen(a, strength)
    return None


# ---------------------------------------------------------------- generation


def _read_rgb(p: Path) -> Array:
    return np.asarray(Image.open(p).convert("RGB"))


def _photo_sources(n: int, skip: int = 0) -> list[Path]:
    imgs = sorted((DATA / "facemask-dev" / "images").glob("*.png"), key=lambda p: int(re.sub(r"\D", "", p.stem)))
    return imgs[skip : skip + n]


def _write_video(path: Path, frames: list[Array], fps: int, crf: int = 23) -> None:
    h, w = frames[0].shape[:2]
    with av.open(str(path), "w") as out:
        st = out.add_stream("libx264", rate=fps)
        st.width, st.height, st.pix_fmt = w // 2 * 2, h // 2 * 2, "yuv420p"
        st.options = {"crf": str(crf), "preset": "veryfast"}
        for f in frames:
            f = np.ascontiguousarray(f[: st.height, : st.width])
            for pkt in st.encode(av.VideoFrame.from_ndarray(f, format="rgb24")):
                out.mux(pkt)
        for pkt in st.encode():
            out.mux(pkt)


def _read_video(path: Path) -> tuple[list[Array], int]:
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        fps = round(float(s.average_rate or 10))
        return [f.to_ndarray(format="rgb24") for f in c.decode(s)], fps


def _pan_zoom(rgb: Array, seconds: float = 4.0, fps: int = 10, size: tuple[int, int] = (320, 240)) -> list[Array]:
    """A camera move over a photo: the window zooms from the whole picture to 70% while panning."""
    h, w = rgb.shape[:2]
    frames = []
    n = int(seconds * fps)
    for i in range(n):
        t = i / max(1, n - 1)
        z = 1.0 - 0.3 * t
        cw, ch = w * z, h * z
        x0, y0 = (w - cw) * t, (h - ch) * (0.5 + 0.5 * np.sin(3 * t)) * 0.9
        m = np.array([[size[0] / cw, 0, -x0 * size[0] / cw], [0, size[1] / ch, -y0 * size[1] / ch]])
        frames.append(cv2.warpAffine(rgb, m, size, flags=cv2.INTER_AREA))
    return frames


def _real_clips() -> list[tuple[str, list[Array], int]]:
    out = []
    walk = DATA / "video" / "one-person-walking.mp4"
    if walk.exists():
        frames, fps = _read_video(walk)
        # First 10 s at 15 fps, half size: a clip made from the real video, cheap to transform.
        out.append(("walking", [_resize(f, 0.5) for f in frames[: fps * 10 : 2]], fps // 2))
    fish = DATA / "video" / "group-fisheye-with-audio.mp4"
    if fish.exists():
        frames, fps = _read_video(fish)
        out.append(("fisheye", [cv2.resize(f, (640, 480), interpolation=cv2.INTER_AREA) for f in frames], fps))
    return out


def _video_copy(frames: list[Array], fps: int, name: str, strength: int, seed: int) -> tuple[list[Array], int, int]:
    crf = 23
    if name == "recompress":
        return frames, fps, 36 if strength == 1 else 46
    if name == "trim":
        keep = 0.6 if strength == 1 else 0.25
        n = max(3, int(len(frames) * keep))
        s = (len(frames) - n) // 2
        return frames[s : s + n], fps, crf
    fn = frame_transform(name, strength, seed)
    assert fn is not None
    out = [fn(f) for f in frames]
    if name == "screen":
        step = 2 if strength == 1 else 3  # a recording at a lower frame rate
        out = out[::step]
        fps = max(1, fps // step)
    return out, fps, crf


def generate(out: Path, photos: int, clips: int) -> list[Case]:
    """Write the suite under ``out`` (reused when already there for the same sizes)."""
    manifest = out / "manifest.json"
    want = {"version": SUITE_VERSION, "photos": photos, "clips": clips}
    if manifest.exists():
        data = json.loads(manifest.read_text())
        if data.get("params") == want:
            return [Case(**c) for c in data["cases"]]
    out.mkdir(parents=True, exist_ok=True)
    cases: list[Case] = []
    for i, p in enumerate(_photo_sources(photos)):
        src = f"p{i:03d}"
        rgb = _read_rgb(p)
        orig = out / f"{src}.png"
        Image.fromarray(rgb).save(orig)
        cases.append(Case(src, str(orig), src, "original", 0, "photo"))
        for t, s in itertools.product(TRANSFORMS[:-1], (1, 2)):
            fn = frame_transform(t, s, seed=i * 100 + s)
            assert fn is not None
            dst = out / f"{src}-{t}{s}.jpg"
            q = 40 if t == "recompress" and s == 1 else 15 if t == "recompress" else 88
            Image.fromarray(fn(rgb) if t != "recompress" else rgb).save(dst, quality=q)
            cases.append(Case(dst.stem, str(dst), src, t, s, "photo"))
    videos = [(f"clip{i}", _pan_zoom(_read_rgb(p)), 10) for i, p in enumerate(_photo_sources(clips, skip=photos))]
    videos += _real_clips()
    for vi, (src, frames, fps) in enumerate(videos):
        orig = out / f"v-{src}.mp4"
        _write_video(orig, frames, fps)
        cases.append(Case(f"v-{src}", str(orig), f"v-{src}", "original", 0, "video"))
        frames, fps = _read_video(orig)  # copies are made from the encoded original, as in life
        for t, s in itertools.product(TRANSFORMS, (1, 2)):
            cf, cfps, crf = _video_copy(frames, fps, t, s, seed=vi * 100 + s)
            dst = out / f"v-{src}-{t}{s}.mp4"
            _write_video(dst, cf, cfps, crf)
            cases.append(Case(dst.stem, str(dst), f"v-{src}", t, s, "video"))
        print(f"  video {src}: done", file=sys.stderr)
    manifest.write_text(json.dumps({"params": want, "cases": [asdict(c) for c in cases]}, indent=1))
    return cases


# ---------------------------------------------------------------- methods


def anchor_fingerprints(case: Case) -> Fingerprints:
    """Plain PDQ: one hash of the whole decoded image (video: one frame per second)."""
    from witnessbox.trace.records import FrameHash

    def one(rgb: Array, t: float) -> FrameHash:
        bits, q = pdqhash.compute(np.ascontiguousarray(rgb))
        return FrameHash(np.packbits(bits.astype(np.uint8)).tobytes(), max(int(q), 50), t, t)

    if case.kind == "photo":
        return Fingerprints("photo", (one(_read_rgb(Path(case.path)), 0.0),))
    frames, fps = _read_video(Path(case.path))
    return Fingerprints("video", tuple(one(f, i / fps) for i, f in enumerate(frames) if i % fps == 0))


def evaluate(cases: list[Case], fps: dict[str, Fingerprints], label: str = "") -> dict[str, object]:
    t0 = time.perf_counter()
    index = FingerprintIndex("auto")
    for c in cases:
        index.add(c.key, fps[c.key])
    by_key = {c.key: c for c in cases}
    matched: dict[str, set[str]] = {}
    for c in cases:
        matched[c.key] = {m.key for m in index.match(fps[c.key], exclude=c.key)}
    recall: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for c in cases:
        if c.transform == "original":
            continue
        r = recall[f"{c.kind}:{c.transform}{c.strength}"]
        r[1] += 1
        r[0] += int(c.source in matched[c.key])
    false_pairs = set()
    for k, ms in matched.items():
        for m in ms:
            if by_key[m].source != by_key[k].source:
                false_pairs.add(tuple(sorted((k, m))))
    print(f"  evaluated {label}: {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    n = len(cases)
    per_source: dict[str, int] = defaultdict(int)
    for c in cases:
        per_source[c.source] += 1
    same = sum(v * (v - 1) // 2 for v in per_source.values())
    return {
        "recall": {k: v[0] / v[1] for k, v in sorted(recall.items())},
        "counts": {k: v[1] for k, v in sorted(recall.items())},
        "false_matches": len(false_pairs),
        "unrelated_pairs": n * (n - 1) // 2 - same,
        "false_examples": sorted(false_pairs)[:10],
    }


def _without(fps: Fingerprints, *, features: bool = True, flips: bool = True) -> Fingerprints:
    keep = tuple(h for h in fps.hashes if flips or not h.flipped)
    feats = tuple(f for f in fps.features if features and (flips or not f.flipped))
    return Fingerprints(fps.kind, keep, fps.reason, fps.width, fps.height, fps.duration, fps.version, feats)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--photos", type=int, default=100)
    ap.add_argument("--clips", type=int, default=4)
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "out" / "trace_suite")
    ap.add_argument("--ablations", action="store_true")
    ap.add_argument("--json", type=Path, default=None, help="write the results here too")
    args = ap.parse_args()
    if not (DATA / "facemask-dev" / "images").is_dir():
        sys.exit(f"shared data not found at {DATA} (set WITNESSBOX_DATA)")
    t0 = time.perf_counter()
    cases = generate(args.out, args.photos, args.clips)
    n_photo = sum(c.kind == "photo" for c in cases)
    print(f"suite: {len(cases)} items ({n_photo} photos, {len(cases) - n_photo} videos), "
          f"generated/loaded in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    t0 = time.perf_counter()
    wb = {c.key: fingerprint_file(Path(c.path)) for c in cases}
    t_wb = time.perf_counter() - t0
    t0 = time.perf_counter()
    anchor = {c.key: anchor_fingerprints(c) for c in cases}
    t_an = time.perf_counter() - t0
    print(f"  fingerprints: witnessbox {t_wb:.0f} s, anchor {t_an:.0f} s", file=sys.stderr)
    results = {"witnessbox": evaluate(cases, wb, "witnessbox"), "plain PDQ (anchor)": evaluate(cases, anchor, "anchor")}
    if args.ablations:
        # Each step on its own, on the PDQ path (no local features): cheap to evaluate.
        pdq_only = {k: _without(v, features=False) for k, v in wb.items()}
        results["PDQ path only"] = evaluate(cases, pdq_only, "pdq path")
        results["PDQ path, no flips"] = evaluate(
            cases, {k: _without(v, features=False, flips=False) for k, v in wb.items()}, "no flips")
        orig_box = wpdq.content_box
        wpdq.content_box = lambda rgb: (0, 0, rgb.shape[1], rgb.shape[0])  # type: ignore[assignment]
        try:
            no_trim = {c.key: _without(fingerprint_file(Path(c.path)), features=False) for c in cases}
        finally:
            wpdq.content_box = orig_box  # type: ignore[assignment]
        results["PDQ path, no trim"] = evaluate(cases, no_trim, "no trim")
    names = list(results)
    rows = sorted(results[names[0]]["recall"])  # type: ignore[index]
    print(f"\n{'transform':<22}" + "".join(f"{n[:26]:>28}" for n in names))
    for r in rows:
        print(f"{r:<22}" + "".join(f"{results[n]['recall'][r]:>28.3f}" for n in names))  # type: ignore[index]
    print(f"{'false matches':<22}" + "".join(
        f"{str(results[n]['false_matches']) + ' / ' + str(results[n]['unrelated_pairs']):>28}" for n in names))
    print(f"\nfingerprinting: witnessbox {t_wb:.1f} s, anchor {t_an:.1f} s for {len(cases)} items")
    for n in names:
        if results[n]["false_examples"]:
            print(f"false matches ({n}): {results[n]['false_examples']}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
