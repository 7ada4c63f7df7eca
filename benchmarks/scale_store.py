"""Writing sealed objects to S3 (SeaweedFS on 127.0.0.1) against the local folder.

Objects: N age-encrypted blobs of S MiB (random bytes, encrypted once, before timing).
Anchor: ``FolderObjectStore.put_once`` (atomic write, fsync, create-once link) in the same run.
S3: ``S3ObjectStore.put_once`` (conditional PUT with a SHA-256 checksum) to a SeaweedFS started
by the same helper as the tests. Reads back every object (checked) in both.

Usage: .venv/bin/python benchmarks/scale_store.py [--objects 40] [--mib 4]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import pyrage

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from _servers import start_seaweedfs  # noqa: E402

from witnessbox.ledger.objects import FolderObjectStore, ObjectStore, S3ObjectStore  # noqa: E402


def run(store: ObjectStore, blobs: list[bytes]) -> tuple[float, float]:
    t0 = time.perf_counter()
    for i, b in enumerate(blobs):
        assert store.put_once(f"blobs/{i:02x}/{i:064x}.age", b)
    write = time.perf_counter() - t0
    t0 = time.perf_counter()
    for i, b in enumerate(blobs):
        assert store.get(f"blobs/{i:02x}/{i:064x}.age") == b
    return write, time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--objects", type=int, default=40)
    ap.add_argument("--mib", type=int, default=4)
    args = ap.parse_args()
    recipient = pyrage.x25519.Identity.generate().to_public()
    blobs = [pyrage.encrypt(os.urandom(args.mib << 20), [recipient]) for _ in range(args.objects)]
    total_mib = sum(len(b) for b in blobs) / 2**20
    folder = Path(tempfile.mkdtemp(prefix="wb-store-bench-"))
    srv = start_seaweedfs()
    try:
        rows = [("local folder (anchor)", *run(FolderObjectStore(folder), blobs))]
        s3 = S3ObjectStore("s3://wb-bench/archive", client=srv.client())
        s3.create_bucket()
        rows.append(("S3 on SeaweedFS, loopback", *run(s3, blobs)))
    finally:
        srv.stop()
        shutil.rmtree(folder, ignore_errors=True)
    print(f"{args.objects} objects of {args.mib} MiB ({total_mib:.0f} MiB), 2-core machine\n")
    print(f"{'store':28} {'write MiB/s':>12} {'read MiB/s':>11} {'write x anchor':>15}")
    for label, w, r in rows:
        print(f"{label:28} {total_mib / w:12.1f} {total_mib / r:11.1f} {rows[0][1] / w:15.2f}")


if __name__ == "__main__":
    main()
