"""Content store: originals byte-for-byte, addressed by plaintext sha256, age-encrypted, read-only.

Sealing reads the source once: the same 1 MiB chunks feed SHA-256 and SHA-512 (each on its
own thread) and the age stream cipher (:mod:`.agestream`), in constant memory. The ciphertext is first written to a staging file under
``tmp/`` (atomically, mode 0444) and then hard-linked to ``blobs/<ab>/<sha256>[.age]``; a
link fails when the blob exists, so an item is never stored twice and a staged file never
replaces a sealed one.

Where the encrypted blobs live is a :class:`BlobStore`: :class:`FolderBlobs` (the archive
folder, the default) or :class:`ObjectBlobs` (S3-compatible storage, fixed at ``init`` by
``WITNESSBOX_STORE_URL`` and recorded in ``store.json``). Blob names are archive-relative
paths (``blobs/<ab>/<sha256>.age``); only the staging file stays local.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import queue
import tempfile
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, BinaryIO, Protocol, cast

import pyrage

from .._fsutil import atomic_write, fsync_dir
from ..errors import ArchiveError, IntegrityError, NotFoundError
from .agestream import AgeRandomReader, AgeWriter, identity_key, unwrap_file_key

if TYPE_CHECKING:
    from .objects import S3ObjectStore

CHUNK = 1 << 20
_QUEUE_DEPTH = 4
_THREAD_MIN = 8 << 20
_WRITEBACK = 16 << 20
_IN_MEMORY_LIMIT = 64 << 20


@dataclass(frozen=True)
class Staged:
    """A sealed-but-uncommitted blob in ``tmp/`` with the hashes of its plaintext."""

    path: Path
    sha256: str
    sha512: str
    size: int


def _start_writeback(f: IO[bytes], start: int) -> int:
    """Ask the kernel to start writing what we wrote so far, without waiting.

    Writeback then overlaps with hashing and encryption instead of all happening in the final
    fsync; it also keeps sealed ciphertext from crowding the page cache. Best effort.
    Returns the file offset to start from next time: pages still under writeback are not
    dropped, so each call also covers the previous call's range.
    """
    if not hasattr(os, "posix_fadvise"):
        return 0
    try:
        f.flush()
        end = f.tell()
        os.posix_fadvise(f.fileno(), start, 0, os.POSIX_FADV_DONTNEED)
    except (OSError, ValueError):
        return start
    return max(start, end - _WRITEBACK)


class _Hasher:
    """A hash fed from its own thread through a bounded queue (hashlib releases the GIL on
    large updates, so SHA-256, SHA-512 and encryption use separate cores)."""

    def __init__(self, name: str, threaded: bool) -> None:
        self.h = hashlib.new(name)
        self._q: queue.Queue[bytes | None] | None = None
        self._t: threading.Thread | None = None
        if threaded:
            self._q = queue.Queue(maxsize=_QUEUE_DEPTH)
            self._t = threading.Thread(target=self._run, name=f"witnessbox-{name}", daemon=True)
            self._t.start()

    def _run(self) -> None:
        assert self._q is not None
        while (data := self._q.get()) is not None:
            self.h.update(data)

    def update(self, data: bytes) -> None:
        if self._q is None:
            self.h.update(data)
        else:
            self._q.put(data)

    def hexdigest(self) -> str:
        self.close()
        return self.h.hexdigest()

    def close(self) -> None:
        if self._q is not None and self._t is not None:
            self._q.put(None)
            self._t.join()
            self._q = None


class SourceReadError(Exception):
    """Reading the file being sealed failed; ``args[0]`` is the OSError.

    Not an OSError itself, so the atomic writer does not report it as a failed write.
    """


class _HashingReader:
    """Reads a source in 1 MiB chunks and hashes every chunk (SHA-256, SHA-512).

    Memory stays bounded by the chunk size times the hash queues' depth.
    """

    def __init__(self, src: BinaryIO, progress: Callable[[int], None] | None, size_hint: int | None = None) -> None:
        self._src = src
        self._progress = progress
        threaded = size_hint is None or size_hint >= _THREAD_MIN
        self.sha256 = _Hasher("sha256", threaded)
        self.sha512 = _Hasher("sha512", threaded)
        self.size = 0

    def chunks(self) -> Iterator[bytes]:
        """The source's bytes, each chunk hashed before it is yielded.

        Raises:
            SourceReadError: Reading the source failed (kept apart from write errors).
        """
        while True:
            try:
                data = self._src.read(CHUNK)
            except OSError as e:
                raise SourceReadError(e) from e
            if not data:
                return
            self.sha256.update(data)
            self.sha512.update(data)
            self.size += len(data)
            if self._progress is not None:
                self._progress(len(data))
            yield data

    def finish(self) -> None:
        """Stop the hash threads (idempotent)."""
        self.sha256.close()
        self.sha512.close()


def decrypt_stream(src: BinaryIO, out: Any, identity: pyrage.x25519.Identity, *, what: str) -> None:
    """Stream-decrypt ``src`` into ``out`` (anything with ``write``).

    Raises:
        IntegrityError: The ciphertext is damaged or not for this key.
        OSError: Reading or writing failed (e.g. the output disk is full).
    """
    try:
        pyrage.decrypt_io(src, out, [identity])
    except pyrage.DecryptError as e:
        raise IntegrityError(f"{what} cannot be decrypted ({e})") from e
    except OSError as e:
        # pyrage reports a failed authentication tag mid-stream as a bare OSError.
        if e.errno is None:
            raise IntegrityError(f"{what} cannot be decrypted ({e})") from e
        raise


class BlobStore(Protocol):
    """Where sealed blobs live: put once by name, read back checked, list, delete (recovery)."""

    @property
    def url(self) -> str | None:
        """The object storage URL, or None for the archive folder."""
        ...

    def put_file_once(self, name: str, path: Path, *, replace: bool = False) -> bool:
        """Store the file at ``path`` as ``name``; False (nothing written) when ``name`` exists.
        With ``replace`` an existing ``name`` is replaced (an orphan nothing sealed owns)."""
        ...

    def open(self, name: str) -> contextlib.AbstractContextManager[BinaryIO]:
        """The stored bytes as a seekable stream.

        Raises:
            IntegrityError: Missing, or (object storage) no longer matching its checksum.
        """
        ...

    def exists(self, name: str) -> bool: ...

    def delete(self, name: str) -> None:
        """Remove ``name`` if present (recovery of an uncommitted item only)."""
        ...

    def names(self) -> list[str]:
        """Every stored blob name, sorted."""
        ...


class FolderBlobs:
    """Blobs as read-only files under the archive folder (``<root>/<name>``)."""

    url: str | None = None

    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, name: str) -> Path:
        return self.root / name

    def put_file_once(self, name: str, path: Path, *, replace: bool = False) -> bool:
        final = self.path(name)
        final.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(path, final)
            created = True
        except FileExistsError:
            created = False
            if replace:
                try:
                    os.replace(path, final)
                except OSError as e:
                    raise ArchiveError(f"cannot store blob {final}: {e.strerror}") from e
                created = True
        except OSError as e:
            raise ArchiveError(f"cannot store blob {final}: {e.strerror}") from e
        fsync_dir(final.parent)
        return created

    @contextlib.contextmanager
    def open(self, name: str) -> Iterator[BinaryIO]:
        try:
            f = open(self.path(name), "rb")  # noqa: SIM115 - closed below
        except FileNotFoundError as e:
            raise IntegrityError(f"blob {Path(name).name.split('.')[0]} is missing") from e
        with f:
            yield f

    def exists(self, name: str) -> bool:
        return self.path(name).is_file()

    def delete(self, name: str) -> None:
        p = self.path(name)
        with contextlib.suppress(FileNotFoundError):
            p.unlink()
            fsync_dir(p.parent)

    def names(self) -> list[str]:
        return sorted(f"blobs/{p.parent.name}/{p.name}" for p in (self.root / "blobs").glob("*/*")
                      if not p.name.startswith(".tmp-"))


class ObjectBlobs:
    """Blobs as objects in S3-compatible storage, under ``<prefix>/<key prefix>/`` (the key
    prefix is the archive id, chosen at ``init``).

    Writes are create-once (``If-None-Match: *``) and carry a SHA-256 checksum, checked on
    every read; only age ciphertext is accepted. With ``lock_days`` every blob is written under
    Object Lock in compliance mode.

    Args:
        url: ``s3://BUCKET/PREFIX`` (credentials and endpoint from the ``AWS_*`` variables).
        key_prefix: The archive's own folder in the store (its id at ``init``): several
            archives may share one bucket and prefix.
        tmp: Where a downloaded blob is spooled while it is checked (an anonymous file).
    """

    def __init__(self, url: str, key_prefix: str, tmp: Path | None, *, lock_days: int | None = None,
                 client: Any = None) -> None:
        from .objects import S3ObjectStore

        self.url = url
        self.lock_days = lock_days
        self.tmp = tmp
        self._prefix = url.rstrip("/") + "/" + key_prefix
        S3ObjectStore(self._prefix, client=object())  # a bad URL fails here, before any connection
        self._client = client
        self._s3: S3ObjectStore | None = None

    @property
    def s3(self) -> S3ObjectStore:
        """The S3 client, made at first use (opening an archive does not connect)."""
        if self._s3 is None:
            from .objects import S3ObjectStore

            self._s3 = S3ObjectStore(self._prefix, client=self._client if self._client is not None else _s3_client())
        return self._s3

    def prepare(self) -> None:
        """At ``init``: create the bucket if missing (with Object Lock when asked) and check
        that a lock can be honoured.

        Raises:
            ArchiveError: The bucket cannot be reached or made, or it has no Object Lock.
        """
        if not self.s3.bucket_exists():
            self.s3.create_bucket(object_lock_days=self.lock_days)
        elif self.lock_days and not self.s3.object_lock_enabled():
            raise ArchiveError(f"bucket {self.s3.bucket} has no Object Lock: use a new bucket for --object-lock")

    def put_file_once(self, name: str, path: Path, *, replace: bool = False) -> bool:
        if self.s3.put_file_once(name, path, lock_days=self.lock_days):
            return True
        if not replace:
            return False
        self.s3.delete(name)
        if not self.s3.put_file_once(name, path, lock_days=self.lock_days):
            raise ArchiveError(f"cannot store blob {name}: another writer stored it at the same time")
        return True

    @contextlib.contextmanager
    def open(self, name: str) -> Iterator[BinaryIO]:
        tmp = self.tmp if self.tmp is not None and os.access(self.tmp, os.W_OK) else None
        with tempfile.TemporaryFile(dir=tmp) as f:
            try:
                self.s3.download(name, f)
            except NotFoundError as e:
                raise IntegrityError(f"blob {Path(name).name.split('.')[0]} is missing (object {name})") from e
            f.seek(0)
            yield f

    def exists(self, name: str) -> bool:
        return self.s3.exists(name)

    def delete(self, name: str) -> None:
        self.s3.delete(name)

    def names(self) -> list[str]:
        return [k for k in self.s3.keys("blobs/")]


def _s3_client() -> Any:
    """A boto3 S3 client from the standard ``AWS_*`` variables (endpoint included)."""
    import boto3
    from botocore.config import Config

    return boto3.client("s3", config=Config(retries={"max_attempts": 3}))


class ContentStore:
    """Blobs in a :class:`BlobStore` (default: ``root/blobs``), staging under ``root/tmp``.

    Args:
        root: The archive folder.
        recipient: The age recipient; None for an archive made with ``--no-encryption``.
        blobs: Where sealed blobs live (default: the folder).
    """

    def __init__(self, root: Path, recipient: pyrage.x25519.Recipient | None, blobs: BlobStore | None = None) -> None:
        self.root = root
        self.recipient = recipient
        self.tmp = root / "tmp"
        self.blobs: BlobStore = blobs if blobs is not None else FolderBlobs(root)

    @property
    def encrypted(self) -> bool:
        return self.recipient is not None

    def blob_name(self, sha256: str) -> str:
        """The blob's archive-relative name (``blobs/<ab>/<sha256>[.age]``)."""
        suffix = ".age" if self.encrypted else ""
        return f"blobs/{sha256[:2]}/{sha256}{suffix}"

    def blob_path(self, sha256: str) -> Path:
        """Where the blob of ``sha256`` lives in the folder (whether or not it exists; with
        object storage only its name matters: see :meth:`open_blob`)."""
        return self.root / self.blob_name(sha256)

    def open_blob(self, sha256: str) -> contextlib.AbstractContextManager[BinaryIO]:
        """The stored (encrypted) bytes of a blob.

        Raises:
            IntegrityError: Missing or changed behind witnessbox's back.
        """
        return self.blobs.open(self.blob_name(sha256))

    def stage(self, src: BinaryIO, *, progress: Callable[[int], None] | None = None, size_hint: int | None = None) -> Staged:
        """Hash and encrypt ``src`` in one pass into a staging file.

        Raises:
            ArchiveError: Disk full or not writable (the staging file is removed).
            OSError: Reading ``src`` failed.
        """
        reader = _HashingReader(src, progress, size_hint)
        dest = self.tmp / f"stage-{uuid.uuid4().hex}"
        try:
            self._stage_into(reader, dest)
        except SourceReadError as e:
            raise e.args[0] from None
        finally:
            reader.finish()
        return Staged(dest, reader.sha256.hexdigest(), reader.sha512.hexdigest(), reader.size)

    def _stage_into(self, reader: _HashingReader, dest: Path) -> None:
        with atomic_write(dest, "wb", file_mode=0o444) as out:
            sink: AgeWriter | IO[bytes] = out
            if self.recipient is not None:
                try:
                    sink = AgeWriter(out, str(self.recipient))
                except ValueError as e:
                    raise ArchiveError(f"the archive's age recipient is unusable: {e}") from e
            flushed = wb_from = 0
            for chunk in reader.chunks():
                sink.write(chunk)
                if reader.size - flushed >= _WRITEBACK:
                    flushed = reader.size
                    wb_from = _start_writeback(out, wb_from)
            if isinstance(sink, AgeWriter):
                sink.close()

    def commit(self, staged: Staged, *, replace_orphan: bool = False) -> bool:
        """Move a staged blob to its content address.

        Args:
            replace_orphan: The caller knows no sealed item owns a blob already at that
                address (the lock is held, the item is not sealed): such a blob holds unknown
                bytes and is replaced by the staged one, which was just hashed.

        Returns:
            True when stored, False when a blob with that sha256 already existed (and was kept).

        Raises:
            ArchiveError: The link or the folder sync failed.
        """
        created = self.blobs.put_file_once(self.blob_name(staged.sha256), staged.path, replace=replace_orphan)
        with contextlib.suppress(OSError):
            staged.path.unlink()
        return created

    def discard(self, staged: Staged) -> None:
        """Remove a staged blob that will not be committed."""
        with contextlib.suppress(OSError):
            staged.path.unlink()

    def remove(self, sha256: str) -> None:
        """Delete a blob (recovery of an uncommitted item only)."""
        self.blobs.delete(self.blob_name(sha256))

    def encrypt_bytes(self, data: bytes) -> bytes:
        """Encrypt a small payload (sensitive metadata) to the archive key, or pass it through."""
        if self.recipient is None:
            return data
        out: bytes = pyrage.encrypt(data, [self.recipient])
        return out

    @staticmethod
    def decrypt_bytes(data: bytes, identity: pyrage.x25519.Identity | None) -> bytes:
        """Inverse of :meth:`encrypt_bytes`.

        Raises:
            IntegrityError: The ciphertext is damaged.
        """
        if identity is None:
            return data
        try:
            out: bytes = pyrage.decrypt(data, [identity])
            return out
        except pyrage.DecryptError as e:
            raise IntegrityError(f"cannot decrypt: {e}") from e

    @contextlib.contextmanager
    def open_plaintext(self, sha256: str, identity: pyrage.x25519.Identity | None, size: int) -> Iterator[BinaryIO]:
        """A seekable plaintext stream of a blob.

        Small blobs are decrypted in memory; large ones into an anonymous temporary file in
        the archive's ``tmp/`` (unlinked at once, so nothing plaintext survives a crash).

        Raises:
            NotFoundError: No such blob.
            IntegrityError: The ciphertext is damaged.
        """
        with self.open_blob(sha256) as src:
            if not self.encrypted:
                yield src
                return
            if identity is None:
                raise ArchiveError("the archive key is needed to decrypt originals")
            out: BinaryIO
            if size <= _IN_MEMORY_LIMIT:
                out = io.BytesIO()
            else:
                out = tempfile.TemporaryFile(dir=self.tmp)  # noqa: SIM115 - closed below
            try:
                decrypt_stream(src, out, identity, what=f"blob {sha256}")
                out.seek(0)
                yield out
            finally:
                out.close()

    @contextlib.contextmanager
    def open_plaintext_random(self, sha256: str, identity: pyrage.x25519.Identity | None,
                              size: int) -> Iterator[BinaryIO]:
        """A seekable plaintext stream of a blob whose chunks are decrypted when read (for a
        player: the first frame of a long video does not wait for the rest); nothing plaintext
        is written anywhere and at most a few 64 KiB chunks are held. Unencrypted blobs, and
        blobs a store cannot seek in, are opened as :meth:`open_plaintext` does.

        Unlike :meth:`open_plaintext`, damage is found when the damaged part is read: the read
        raises IntegrityError and returns no byte of that chunk.

        Raises:
            NotFoundError: No such blob.
            IntegrityError: Not for this key, a damaged header, or a size other than ``size``.
        """
        if not self.encrypted:
            with self.open_plaintext(sha256, identity, size) as f:
                yield f
            return
        if identity is None:
            raise ArchiveError("the archive key is needed to decrypt originals")
        with self.open_blob(sha256) as src:
            if not src.seekable():
                src.close()
                with self.open_plaintext(sha256, identity, size) as f:
                    yield f
                return
            what = f"blob {sha256}"

            def damaged(msg: str) -> IntegrityError:
                return IntegrityError(f"{what} cannot be decrypted ({msg})")

            try:
                key = unwrap_file_key(src, identity_key(str(identity)))
            except ValueError as e:
                raise damaged(str(e)) from e
            reader = AgeRandomReader(src, key, damaged=damaged)
            if reader.size != size:
                raise damaged(f"{reader.size} bytes of plaintext, the record says {size}")
            try:
                yield cast(BinaryIO, reader)
            finally:
                reader.close()

    def hash_plaintext(self, sha256: str, identity: pyrage.x25519.Identity | None) -> tuple[str, str, int]:
        """Re-hash a blob's plaintext (sha256, sha512, size) by streaming decryption.

        Raises:
            IntegrityError: Missing or undecryptable blob.
        """
        h256, h512 = hashlib.sha256(), hashlib.sha512()
        n = 0

        class _Sink(io.RawIOBase):
            def writable(self) -> bool:
                return True

            def write(self, b: bytes | bytearray | memoryview) -> int:  # type: ignore[override]
                nonlocal n
                h256.update(b)
                h512.update(b)
                n += len(b)
                return len(b)

        with self.open_blob(sha256) as src:
            if self.encrypted:
                if identity is None:
                    raise IntegrityError("the age identity is needed to re-hash encrypted blobs")
                decrypt_stream(src, _Sink(), identity, what=f"blob {sha256}")
            else:
                sink = _Sink()
                while chunk := src.read(CHUNK):
                    sink.write(chunk)
        return h256.hexdigest(), h512.hexdigest(), n
