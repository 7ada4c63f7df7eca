"""Helpers shared by the archive tests, in a module of its own: ``from conftest import`` is
ambiguous when pytest runs several test folders that each have a conftest.py."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import uuid
from pathlib import Path
from typing import Any

from _servers import copy_archive  # noqa: F401  (re-exported: the archive tests import it from here)

PASSPHRASE = "correct horse battery staple"


def snapshot(root: Path) -> dict[str, bytes]:
    """Every file of an archive except the catalog, for 'untouched' assertions."""
    out = {}
    for p in sorted(root.rglob("*")):
        if p.is_file() and not p.name.startswith("catalog.sqlite") and p.name != "lock":
            out[str(p.relative_to(root))] = p.read_bytes()
    return out


# -- blobs behind witnessbox's back, in the folder or on S3 (WITNESSBOX_TEST_STORE=s3) --------


def _s3(ws: Any) -> tuple[Any, str, str] | None:
    """(boto3 client, bucket, key prefix) when ``ws`` keeps its blobs on S3, else None."""
    from witnessbox.ledger.store import ObjectBlobs

    blobs = ws.store.blobs
    if not isinstance(blobs, ObjectBlobs):
        return None
    return blobs.s3._s3, blobs.s3.bucket, blobs.s3.prefix


def read_blob(ws: Any, sha256: str) -> bytes:
    """The stored (encrypted) bytes of an item's blob."""
    s3 = _s3(ws)
    if s3 is None:
        return bytes(ws.store.blob_path(sha256).read_bytes())
    client, bucket, prefix = s3
    return bytes(client.get_object(Bucket=bucket, Key=f"{prefix}/{ws.store.blob_name(sha256)}")["Body"].read())


def write_blob(ws: Any, sha256: str, data: bytes) -> None:
    """Replace an item's blob as an intruder would (on S3 with a matching checksum, so only
    the record's hashes can tell)."""
    s3 = _s3(ws)
    if s3 is None:
        path = ws.store.blob_path(sha256)
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.exists():
            path.chmod(0o644)
        path.write_bytes(data)
        return
    client, bucket, prefix = s3
    client.put_object(Bucket=bucket, Key=f"{prefix}/{ws.store.blob_name(sha256)}", Body=data,
                      ChecksumSHA256=base64.b64encode(hashlib.sha256(data).digest()).decode())


def delete_blob(ws: Any, sha256: str) -> None:
    s3 = _s3(ws)
    if s3 is None:
        ws.store.blob_path(sha256).unlink()
        return
    client, bucket, prefix = s3
    client.delete_object(Bucket=bucket, Key=f"{prefix}/{ws.store.blob_name(sha256)}")


def blob_exists(ws: Any, sha256: str) -> bool:
    return bool(ws.store.blobs.exists(ws.store.blob_name(sha256)))


def rewrite(ws: Any, path: Path, change: Any) -> None:
    """Change a committed file as an intruder would: the folder's copy, and for an archive on
    S3 (WITNESSBOX_TEST_STORE=s3) its object too (decrypted, changed, encrypted again to the
    archive key and stored with a matching checksum: only witnessbox's own checks can tell).
    ``change`` maps the old bytes to the new ones; None deletes the file (and its object)."""
    if path.exists():
        old = path.read_bytes()
        os.chmod(path, 0o644)
        new = change(old) if change is not None else None
        if new is None:
            path.unlink()
        else:
            path.write_bytes(new)
    mirror = getattr(ws, "mirror", None)
    s3 = _s3(ws)
    if mirror is None or s3 is None:
        return
    import pyrage

    from witnessbox.errors import NotFoundError

    rel = mirror.rel(path)
    client, bucket, prefix = s3
    key = f"{prefix}/{mirror.key(rel)}"
    if change is None:
        client.delete_object(Bucket=bucket, Key=key)
        return
    try:
        data = change(mirror.get(rel))
    except NotFoundError:
        return  # not a committed file (the header, keys): in the folder only
    body = data if mirror.native(rel) else pyrage.encrypt(data, [mirror.recipient])
    client.put_object(Bucket=bucket, Key=key, Body=body,
                      ChecksumSHA256=base64.b64encode(hashlib.sha256(body).digest()).decode())
