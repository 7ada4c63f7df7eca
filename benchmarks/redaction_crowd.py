"""Crowd photo redaction benchmark (issue 13): witnessbox against deface 1.5.0, in the same run.

Data: the crowd tuning set built by ../shared/tools/wider_dev.sh (WIDER FACE validation photos
of 50 everyday events with the official face boxes; non-commercial licence: never commit its
images), at ``$WIDER_DEV`` (default /work/wider-dev, then /tmp/wider-dev). The twelve protest,
riot, march and street events are not in it (held out): this script never reads them.

Sections (each prints witnessbox beside deface):
- quality (default): ``witnessbox redact`` on every ``--every`` K-th photo (``--limit`` N),
  scored by ../shared/tools/redaction_eval.py (protected share, over-redaction); the protected
  share by face width (under 8, 8-16, 16-32, 32-64, 64+ px) and by WIDER occlusion (none,
  partial, heavy) with the scorer's own rule (95% of the face's inscribed ellipse hidden); and
  the review suggestions: how many of the faces witnessbox misses a reviewer is pointed to by
  the suggestions sidecar, and suggestions per photo; then one row per WIDER event (faces,
  protected share of each tool, over-redaction with the scorer's rule). deface's regions are
  rebuilt with its own code and defaults (it writes no regions file).
  ``--reuse`` keeps ``--out`` and analyses only the photos without a regions file there (a
  stopped run goes on; a second run only scores). ``--skip-witnessbox`` runs deface alone, so
  that the two tools can run as two processes on the same ``--out`` with ``--reuse``; a last
  ``--reuse`` run then prints both.
- ``--speed N``: whole commands on a folder of N of those photos (each tool on its own copy).
- ``--mp12 N``: peak resident memory of the whole command on a folder of N 12-megapixel photos
  (tuning-set photos upscaled into a temporary folder, never kept).
- ``--covered``: the share of the hand-marked covered faces (helmets, visors, hoods,
  balaclavas, masks with goggles) of benchmarks/covered_faces.json that is hidden.

Usage: .venv/bin/python benchmarks/redaction_crowd.py [--every K] [--offset N] [--names FILE] [--limit N] [--skip-quality]
       [--skip-deface] [--skip-witnessbox] [--reuse] [--speed N] [--mp12 N] [--covered]
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from _redaction_common import DEFACE_EP, ROOT, TOOLS, VENV, deface_regions, score

COVER = 0.95  # redaction_eval.py's default
WIDTHS = [(0, 8, "<8"), (8, 16, "8-16"), (16, 32, "16-32"), (32, 64, "32-64"), (64, 1e9, "64+")]
COVERED = ROOT / "benchmarks" / "covered_faces.json"


def dev_dir() -> Path:
    for d in (os.environ.get("WIDER_DEV"), "/work/wider-dev", "/tmp/wider-dev"):
        if d and (Path(d) / "annotations").is_dir():
            return Path(d)
    raise SystemExit("no crowd tuning set: build it with ../shared/tools/wider_dev.sh and set WIDER_DEV")


def _eval_module() -> Any:
    spec = importlib.util.spec_from_file_location("redaction_eval", TOOLS / "redaction_eval.py")
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


EVAL = _eval_module()


def events(dev: Path) -> dict[str, str]:
    """WIDER event of each photo (``0--Parade``), from the set's manifest.tsv (else the name)."""
    man = dev / "manifest.tsv"
    if not man.exists():
        return {}
    rows = [line.split("\t") for line in man.read_text().splitlines()[1:] if line]
    return {r[0][: -len(".jpg")]: r[1] for r in rows}


def event_of(ev: dict[str, str], name: str) -> str:
    return ev.get(name) or "_".join(name.split("_")[:2])


def faces(xml: Path) -> tuple[int, int, list[dict[str, Any]]]:
    r = ET.parse(xml).getroot()
    w, h = int(r.findtext("size/width") or 0), int(r.findtext("size/height") or 0)
    out = []
    for o in r.findall("object"):
        b = [float(o.findtext("bndbox/" + k) or 0) for k in ("xmin", "ymin", "xmax", "ymax")]
        out.append({"box": b, "occlusion": o.findtext("wider_occlusion") or "none"})
    return w, h, out


def _mask(h: int, w: int, regions: list[dict[str, Any]]) -> Any:
    import numpy as np

    red = np.zeros((h, w), bool)
    for g in regions:
        if g.get("frame", 0) == 0:
            red |= EVAL.ellipse_mask(h, w, g["box"], g.get("shape", "ellipse"))
    return red


def coverage(h: int, w: int, box: list[float], red: Any) -> float:
    face = EVAL.ellipse_mask(h, w, box, "ellipse")
    return float((face & red).sum() / max(face.sum(), 1))


def width_bin(box: list[float]) -> str:
    bw = box[2] - box[0]
    return next(label for lo, hi, label in WIDTHS if lo <= bw < hi)


def breakdown(anns: Path, regions_dir: Path, names: list[str], sugg: bool, ev: dict[str, str]) -> dict[str, Any]:
    """Per-face protection by width, occlusion and event; over-redaction per event (the
    scorer's rule: hidden pixels outside every face box grown by half its size, per photo);
    with ``sugg``, what the suggestions point to."""
    import numpy as np

    by: dict[str, list[int]] = {}
    over: dict[str, list[float]] = {}
    missed = pointed = fixed = n_sugg = 0
    for n in names:
        w, h, fs = faces(anns / f"{n}.xml")
        doc = json.loads((regions_dir / f"{n}.jpg.regions.json").read_text())
        red = _mask(h, w, doc["regions"])
        near = np.zeros((h, w), bool)
        for f in fs:
            b = f["box"]
            bw, bh = b[2] - b[0], b[3] - b[1]
            near |= EVAL.ellipse_mask(h, w, [b[0] - bw / 2, b[1] - bh / 2, b[2] + bw / 2, b[3] + bh / 2], "box")
        over.setdefault(event_of(ev, n), []).append(float((red & ~near).sum() / (h * w)))
        sregs: list[dict[str, Any]] = []
        if sugg:
            sp = regions_dir / f"{n}.jpg.suggestions.json"
            if sp.exists():
                sd = json.loads(sp.read_text())
                n_sugg += len(sd.get("suggestions", []))
                sregs = [g for s in sd.get("suggestions", []) for g in s.get("regions", [])]
        smask = _mask(h, w, sregs) if sregs else None
        for f in fs:
            ok = coverage(h, w, f["box"], red) >= COVER
            for key in ("all", "w " + width_bin(f["box"]), "occ " + f["occlusion"], "ev " + event_of(ev, n),
                        *(["16+"] if f["box"][2] - f["box"][0] >= 16 else [])):
                s = by.setdefault(key, [0, 0])
                s[0] += 1
                s[1] += int(ok)
            if not ok and smask is not None:
                missed += 1
                c = coverage(h, w, f["box"], smask)
                pointed += int(c > 0.5)  # a suggestion lies on the face
                fixed += int(coverage(h, w, f["box"], red | smask) >= COVER)  # accepting it hides the face
            elif not ok:
                missed += 1
    return {"by": by, "over": over, "missed": missed, "pointed": pointed, "fixed": fixed, "suggestions": n_sugg}


CPU_SECONDS: dict[str, float] = {}


def run_measured(cmd: list[str]) -> tuple[float, float]:
    """Wall seconds and peak resident memory (GB) of a whole command (its largest process).

    Its CPU seconds (user + system, all threads) go to ``CPU_SECONDS[cmd[0]]``: on a shared
    machine wall times move by 2x between runs (deface's spinning threads collapse under load),
    CPU time much less.
    """
    t = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, ru = os.wait4(p.pid, 0)
    p.returncode = os.waitstatus_to_exitcode(status)
    if p.returncode:
        raise SystemExit(f"command failed ({p.returncode}): {' '.join(cmd)}")
    CPU_SECONDS[cmd[0]] = ru.ru_utime + ru.ru_stime
    return time.perf_counter() - t, ru.ru_maxrss / 1024 / 1024


def link_images(src: Path, names: list[str], dst: Path) -> list[Path]:
    dst.mkdir(parents=True, exist_ok=True)
    out = []
    for n in names:
        if not (dst / f"{n}.jpg").is_symlink():  # --reuse: already linked
            (dst / f"{n}.jpg").symlink_to(src / f"{n}.jpg")
        out.append(dst / f"{n}.jpg")
    return out


def quality(dev: Path, names: list[str], out: Path, skip_deface: bool, skip_wb: bool = False,
            reuse: bool = False) -> None:
    # The scorer reads every annotation of its folder: one folder per set of photos, so that runs
    # of different --every on one --out (--reuse) each score their own photos.
    key = hashlib.sha256("\n".join(names).encode()).hexdigest()[:10]
    imgs, anns = out / "in" / "images", out / "in" / f"annotations-{len(names)}-{key}"
    link_images(dev / "images", names, imgs)
    anns.mkdir(parents=True, exist_ok=True)
    for n in names:
        if not (anns / f"{n}.xml").exists():
            shutil.copy(dev / "annotations" / f"{n}.xml", anns)
    ev = events(dev)
    rows = []
    if not skip_wb:
        todo = [n for n in names if not (reuse and (out / "wb" / "images" / f"{n}.jpg.regions.json").exists())]
        line = f"witnessbox: {len(names) - len(todo)} photos reused"
        if todo:
            # Only the photos still to do, in a folder also named "images": the copies and regions
            # files land in wb/images beside those of an earlier run.
            shutil.rmtree(out / "in" / "todo", ignore_errors=True)
            src = imgs if len(todo) == len(names) else out / "in" / "todo" / "images"
            if src != imgs:
                link_images(dev / "images", todo, src)
            t_wb, _ = run_measured([str(VENV / "witnessbox"), "redact", str(src), "-o", str(out / "wb")])
            line += (f", {len(todo)} redacted: command {t_wb:.1f} s, CPU {CPU_SECONDS[str(VENV / 'witnessbox')]:.1f} s"
                     f" ({CPU_SECONDS[str(VENV / 'witnessbox')] / len(todo):.3f} s per photo)")
        print(line, flush=True)
        rows.append(("witnessbox", score("redaction_eval.py", anns, out / "wb" / "images"),
                     breakdown(anns, out / "wb" / "images", names, True, ev)))
    if not skip_deface:
        t, c = time.perf_counter(), time.process_time()
        n_df = deface_regions(sorted(imgs / f"{n}.jpg" for n in names), out / "deface", reuse=reuse)
        line = f"deface: {len(names) - n_df} photos reused"
        if n_df:
            c = time.process_time() - c
            line += (f", {n_df} analysed: {time.perf_counter() - t:.1f} s, CPU {c:.1f} s"
                     f" ({c / n_df:.3f} s per photo)")
        print(line, flush=True)
        rows.append(("deface 1.5.0", score("redaction_eval.py", anns, out / "deface"),
                     breakdown(anns, out / "deface", names, False, ev)))
    if not rows:
        return
    print(f"crowd photos: {len(names)}  faces: {rows[0][1]['faces']}")
    keys = ["all", "16+", *("w " + lab for _, _, lab in WIDTHS), "occ none", "occ partial", "occ heavy"]
    print(f"{'tool':14s} {'over-red.':>9s} " + " ".join(f"{k:>12s}" for k in keys))
    for name, r, b in rows:
        cells = []
        for k in keys:
            n, ok = b["by"].get(k, [0, 0])
            cells.append(f"{ok / max(n, 1):.4f}/{n:<5d}")
        print(f"{name:14s} {r['over_redaction_mean']:9.4f} " + " ".join(f"{c:>12s}" for c in cells))
        assert b["by"]["all"][1] == r["protected"], "breakdown disagrees with redaction_eval.py"
        mean_over = sum(sum(v) for v in b["over"].values()) / max(sum(len(v) for v in b["over"].values()), 1)
        assert abs(mean_over - r["over_redaction_mean"]) < 1e-9, "over-redaction disagrees with redaction_eval.py"
    if not skip_wb:
        b = rows[0][2]
        print(f"suggestions (witnessbox): {b['suggestions']} in {len(names)} photos "
              f"({b['suggestions'] / max(len(names), 1):.2f} per photo); of {b['missed']} missed faces, "
              f"{b['pointed']} ({b['pointed'] / max(b['missed'], 1):.3f}) have a suggestion on them, "
              f"{b['fixed']} ({b['fixed'] / max(b['missed'], 1):.3f}) would be hidden by accepting it")
    # Per event, worst first by the first tool's protected share.
    first = rows[0][2]
    evs = sorted((k[3:] for k in first["by"] if k.startswith("ev ")),
                 key=lambda e: first["by"]["ev " + e][1] / first["by"]["ev " + e][0])
    print(f"per event ({', '.join(name for name, _, _ in rows)}: protected share, missed, over-redaction)")
    print(f"{'event':30s} {'photos':>6s} {'faces':>6s} "
          + " ".join(f"{name[:10]:>10s} {'missed':>6s} {'over-red.':>9s}" for name, _, _ in rows))
    for e in evs:
        n = first["by"]["ev " + e][0]
        cells = []
        for _, _, b in rows:
            ok = b["by"].get("ev " + e, [0, 0])[1]
            ov = b["over"].get(e, [])
            cells.append(f"{ok / n:10.4f} {n - ok:6d} {sum(ov) / max(len(ov), 1):9.4f}")
        print(f"{e:30s} {len(first['over'].get(e, [])):6d} {n:6d} " + " ".join(cells))


def speed(dev: Path, names: list[str], out: Path) -> None:
    wb_in = out / "speed" / "wb_in"
    df_in = out / "speed" / "deface_in"
    for d in (wb_in, df_in):
        d.mkdir(parents=True)
        for n in names:
            shutil.copy(dev / "images" / f"{n}.jpg", d)
    # The int8 copy of the detector is made once per install (`make install`, else the first
    # command); make sure it exists so that the timed command measures redaction only.
    t0 = time.perf_counter()
    subprocess.run([str(VENV / "python"), "-m", "witnessbox.redact.quantize"], check=False,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    print(f"int8 detector ready ({time.perf_counter() - t0:.1f} s, made only when not cached)")
    t_wb, m_wb = run_measured([str(VENV / "witnessbox"), "redact", str(wb_in), "-o", str(out / "speed" / "wb")])
    t_df, m_df = run_measured([str(VENV / "deface"), str(df_in), *DEFACE_EP])
    c_wb, c_df = CPU_SECONDS[str(VENV / "witnessbox")], CPU_SECONDS[str(VENV / "deface")]
    print(f"speed, folder of {len(names)} crowd photos: witnessbox {t_wb:.1f} s, CPU {c_wb:.1f} s ({m_wb:.2f} GB), "
          f"deface {t_df:.1f} s, CPU {c_df:.1f} s ({m_df:.2f} GB); ratio deface/witnessbox {t_df / t_wb:.2f} "
          f"(target >= 1.5), in CPU time {c_df / c_wb:.2f}")


def mp12(dev: Path, names: list[str], out: Path, skip_deface: bool) -> None:
    import cv2

    with tempfile.TemporaryDirectory(prefix="wb-12mp-") as tmp:
        src = Path(tmp) / "in"
        src.mkdir()
        for n in names:
            img = cv2.imread(str(dev / "images" / f"{n}.jpg"))
            h, w = img.shape[:2]
            s = (12e6 / (w * h)) ** 0.5
            cv2.imwrite(str(src / f"{n}.jpg"), cv2.resize(img, (round(w * s), round(h * s)), interpolation=cv2.INTER_CUBIC),
                        [cv2.IMWRITE_JPEG_QUALITY, 90])
        t_wb, m_wb = run_measured([str(VENV / "witnessbox"), "redact", str(src), "-o", str(Path(tmp) / "wb")])
        line = f"12 MP folder ({len(names)} photos): witnessbox peak {m_wb:.2f} GB in {t_wb:.1f} s (target <= 1.5 GB)"
        if not skip_deface:
            dfi = Path(tmp) / "df"
            shutil.copytree(src, dfi)
            t_df, m_df = run_measured([str(VENV / "deface"), str(dfi), *DEFACE_EP])
            line += f"; deface peak {m_df:.2f} GB in {t_df:.1f} s"
        print(line)


def covered(dev: Path, out: Path, skip_deface: bool) -> None:
    spec = json.loads(COVERED.read_text())
    photos = spec["photos"]
    names = [p["image"][: -len(".jpg")] for p in photos]
    imgs = link_images(dev / "images", names, out / "covered" / "in")
    run_measured([str(VENV / "witnessbox"), "redact", str(out / "covered" / "in"), "-o", str(out / "covered" / "wb")])
    dirs = {"witnessbox": out / "covered" / "wb" / "in"}
    if not skip_deface:
        deface_regions(imgs, out / "covered" / "deface")
        dirs["deface 1.5.0"] = out / "covered" / "deface"
    for tool, d in dirs.items():
        per_kind: dict[str, list[int]] = {}
        for p in photos:
            doc = json.loads((d / f"{p['image']}.regions.json").read_text())
            w, h = doc["media"]["width"], doc["media"]["height"]
            red = _mask(h, w, doc["regions"])
            for f in p["faces"]:
                ok = coverage(h, w, f["box"], red) >= COVER
                for k in ("all", f["kind"]):
                    s = per_kind.setdefault(k, [0, 0])
                    s[0] += 1
                    s[1] += int(ok)
        n, ok = per_kind.pop("all")
        kinds = ", ".join(f"{k} {v[1]}/{v[0]}" for k, v in sorted(per_kind.items()))
        print(f"covered faces, {tool}: {ok}/{n} = {ok / n:.3f} ({kinds})")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--every", type=int, default=8, help="take every K-th photo of the tuning set")
    ap.add_argument("--offset", type=int, default=0, help="starting from the N-th photo (another subset)")
    ap.add_argument("--limit", type=int, default=0, help="then at most N photos")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "out" / "crowd")
    ap.add_argument("--skip-quality", action="store_true")
    ap.add_argument("--skip-deface", action="store_true")
    ap.add_argument("--skip-witnessbox", action="store_true", help="quality: deface alone (with --reuse, beside a witnessbox run)")
    ap.add_argument("--reuse", action="store_true",
                    help="keep --out and analyse only the photos without a regions file there (resume, or score again)")
    ap.add_argument("--speed", type=int, default=0, metavar="N", help="time both commands on N photos")
    ap.add_argument("--mp12", type=int, default=0, metavar="N", help="peak memory on N 12 MP photos")
    ap.add_argument("--covered", action="store_true", help="share of benchmarks/covered_faces.json hidden")
    ap.add_argument("--names", type=Path, help="the photos to take (one name a line, without .jpg) instead of --every")
    a = ap.parse_args()
    dev = dev_dir()
    if not a.reuse:
        shutil.rmtree(a.out, ignore_errors=True)
    a.out.mkdir(parents=True, exist_ok=True)
    names = sorted(p.stem for p in (dev / "annotations").glob("*.xml"))[a.offset :: a.every]
    if a.names:
        names = sorted(n.strip() for n in a.names.read_text().split() if n.strip())
    if a.limit:
        names = names[: a.limit]
    if not a.skip_quality:
        quality(dev, names, a.out, a.skip_deface, a.skip_witnessbox, a.reuse)
    if a.speed:
        speed(dev, names[: a.speed], a.out)
    if a.mp12:
        mp12(dev, names[: a.mp12], a.out, a.skip_deface)
    if a.covered:
        covered(dev, a.out, a.skip_deface)
    return 0


if __name__ == "__main__":
    sys.exit(main())
