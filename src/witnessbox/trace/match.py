"""Matching: which stored items contain the content of a query, with time ranges on both sides.

:class:`FingerprintIndex` keeps, for each indexed hash row, which item and which seconds it
stands for, and asks a :class:`~witnessbox.trace.index.HashIndex` for rows within
:data:`MATCH_DISTANCE`. Evidence is then weighed per item:

- photo against photo: the best pair within the distance;
- video against video: hits must agree on one time offset (within :data:`OFFSET_SLACK`), and
  at least :data:`MIN_VIDEO_SAMPLES` distinct query samples must hit (fewer when the query has
  fewer); this is what keeps one lookalike frame from matching a whole video;
- photo against video (either way): a frame grab matches the seconds it came from.

Local features (:mod:`~witnessbox.trace.features`) give a second, crop-proof path: query
descriptors are looked up in a second :class:`~witnessbox.trace.index.HashIndex` (ORB
descriptors are 256-bit too), frames that share enough of them are verified geometrically,
and each verified frame pair counts as a hit like a PDQ pair does.

Only usable hashes (quality >= 50, file without a reason) are indexed or queried.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from .features import DESCRIPTOR_DISTANCE, MIN_INLIERS, FrameFeatures, verify
from .index import HashIndex, IndexKind, make_index
from .records import FrameHash, Fingerprints, Match, MediaKind, TimeRange

#: Largest Hamming distance of a matching hash pair (PDQ's customary 31 is the anchor's).
MATCH_DISTANCE = 31
#: Distinct query samples a video must match, when the query has that many.
MIN_VIDEO_SAMPLES = 2
#: The distance a local-features hit carries (no PDQ pair was involved).
FEATURES_DISTANCE = 256
#: Seconds of disagreement allowed between hits of one video match (sampling jitter, dedup runs).
OFFSET_SLACK = 0.5


@dataclass(frozen=True)
class _Hit:
    q_start: float
    q_end: float
    item_start: float
    item_end: float
    distance: int  # PDQ distance; 256 for a local-features hit
    similarity: float


def _as_array(hashes: Iterable[FrameHash]) -> npt.NDArray[np.uint8]:
    rows = [np.frombuffer(h.pdq, np.uint8) for h in hashes]
    return np.stack(rows) if rows else np.empty((0, 32), np.uint8)


class FingerprintIndex:
    """Items' fingerprints in memory, searchable; the archive rebuilds it from SQLite.

    Args:
        kind: Which :class:`HashIndex` to use (``auto``: faiss when installed).
        index: An index to use for PDQ hashes instead (e.g. a sharded one); must be empty.
        feature_index: The same for local-feature descriptors.
    """

    def __init__(
        self,
        kind: IndexKind = "auto",
        *,
        index: HashIndex | None = None,
        feature_index: HashIndex | None = None,
    ) -> None:
        self._index: HashIndex = index if index is not None else make_index(kind)
        self._findex: HashIndex = feature_index if feature_index is not None else make_index(kind)
        # Per indexed frame of local features: item number, second, frame size.
        self._frame_item: list[int] = []
        self._frame_time: list[float] = []
        self._frame_size: list[tuple[float, float]] = []
        self._frow_frame: list[npt.NDArray[np.int32]] = []
        self._frow_pts: list[npt.NDArray[np.float32]] = []
        self._fmeta: tuple[npt.NDArray[np.int32], npt.NDArray[np.float32]] | None = None
        self._keys: list[str] = []
        self._kinds: list[MediaKind] = []
        self._key_no: dict[str, int] = {}
        self._row_item: list[npt.NDArray[np.int32]] = []
        self._row_start: list[npt.NDArray[np.float32]] = []
        self._row_end: list[npt.NDArray[np.float32]] = []
        self._meta: tuple[npt.NDArray[np.int32], npt.NDArray[np.float32], npt.NDArray[np.float32]] | None = None

    def __len__(self) -> int:
        return len(self._keys)

    def __contains__(self, key: object) -> bool:
        return key in self._key_no

    @property
    def rows(self) -> int:
        """Number of indexed hashes."""
        return len(self._index)

    def add(self, key: str, fingerprints: Fingerprints) -> int:
        """Index an item's usable, unmirrored hashes; return how many were indexed.

        Raises:
            ValueError: ``key`` is already indexed.
        """
        if key in self._key_no:
            raise ValueError(f"{key} is already indexed")
        hashes = fingerprints.matchable(flipped=False)
        no = len(self._keys)
        self._keys.append(key)
        self._kinds.append(fingerprints.kind)
        self._key_no[key] = no
        for ff in fingerprints.matchable_features(flipped=False):
            if len(ff) == 0:
                continue
            self._findex.add(ff.descriptor_array())
            self._frow_frame.append(np.full(len(ff), len(self._frame_item), np.int32))
            self._frow_pts.append(ff.point_array())
            self._frame_item.append(no)
            self._frame_time.append(ff.time)
            self._frame_size.append((ff.width, ff.height))
            self._fmeta = None
        if not hashes:
            return 0
        self._index.add(_as_array(hashes))
        self._row_item.append(np.full(len(hashes), no, np.int32))
        self._row_start.append(np.array([h.start for h in hashes], np.float32))
        self._row_end.append(np.array([h.end for h in hashes], np.float32))
        self._meta = None
        return len(hashes)

    def _metadata(self) -> tuple[npt.NDArray[np.int32], npt.NDArray[np.float32], npt.NDArray[np.float32]]:
        if self._meta is None:
            if self._row_item:
                self._meta = (
                    np.concatenate(self._row_item),
                    np.concatenate(self._row_start),
                    np.concatenate(self._row_end),
                )
            else:
                self._meta = (np.empty(0, np.int32), np.empty(0, np.float32), np.empty(0, np.float32))
        return self._meta

    def match(
        self, query: Fingerprints, *, exclude: str | None = None, max_distance: int = MATCH_DISTANCE
    ) -> list[Match]:
        """Items containing the query's content, best first.

        Args:
            query: Fingerprints of the query, mirrored hashes included (``flips=True``).
            exclude: A key to leave out (the query's own item).
            max_distance: Largest Hamming distance of a matching pair.
        """
        hashes = query.matchable()
        # (item, flipped) -> hits; a copy is mirrored or it is not, so both are weighed apart.
        hits: dict[tuple[int, bool], list[_Hit]] = defaultdict(list)
        if hashes and self.rows:
            item_of, start_of, end_of = self._metadata()
            found = self._index.search(_as_array(hashes), max_distance)
            for qh, (rows, dists) in zip(hashes, found, strict=True):
                for row, d in zip(rows.tolist(), dists.tolist(), strict=True):
                    hits[(int(item_of[row]), qh.flipped)].append(
                        _Hit(qh.start, qh.end, float(start_of[row]), float(end_of[row]), int(d), 1.0 - d / 128)
                    )
        for qf in query.matchable_features():
            for no, hit in self._feature_hits(qf):
                hits[(no, qf.flipped)].append(hit)
        if not hits:
            return []
        samples = max(1, len({h.start for h in hashes} | {f.time for f in query.matchable_features()}))
        best: dict[int, Match] = {}
        for (no, flipped), item_hits in hits.items():
            key = self._keys[no]
            if key == exclude:
                continue
            m = self._weigh(key, query.kind, self._kinds[no], item_hits, samples, flipped)
            if m is not None and (no not in best or m.score > best[no].score):
                best[no] = m
        return sorted(best.values(), key=lambda m: (-m.score, m.distance, m.key))

    @staticmethod
    def _weigh(
        key: str, q_kind: MediaKind, i_kind: MediaKind, hits: list[_Hit], samples: int, flipped: bool
    ) -> Match | None:
        need = min(MIN_VIDEO_SAMPLES, samples) if q_kind == "video" and i_kind == "video" else 1
        # PDQ hits place a copy in time more tightly than local features (which also match a
        # zoomed view of the same scene seconds away): use them alone when they suffice.
        pdq_hits = [h for h in hits if h.distance < FEATURES_DISTANCE]
        kept: list[_Hit] = []
        for pool in (pdq_hits, hits):
            if not pool:
                continue
            kept = _consistent(pool) if q_kind == "video" and i_kind == "video" else pool
            if len({h.q_start for h in kept}) >= need:
                break
        matched = len({h.q_start for h in kept})
        if matched < need:
            return None
        distance = min(h.distance for h in kept)
        similarity = max(0.0, max(h.similarity for h in kept))
        method = "pdq" if distance < FEATURES_DISTANCE else "features"
        coverage = min(1.0, matched / samples) if q_kind == "video" else 1.0
        q_range = i_range = None
        if q_kind == "video":
            q_range = TimeRange(min(h.q_start for h in kept), max(h.q_end for h in kept))
        if i_kind == "video":
            i_range = TimeRange(min(h.item_start for h in kept), max(h.item_end for h in kept))
        return Match(key, round(similarity * coverage, 4), distance, method, flipped, q_range, i_range, matched)

    def _feature_meta(self) -> tuple[npt.NDArray[np.int32], npt.NDArray[np.float32]]:
        if self._fmeta is None:
            if self._frow_frame:
                self._fmeta = (np.concatenate(self._frow_frame), np.concatenate(self._frow_pts))
            else:
                self._fmeta = (np.empty(0, np.int32), np.empty((0, 2), np.float32))
        return self._fmeta

    def _feature_hits(self, qf: FrameFeatures) -> list[tuple[int, _Hit]]:
        """Stored frames that share enough descriptors with ``qf`` and pass verification."""
        if len(qf) < MIN_INLIERS or len(self._findex) == 0:
            return []
        frame_of, pts_of = self._feature_meta()
        found = self._findex.search(qf.descriptor_array(), DESCRIPTOR_DISTANCE)
        rows = np.concatenate([r for r, _ in found])
        if len(rows) == 0:
            return []
        dist = np.concatenate([d for _, d in found])
        q_idx = np.repeat(np.arange(len(found)), [len(r) for r, _ in found])
        frames = frame_of[rows]
        # Keep, per (stored frame, query descriptor), the closest stored descriptor.
        order = np.lexsort((dist, q_idx, frames))
        frames, q_idx, rows = frames[order], q_idx[order], rows[order]
        first = np.ones(len(frames), bool)
        first[1:] = (frames[1:] != frames[:-1]) | (q_idx[1:] != q_idx[:-1])
        frames, q_idx, rows = frames[first], q_idx[first], rows[first]
        uniq, starts, counts = np.unique(frames, return_index=True, return_counts=True)
        q_pts = qf.point_array()
        out: list[tuple[int, _Hit]] = []
        for fr, s0, n in zip(uniq.tolist(), starts.tolist(), counts.tolist(), strict=True):
            if n < MIN_INLIERS:
                continue
            sel = slice(s0, s0 + n)
            inliers = verify(q_pts[q_idx[sel]], pts_of[rows[sel]], self._frame_size[fr])
            if inliers:
                t = self._frame_time[fr]
                sim = min(1.0, inliers / 100.0)
                out.append((self._frame_item[fr], _Hit(qf.time, qf.time, t, t, FEATURES_DISTANCE, sim)))
        return out


def _consistent(hits: list[_Hit]) -> list[_Hit]:
    """The hits that agree on one time offset (item time minus query time), most samples first.

    Each hit allows an interval of offsets (both sides' hashes stand for time ranges); the offset
    covered by hits from the most distinct query samples wins.
    """
    lo = np.array([h.item_start - h.q_end for h in hits]) - OFFSET_SLACK
    hi = np.array([h.item_end - h.q_start for h in hits]) + OFFSET_SLACK
    q = np.array([h.q_start for h in hits])
    best: list[int] = []
    best_n = 0
    # Candidate offsets: every interval's start; the best offset is always one of them.
    for c in np.unique(lo)[:2000]:
        inside = np.flatnonzero((lo <= c) & (c <= hi))
        n = len(np.unique(q[inside]))
        if n > best_n:
            best_n, best = n, inside.tolist()
    return [hits[i] for i in best]


def copy_groups(
    fingerprints: Mapping[str, Fingerprints], index: FingerprintIndex, *, max_distance: int = MATCH_DISTANCE
) -> list[list[str]]:
    """Groups of items that are copies of each other (connected by matches), largest first.

    Args:
        fingerprints: Each item's fingerprints with mirrored hashes, by key.
        index: The index holding the same items.
    """
    parent = {k: k for k in fingerprints}

    def find(k: str) -> str:
        while parent[k] != k:
            parent[k] = parent[parent[k]]
            k = parent[k]
        return k

    for key, fps in fingerprints.items():
        for m in index.match(fps, exclude=key, max_distance=max_distance):
            if m.key in parent:
                a, b = find(key), find(m.key)
                if a != b:
                    parent[b] = a
    groups: dict[str, list[str]] = defaultdict(list)
    for k in fingerprints:
        groups[find(k)].append(k)
    return sorted((sorted(g) for g in groups.values() if len(g) > 1), key=lambda g: (-len(g), g[0]))
