"""Sealing throughput (encryption on) as a ratio to `sha256sum` over the same files, same run.

    .venv/bin/python benchmarks/seal_throughput.py [--size-gb 2] [--workdir /tmp/witnessbox-bench]

Builds >= 2 GB of media under --workdir (never in the repository): long MP4 files remuxed from
the shared test video when ../shared/data is present (no re-encoding, so it is fast), else
random bytes. Both contenders read from the page cache (a warm-up pass first), sha256sum is
timed before and after sealing and the faster run is the anchor, so the ratio is conservative.
Target (issue 2): ratio >= 0.5. Also prints the sealing process's peak memory (constant-memory
streaming: it must not grow with file size).
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

PASSPHRASE = "benchmark passphrase"
FILE_BYTES = 256 << 20
SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "video"


def _remux_long_video(src: Path, dest: Path, target: int) -> None:
    """Loop the packets of ``src`` (no re-encoding) into one long, valid MP4 of ``target`` bytes."""
    import av

    with av.open(str(src)) as inp:
        vin = inp.streams.video[0]
        packets = [(p.pts, p.dts, p.duration, bytes(p), p.is_keyframe) for p in inp.demux(vin) if p.dts is not None]
        first = min(d for _, d, _, _, _ in packets)
        span = max(d + (dur or 1) for _, d, dur, _, _ in packets) - first + 1
        with av.open(str(dest), "w", format="mp4") as out:
            out.metadata["title"] = dest.name  # files from the same source must still differ
            vout = out.add_stream_from_template(vin)
            written, loop = 0, 0
            while written < target:
                for pts, dts, dur, data, key in packets:
                    pkt = av.Packet(data)
                    pkt.pts = None if pts is None else pts + loop * span
                    pkt.dts = dts + loop * span
                    pkt.duration = dur
                    pkt.is_keyframe = key
                    pkt.time_base = vin.time_base
                    pkt.stream = vout
                    out.mux(pkt)
                    written += len(data)
                loop += 1


def build_dataset(workdir: Path, total: int) -> tuple[list[Path], str]:
    data = workdir / "media"
    data.mkdir(parents=True, exist_ok=True)
    n = max(1, -(-total // FILE_BYTES))
    files: list[Path] = []
    sources = sorted(SHARED.glob("*.mp4")) if SHARED.is_dir() else []
    kind = "MP4 remuxed from ../shared/data/video" if sources else "random bytes (.bin)"
    for i in range(n):
        if sources:
            p = data / f"video-{i:02d}.mp4"
            if not p.exists() or p.stat().st_size < FILE_BYTES:
                try:
                    _remux_long_video(sources[i % len(sources)], p, FILE_BYTES)
                except Exception as e:  # noqa: BLE001 - fall back to opaque bytes
                    print(f"remux failed ({e}); using random bytes", file=sys.stderr)
                    sources, kind = [], "random bytes (.bin)"
                    p.unlink(missing_ok=True)
        if not sources:
            p = data / f"blob-{i:02d}.bin"
            if not p.exists() or p.stat().st_size < FILE_BYTES:
                with open(p, "wb") as f:
                    for _ in range(FILE_BYTES >> 24):
                        f.write(os.urandom(1 << 24))
        files.append(p)
    return files, kind


def _warm(files: list[Path]) -> None:
    for p in files:
        with open(p, "rb") as f:
            while f.read(1 << 24):
                pass


def _children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def time_sha256sum(files: list[Path]) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of one `sha256sum` over the files."""
    c, t = _children_cpu(), time.perf_counter()
    subprocess.run(["sha256sum", *map(str, files)], check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t, _children_cpu() - c


class _NoTracing:
    def on_sealed(self, record: object, path: Path) -> None:
        return None


def time_seal(files: list[Path], archive: Path, with_tracing: bool) -> tuple[float, int]:
    from witnessbox.workspace import Workspace

    ws = Workspace.open(archive, PASSPHRASE)
    ws._signing_key()  # unlock before timing (the age identity is not needed to seal)
    if not with_tracing:
        ws.__dict__["tracing"] = _NoTracing()  # measure sealing alone
    t = time.perf_counter()
    rep = ws.add(files)
    elapsed = time.perf_counter() - t
    if not rep.ok or len(rep.added) != len(files):
        raise SystemExit(f"sealing failed: {rep.failed} ({len(rep.duplicates)} duplicates)")
    ws.close()
    return elapsed, _peak_rss_kb()


def _peak_rss_kb() -> int:
    # VmHWM is this process's own peak; ru_maxrss would include the parent's from before exec.
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def _seal_in_child(files: list[Path], archive: Path, with_tracing: bool) -> tuple[float, int, float]:
    """Seal in a fresh process so its peak memory is the sealing's alone (the archive is made
    here: creating the age identity's scrypt wrapping alone takes 256 MiB)."""
    from witnessbox.workspace import Workspace

    if archive.exists():
        shutil.rmtree(archive)
    Workspace.init(archive, PASSPHRASE).close()
    cmd = [sys.executable, __file__, "--seal-child", str(archive), *(["--with-tracing"] if with_tracing else []),
           "--", *map(str, files)]
    c = _children_cpu()
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.split()
    return float(out[-2]), int(out[-1]), _children_cpu() - c


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size-gb", type=float, default=2.0)
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/witnessbox-bench"))
    ap.add_argument("--keep", action="store_true", help="keep the sealed archive")
    ap.add_argument("--with-tracing", action="store_true",
                    help="also run the tracing hook (fingerprinting) that `witnessbox add` runs after sealing")
    ap.add_argument("--seal-child", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("files", nargs="*", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.seal_child:
        elapsed, rss = time_seal(args.files, args.seal_child, args.with_tracing)
        print(f"{elapsed} {rss}")
        return
    total = int(args.size_gb * (1 << 30))
    files, kind = build_dataset(args.workdir, total)
    size = sum(p.stat().st_size for p in files)
    _warm(files)
    a1, a1cpu = time_sha256sum(files)
    seal, rss_kb, seal_cpu = _seal_in_child(files, args.workdir / "archive", args.with_tracing)
    a2, a2cpu = time_sha256sum(files)
    anchor, anchor_cpu = min(a1, a2), min(a1cpu, a2cpu)
    mb = size / 1e6
    print(f"data: {len(files)} files, {size / (1 << 30):.2f} GiB, {kind}; cpus: {os.cpu_count()}; "
          f"load average: {os.getloadavg()[0]:.1f}")
    print(f"sha256sum : {anchor:7.2f} s  {mb / anchor:8.1f} MB/s  (runs: {a1:.2f} s, {a2:.2f} s; CPU {anchor_cpu:.2f} s)")
    print(f"seal      : {seal:7.2f} s  {mb / seal:8.1f} MB/s  (sha256+sha512+age+fsync{' +tracing' if args.with_tracing else ''}, "
          f"peak RSS {rss_kb / 1024:.0f} MiB; CPU {seal_cpu:.2f} s incl. start-up)")
    print(f"ratio (seal throughput / sha256sum throughput): {anchor / seal:.2f}x   target >= 0.5x")
    print(f"CPU-time ratio (robust to a loaded machine; seal uses several threads): {anchor_cpu / seal_cpu:.2f}x")
    if not args.keep:
        shutil.rmtree(args.workdir / "archive", ignore_errors=True)


if __name__ == "__main__":
    main()
