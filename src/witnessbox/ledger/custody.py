"""The custody log: append-only, hash-chained entries under an RFC 6962 Merkle tree.

Layout (under ``log/``)::

    entries/<seq // 1000, 9 digits>/<seq, 12 digits>.json    one canonical JSON entry each
    checkpoints/<tree_size, 12 digits>.json (+ .json.sig)   signed tree heads

An entry file is written atomically and never replaced (``overwrite=False``); its existence
is the commit point of whatever it records. Callers hold the archive lock while appending.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from .._fsutil import atomic_write, atomic_write_bytes
from ..errors import ArchiveError, IntegrityError
from .canonical import canonical_bytes, parse_canonical, sha256_hex, utc_now
from .merkle import frontier_extend, inclusion_path, leaf_hash, root_from_frontier
from .records import Checkpoint, InclusionProof, LogEntry
from .verify import ZERO_HASH

_GROUP = 1000


class CustodyLog:
    """Reads and appends custody log entries and checkpoints under ``root/log``."""

    def __init__(self, root: Path) -> None:
        self.dir = root / "log"
        self.entries_dir = self.dir / "entries"
        self.checkpoints_dir = self.dir / "checkpoints"
        self._head: tuple[int, str] | None = None  # (size, sha256 of the last entry)

    # -- paths -------------------------------------------------------------------------------
    def entry_path(self, seq: int) -> Path:
        return self.entries_dir / f"{seq // _GROUP:09d}" / f"{seq:012d}.json"

    def checkpoint_path(self, tree_size: int) -> Path:
        return self.checkpoints_dir / f"{tree_size:012d}.json"

    # -- reading -----------------------------------------------------------------------------
    def invalidate(self) -> None:
        """Forget the cached head (another process may have appended)."""
        self._head = None

    def size(self) -> int:
        """Number of entries on disk (entries are contiguous from 0)."""
        if self._head is not None:
            return self._head[0]
        latest = self.latest_checkpoint_size()
        n = latest or 0
        while n > 0 and not self.entry_path(n - 1).exists():
            n -= 1
        while self.entry_path(n).exists():
            n += 1
        return n

    def read_bytes(self, seq: int) -> bytes:
        """The exact stored bytes of entry ``seq``.

        Raises:
            IntegrityError: The entry is missing.
        """
        try:
            return self.entry_path(seq).read_bytes()
        except FileNotFoundError as e:
            raise IntegrityError(f"log entry {seq} is missing") from e

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
        path = self.entry_path(n)
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            with atomic_write(path, "wb", file_mode=0o444, overwrite=False) as f:
                f.write(data)
        except FileExistsError as e:
            self._head = None
            raise ArchiveError(f"log entry {n} already exists: another writer without the lock?") from e
        self._head = (n + 1, sha256_hex(data))
        return entry, data

    # -- checkpoints -------------------------------------------------------------------------
    def checkpoint_sizes(self) -> list[int]:
        """Tree sizes of all stored checkpoints, ascending."""
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

    def read_checkpoint(self, tree_size: int) -> tuple[bytes, bytes]:
        """The stored checkpoint bytes and signature for ``tree_size``.

        Raises:
            IntegrityError: Missing checkpoint or signature.
        """
        p = self.checkpoint_path(tree_size)
        try:
            return p.read_bytes(), p.with_name(p.name + ".sig").read_bytes()
        except FileNotFoundError as e:
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
        # Signature first: a checkpoint file without its signature would be a false alarm.
        atomic_write_bytes(path.with_name(path.name + ".sig"), key.sign(data), file_mode=0o444)
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
