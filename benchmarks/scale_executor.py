"""Batch work in one process, on Ray with one node, and on Ray with two local nodes.

Works (``--work``, default all three): ``redact`` (each file redacted), ``add`` (each file
sealed into a fresh archive: hashed, age-encrypted, probed and fingerprinted on the workers,
committed by the driver) and ``verify`` (every blob of that archive decrypted and re-hashed on
the workers, each with its own file key).
Inputs: N photos (skimage's public-domain pictures, resized and re-encoded, deterministic) and
M short videos (a camera pan over one of them), made under benchmarks/out/scale/.
Anchor: the local executor (this process), measured in the same run.
Prints per work and run: wall time, CPU time (this process and every process it started,
Ray's nodes and workers included, read from /proc), and whether the outputs equal the
anchor's: redaction's output files byte for byte; for ``add`` the deterministic part of the
archive (records' plaintext hashes, sizes, names, media metadata; log entries without the
record hashes, which carry the time of sealing; fingerprints: the age ciphertext is random by
design); for ``verify`` the whole report. Then Ray's overhead per task (a no-op task on warm
actors), the driver's own CPU per sealed file (the serial part of ``add``) and an
extrapolation to one million files on ten nodes.

Ray runs on 127.0.0.1 only (the same helper as the tests: tests/_servers.py, usage stats off,
no dashboard). On a 2-core machine the speed-up is small by construction: read the overhead.

Usage: .venv/bin/python benchmarks/scale_executor.py [--photos 24] [--videos 4] [--work redact,add,verify]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import shutil
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import av
import numpy as np
from PIL import Image
from skimage import data

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from _servers import start_ray  # noqa: E402

from witnessbox import executor as ex  # noqa: E402
from witnessbox.redact.pipeline import Redactor, RedactOptions  # noqa: E402
from witnessbox.workspace import Workspace  # noqa: E402

OUT = ROOT / "benchmarks" / "out" / "scale"
PICTURES = ("astronaut", "chelsea", "coffee", "rocket", "hubble_deep_field", "immunohistochemistry")
PASS = "benchmark passphrase"
_TICK = os.sysconf("SC_CLK_TCK")


def make_inputs(n_photos: int, n_videos: int, side: int) -> list[Path]:
    src = OUT / f"in-{n_photos}-{n_videos}-{side}-unique"
    if src.is_dir():
        return sorted(p for p in src.iterdir() if p.is_file())
    src.mkdir(parents=True)
    for i in range(n_photos):
        img = Image.fromarray(getattr(data, PICTURES[i % len(PICTURES)])()).convert("RGB")
        k = i // 24  # every photo its own crop: no two inputs alike (no duplicates)
        img = img.crop((k, k, img.width - k, img.height - k))
        s = side + 16 * (i % 8)
        img.resize((s, s * 3 // 4)).rotate(i % 4 * 90, expand=True).save(src / f"p{i:04d}.jpg", quality=90)
    rgb = np.asarray(Image.fromarray(data.astronaut()).resize((320, 320)))
    for v in range(n_videos):
        with av.open(str(src / f"v{v:03d}.mp4"), "w") as f:
            st = f.add_stream("libx264", rate=10)
            st.width, st.height, st.pix_fmt = 320, 320, "yuv420p"
            for k in range(30):
                frame = np.ascontiguousarray(np.roll(rgb, (3 + v) * k, axis=1))
                for pkt in st.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                    f.mux(pkt)
            for pkt in st.encode():
                f.mux(pkt)
    return sorted(p for p in src.iterdir() if p.is_file())


def digests(folder: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(folder.rglob("*")):
        if p.is_file():
            h.update(f"{p.relative_to(folder)}\0{hashlib.sha256(p.read_bytes()).hexdigest()}\n".encode())
    return h.hexdigest()


def archive_digest(ws: Workspace) -> str:
    """The deterministic part of an archive (see the module docstring), hashed."""
    records = sorted([r.sha256, r.sha512, r.size, r.name, r.media_type, repr(r.metadata)] for r in ws.items())
    log = [[e.action, list(e.objects), {k: v for k, v in e.details.items() if k != "record_sha256"}]
           for e in ws.log()[1:]]  # the init entry carries the archive's own ids
    fps = [repr(ws.tracing.fingerprints(r.sha256)) for r in sorted(ws.items(), key=lambda r: r.sha256)]
    return hashlib.sha256(json.dumps([records, log, fps], sort_keys=True, default=str).encode()).hexdigest()


def _cpu_ticks() -> dict[int, int]:
    """CPU ticks of this process and of every process it started, living ones, each with what
    the children it reaped used (/proc)."""
    stats: dict[int, tuple[int, int]] = {}
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            raw = (d / "stat").read_text()
        except OSError:
            continue
        rest = raw[raw.rindex(")") + 2:].split()
        stats[int(d.name)] = (int(rest[1]), sum(int(x) for x in rest[11:15]))  # utime stime cutime cstime
    mine = {os.getpid()}
    grew = True
    while grew:
        kids = {pid for pid, (ppid, _) in stats.items() if ppid in mine and pid not in mine}
        grew = bool(kids)
        mine |= kids
    return {p: stats[p][1] for p in mine if p in stats}


class CpuMeter:
    """CPU seconds of this process tree during a block, Ray's nodes and workers included.

    Samples /proc every quarter second and keeps each process's highest count, so a worker
    killed when its batch ends (Ray does not hand its time to a parent) still counts, less at
    most its last quarter second. The sampling itself is in the driver's CPU (about 1%).
    """

    def __init__(self) -> None:
        self._before = _cpu_ticks()
        self._seen = dict(self._before)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        for p, t in _cpu_ticks().items():
            self._seen[p] = max(self._seen.get(p, 0), t)

    def _run(self) -> None:
        while not self._stop.wait(0.25):
            self._sample()

    def stop(self) -> float:
        self._stop.set()
        self._thread.join()
        self._sample()
        return sum(t - self._before.get(p, 0) for p, t in self._seen.items()) / _TICK


def _self_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _noop(_state: None, item: int) -> int:
    return item


def overhead_per_task(executor: ex.RayExecutor, n: int = 400) -> float:
    executor.map(_noop, list(range(executor.workers)), setup=lambda: None)  # warm the workers
    t0 = time.perf_counter()
    executor.map(_noop, list(range(n)), setup=lambda: None)
    return (time.perf_counter() - t0) / n


class Run:
    """One executor's turn: the works in order, each timed, results kept for comparison."""

    def __init__(self, label: str, inputs: list[Path], where: Path) -> None:
        self.label, self.inputs, self.where = label, inputs, where
        self.rows: dict[str, tuple[float, float, float, str]] = {}  # work -> wall, tree CPU, driver CPU, digest
        self.commit_s = 0.0  # add: wall time of the driver's per-file commits (lock held)

    def timed(self, work: str, fn: Callable[[], str]) -> None:
        time.sleep(1)  # the previous work's workers are gone
        t0, meter, s0 = time.perf_counter(), CpuMeter(), _self_cpu()
        digest = fn()
        self.rows[work] = (time.perf_counter() - t0, meter.stop(), _self_cpu() - s0, digest)

    def redact(self, executor: ex.Executor | None) -> str:
        out = self.where / "redacted"
        rep = Redactor(RedactOptions()).redact_paths(self.inputs, out, executor=executor)
        assert not rep.failed, rep.failed
        return digests(out)

    def add(self, ws: Workspace) -> str:
        from witnessbox.workspace import _sealing

        real = _sealing._add_one
        spent = [0.0]

        def timed_commit(*a: Any, **kw: Any) -> str:  # the driver's serial part, per file
            t = time.perf_counter()
            try:
                return real(*a, **kw)
            finally:
                spent[0] += time.perf_counter() - t

        _sealing._add_one = timed_commit
        try:
            rep = ws.add(self.inputs)
        finally:
            _sealing._add_one = real
        assert not rep.failed and len(rep.added) == len(self.inputs), rep.failed
        self.commit_s = spent[0]
        return ""

    def verify(self, ws: Workspace) -> str:
        rep = ws.verify().to_json()
        assert not rep["problems"], rep["problems"]
        rep.pop("root_hash")  # each run's archive has its own ciphertext, so its own log hashes
        return hashlib.sha256(json.dumps(rep, sort_keys=True).encode()).hexdigest()

    def all(self, works: list[str], executor: ex.Executor | None) -> None:
        ws = None
        if "add" in works or "verify" in works:
            ws = Workspace.init(self.where / "archive", PASS)
            ws.unlock()  # the keys' scrypt (seconds, once per command) is not timed
        for work in works:
            if work == "redact":
                self.timed(work, lambda: self.redact(executor))
            elif work == "add" and ws is not None:
                self.timed(work, lambda: self.add(ws))
                self.rows[work] = (*self.rows[work][:3], archive_digest(ws))
            elif work == "verify" and ws is not None:
                self.timed(work, lambda: self.verify(ws))
        if ws is not None:
            ws.close()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--photos", type=int, default=24)
    ap.add_argument("--videos", type=int, default=4)
    ap.add_argument("--side", type=int, default=480, help="photo width in pixels (plus up to 112)")
    ap.add_argument("--work", default="redact,add,verify")
    args = ap.parse_args()
    works = [w for w in args.work.split(",") if w]
    inputs = make_inputs(args.photos, args.videos, args.side)
    runs_dir = OUT / "runs"
    shutil.rmtree(runs_dir, ignore_errors=True)
    os.environ["WITNESSBOX_EXECUTOR"] = "local"
    os.environ.pop("RAY_ADDRESS", None)
    runs = [Run("one process (anchor)", inputs, runs_dir / "local")]
    runs[0].all(works, None)
    overheads: dict[str, float] = {}
    for label, nodes, cpus in (("Ray, one node (2 CPUs)", 1, 2), ("Ray, two local nodes (1 CPU each)", 2, 1)):
        cluster = start_ray(nodes=nodes, cpus_per_node=cpus)
        try:
            executor = ex.RayExecutor(cluster.address)
            os.environ["WITNESSBOX_EXECUTOR"] = "ray"
            os.environ["RAY_ADDRESS"] = cluster.address
            run = Run(label, inputs, runs_dir / f"ray-{nodes}")
            run.all(works, executor)
            runs.append(run)
            overheads[label] = overhead_per_task(executor)
        finally:
            os.environ["WITNESSBOX_EXECUTOR"] = "local"
            os.environ.pop("RAY_ADDRESS", None)
            cluster.stop()
    n = len(inputs)
    size = sum(p.stat().st_size for p in inputs)
    print(f"{n} files ({args.photos} photos of {args.side}-{args.side + 112} px, {args.videos} videos of "
          f"30 frames 320x320; {size / 1e6:.1f} MB), 2-core machine shared with other jobs\n")
    print(f"{'work':7} {'run':36} {'wall s':>8} {'CPU s':>8} {'driver CPU s':>13} {'x anchor':>9}  identical")
    anchor = runs[0].rows
    for work in works:
        for run in runs:
            wall, cpu, driver, digest = run.rows[work]
            print(f"{work:7} {run.label:36} {wall:8.1f} {cpu:8.1f} {driver:13.1f} {anchor[work][0] / wall:9.2f}  "
                  f"{digest == anchor[work][3]}")
    print()
    for label, o in overheads.items():
        print(f"Ray overhead per task ({label}): {o * 1000:.2f} ms")
    o = max(overheads.values())
    print()
    for work in works:
        cpu_per_file = anchor[work][1] / n
        # The driver's own part, one file after another: for add its commits (wall time, fsyncs
        # included), for the others its CPU.
        if work == "add":
            serial = min(run.commit_s for run in runs[1:]) / n
        else:
            serial = min(run.rows[work][2] for run in runs[1:]) / n
        for cores in (8, 16):
            hours = 1_000_000 * (cpu_per_file + o) / (10 * cores) / 3600
            bound = max(hours, 1_000_000 * serial / 3600)
            extra = f"; the driver's serial part: {serial * 1000:.1f} ms per file, {1_000_000 * serial / 3600:.1f} h"
            print(f"{work}: 1,000,000 files like these on 10 nodes x {cores} cores: {bound:.1f} h "
                  f"({cpu_per_file:.3f} CPU s per file + {o * 1000:.1f} ms Ray overhead, perfect packing{extra})")


if __name__ == "__main__":
    main()
