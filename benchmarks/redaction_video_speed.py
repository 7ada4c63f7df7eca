"""Whole-command video speed, alternating in one window: witnessbox of this checkout, witnessbox
of other source trees (the same venv, ``PYTHONPATH`` pointing at their ``src``) and deface
1.5.0, on a clip set (all its clips in one command) or one video; wall and CPU time (user +
system of the command and its children), the load before and after each run. The regions
files and videos of every witnessbox run are compared with the first's.

On a shared machine wall times move by 2x from run to run: compare runs of one round, and
prefer CPU time (deface's spinning inference threads burn CPU while they wait).

Usage: .venv/bin/python benchmarks/redaction_video_speed.py CLIPS_DIR_OR_VIDEO [--clips N]
           [--rounds R] [--other main=/work/main/src ...] [--skip-deface]
"""

from __future__ import annotations

import argparse
import filecmp
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _redaction_common import DEFACE_EP, VENV


def frames_of(path: Path) -> int:
    import av

    with av.open(str(path)) as c:
        return c.streams.video[0].frames or sum(1 for _ in c.decode(video=0))


def run(cmd: list[str], env: dict[str, str]) -> tuple[float, float]:
    t0, r0 = time.perf_counter(), os.times()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    r1, t1 = os.times(), time.perf_counter()
    return t1 - t0, (r1.children_user - r0.children_user) + (r1.children_system - r0.children_system)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("source", type=Path, help="a folder of .mp4 clips or one video")
    ap.add_argument("--clips", type=int, default=0, help="only the first N clips (0: all)")
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--other", action="append", default=[], metavar="NAME=SRC",
                    help="another witnessbox source tree to time (its src folder)")
    ap.add_argument("--skip-deface", action="store_true")
    a = ap.parse_args()
    clips = sorted(a.source.glob("*.mp4")) if a.source.is_dir() else [a.source]
    clips = clips[: a.clips] if a.clips else clips
    n = sum(frames_of(c) for c in clips)
    tools = [("this", "")] + [tuple(o.split("=", 1)) for o in a.other] + ([] if a.skip_deface else [("deface", "")])
    tmp = Path(tempfile.mkdtemp(prefix="video-speed-"))
    print(f"{len(clips)} videos, {n} frames")
    for r in range(a.rounds):
        for name, src in tools:
            out = tmp / name
            shutil.rmtree(out, ignore_errors=True)
            out.mkdir()
            env = dict(os.environ)
            if name == "deface":
                for c in clips:  # deface writes NAME_anonymized.mp4 beside its input
                    shutil.copy(c, out / c.name)
                cmd = [str(VENV / "deface"), *map(str, sorted(out.glob("*.mp4"))), *DEFACE_EP]
            else:
                if src:
                    env["PYTHONPATH"] = src
                cmd = [str(VENV / "witnessbox"), "redact", *map(str, clips), "-o", str(out)]
            l0 = os.getloadavg()[0]
            wall, cpu = run(cmd, env)
            print(f"round {r + 1} {time.strftime('%H:%M:%S', time.gmtime())} {name:8s} wall {wall:7.1f} s  "
                  f"CPU {cpu:7.1f} s  {n / wall:5.1f} fps  load {l0:.1f} -> {os.getloadavg()[0]:.1f}", flush=True)
        ours = [name for name, _ in tools if name != "deface"]
        for other in ours[1:]:
            same_r = all(filecmp.cmp(tmp / ours[0] / f"{c.stem}.mp4.regions.json",
                                     tmp / other / f"{c.stem}.mp4.regions.json", shallow=False) for c in clips)
            same_v = all(filecmp.cmp(tmp / ours[0] / f"{c.stem}.mp4", tmp / other / f"{c.stem}.mp4", shallow=False)
                         for c in clips)
            print(f"  {ours[0]} vs {other}: regions {'identical' if same_r else 'DIFFERENT'}, "
                  f"videos {'identical' if same_v else 'different'}")
    shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
