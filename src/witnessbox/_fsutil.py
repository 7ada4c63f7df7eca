"""Atomic writes, the archive lock and file hashing: the one place where persistent bytes hit the disk.

Invariant: a file written through :func:`atomic_write` is either absent or complete. The
bytes go to a temporary file in the destination folder, are fsynced, renamed over the
destination with ``os.replace`` and the folder is fsynced, so a crash at any instant leaves
the old state or the new one. On any error the temporary file is removed.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Literal, overload

from .errors import LockedError, WriteError

_TMP_PREFIX = ".tmp-"


def _cannot_write(path: Path, e: OSError) -> str:
    if path.is_dir():
        return f"cannot write {path}: it is a folder; give a file name"
    if e.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return f"cannot write {path}: {e.strerror}; choose a folder you can write to"
    if e.errno == errno.ENOENT:
        return f"cannot write {path}: its folder does not exist; create it first"
    return f"cannot write {path}: {e.strerror}"


def fsync_dir(path: Path) -> None:
    """Flush a folder's entries (renames, creations) to disk."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@overload
def atomic_write(
    path: Path, mode: Literal["wb"] = ..., *, file_mode: int = ..., overwrite: bool = ...
) -> contextlib.AbstractContextManager[IO[bytes]]: ...
@overload
def atomic_write(
    path: Path, mode: Literal["w"], *, file_mode: int = ..., overwrite: bool = ...
) -> contextlib.AbstractContextManager[IO[str]]: ...
def atomic_write(
    path: Path, mode: str = "wb", *, file_mode: int = 0o644, overwrite: bool = True
) -> contextlib.AbstractContextManager[IO[bytes]] | contextlib.AbstractContextManager[IO[str]]:
    """Open ``path`` for writing so that it appears complete or not at all.

    Args:
        path: Destination file. Its folder must exist.
        mode: ``"wb"`` or ``"w"`` (UTF-8 text, ``\\n`` newlines).
        file_mode: Permission bits of the final file (e.g. ``0o444`` for sealed blobs).
        overwrite: When false, an existing destination raises ``FileExistsError`` at commit.

    Raises:
        ArchiveError: The disk is full or the folder is not writable.
        FileExistsError: ``overwrite`` is false and ``path`` exists.
    """
    return _atomic_write(Path(path), mode, file_mode, overwrite)


@contextlib.contextmanager
def _atomic_write(path: Path, mode: str, file_mode: int, overwrite: bool) -> Iterator[IO[bytes]]:
    folder = path.parent
    try:
        fd, tmp = tempfile.mkstemp(prefix=_TMP_PREFIX, dir=folder)
    except OSError as e:
        if e.errno == errno.ENOSPC:
            raise WriteError(f"disk full while writing {path}: free some space and run the command again") from e
        raise WriteError(_cannot_write(path, e)) from e
    try:
        if "b" in mode:
            f: IO[bytes] = os.fdopen(fd, "wb")
        else:
            f = os.fdopen(fd, "w", encoding="utf-8", newline="\n")  # type: ignore[assignment]
        with f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, file_mode)
        if overwrite:
            os.replace(tmp, path)
        else:
            # link() fails if the destination exists: no window where an existing file is replaced.
            os.link(tmp, path)
            os.unlink(tmp)
        fsync_dir(folder)
    except OSError as e:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if e.errno == errno.EEXIST:
            raise FileExistsError(errno.EEXIST, "exists", str(path)) from e
        if e.errno == errno.ENOSPC:
            raise WriteError(f"disk full while writing {path}: free some space and run the command again") from e
        raise WriteError(_cannot_write(path, e)) from e
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def atomic_write_bytes(path: Path, data: bytes, *, file_mode: int = 0o644) -> None:
    """Write ``data`` to ``path`` atomically (see :func:`atomic_write`)."""
    with atomic_write(path, "wb", file_mode=file_mode) as f:
        f.write(data)


def atomic_write_text(path: Path, text: str, *, file_mode: int = 0o644) -> None:
    """Write UTF-8 ``text`` to ``path`` atomically (see :func:`atomic_write`)."""
    with atomic_write(path, "w", file_mode=file_mode) as f:
        f.write(text)


def sha256_file(path: Path) -> str:
    """Hex SHA-256 of a file's bytes, read in blocks."""
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def remove_stale_temps(folder: Path) -> int:
    """Delete temporary files a killed process left in ``folder`` (recursively); return the count."""
    n = 0
    for p in folder.rglob(_TMP_PREFIX + "*"):
        with contextlib.suppress(OSError):
            p.unlink()
            n += 1
    return n


@contextlib.contextmanager
def exclusive_lock(
    lock_path: Path, *, wait: bool = True, what: str = "archive", on_wait: Callable[[], None] | None = None
) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``lock_path`` for the duration of the block.

    The kernel drops the lock when the process dies, so a killed writer never leaves the
    archive locked. ``on_wait`` is called once when the lock is busy and we start waiting
    (so that a user is told why nothing happens).

    Raises:
        LockedError: ``wait`` is false and another process holds the lock.
    """
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as e:
            if not wait:
                raise LockedError(what) from e
            if on_wait is not None:
                on_wait()
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the flock
