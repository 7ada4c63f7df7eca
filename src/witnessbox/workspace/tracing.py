"""Tracing use case: fingerprints of sealed items, matches of a file or item, groups of copies.

Storage (docs/trace.md): three catalog tables, ``trace_items`` (one row per fingerprinted item,
with the reason when it cannot be matched), ``trace_hashes`` (PDQ hashes with their seconds)
and ``trace_features`` (ORB keypoints of some frames). SQLite is the truth for fingerprints;
the search index is built from it in memory on first use and kept in step by
:meth:`Tracing.on_sealed`. Everything here derives from the sealed originals:
``witnessbox reindex`` deletes the catalog and :meth:`Tracing.reindex` recomputes it.

Matches describe content, never people.
"""

from __future__ import annotations

import contextlib
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import sqlalchemy as sa

from ..errors import InputError
from ..executor import Executor, executor_from_env
from ..ledger.canonical import utc_now
from ..ledger.index import ddl, register_migration
from ..trace import FINGERPRINT_VERSION, FingerprintIndex, Fingerprints, FrameHash, copy_groups, fingerprint_file
from ..trace.features import FrameFeatures
from ..trace.records import Match, MediaKind, TimeRange
from ._reports import Progress

if TYPE_CHECKING:
    from ..ledger.records import ItemRecord
    from .core import Workspace


def _trace_v1(conn: sa.Connection) -> None:
    ddl(conn,
        "CREATE TABLE trace_items ("
        " sha256 TEXT PRIMARY KEY, kind TEXT NOT NULL, version INTEGER NOT NULL, reason TEXT,"
        " width INTEGER NOT NULL, height INTEGER NOT NULL, duration REAL NOT NULL,"
        " computed_at TEXT NOT NULL)"
    )
    ddl(conn,
        "CREATE TABLE trace_hashes ("
        " sha256 TEXT NOT NULL, n INTEGER NOT NULL, pdq BLOB NOT NULL, quality INTEGER NOT NULL,"
        " start_s REAL NOT NULL, end_s REAL NOT NULL, region INTEGER NOT NULL, flipped INTEGER NOT NULL,"
        " PRIMARY KEY (sha256, n))"
    )
    ddl(conn,
        "CREATE TABLE trace_features ("
        " sha256 TEXT NOT NULL, n INTEGER NOT NULL, time_s REAL NOT NULL, flipped INTEGER NOT NULL,"
        " width REAL NOT NULL, height REAL NOT NULL, points BLOB NOT NULL, descriptors BLOB NOT NULL,"
        " PRIMARY KEY (sha256, n))"
    )


register_migration("trace", 1, _trace_v1)

_DERIVATIVE_REASON = "a derived copy made by witnessbox (e.g. redacted): known, not traced"


def _no_state() -> None:
    return None


def _fingerprint_task(_state: None, path: str) -> Fingerprints:
    """One item's fingerprints (runs on a worker; reads only the given file)."""
    return fingerprint_file(Path(path), flips=True)


@dataclass(frozen=True)
class TraceMatch:
    """An archive item that contains the query's content.

    Attributes:
        sha256: The item.
        name: Its file name when sealed.
        received_at: When the archive received it (UTC, ISO 8601).
        match: Score, distance, method, mirroring and matched time ranges.
    """

    sha256: str
    name: str
    received_at: str
    match: Match

    def to_json(self) -> dict[str, object]:
        """Plain JSON for ``--json`` output."""
        m = self.match
        return {
            "sha256": self.sha256,  # the item id key of every --json output
            "id": self.sha256,  # older name, kept for scripts
            "name": self.name,
            "received_at": self.received_at,
            "score": m.score,
            "distance": m.distance,
            "method": m.method,
            "flipped": m.flipped,
            "query_range": _range_json(m.query_range),
            "item_range": _range_json(m.item_range),
            "matched_samples": m.matched_samples,
        }


@dataclass(frozen=True)
class MatchReport:
    """What ``match`` found.

    Attributes:
        query: The file path or item id that was looked up.
        kind: ``photo``, ``video`` or ``none``.
        reason: Why the query cannot be matched (then ``matches`` is empty), else None.
        matches: Items with the same content, best first.
    """

    query: str
    kind: MediaKind
    reason: str | None
    matches: tuple[TraceMatch, ...]

    def to_json(self) -> dict[str, object]:
        """Plain JSON for ``--json`` output."""
        return {
            "query": self.query,
            "kind": self.kind,
            "reason": self.reason,
            "matches": [m.to_json() for m in self.matches],
        }


@dataclass(frozen=True)
class CopyMember:
    """One item of a group of copies."""

    sha256: str
    name: str
    received_at: str
    earliest: bool


@dataclass(frozen=True)
class CopyGroup:
    """Items that are copies of each other, earliest receipt first (and marked)."""

    members: tuple[CopyMember, ...]

    def to_json(self) -> dict[str, object]:
        """Plain JSON for ``--json`` output."""
        return {
            "earliest": self.members[0].sha256,
            "items": [
                {"sha256": m.sha256, "id": m.sha256, "name": m.name, "received_at": m.received_at, "earliest": m.earliest}
                for m in self.members
            ],
        }


def _range_json(r: TimeRange | None) -> list[float] | None:
    return None if r is None else [round(r.start, 2), round(r.end, 2)]


class Tracing:
    """Copy and re-upload tracing over one archive (``ws.tracing``)."""

    def __init__(self, ws: Workspace) -> None:
        self._ws = ws
        self._index: FingerprintIndex | None = None

    # -- writing -------------------------------------------------------------------------------
    def on_sealed(self, record: ItemRecord, plaintext_path: Path, computed: Fingerprints | None = None) -> Fingerprints:
        """Fingerprint a newly sealed item and store the result; bad media gets a reason.

        Called by the core after each item is sealed (``computed``: already fingerprinted by a
        worker). Derived copies (redactions) are recorded as not traced.
        """
        if record.parent:
            fps = Fingerprints("none", (), reason=_DERIVATIVE_REASON)
        elif computed is not None:
            fps = computed
        else:
            fps = fingerprint_file(plaintext_path, flips=True)
        self._store(record.sha256, fps)
        if self._index is not None and record.sha256 not in self._index:
            self._index.add(record.sha256, fps)
        return fps

    def _store(self, sha256: str, fps: Fingerprints) -> None:
        with self._ws.engine.begin() as c:
            for table in ("trace_hashes", "trace_features", "trace_items"):
                c.execute(sa.text(f"DELETE FROM {table} WHERE sha256=:s"), {"s": sha256})  # noqa: S608
            c.execute(
                sa.text("INSERT INTO trace_items (sha256, kind, version, reason, width, height, duration, computed_at)"
                        " VALUES (:s, :kind, :version, :reason, :width, :height, :duration, :at)"),
                {"s": sha256, "kind": fps.kind, "version": fps.version, "reason": fps.reason, "width": fps.width,
                 "height": fps.height, "duration": float(fps.duration), "at": utc_now()},
            )
            if fps.hashes:
                c.execute(
                    sa.text("INSERT INTO trace_hashes (sha256, n, pdq, quality, start_s, end_s, region, flipped)"
                            " VALUES (:s, :n, :pdq, :quality, :start, :end, :region, :flipped)"),
                    [
                        {"s": sha256, "n": n, "pdq": h.pdq, "quality": h.quality, "start": float(h.start),
                         "end": float(h.end), "region": h.region, "flipped": int(h.flipped)}
                        for n, h in enumerate(fps.hashes)
                    ],
                )
            if fps.features:
                c.execute(
                    sa.text("INSERT INTO trace_features (sha256, n, time_s, flipped, width, height, points, descriptors)"
                            " VALUES (:s, :n, :time, :flipped, :width, :height, :points, :descriptors)"),
                    [
                        {"s": sha256, "n": n, "time": float(f.time), "flipped": int(f.flipped), "width": float(f.width),
                         "height": float(f.height), "points": f.points, "descriptors": f.descriptors}
                        for n, f in enumerate(fps.features)
                    ],
                )

    def reindex(self, progress: Progress | None = None) -> int:
        """Recompute fingerprints of items that have none or an older version; return the count.

        The core's ``ws.reindex()`` calls this after rebuilding the catalog (then every item is
        recomputed from its sealed original).
        """
        with self._ws.engine.connect() as c:
            current = {
                r[0]
                for r in c.execute(sa.text("SELECT sha256 FROM trace_items WHERE version=:v"), {"v": FINGERPRINT_VERSION})
            }
        todo = [r for r in self._ws.items() if r.sha256 not in current]
        executor = executor_from_env()
        if executor.name != "local":
            self._reindex_on(executor, todo, progress)
            self._index = None
            return len(todo)
        for i, record in enumerate(todo):
            if record.parent:
                self._store(record.sha256, Fingerprints("none", (), reason=_DERIVATIVE_REASON))
            else:
                with self._ws.plaintext_path(record.sha256) as path:
                    self._store(record.sha256, fingerprint_file(path, flips=True))
            if progress is not None:
                progress(1, len(todo), f"fingerprints {record.sha256[:12]}")
        self._index = None
        return len(todo)

    def _reindex_on(self, executor: Executor, todo: list[ItemRecord], progress: Progress | None) -> None:
        """Fingerprint on a cluster, one item per task, a few tasks per worker at a time.

        The driver decrypts each original to a private temporary file that the workers read
        (they must see the archive's ``tmp/`` at the same path: one machine or a shared
        filesystem), and alone writes the results, in the same order as the local loop.
        """
        originals = [r for r in todo if not r.parent]
        for r in todo:
            if r.parent:
                self._store(r.sha256, Fingerprints("none", (), reason=_DERIVATIVE_REASON))
        step = max(1, 2 * getattr(executor, "workers", 1))
        done = len(todo) - len(originals)
        for start in range(0, len(originals), step):
            batch = originals[start:start + step]
            with contextlib.ExitStack() as stack:
                paths = [str(stack.enter_context(self._ws.plaintext_path(r.sha256))) for r in batch]
                results = executor.map(_fingerprint_task, paths, setup=_no_state)
            for record, fps in zip(batch, results, strict=True):
                self._store(record.sha256, fps)
                done += 1
                if progress is not None:
                    progress(1, len(todo), f"fingerprints {record.sha256[:12]}")

    # -- reading -------------------------------------------------------------------------------
    def fingerprints(self, sha256: str) -> Fingerprints | None:
        """The stored fingerprints of an item (None when it has none yet: run reindex)."""
        with self._ws.engine.connect() as c:
            return self._load(c, sha256)

    @staticmethod
    def _load(c: sa.Connection, sha256: str) -> Fingerprints | None:
        row = c.execute(
            sa.text("SELECT kind, version, reason, width, height, duration FROM trace_items WHERE sha256=:s"), {"s": sha256}
        ).first()
        if row is None:
            return None
        hashes = tuple(
            FrameHash(bytes(r[0]), r[1], r[2], r[3], r[4], bool(r[5]))
            for r in c.execute(
                sa.text("SELECT pdq, quality, start_s, end_s, region, flipped FROM trace_hashes WHERE sha256=:s ORDER BY n"),
                {"s": sha256},
            )
        )
        feats = tuple(
            FrameFeatures(r[0], bool(r[1]), bytes(r[4]), bytes(r[5]), r[2], r[3])
            for r in c.execute(
                sa.text("SELECT time_s, flipped, width, height, points, descriptors FROM trace_features"
                        " WHERE sha256=:s ORDER BY n"),
                {"s": sha256},
            )
        )
        return Fingerprints(row[0], hashes, row[2], row[3], row[4], row[5], row[1], feats)

    def _all(self) -> Iterator[tuple[str, Fingerprints]]:
        # Three scans rather than three queries per item: the index of a large archive loads
        # in seconds.
        hashes: dict[str, list[FrameHash]] = defaultdict(list)
        feats: dict[str, list[FrameFeatures]] = defaultdict(list)
        with self._ws.engine.connect() as c:
            items = c.execute(
                sa.text("SELECT sha256, kind, version, reason, width, height, duration FROM trace_items ORDER BY sha256")
            ).all()
            for r in c.execute(
                sa.text("SELECT sha256, pdq, quality, start_s, end_s, region, flipped FROM trace_hashes ORDER BY sha256, n")
            ):
                hashes[r[0]].append(FrameHash(bytes(r[1]), r[2], r[3], r[4], r[5], bool(r[6])))
            for r in c.execute(
                sa.text("SELECT sha256, time_s, flipped, width, height, points, descriptors FROM trace_features"
                        " ORDER BY sha256, n")
            ):
                feats[r[0]].append(FrameFeatures(r[1], bool(r[2]), bytes(r[5]), bytes(r[6]), r[3], r[4]))
        for key, kind, version, reason, width, height, duration in items:
            yield key, Fingerprints(
                kind, tuple(hashes[key]), reason, width, height, duration, version, tuple(feats[key])
            )

    def index(self) -> FingerprintIndex:
        """The in-memory search index, built from the catalog on first use."""
        if self._index is None:
            index = FingerprintIndex("auto")
            for key, fps in self._all():
                index.add(key, fps)
            self._index = index
        return self._index

    def match(self, target: str | Path) -> MatchReport:
        """Archive items containing the content of a file, or of an archived item.

        Args:
            target: A path to a file, or an item id (prefix).

        Raises:
            NotFoundError: ``target`` is neither an existing file nor an item id.
            InputError: The item has no fingerprints yet (run ``witnessbox reindex``).
        """
        path = Path(target)
        exclude: str | None = None
        if path.is_file():
            fps = fingerprint_file(path, flips=True)
            label = str(path)
        else:
            exclude = self._ws.resolve(str(target))
            stored = self.fingerprints(exclude)
            if stored is None:
                raise InputError(f"item {exclude[:12]} has no fingerprints yet: run `witnessbox reindex`")
            fps, label = stored, exclude
        if fps.reason is not None:
            return MatchReport(label, fps.kind, fps.reason, ())
        found = self.index().match(fps, exclude=exclude)
        return MatchReport(label, fps.kind, None, tuple(self._describe(found)))

    def _describe(self, found: list[Match]) -> Iterator[TraceMatch]:
        for m in found:
            rec = self._ws.item(m.key)
            yield TraceMatch(m.key, rec.name, rec.received_at, m)

    def copies(self, id_prefix: str | None = None) -> list[CopyGroup]:
        """Groups of items that are copies of each other, earliest receipt marked.

        Args:
            id_prefix: Only the group holding this item (an empty list when it has no copies).

        Raises:
            NotFoundError: ``id_prefix`` matches no item.
        """
        wanted = self._ws.resolve(id_prefix) if id_prefix else None
        index = self.index()
        groups = copy_groups(dict(self._all()), index)
        out = []
        for keys in groups:
            if wanted is not None and wanted not in keys:
                continue
            records = sorted((self._ws.item(k) for k in keys), key=lambda r: (r.received_at, r.sha256))
            out.append(
                CopyGroup(
                    tuple(
                        CopyMember(r.sha256, r.name, r.received_at, i == 0) for i, r in enumerate(records)
                    )
                )
            )
        return out
