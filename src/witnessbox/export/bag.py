"""BagIt (RFC 8493) writer: deterministic, atomic, optionally zipped.

Why not ``bagit.make_bag``: it converts a folder in place, declares BagIt 0.97, writes the
tag manifest in ``os.listdir`` order with one space between hash and path (which
``sha256sum -c`` rejects) and stamps its own version into ``bag-info.txt``, so two bags of
the same content differ. The files here are few and fully specified by RFC 8493 sections 2
and 4; the ``bagit`` package remains the independent validator in the tests.

Invariants:
- Nothing appears at the destination until the bag is complete: the bag is built in a
  hidden temporary folder beside the destination and renamed into place (or, with zip, the
  archive is written through :func:`witnessbox._fsutil.atomic_write`). Any error removes
  the temporary folder; the destination is never overwritten.
- Deterministic: manifests list paths sorted by their UTF-8 bytes; ``bag-info.txt`` holds
  only the software agent, the payload oxum and the bagging date, so two bags of the same
  content differ only by that date (and, through it, by one line of the tag manifest). Zip
  members are sorted, stamped 1980-01-01 with mode 0644 and deflated at a fixed level.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import tempfile
import zipfile
import zlib
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from types import TracebackType
from typing import BinaryIO

from .. import __version__
from .._fsutil import atomic_write, atomic_write_bytes, fsync_dir
from ..errors import ExportError, IntegrityError

BAGIT_TXT = b"BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n"
_ZIP_DATE = (1980, 1, 1, 0, 0, 0)
_CHUNK = 1 << 20


def _check_rel(rel: str) -> None:
    parts = rel.split("/")
    if not rel or rel.startswith("/") or any(p in ("", ".", "..") for p in parts) or "\\" in rel:
        raise ValueError(f"bad bag path {rel!r}")
    if any(c in rel for c in "\r\n%"):
        # RFC 8493 would percent-encode these; witnessbox never makes such names.
        raise ValueError(f"bag path {rel!r} holds CR, LF or %")


def _sort_key(rel: str) -> bytes:
    return rel.encode("utf-8")


class BagWriter:
    """Builds one bag in a temporary folder beside ``target`` and commits it at the end.

    Use as a context manager: leaving the block by an exception removes everything.

    Raises (from the constructor):
        ExportError: ``target`` exists or its folder cannot be written.
    """

    def __init__(self, target: Path, *, zip_output: bool = False) -> None:
        self.target = Path(target)
        self.zip_output = zip_output
        if self.target.exists() or self.target.is_symlink():
            raise ExportError(f"{self.target} already exists; choose a new path")
        parent = self.target.parent
        if not parent.is_dir():
            raise ExportError(f"folder {parent} does not exist")
        try:
            self._tmp = Path(tempfile.mkdtemp(prefix=".tmp-export-", dir=parent))
        except OSError as e:
            raise ExportError(f"cannot write in {parent}: {e.strerror}") from e
        self._payload: dict[str, tuple[str, int]] = {}
        self._tags: dict[str, str] = {}
        self._done = False

    # -- adding files ---------------------------------------------------------------

    @property
    def root(self) -> Path:
        """The temporary bag folder being built (for tests and error messages)."""
        return self._tmp

    def _path(self, rel: str) -> Path:
        _check_rel(rel)
        if rel in self._payload or rel in self._tags:
            raise ValueError(f"{rel} added twice")
        p = self._tmp / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        return p

    def add_bytes(self, rel: str, data: bytes) -> str:
        """Add a file with ``data``; ``rel`` under ``data/`` is payload, else a tag file.

        Returns:
            The file's sha256 hex.
        """
        atomic_write_bytes(self._path(rel), data)
        digest = hashlib.sha256(data).hexdigest()
        self._record(rel, digest, len(data))
        return digest

    def add_stream(self, rel: str, stream: BinaryIO, progress: Callable[[int], None] | None = None) -> str:
        """Copy ``stream`` into the bag as ``rel`` without holding it in memory.

        Args:
            rel: Bag-relative path.
            stream: Source (read to its end).
            progress: Called with the size of each block copied.

        Returns:
            The copied bytes' sha256 hex.
        """
        h = hashlib.sha256()
        n = 0
        with atomic_write(self._path(rel), "wb") as out:
            for block in iter(lambda: stream.read(_CHUNK), b""):
                h.update(block)
                out.write(block)
                n += len(block)
                if progress is not None:
                    progress(len(block))
        self._record(rel, h.hexdigest(), n)
        return h.hexdigest()

    @property
    def payload_files(self) -> int:
        return len(self._payload)

    @property
    def payload_bytes(self) -> int:
        return sum(size for _, size in self._payload.values())

    def payload_manifest(self) -> bytes:
        """The bytes ``manifest-sha256.txt`` holds (or will hold) for the payload so far."""
        return _manifest({k: d for k, (d, _) in self._payload.items()})

    def _record(self, rel: str, digest: str, size: int) -> None:
        if rel.startswith("data/"):
            self._payload[rel] = (digest, size)
        else:
            self._tags[rel] = digest

    # -- committing -----------------------------------------------------------------

    def finish(self, *, bagging_date: str, extra_info: Mapping[str, str] | None = None) -> Path:
        """Write the BagIt tag files and move the bag (or its zip) into place.

        Args:
            bagging_date: ``YYYY-MM-DD``: the one field allowed to differ between two
                exports of the same content.
            extra_info: More ``bag-info.txt`` fields (kept in the given order, after the
                standard ones). Values must be one line.

        Returns:
            The committed path (``target``).

        Raises:
            ExportError: The destination appeared meanwhile, or the disk refused.
        """
        octets = self.payload_bytes
        info = {
            "Bag-Software-Agent": f"witnessbox {__version__}",
            "Bagging-Date": bagging_date,
            "Payload-Oxum": f"{octets}.{len(self._payload)}",
        }
        for k, v in (extra_info or {}).items():
            if "\n" in v or "\r" in v or ":" in k:
                raise ValueError(f"bag-info field {k!r} must be one line")
            info[k] = v
        self.add_bytes("bagit.txt", BAGIT_TXT)
        self.add_bytes("bag-info.txt", "".join(f"{k}: {v}\n" for k, v in info.items()).encode("utf-8"))
        self.add_bytes("manifest-sha256.txt", self.payload_manifest())
        tagmanifest = _manifest(self._tags)
        atomic_write_bytes(self._tmp / "tagmanifest-sha256.txt", tagmanifest)
        for d in sorted({p.parent for p in self._tmp.rglob("*") if p.is_file()}, key=lambda p: len(p.parts), reverse=True):
            fsync_dir(d)
        if self.zip_output:
            self._commit_zip()
        else:
            self._commit_folder()
        self._done = True
        return self.target

    def _commit_folder(self) -> None:
        if self.target.exists():
            raise ExportError(f"{self.target} appeared while exporting; nothing was written there")
        try:
            os.rename(self._tmp, self.target)
        except OSError as e:
            raise ExportError(f"cannot move the bag into place at {self.target}: {e.strerror}") from e
        fsync_dir(self.target.parent)

    def _commit_zip(self) -> None:
        top = self.target.name.removesuffix(".zip") or "bag"
        files = sorted((p.relative_to(self._tmp).as_posix() for p in self._tmp.rglob("*") if p.is_file()), key=_sort_key)
        try:
            with atomic_write(self.target, "wb", overwrite=False) as raw, zipfile.ZipFile(raw, "w") as zf:
                for rel in files:
                    zi = zipfile.ZipInfo(f"{top}/{rel}", date_time=_ZIP_DATE)
                    zi.compress_type = zipfile.ZIP_DEFLATED
                    zi.create_system = 3
                    zi.external_attr = 0o100644 << 16
                    with open(self._tmp / rel, "rb") as src, zf.open(zi, "w", force_zip64=True) as dst:
                        shutil.copyfileobj(src, dst, _CHUNK)
        except FileExistsError as e:
            raise ExportError(f"{self.target} appeared while exporting; nothing was written there") from e
        shutil.rmtree(self._tmp, ignore_errors=True)

    def abort(self) -> None:
        """Remove the temporary bag (idempotent)."""
        if not self._done:
            shutil.rmtree(self._tmp, ignore_errors=True)

    def __enter__(self) -> BagWriter:
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        self.abort()


def _manifest(entries: Mapping[str, str]) -> bytes:
    # Two spaces: the layout `sha256sum -c` reads, and one RFC 8493 allows.
    return "".join(f"{entries[rel]}  {rel}\n" for rel in sorted(entries, key=_sort_key)).encode("utf-8")


@contextlib.contextmanager
def opened_bag(path: Path, damaged: list[tuple[str, str]] | None = None) -> Iterator[Path]:
    """Yield the bag's root folder: ``path`` itself, or a zip's single top folder unpacked.

    A zip is unpacked into a temporary folder removed afterwards; members that would land
    outside it, links, or more than one top-level folder are refused. A member that fails
    its CRC or does not decompress is left out and appended to ``damaged`` as (path in the
    bag, reason), so the verifier reports it; without the list it raises.

    Raises:
        ExportError: Not a folder or a zip holding exactly one bag.
        IntegrityError: The zip's directory is damaged, or (``damaged`` is None) a member is.
    """
    path = Path(path)
    if path.is_dir():
        yield path
        return
    if not zipfile.is_zipfile(path):
        raise ExportError(f"{path} is neither a bag folder nor a zip file")
    with tempfile.TemporaryDirectory(prefix="witnessbox-verify-") as tmp:
        try:
            zf = zipfile.ZipFile(path)
        except (zipfile.BadZipFile, zlib.error, EOFError, ValueError) as e:
            raise IntegrityError(f"{path} is a damaged zip file ({e}): its directory cannot be read") from e
        with zf:
            tops = set()
            for zi in zf.infolist():
                name = zi.filename
                parts = name.split("/")
                if name.startswith("/") or ".." in parts or "\\" in name or (zi.external_attr >> 16) & 0o170000 == 0o120000:
                    raise ExportError(f"{path} holds an unsafe member {name!r}")
                tops.add(parts[0])
            if len(tops) != 1:
                raise ExportError(f"{path} must hold exactly one top-level bag folder")
            top = tops.pop()
            for zi in zf.infolist():
                try:
                    zf.extract(zi, tmp)
                except (zipfile.BadZipFile, zlib.error, EOFError) as e:
                    # A flipped byte in a member: the member is damaged evidence, named as such.
                    rel = zi.filename.removeprefix(top + "/")
                    with contextlib.suppress(OSError):
                        (Path(tmp) / zi.filename).unlink()
                    if damaged is None:
                        raise IntegrityError(f"{path}: member {rel} is damaged ({e})") from e
                    damaged.append((rel, f"damaged in the zip file ({e})"))
        yield Path(tmp) / top
