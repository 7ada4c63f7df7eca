"""Writing sealed objects to S3 (SeaweedFS on 127.0.0.1) against the local folder.

Objects: N age-encrypted blobs of S MiB (random bytes, encrypted once, before timing).
Anchor: ``FolderObjectStore.put_once`` (atomic write, fsync, create-once link) in the same run.
S3: ``S3ObjectStore.put_once`` (conditional PUT with a SHA-256 checksum) to a SeaweedFS started
by the same helper as the tests. Reads back every object (checked) in both.

Then the archive itself: ``Workspace.add`` of N files of S MiB (random bytes) into an archive
with its blobs in the folder (the anchor) and into one made with ``WITNESSBOX_STORE_URL`` on
the same SeaweedFS (hash, encrypt, upload; record, signature, log entry and checkpoint as
encrypted objects too), and ``Workspace.verify`` of each (every object read back, checked
and decrypted). Key unlocking is done before timing.

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
from witnessbox.workspace import Workspace  # noqa: E402

PASSPHRASE = "benchmark passphrase"


def run(store: ObjectStore, blobs: list[bytes]) -> tuple[float, float]:
    t0 = time.perf_counter()
    for i, b in enumerate(blobs):
        assert store.put_once(f"blobs/{i:02x}/{i:064x}.age", b)
    write = time.perf_counter() - t0
    t0 = time.perf_counter()
    for i, b in enumerate(blobs):
        assert store.get(f"blobs/{i:02x}/{i:064x}.age") == b
    return write, time.perf_counter() - t0


def run_workspace(root: Path, files: list[Path]) -> tuple[float, float]:
    ws = Workspace.init(root, PASSPHRASE)
    ws.unlock()
    t0 = time.perf_counter()
    rep = ws.add(files)
    add = time.perf_counter() - t0
    assert len(rep.added) == len(files) and not rep.failed
    t0 = time.perf_counter()
    assert ws.verify().ok
    verify = time.perf_counter() - t0
    ws.close()
    return add, verify


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
        src = folder / "src"
        src.mkdir()
        files = []
        for i in range(args.objects):
            files.append(src / f"f{i:03d}.bin")
            files[-1].write_bytes(os.urandom(args.mib << 20))
        ws_rows = [("archive, blobs in folder (anchor)", *run_workspace(folder / "ws-folder", files))]
        os.environ.update({"WITNESSBOX_STORE_URL": "s3://wb-bench-ws/archives", "AWS_ENDPOINT_URL": srv.endpoint,
                           "AWS_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "witnessbox-bench",
                           "AWS_SECRET_ACCESS_KEY": "witnessbox-bench", "AWS_EC2_METADATA_DISABLED": "true"})
        ws_rows.append(("archive, blobs on S3 (SeaweedFS)", *run_workspace(folder / "ws-s3", files)))
        os.environ.pop("WITNESSBOX_STORE_URL")
    finally:
        srv.stop()
        shutil.rmtree(folder, ignore_errors=True)
    print(f"{args.objects} objects of {args.mib} MiB ({total_mib:.0f} MiB), {os.cpu_count()}-core machine\n")
    print(f"{'store':34} {'write MiB/s':>12} {'read MiB/s':>11} {'write x anchor':>15}")
    for label, w, r in rows:
        print(f"{label:34} {total_mib / w:12.1f} {total_mib / r:11.1f} {rows[0][1] / w:15.2f}")
    plain_mib = args.objects * args.mib
    print(f"\n{'Workspace':34} {'add MiB/s':>12} {'verify MiB/s':>13} {'add x anchor':>13} {'verify x anchor':>16}")
    for label, a, v in ws_rows:
        print(f"{label:34} {plain_mib / a:12.1f} {plain_mib / v:13.1f} {ws_rows[0][1] / a:13.2f} {ws_rows[0][2] / v:16.2f}")


if __name__ == "__main__":
    main()
