"""The archive's small files on object storage: custody log entries, checkpoints, records,
their signatures, sensitive metadata and sidecars, beside the blobs (docs/scale-out.md).

An archive whose blobs live on S3 (``store.json``) keeps every file it commits there too, as
an object under the same key prefix and archive-relative name:

- a file that is already age ciphertext (``meta/...json.age``) is stored as it is;
- any other file is stored age-encrypted to the archive's recipient as ``<name>.age`` (log
  entries and records carry names and notes; the storage operator reads nothing). Hashes
  and signatures stay over the plaintext bytes, exactly as in the folder.

Every write is create-once (``If-None-Match: *``) with a SHA-256 checksum that every read
checks. The archive folder keeps a plaintext copy of what this machine wrote or pulled (the
mirror); the objects are the shared truth that writers on other machines and ``verify`` read.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pyrage

from .._fsutil import atomic_write
from ..errors import ArchiveError, IntegrityError

if TYPE_CHECKING:
    from .objects import S3ObjectStore

AGE_SUFFIX = ".age"
NATIVE_AGE = ("meta/", "testimonies/")
"""Folders whose files are age ciphertext already (stored as they are)."""


class ObjectMirror:
    """Archive files (by archive-relative name) as create-once, checked, encrypted objects.

    Args:
        s3: Returns the archive's object client (made at first use; shared with the blobs).
        root: The archive folder (where :meth:`pull` keeps a local copy).
        recipient: The archive's age recipient (encrypting needs no secret).
        identity: Returns the archive's age identity (asks for the passphrase when first needed).
    """

    def __init__(self, s3: Callable[[], S3ObjectStore], root: Path, recipient: pyrage.x25519.Recipient,
                 identity: Callable[[], pyrage.x25519.Identity | None]) -> None:
        self._s3 = s3
        self.root = root
        self.recipient = recipient
        self._identity = identity

    @staticmethod
    def native(name: str) -> bool:
        """Whether the archive file ``name`` is age ciphertext already (stored as it is)."""
        return name.startswith(NATIVE_AGE) and name.endswith(AGE_SUFFIX)

    @classmethod
    def key(cls, name: str) -> str:
        """The object key of the archive file ``name`` (relative to the archive's key prefix)."""
        return name if cls.native(name) else name + AGE_SUFFIX

    @staticmethod
    def name(key: str) -> str:
        """Inverse of :meth:`key` for files that are not age files themselves."""
        return key if ObjectMirror.native(key) or not key.endswith(AGE_SUFFIX) else key[: -len(AGE_SUFFIX)]

    def rel(self, path: Path) -> str:
        """The archive-relative name of a path inside the archive folder."""
        return path.relative_to(self.root).as_posix()

    def put(self, name: str, data: bytes, *, replace: bool = False) -> bool:
        """Store the file ``name`` with the bytes ``data``; False when it exists already
        (nothing replaced) unless ``replace`` (an orphan of an uncommitted item, lock held).

        Raises:
            ArchiveError: The store refused or cannot be reached.
        """
        body = data if self.native(name) else pyrage.encrypt(data, [self.recipient])
        s3 = self._s3()
        if s3.put_once(self.key(name), body):
            return True
        if not replace:
            return False
        s3.delete(self.key(name))
        if not s3.put_once(self.key(name), body):
            raise ArchiveError(f"cannot store {name}: another writer stored it at the same time")
        return True

    def put_file(self, path: Path, data: bytes, *, replace: bool = False) -> bool:
        """:meth:`put` for a file of the archive folder given by its path."""
        return self.put(self.rel(path), data, replace=replace)

    def get(self, name: str) -> bytes:
        """The file's bytes as the folder holds them (decrypted unless an age file itself).

        Raises:
            NotFoundError: No such object.
            IntegrityError: Changed behind witnessbox's back (checksum), or undecryptable.
            PassphraseError: The passphrase is needed and wrong.
        """
        body = self._s3().get(self.key(name))
        if self.native(name):
            return body
        identity = self._identity()
        if identity is None:
            raise IntegrityError(f"object {self.key(name)}: the archive key is needed to read it")
        try:
            out: bytes = pyrage.decrypt(body, [identity])
        except pyrage.DecryptError as e:
            raise IntegrityError(f"object {self.key(name)} cannot be decrypted ({e})") from e
        return out

    def pull(self, path: Path) -> bytes:
        """The bytes of an archive file missing from this folder, read from the store and
        kept in the folder (read-only) for next time.

        Raises:
            NotFoundError: Neither here nor in the store.
            IntegrityError: The object is damaged.
        """
        data = self.get(self.rel(path))
        with contextlib.suppress(OSError):  # a read-only copy still reads; it keeps nothing
            path.parent.mkdir(parents=True, exist_ok=True)
            with contextlib.suppress(FileExistsError, ArchiveError), \
                    atomic_write(path, "wb", file_mode=0o444, overwrite=False) as f:
                f.write(data)
        return data

    def exists(self, name: str) -> bool:
        return self._s3().exists(self.key(name))

    def delete(self, name: str) -> None:
        """Remove the object of ``name`` if present (recovery of uncommitted work only)."""
        self._s3().delete(self.key(name))

    def names(self, prefix: str) -> list[str]:
        """Archive file names stored under ``prefix`` (e.g. ``records/``), sorted."""
        return sorted(self.name(k) for k in self._s3().keys(prefix))
