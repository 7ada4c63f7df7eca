"""Object stores: write-once, checksummed storage of archive objects by key.

The blob-store interface the archive's files are written through when they leave the local
folder (docs/scale-out.md): keys are archive-relative paths (``blobs/ab/<sha256>.age``...),
every write is create-once (a key never changes once written), and every read is checked
against the SHA-256 recorded at write time, so an object changed behind witnessbox's back is
named, never returned.

- :class:`FolderObjectStore`: a local folder (hard link from an atomic temporary file: a link
  fails when the key exists).
- :class:`S3ObjectStore`: S3-compatible storage through boto3: conditional writes
  (``If-None-Match: *``), ``ChecksumSHA256`` on every object, optional Object Lock in
  compliance mode, and ciphertext only (anything that is not an age file is refused, so the
  storage operator can read nothing).

``Workspace`` keeps its blobs here when the archive was made with ``WITNESSBOX_STORE_URL``
(``ledger/store.py``, :class:`~witnessbox.ledger.store.ObjectBlobs`), and its log entries,
checkpoints, records and sidecars, age-encrypted (``ledger/mirror.py``, docs/scale-out.md).
"""

from __future__ import annotations

import base64
import datetime as _dt
import hashlib
import os
from pathlib import Path
from typing import Any, BinaryIO, Protocol
from urllib.parse import urlsplit

from .._fsutil import atomic_write_bytes, fsync_dir
from ..errors import ArchiveError, IntegrityError, NotFoundError, UsageError

AGE_MAGIC = b"age-encryption.org/v1\n"
#: The most one S3 ``PUT`` takes; larger objects would need a multipart upload (not built).
MAX_SINGLE_PUT = 5 * 1024**3


def _check_key(key: str) -> str:
    parts = key.split("/")
    if not key or key.startswith("/") or any(p in ("", ".", "..") for p in parts) or "\\" in key:
        raise UsageError(f"bad object key {key!r}: use a relative path without . or .. parts")
    return key


def _checked(key: str, data: bytes, recorded: str, expected: str | None) -> bytes:
    digest = hashlib.sha256(data).hexdigest()
    if digest != recorded or (expected is not None and digest != expected):
        raise IntegrityError(f"object {key} does not match its SHA-256 (changed or corrupted)")
    return data


class ObjectStore(Protocol):
    """Create-once objects by key, checked on every read."""

    def put_once(self, key: str, data: bytes) -> bool:
        """Store ``data`` at ``key``; False (nothing written) when ``key`` already exists."""
        ...

    def get(self, key: str, expected: str | None = None) -> bytes:
        """The object's bytes, checked against the SHA-256 recorded when it was written and,
        when given, against ``expected`` (hex SHA-256 from a signed record or log entry: an
        object replaced together with its checksum is caught only this way).

        Raises:
            NotFoundError: No object at ``key``.
            IntegrityError: The object no longer matches its checksum or ``expected``.
        """
        ...

    def exists(self, key: str) -> bool: ...

    def keys(self, prefix: str = "") -> list[str]:
        """Every key starting with ``prefix``, sorted."""
        ...


class FolderObjectStore:
    """Objects as files under ``root``; the SHA-256 of each is kept in ``<key>.sha256``."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def _path(self, key: str) -> Path:
        return self.root / _check_key(key)

    def put_once(self, key: str, data: bytes) -> bool:
        path = self._path(key)
        if path.exists():
            return False
        path.parent.mkdir(parents=True, exist_ok=True)
        digest = hashlib.sha256(data).hexdigest()
        tmp = path.with_name(f".tmp-{os.getpid()}-{path.name}")
        atomic_write_bytes(tmp, data, file_mode=0o444)
        try:
            atomic_write_bytes(path.with_name(path.name + ".sha256"), digest.encode(), file_mode=0o444)
            os.link(tmp, path)  # the commit: fails when another writer got there first
        except FileExistsError:
            return False
        finally:
            tmp.unlink(missing_ok=True)
        fsync_dir(path.parent)
        return True

    def get(self, key: str, expected: str | None = None) -> bytes:
        path = self._path(key)
        try:
            data = path.read_bytes()
        except FileNotFoundError as e:
            raise NotFoundError(f"object {key} is missing") from e
        try:
            want = path.with_name(path.name + ".sha256").read_text().strip()
        except FileNotFoundError as e:
            raise IntegrityError(f"object {key}: its checksum file is missing") from e
        return _checked(key, data, want, expected)

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def keys(self, prefix: str = "") -> list[str]:
        if not self.root.is_dir():
            return []
        out = []
        for p in self.root.rglob("*"):
            rel = p.relative_to(self.root).as_posix()
            if p.is_file() and not p.name.startswith(".tmp-") and not p.name.endswith(".sha256") and rel.startswith(prefix):
                out.append(rel)
        return sorted(out)


class S3ObjectStore:
    """Objects in ``s3://BUCKET/PREFIX`` (endpoint and credentials: the usual ``AWS_*`` variables).

    Args:
        url: ``s3://BUCKET`` or ``s3://BUCKET/PREFIX``.
        client: A boto3 S3 client (default: one made from the environment).
    """

    def __init__(self, url: str, client: Any = None) -> None:
        parts = urlsplit(url)
        if parts.scheme != "s3" or not parts.netloc:
            raise UsageError(f"bad store URL {url!r}: use s3://BUCKET/PREFIX")
        self.bucket = parts.netloc
        self.prefix = parts.path.strip("/")
        if client is None:
            import boto3

            client = boto3.client("s3")
        self._s3 = client

    def _key(self, key: str) -> str:
        _check_key(key)
        return f"{self.prefix}/{key}" if self.prefix else key

    def _error_code(self, e: Exception) -> str:
        response = getattr(e, "response", None) or {}
        return str(response.get("Error", {}).get("Code", ""))

    def create_bucket(self, *, object_lock_days: int | None = None) -> None:
        """Create the bucket; with ``object_lock_days`` every object written there is kept,
        undeletable and unchangeable even by the account's owner, for that many days
        (S3 Object Lock, compliance mode).

        Raises:
            ArchiveError: The server refused (for Object Lock: it may not support it).
        """
        try:
            if object_lock_days is None:
                self._s3.create_bucket(Bucket=self.bucket)
                return
            self._s3.create_bucket(Bucket=self.bucket, ObjectLockEnabledForBucket=True)
            self._s3.put_object_lock_configuration(
                Bucket=self.bucket,
                ObjectLockConfiguration={
                    "ObjectLockEnabled": "Enabled",
                    "Rule": {"DefaultRetention": {"Mode": "COMPLIANCE", "Days": int(object_lock_days)}},
                },
            )
        except Exception as e:  # noqa: BLE001 - botocore raises many classes; all mean "refused"
            raise ArchiveError(f"cannot create bucket {self.bucket} ({self._error_code(e) or e})") from e

    def bucket_exists(self) -> bool:
        try:
            self._s3.head_bucket(Bucket=self.bucket)
        except Exception as e:  # noqa: BLE001
            if self._error_code(e) in ("NoSuchBucket", "404", "NotFound"):
                return False
            raise ArchiveError(f"cannot reach bucket {self.bucket} ({self._error_code(e) or e})") from e
        return True

    def object_lock_enabled(self) -> bool:
        """Whether the bucket was created with Object Lock (only then can objects be locked)."""
        try:
            got = self._s3.get_object_lock_configuration(Bucket=self.bucket)
        except Exception:  # noqa: BLE001 - "not found", "not implemented": no lock either way
            return False
        return bool(got.get("ObjectLockConfiguration", {}).get("ObjectLockEnabled") == "Enabled")

    def put_file_once(self, key: str, path: Path, *, lock_days: int | None = None) -> bool:
        """Like :meth:`put_once` for a file (streamed, not read into memory); with
        ``lock_days`` the object is under Object Lock in compliance mode for that many days.

        One ``PUT`` (S3 limits a single ``PUT`` to 5 GiB).
        """
        full = self._key(key)
        h = hashlib.sha256()
        try:
            with open(path, "rb") as f:
                if (size := os.fstat(f.fileno()).st_size) > MAX_SINGLE_PUT:
                    raise UsageError(
                        f"object {key} is {size / 1024**3:.1f} GiB: blobs over 5 GiB cannot be stored on S3 "
                        "yet (multipart upload is not built); keep such files in an archive on a folder")
                if f.read(len(AGE_MAGIC)) != AGE_MAGIC:
                    raise UsageError(f"object {key}: only ciphertext (age files) may leave the machine")
                f.seek(0)
                while chunk := f.read(1 << 20):
                    h.update(chunk)
                f.seek(0)
                extra: dict[str, Any] = {}
                if lock_days:
                    until = _dt.datetime.now(_dt.timezone.utc) + _dt.timedelta(days=int(lock_days))
                    extra = {"ObjectLockMode": "COMPLIANCE", "ObjectLockRetainUntilDate": until}
                self._s3.put_object(Bucket=self.bucket, Key=full, Body=f, IfNoneMatch="*",
                                    ChecksumSHA256=base64.b64encode(h.digest()).decode(), **extra)
        except OSError as e:
            raise ArchiveError(f"cannot read {path} to store it as {key}: {e.strerror}") from e
        except UsageError:
            raise
        except Exception as e:  # noqa: BLE001
            if self._error_code(e) in ("PreconditionFailed", "ConditionalRequestConflict"):
                return False
            raise ArchiveError(f"cannot store object {key} ({self._error_code(e) or e})") from e
        return True

    def download(self, key: str, out: BinaryIO, expected: str | None = None) -> None:
        """Stream the object into ``out``, checked like :meth:`get` (``out`` then holds bytes
        that must not be used: the caller discards it on error).

        Raises:
            NotFoundError: No object at ``key``.
            IntegrityError: The object no longer matches its checksum or ``expected``.
        """
        full = self._key(key)
        h = hashlib.sha256()
        try:
            got = self._s3.get_object(Bucket=self.bucket, Key=full, ChecksumMode="ENABLED")
            want = got.get("ChecksumSHA256")
            body = got["Body"]
            while chunk := body.read(1 << 20):
                h.update(chunk)
                out.write(chunk)
        except Exception as e:  # noqa: BLE001
            if self._error_code(e) in ("NoSuchKey", "404", "NotFound"):
                raise NotFoundError(f"object {key} is missing") from e
            if type(e).__name__ == "FlexibleChecksumError":
                raise IntegrityError(f"object {key} does not match its SHA-256 (changed or corrupted)") from e
            if isinstance(e, OSError) and not hasattr(e, "response"):
                raise
            raise ArchiveError(f"cannot read object {key} ({self._error_code(e) or e})") from e
        if not want:
            raise IntegrityError(f"object {key} carries no SHA-256 checksum: it was not written by witnessbox")
        digest = h.hexdigest()
        if digest != base64.b64decode(want).hex() or (expected is not None and digest != expected):
            raise IntegrityError(f"object {key} does not match its SHA-256 (changed or corrupted)")

    def delete(self, key: str) -> None:
        """Remove the object (under Object Lock the locked version stays; the key reads as gone)."""
        full = self._key(key)
        try:
            self._s3.delete_object(Bucket=self.bucket, Key=full)
        except Exception as e:  # noqa: BLE001
            if self._error_code(e) in ("NoSuchKey", "404", "NotFound"):
                return
            raise ArchiveError(f"cannot delete object {key} ({self._error_code(e) or e})") from e

    def put_once(self, key: str, data: bytes) -> bool:
        full = self._key(key)
        if not data.startswith(AGE_MAGIC):
            raise UsageError(f"object {key}: only ciphertext (age files) may leave the machine")
        digest = base64.b64encode(hashlib.sha256(data).digest()).decode()
        try:
            self._s3.put_object(Bucket=self.bucket, Key=full, Body=data, IfNoneMatch="*",
                                ChecksumSHA256=digest)
        except Exception as e:  # noqa: BLE001
            if self._error_code(e) in ("PreconditionFailed", "ConditionalRequestConflict"):
                return False
            raise ArchiveError(f"cannot store object {key} ({self._error_code(e) or e})") from e
        return True

    def get(self, key: str, expected: str | None = None) -> bytes:
        full = self._key(key)
        try:
            got = self._s3.get_object(Bucket=self.bucket, Key=full, ChecksumMode="ENABLED")
            data: bytes = got["Body"].read()
        except Exception as e:  # noqa: BLE001
            if self._error_code(e) in ("NoSuchKey", "404", "NotFound"):
                raise NotFoundError(f"object {key} is missing") from e
            # botocore raises when the body does not match the stored checksum: corruption.
            if type(e).__name__ == "FlexibleChecksumError":
                raise IntegrityError(f"object {key} does not match its SHA-256 (changed or corrupted)") from e
            raise ArchiveError(f"cannot read object {key} ({self._error_code(e) or e})") from e
        want = got.get("ChecksumSHA256")
        if not want:
            raise IntegrityError(f"object {key} carries no SHA-256 checksum: it was not written by witnessbox")
        return _checked(key, data, base64.b64decode(want).hex(), expected)

    def exists(self, key: str) -> bool:
        full = self._key(key)
        try:
            self._s3.head_object(Bucket=self.bucket, Key=full)
        except Exception as e:  # noqa: BLE001
            if self._error_code(e) in ("NoSuchKey", "404", "NotFound"):
                return False
            raise ArchiveError(f"cannot read object {key} ({self._error_code(e) or e})") from e
        return True

    def keys(self, prefix: str = "") -> list[str]:
        base = self.prefix + "/" if self.prefix else ""
        full = base + prefix  # a prefix may end in "/": not a key, never checked as one
        out = []
        for page in self._s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=full):
            for obj in page.get("Contents", []):
                k = str(obj["Key"])
                out.append(k[len(self.prefix) + 1:] if self.prefix else k)
        return sorted(out)
