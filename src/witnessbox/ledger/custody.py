"""The custody log: append-only, hash-chained entries under an RFC 6962 Merkle tree.

Layout (under ``log/``)::

    entries/<seq // 1000, 9 digits>/<seq, 12 digits>.json    one canonical JSON entry each
    checkpoints/<tree_size, 12 digits>.json (+ .json.sig)   signed tree heads

An entry file is written atomically and never replaced (``overwrite=False``); its existence
is the commit point of whatever it records. Callers hold the archive lock while appending.

With an :class:`~witnessbox.ledger.mirror.ObjectMirror` (an archive on object storage) the
entries and checkpoints are objects first: an entry is committed by its create-once object
(a second writer of the same sequence number gets nothing written and an error), then kept
in the folder too. The log's size is what the store holds; entries another machine wrote are
read from the store (decrypted) until :meth:`CustodyLog.keep` puts them in the folder.
"""

from __future__ import annotations

import base64
import contextlib
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from .._fsutil import atomic_write, atomic_write_bytes
from ..errors import ArchiveError, IntegrityError, NotFoundError
from .canonical import canonical_bytes, parse_canonical, sha256_hex, utc_now
from .merkle import frontier_extend, inclusion_path, leaf_hash, root_from_frontier
from .records import Checkpoint, InclusionProof, LogEntry
from .verify import ZERO_HASH

if TYPE_CHECKING:
    from .mirror import ObjectMirror

_GROUP = 1000
_REMOTE_CACHE = 20_000


class CustodyLog:
    """Reads and appends custody log entries and checkpoints under ``root/log``."""

    def __init__(self, root: Path, mirror: ObjectMirror | None = None) -> None:
        self.dir = root / "log"
        self.entries_dir = self.dir / "entries"
        self.checkpoints_dir = self.dir / "checkpoints"
        self.mirror = mirror
        self._head: tuple[int, str] | None = None  # (size, sha256 of the last entry)
        self._size: int | None = None  # with a mirror: the store's size, until invalidated
        self._remote: dict[int, bytes] = {}  # entries read from the store, not in the folder

    # -- paths -------------------------------------------------------------------------------
    def entry_path(self, seq: int) -> Path:
        return self.entries_dir / f"{seq // _GROUP:09d}" / f"{seq:012d}.json"

    @staticmethod
    def entry_name(seq: int) -> str:
        """The archive-relative name of entry ``seq`` (its object key without ``.age``)."""
        return f"log/entries/{seq // _GROUP:09d}/{seq:012d}.json"

    def checkpoint_path(self, tree_size: int) -> Path:
        return self.checkpoints_dir / f"{tree_size:012d}.json"

    @staticmethod
    def checkpoint_name(tree_size: int) -> str:
        return f"log/checkpoints/{tree_size:012d}.json"

    # -- reading -----------------------------------------------------------------------------
    def invalidate(self) -> None:
        """Forget the cached head (another process may have appended)."""
        self._head = None
        self._size = None

    def local_size(self) -> int:
        """Number of entries in the archive folder (contiguous from 0)."""
        local = self._local_checkpoint_sizes()
        n = local[-1] if local else 0
        while n > 0 and not self.entry_path(n - 1).exists():
            n -= 1
        while self.entry_path(n).exists():
            n += 1
        return n

    def size(self) -> int:
        """Number of entries (contiguous from 0): in the folder, or with a mirror in the store."""
        if self._head is not None:
            return self._head[0]
        if self.mirror is None:
            return self.local_size()
        if self._size is None:
            n = self.local_size()  # the folder keeps only entries the store has
            while self.mirror.exists(self.entry_name(n)):
                n += 1
            self._size = n
        return self._size

    def read_bytes(self, seq: int, *, fresh: bool = False) -> bytes:
        """The exact stored bytes of entry ``seq``.

        Args:
            fresh: With a mirror, read the store's object (checked), never the folder's copy.

        Raises:
            IntegrityError: The entry is missing (or its object is damaged).
        """
        if not fresh or self.mirror is None:
            try:
                return self.entry_path(seq).read_bytes()
            except FileNotFoundError as e:
                if self.mirror is None:
                    raise IntegrityError(f"log entry {seq} is missing") from e
            if seq in self._remote:
                return self._remote[seq]
        assert self.mirror is not None
        try:
            data = self.mirror.get(self.entry_name(seq))
        except NotFoundError as e:
            raise IntegrityError(f"log entry {seq} is missing (object {self.mirror.key(self.entry_name(seq))})") from e
        if len(self._remote) >= _REMOTE_CACHE:
            self._remote.clear()
        self._remote[seq] = data
        return data

    def keep(self, seq: int, data: bytes) -> None:
        """Keep entry ``seq`` (read from the store) in the folder too (lock held)."""
        path = self.entry_path(seq)
        path.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileExistsError), atomic_write(path, "wb", file_mode=0o444, overwrite=False) as f:
            f.write(data)
        self._remote.pop(seq, None)

    def read(self, seq: int) -> LogEntry:
        """Entry ``seq`` parsed (not verified beyond canonical form).

        Raises:
            IntegrityError: Missing or malformed.
        """
        return LogEntry.from_json(parse_canonical(self.read_bytes(seq), what=f"log entry {seq}"))

    def iter_bytes(self, start: int = 0, stop: int | None = None) -> Iterator[tuple[int, bytes]]:
        """``(seq, bytes)`` for entries ``start`` .. ``stop`` (default: all)."""
        end = self.size() if stop is None else stop
        for seq in range(start, end):
            yield seq, self.read_bytes(seq)

    def leaves(self, tree_size: int) -> list[bytes]:
        """Leaf hashes of the first ``tree_size`` entries."""
        return [leaf_hash(b) for _, b in self.iter_bytes(0, tree_size)]

    # -- appending ---------------------------------------------------------------------------
    def _load_head(self) -> tuple[int, str]:
        if self._head is None:
            n = self.size()
            self._head = (n, sha256_hex(self.read_bytes(n - 1)) if n else ZERO_HASH)
        return self._head

    def append(
        self, action: str, actor: str, objects: Sequence[str], details: Mapping[str, Any] | None = None
    ) -> tuple[LogEntry, bytes]:
        """Append one entry; the caller holds the archive lock.

        Raises:
            ArchiveError: The entry cannot be written, or another writer raced us.
            ValueError: ``details`` is not JSON-serializable in canonical form.
        """
        n, prev = self._load_head()
        entry = LogEntry(
            seq=n, time=utc_now(), action=action, actor=actor, objects=tuple(objects),
            details=dict(details or {}), prev=prev,
        )
        data = canonical_bytes(entry.to_json())
        if self.mirror is not None and not self.mirror.put(self.entry_name(n), data):
            # The create-once object is the commit point: someone else committed entry n.
            self.invalidate()
            raise ArchiveError(f"log entry {n} already exists in the store: another writer without the lock?")
        path = self.entry_path(n)
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            with atomic_write(path, "wb", file_mode=0o444, overwrite=False) as f:
                f.write(data)
        except FileExistsError as e:
            self.invalidate()
            raise ArchiveError(f"log entry {n} already exists: another writer without the lock?") from e
        self._head = (n + 1, sha256_hex(data))
        if self.mirror is not None:
            self._size = n + 1
        return entry, data

    # -- checkpoints -------------------------------------------------------------------------
    def checkpoint_sizes(self) -> list[int]:
        """Tree sizes of all stored checkpoints (with a mirror: in the store), ascending."""
        if self.mirror is not None:
            out = []
            for name in self.mirror.names("log/checkpoints/"):
                base = name.rsplit("/", 1)[-1]
                if base.endswith(".json") and base[:-5].isdigit():
                    out.append(int(base[:-5]))
            return sorted(out)
        return self._local_checkpoint_sizes()

    def _local_checkpoint_sizes(self) -> list[int]:
        if not self.checkpoints_dir.is_dir():
            return []
        out = []
        for p in self.checkpoints_dir.glob("*.json"):
            if p.stem.isdigit():
                out.append(int(p.stem))
        return sorted(out)

    def latest_checkpoint_size(self) -> int | None:
        sizes = self.checkpoint_sizes()
        return sizes[-1] if sizes else None

    def read_checkpoint(self, tree_size: int, *, fresh: bool = False) -> tuple[bytes, bytes]:
        """The stored checkpoint bytes and signature for ``tree_size``.

        Args:
            fresh: With a mirror, read the store's objects (checked), never the folder's copy.

        Raises:
            IntegrityError: Missing checkpoint or signature (or a damaged object).
        """
        p = self.checkpoint_path(tree_size)
        sig_p = p.with_name(p.name + ".sig")
        if not fresh or self.mirror is None:
            try:
                return p.read_bytes(), sig_p.read_bytes()
            except FileNotFoundError as e:
                if self.mirror is None:
                    raise IntegrityError(f"checkpoint {tree_size} or its signature is missing") from e
        assert self.mirror is not None
        try:
            if fresh:
                return (self.mirror.get(self.checkpoint_name(tree_size)),
                        self.mirror.get(self.checkpoint_name(tree_size) + ".sig"))
            # Signature first, as when written: a kept checkpoint always has its signature.
            sig = self.mirror.pull(sig_p)
            return self.mirror.pull(p), sig
        except NotFoundError as e:
            raise IntegrityError(f"checkpoint {tree_size} or its signature is missing") from e

    def write_checkpoint(self, key: Ed25519PrivateKey, archive_id: str, key_id: str) -> Checkpoint:
        """Sign and store a checkpoint for the current log size (the caller holds the lock).

        Extends the latest checkpoint's frontier with the entries after it, so only new
        entries are read. Returns the existing checkpoint when the log has not grown.

        Raises:
            ArchiveError: The checkpoint cannot be written.
        """
        size = self.size()
        latest = self.latest_checkpoint_size()
        frontier: list[bytes] = []
        start = 0
        if latest is not None and latest <= size:
            cp_bytes, _ = self.read_checkpoint(latest)
            cp = Checkpoint.from_json(parse_canonical(cp_bytes, what="checkpoint"))
            if latest == size:
                return cp
            frontier = [bytes.fromhex(h) for h in cp.frontier]
            start = latest
            if root_from_frontier(frontier).hex() != cp.root_hash:
                frontier, start = [], 0
        frontier = frontier_extend(frontier, start, [leaf_hash(b) for _, b in self.iter_bytes(start, size)])
        cp = Checkpoint(
            tree_size=size, root_hash=root_from_frontier(frontier).hex(), time=utc_now(),
            archive_id=archive_id, key_id=key_id, frontier=tuple(h.hex() for h in frontier),
        )
        data = canonical_bytes(cp.to_json())
        self.checkpoints_dir.mkdir(parents=True, exist_ok=True)
        path = self.checkpoint_path(size)
        sig = key.sign(data)
        if self.mirror is not None:
            # Signature first; one left alone by a killed writer is replaced (lock held).
            self.mirror.put(self.checkpoint_name(size) + ".sig", sig, replace=True)
            self.mirror.put(self.checkpoint_name(size), data, replace=True)
        # Signature first: a checkpoint file without its signature would be a false alarm.
        atomic_write_bytes(path.with_name(path.name + ".sig"), sig, file_mode=0o444)
        atomic_write_bytes(path, data, file_mode=0o444)
        return cp

    def inclusion_proof(self, seq: int, tree_size: int | None = None) -> InclusionProof:
        """Inclusion proof of entry ``seq`` against the latest (or the given) checkpoint.

        Raises:
            IntegrityError: No checkpoint covers ``seq`` yet, or stored files are missing.
        """
        size = tree_size if tree_size is not None else self.latest_checkpoint_size()
        if size is None or not 0 <= seq < size:
            raise IntegrityError(f"no checkpoint covers log entry {seq} yet")
        cp_bytes, sig = self.read_checkpoint(size)
        path = inclusion_path(seq, self.leaves(size))
        return InclusionProof(
            leaf_index=seq, tree_size=size,
            entry_b64=base64.b64encode(self.read_bytes(seq)).decode("ascii"),
            audit_path=tuple(h.hex() for h in path),
            checkpoint_b64=base64.b64encode(cp_bytes).decode("ascii"),
            checkpoint_sig_b64=base64.b64encode(sig).decode("ascii"),
        )
