"""The review of a redacted copy as pure data: tracks, suggestions, edits, undo and redo.

A :class:`ReviewState` is immutable; every edit is an :class:`Op` (a small frozen record that
can be stored as JSON) applied to the state before it, so undo and redo are positions in the
list of operations, and a review can be stored and resumed as that list. The workspace
(``ws.review``) adds the archive: who reviews, logging, saving, approval.

A track is what the reviewer sees and decides on: on video, one face followed through frames;
on a photo, one region. Its shapes are *keys* (frame -> the shapes drawn there); between two
keys its primary shape is interpolated linearly, before the first and after the last key it is
held. A frame deliberately emptied (delete on one frame) is never interpolated over. Every
track and suggestion starts undecided; undecided tracks stay hidden (fail closed).

Rules that protect people: leaving a face that the detector hid unhidden (reject or delete a
detector track, delete it on one frame) needs a written reason; a region drawn by the reviewer
is accepted when drawn.
"""

from __future__ import annotations

import bisect
import dataclasses
import functools
import math
import operator
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, cast

import numpy as np

from ..errors import InputError, UsageError
from .regions import SHAPES, MediaInfo, Region, RegionsFile, Shape
from .suggestions import Suggestion, SuggestionsFile, TrackRef

Box = tuple[float, float, float, float]
Origin = Literal["detector", "manual", "suggestion"]
Decision = Literal["accepted", "rejected"]
SuggestionDecision = Literal["hidden", "dismissed"]
ORIGINS: tuple[str, ...] = ("detector", "manual", "suggestion")

# Timeline kinds as small integers (ReviewTrack.timeline works on one per frame).
_SIGHTING, _KEY, _LOW, _INTERPOLATED, _HELD, _EMPTY = range(6)
_KIND_NAMES = ("sighting", "key", "low", "interpolated", "held", "empty")
_DETECTOR, _MANUAL = 1, 3
_SOURCE_CODES = {"detector": _DETECTOR, "track": 2, "manual": _MANUAL}
_R_SOURCE = operator.attrgetter("source")
_R_SCORE = operator.attrgetter("score")
_R_FRAME = operator.attrgetter("frame")


@dataclass(frozen=True)
class ReviewTrack:
    """One track under review.

    Attributes:
        id: Stable id (``t3`` from the pipeline, ``m1`` drawn by the reviewer, ``t3b`` split off).
        origin: ``detector`` (hidden by the pipeline), ``manual`` (drawn), ``suggestion`` (a
            suggestion the reviewer hid).
        start: First frame covered.
        end: Last frame covered (inclusive).
        keys: Frame -> shapes drawn at that frame (the first is the one interpolated).
        removed: Frames inside ``start..end`` deliberately left empty.
        sightings: Frames where the detector saw the face.
        best_score: Best detector score (1 for drawn tracks).
        decision: ``accepted``, ``rejected`` or None (undecided).
        reason: Why a detector track is left unhidden (required to reject it).
        static: Covers the whole clip with one shape.
    """

    id: str
    origin: Origin
    start: int
    end: int
    keys: Mapping[int, tuple[Region, ...]]
    removed: frozenset[int] = frozenset()
    sightings: tuple[int, ...] = ()
    best_score: float = 1.0
    decision: Decision | None = None
    reason: str = ""
    static: bool = False

    def regions_at(self, frame: int) -> tuple[Region, ...]:
        """The shapes this track draws at ``frame`` (whatever its decision)."""
        if frame < self.start or frame > self.end or frame in self.removed:
            return ()
        if self.keys.get(frame):
            return self.keys[frame]
        before = [k for k, v in self.keys.items() if k < frame and v]
        after = [k for k, v in self.keys.items() if k > frame and v]
        if not before and not after:
            return ()
        source: Literal["track", "manual"] = "track" if self.origin == "detector" else "manual"
        score = 0.0 if source == "track" else 1.0
        if before and after:
            a, b = max(before), min(after)
            ra, rb = self.keys[a][0], self.keys[b][0]
            t = (frame - a) / (b - a)
            box = cast(Box, tuple(x + (y - x) * t for x, y in zip(ra.box, rb.box, strict=True)))
            return (Region(frame, ra.shape, box, score, source),)
        k = max(before) if before else min(after)
        r = self.keys[k][0]
        return (Region(frame, r.shape, r.box, score, source),)

    def frame_kind(self, frame: int) -> str:
        """What the track's timeline shows at ``frame``: ``outside``, ``empty`` (deliberately),
        ``sighting`` (the detector saw the face), ``key`` (a shape set there), ``interpolated``
        (between two keys) or ``held`` (before the first or after the last key)."""
        if frame < self.start or frame > self.end:
            return "outside"
        if frame in self.removed:
            return "empty"
        if frame in self.keys:
            return "sighting" if frame in self.sightings and self.keys[frame][0].source == "detector" else "key"
        if any(k < frame for k in self.keys) and any(k > frame for k in self.keys):
            return "interpolated"
        return "held"

    def timeline(self, low_score: float) -> list[tuple[str, int, int]]:
        """The track's timeline as run-length spans ``(kind, first, last)`` over
        ``start..end``: the kinds of :meth:`frame_kind`, with ``low`` for a detector shape
        scored under ``low_score`` (what the review screen draws without every key). Computed
        on arrays, one element per frame (a long track has tens of thousands of keys)."""
        lo, hi = self.start, self.end
        if hi < lo:
            return []
        ks, _ = self._sorted_keys
        full, src, score = self._key_arrays
        frames = np.arange(lo, hi + 1)
        keys = np.asarray(ks, np.int64)
        nk = len(ks)
        # Frames without a key: interpolated between two keys, else held.
        at = np.searchsorted(keys, frames)
        code = np.where((at > 0) & (at < nk), _INTERPOLATED, _HELD).astype(np.int8)
        inside = keys[(keys >= lo) & (keys <= hi)]
        code[inside - lo] = _KEY  # a key (one with no shape stays a plain key)
        sel = (full >= lo) & (full <= hi)
        f, det, sc = full[sel], src[sel] == _DETECTOR, score[sel]
        seen = np.isin(f, np.asarray(self.sightings, np.int64)) if self.sightings else np.zeros(len(f), bool)
        code[f - lo] = np.where(det, np.where(sc < low_score, _LOW, np.where(seen, _SIGHTING, _KEY)), _KEY)
        if self.removed:
            rem = np.fromiter((x for x in self.removed if lo <= x <= hi), np.int64)
            code[rem - lo] = _EMPTY
        cut = np.flatnonzero(code[1:] != code[:-1]) + 1
        firsts = np.concatenate(([0], cut))
        lasts = np.concatenate((cut, [len(code)])) - 1
        return [(_KIND_NAMES[c], lo + a, lo + b)
                for c, a, b in zip(code[firsts].tolist(), firsts.tolist(), lasts.tolist(), strict=True)]

    def marks(self) -> list[int]:
        """Frames with a shape set by a person (the timeline's key ticks)."""
        full, src, _ = self._key_arrays
        marks: list[int] = full[src == _MANUAL].tolist()
        return marks

    @functools.cached_property
    def _key_arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The frames with a shape (sorted), and the source code and score of the first shape
        of each (computed once: a track is immutable)."""
        _, full = self._sorted_keys
        keys = self.keys
        firsts = [keys[f][0] for f in full]
        src = np.fromiter(map(_SOURCE_CODES.__getitem__, map(_R_SOURCE, firsts)), np.int8, len(firsts))
        score = np.fromiter(map(_R_SCORE, firsts), np.float64, len(firsts))
        return np.asarray(full, np.int64), src, score

    def window(self, first: int, last: int) -> tuple[dict[int, tuple[Region, ...]], list[int]]:
        """The keys and emptied frames needed to draw frames ``first..last`` exactly
        (:meth:`regions_at`): the keys inside, plus the nearest non-empty key on each side
        (interpolation and held ends reach across the window's edges)."""
        ks, full = self._sorted_keys
        keys = {f: self.keys[f] for f in ks[bisect.bisect_left(ks, first):bisect.bisect_right(ks, last)]}
        i, j = bisect.bisect_left(full, first), bisect.bisect_right(full, last)
        if i > 0:
            keys[full[i - 1]] = self.keys[full[i - 1]]
        if j < len(full):
            keys[full[j]] = self.keys[full[j]]
        return dict(sorted(keys.items())), sorted(f for f in self.removed if first <= f <= last)

    @functools.cached_property
    def _sorted_keys(self) -> tuple[list[int], list[int]]:
        """The key frames, and those with a shape, sorted (computed once: a track is immutable)."""
        ks = sorted(self.keys)
        return ks, [f for f in ks if self.keys[f]]

    def regions(self) -> list[Region]:
        """Every shape of the track, frame by frame."""
        ks, full = self._sorted_keys
        if (len(full) == len(ks) and (not ks or (ks[0] >= self.start and ks[-1] <= self.end))
                and len(ks) + len(self.removed) == self.end - self.start + 1 and self.removed.isdisjoint(self.keys)):
            # Every frame is a key with a shape or emptied (a track as loaded from its file):
            # nothing to interpolate, the keys in frame order are its regions.
            return [r for f in ks for r in self.keys[f]]
        return [r for f in range(self.start, self.end + 1) for r in self.regions_at(f)]

    @property
    def hidden(self) -> bool:
        """Whether the saved copy hides it (undecided ones are hidden: fail closed)."""
        return self.decision != "rejected"


@dataclass(frozen=True)
class ReviewState:
    """Everything a review decides, at one point of its history."""

    media: MediaInfo
    source_sha256: str
    tracks: Mapping[str, ReviewTrack]
    suggestions: Mapping[str, Suggestion]
    suggestion_decisions: Mapping[str, SuggestionDecision] = field(default_factory=dict)
    suggestion_reasons: Mapping[str, str] = field(default_factory=dict)
    suggestion_tracks: Mapping[str, str] = field(default_factory=dict)

    def regions(self) -> list[Region]:
        """What the saved copy hides: every shape of every track not rejected (unordered)."""
        return [r for t in self.tracks.values() if t.hidden for r in t.regions()]

    def undecided_tracks(self) -> list[str]:
        return [t.id for t in self.tracks.values() if t.decision is None]

    def undecided_suggestions(self) -> list[str]:
        return [s for s in self.suggestions if s not in self.suggestion_decisions]

    def track(self, track_id: str) -> ReviewTrack:
        try:
            return self.tracks[track_id]
        except KeyError:
            raise InputError(f"no track {track_id!r} in this review") from None

    def with_track(self, t: ReviewTrack) -> ReviewState:
        return dataclasses.replace(self, tracks={**self.tracks, t.id: t})

    def without_track(self, track_id: str) -> ReviewState:
        return dataclasses.replace(self, tracks={k: v for k, v in self.tracks.items() if k != track_id})

    def new_id(self, prefix: str) -> str:
        i = 1
        while f"{prefix}{i}" in self.tracks:
            i += 1
        return f"{prefix}{i}"


# -- loading ------------------------------------------------------------------------------------


def state_from_files(
    regions: RegionsFile, suggestions: SuggestionsFile | None, record: Mapping[str, Any] | None = None,
    *, regions_file_sha256: str | None = None,
) -> ReviewState:
    """The review state of a redacted copy from its regions file, suggestions file and the
    review record saved with it (decisions of an earlier review; None for a first review).

    Regions that no track claims (a file from an older witnessbox, or edited by hand) become
    one track per frame-run of each region: nothing hidden is ever dropped by loading.

    Args:
        regions_file_sha256: The sha256 of the regions file's bytes, when the caller checked
            it (a sealed sidecar). Equal to the suggestions file's ``regions_sha256``, it
            proves that the suggestions were made for exactly this file (witnessbox digests
            the text it writes), without serializing every region again; any other value
            falls back to :func:`~witnessbox.redact.suggestions.regions_digest`.

    Raises:
        InputError: The suggestions file names another source or another regions file.
    """
    from .suggestions import regions_digest

    if suggestions is not None:
        if suggestions.source_sha256 != regions.source_sha256:
            raise InputError("the suggestions file belongs to another original; the review cannot open it")
        if suggestions.regions_sha256 != regions_file_sha256 and suggestions.regions_sha256 != regions_digest(regions):
            raise InputError("the suggestions file does not match the regions file beside it; redact the item again")
    rec = dict(record or {})
    tdec: Mapping[str, Any] = rec.get("tracks", {})
    tracks: dict[str, ReviewTrack] = {}
    claimed: set[int] = set()
    refs: Sequence[TrackRef] = suggestions.tracks if suggestions is not None else ()
    every = regions.regions
    count = len(every)
    for ref in refs:
        ix = ref.regions
        if len(ix) > 1 and 0 <= min(ix) and max(ix) < count:  # the usual case: taken in C
            regs: list[Region] = list(operator.itemgetter(*ix)(every))
        else:
            regs = [every[i] for i in ix if 0 <= i < count]
        claimed.update(ix)
        if regs:
            tracks[ref.id] = _track_from_regions(ref.id, regs, tdec.get(ref.id, {}), ref.sightings, ref.best_score)
    loose = [] if claimed.issuperset(range(count)) else [r for i, r in enumerate(every) if i not in claimed]
    n = 0
    for r in loose:
        n += 1
        tid = f"r{n}"
        tracks[tid] = _track_from_regions(tid, [r], tdec.get(tid, {}), (r.frame,) if r.source == "detector" else (),
                                          r.score)
    # Rejected tracks are not in the regions file; the record keeps them so they stay visible.
    for tid, d in tdec.items():
        if tid not in tracks and d.get("decision") == "rejected" and d.get("regions"):
            regs = [parse_region(g, regions.media.frames) for g in d["regions"]]
            tracks[tid] = _track_from_regions(tid, regs, d, tuple(d.get("sightings", ())), float(d.get("best_score", 0)))
    sugg = {s.id: s for s in (suggestions.suggestions if suggestions is not None else ())}
    sdec: Mapping[str, Any] = rec.get("suggestions", {})
    return ReviewState(
        media=regions.media,
        source_sha256=regions.source_sha256,
        tracks=tracks,
        suggestions=sugg,
        suggestion_decisions={k: v["decision"] for k, v in sdec.items() if k in sugg and v.get("decision") in ("hidden", "dismissed")},
        suggestion_reasons={k: str(v.get("reason", "")) for k, v in sdec.items() if k in sugg and v.get("reason")},
        suggestion_tracks={k: str(v["track"]) for k, v in sdec.items() if k in sugg and v.get("track")},
    )


def hides_the_file(regions: RegionsFile, suggestions: SuggestionsFile | None, state: ReviewState) -> bool:
    """Whether ``state``, as :func:`state_from_files` loaded it from these files, hides exactly
    the regions file's regions, proved from the suggestions' track index lists alone (no pass
    over every region): distinct track ids whose lists claim every region of the file exactly
    once, and each of those tracks hidden. Then every region is in exactly one hidden track
    (its keys are its regions), no region is left to a track of its own, and the tracks the
    record adds are rejected ones. False: not proved this way (compare the regions)."""
    if suggestions is None:
        return False
    refs = [r for r in suggestions.tracks if r.regions]
    count = len(regions.regions)
    if len({r.id for r in refs}) != len(refs) or sum(len(r.regions) for r in refs) != count:
        return False
    claimed: set[int] = set()
    for r in refs:
        claimed.update(r.regions)
    if len(claimed) != count or (count and (min(claimed) < 0 or max(claimed) >= count)):
        return False
    return all(r.id in state.tracks and state.tracks[r.id].hidden for r in refs)


def _track_from_regions(
    tid: str, regs: Sequence[Region], dec: Mapping[str, Any], sightings: Sequence[int], best: float
) -> ReviewTrack:
    keys: dict[int, tuple[Region, ...]] = {r.frame: (r,) for r in regs}
    if len(keys) < len(regs):  # several shapes on a frame: each frame's in file order
        keys = {}
        get = keys.get
        for r in regs:
            k = get(r.frame)
            keys[r.frame] = (r,) if k is None else (*k, r)
    start, end = min(keys), max(keys)
    origin = dec.get("origin") if dec.get("origin") in ORIGINS else (
        "detector" if set(map(_R_SOURCE, regs)) - {"manual"} else "manual")
    decision = dec.get("decision") if dec.get("decision") in ("accepted", "rejected") else None
    return ReviewTrack(
        id=tid, origin=cast(Origin, origin), start=start, end=end, keys=keys,
        removed=frozenset(range(start, end + 1)).difference(keys) if len(keys) < end - start + 1 else frozenset(),
        sightings=tuple(sightings), best_score=best, decision=cast("Decision | None", decision),
        reason=str(dec.get("reason", "")), static=bool(dec.get("static", False)),
    )


def parse_region(g: Mapping[str, Any], frames: int) -> Region:
    """A region from its JSON form (``frame``, ``shape``, ``box``, optional ``score``/``source``).

    Raises:
        InputError: Anything out of range.
    """
    try:
        f, shape, box = g["frame"], g.get("shape", "ellipse"), check_box(g["box"])
        score, source = float(g.get("score", 1.0)), g.get("source", "manual")
    except (KeyError, TypeError, ValueError) as e:
        raise InputError(f"bad region {g!r}") from e
    check_frame(f, frames)
    if shape not in SHAPES or source not in ("detector", "track", "manual"):
        raise InputError(f"bad region {g!r}")
    return Region(f, shape, box, score, source)


def record_of(state: ReviewState) -> dict[str, Any]:
    """The decisions of a state as the review record (``NAME.review.json``, docs/review.md)."""
    tracks: dict[str, Any] = {}
    for t in sorted(state.tracks.values(), key=lambda t: t.id):
        d: dict[str, Any] = {"origin": t.origin, "decision": t.decision}
        if t.reason:
            d["reason"] = t.reason
        if t.static:
            d["static"] = True
        if t.decision == "rejected":
            d["regions"] = [region_json(r) for r in t.regions()]
            d["sightings"] = list(t.sightings)
            d["best_score"] = round(t.best_score, 4)
        tracks[t.id] = d
    sugg: dict[str, Any] = {}
    for sid, dec in sorted(state.suggestion_decisions.items()):
        s: dict[str, Any] = {"decision": dec}
        if state.suggestion_reasons.get(sid):
            s["reason"] = state.suggestion_reasons[sid]
        if state.suggestion_tracks.get(sid):
            s["track"] = state.suggestion_tracks[sid]
        sugg[sid] = s
    return {"tracks": tracks, "suggestions": sugg}


def region_json(r: Region) -> dict[str, Any]:
    return {"frame": r.frame, "shape": r.shape, "box": [round(v, 2) for v in r.box], "score": round(r.score, 4),
            "source": r.source}


# -- operations ---------------------------------------------------------------------------------


def check_box(box: Iterable[float]) -> Box:
    """A box ``(x0, y0, x1, y1)`` of finite numbers with x1 > x0 and y1 > y0.

    Raises:
        InputError: Not such a box.
    """
    try:
        b = tuple(float(v) for v in box)
    except (TypeError, ValueError) as e:
        raise InputError("a box is four numbers [x0, y0, x1, y1]") from e
    if len(b) != 4 or not all(math.isfinite(v) for v in b) or b[2] <= b[0] or b[3] <= b[1]:
        raise InputError("a box is four finite numbers [x0, y0, x1, y1] with x1 > x0 and y1 > y0")
    return (b[0], b[1], b[2], b[3])


def check_frame(frame: object, frames: int) -> int:
    """Raises InputError unless ``frame`` is a frame index of the media."""
    if not isinstance(frame, int) or isinstance(frame, bool) or not 0 <= frame < frames:
        raise InputError(f"frame must be an integer in 0..{frames - 1}")
    return frame


def _shape(shape: str) -> Shape:
    if shape not in SHAPES:
        raise InputError(f"shape must be one of {', '.join(SHAPES)}")
    return cast(Shape, shape)


def _need_reason(t: ReviewTrack, reason: str, what: str) -> None:
    if t.origin == "detector" and not reason.strip():
        raise UsageError(f"{what} track {t.id} leaves a face the detector found unhidden: give a written reason")


@dataclass(frozen=True)
class Op:
    """One edit. ``apply`` returns the new state; ``to_json`` stores it (``op`` names the kind)."""

    def apply(self, s: ReviewState) -> ReviewState:  # pragma: no cover - abstract
        raise NotImplementedError

    def to_json(self) -> dict[str, Any]:
        d = {k: (list(v) if isinstance(v, tuple) else v) for k, v in dataclasses.asdict(self).items()}
        return {"op": _NAMES[type(self)], **d}


@dataclass(frozen=True)
class AddRegion(Op):
    """Draw a box or an ellipse at ``frame``: a new accepted track (on video, one key)."""

    track: str
    frame: int
    shape: str
    box: tuple[float, float, float, float]

    def apply(self, s: ReviewState) -> ReviewState:
        check_frame(self.frame, s.media.frames)
        if self.track in s.tracks:
            raise InputError(f"track {self.track} exists already")
        r = Region(self.frame, _shape(self.shape), check_box(self.box), 1.0, "manual")
        return s.with_track(ReviewTrack(self.track, "manual", self.frame, self.frame, {self.frame: (r,)},
                                        decision="accepted"))


@dataclass(frozen=True)
class SetKey(Op):
    """Move or resize a track's shape at ``frame`` (a new key; the span grows to include it)."""

    track: str
    frame: int
    box: tuple[float, float, float, float]
    shape: str | None = None

    def apply(self, s: ReviewState) -> ReviewState:
        t = s.track(self.track)
        check_frame(self.frame, s.media.frames)
        old = t.regions_at(self.frame) or t.regions_at(min(max(self.frame, t.start), t.end)) or next(iter(t.keys.values()))
        shape = _shape(self.shape) if self.shape else old[0].shape
        r = Region(self.frame, shape, check_box(self.box), 1.0, "manual")
        return s.with_track(dataclasses.replace(
            t, keys={**t.keys, self.frame: (r,)}, start=min(t.start, self.frame), end=max(t.end, self.frame),
            removed=t.removed - {self.frame}, static=False))


@dataclass(frozen=True)
class Extend(Op):
    """Extend a track forwards or backwards to ``frame`` (its nearest shape is held there)."""

    track: str
    frame: int

    def apply(self, s: ReviewState) -> ReviewState:
        t = s.track(self.track)
        check_frame(self.frame, s.media.frames)
        if t.start <= self.frame <= t.end:
            raise InputError(f"frame {self.frame} is already inside track {t.id} ({t.start}..{t.end})")
        # The held shape becomes a key at the old end, so what was drawn there does not change.
        edge = t.end if self.frame > t.end else t.start
        keys = {**t.keys}
        held = t.regions_at(edge)
        if edge not in keys and held:
            keys[edge] = held
        return s.with_track(dataclasses.replace(t, keys=keys, start=min(t.start, self.frame),
                                                end=max(t.end, self.frame)))


@dataclass(frozen=True)
class DeleteFrame(Op):
    """Remove a track's shapes on one frame (a detector track needs a reason)."""

    track: str
    frame: int
    reason: str = ""

    def apply(self, s: ReviewState) -> ReviewState:
        t = s.track(self.track)
        if not t.regions_at(self.frame):
            raise InputError(f"track {t.id} draws nothing at frame {self.frame}")
        _need_reason(t, self.reason, "deleting a frame of")
        keys = {k: v for k, v in t.keys.items() if k != self.frame}
        if not keys or all(k in t.removed | {self.frame} for k in range(t.start, t.end + 1)):
            return s.without_track(t.id) if t.origin != "detector" else s.with_track(
                dataclasses.replace(t, decision="rejected", reason=self.reason))
        # Keep what the neighbours draw: hold their shapes as keys so nothing else moves.
        for f in (self.frame - 1, self.frame + 1):
            held = t.regions_at(f)
            if t.start <= f <= t.end and f not in keys and f not in t.removed and held:
                keys[f] = held
        reason = "; ".join(x for x in (t.reason, self.reason) if x)
        return s.with_track(dataclasses.replace(t, keys=keys, removed=t.removed | {self.frame}, reason=reason))


@dataclass(frozen=True)
class DeleteTrack(Op):
    """Delete a whole track: a drawn one disappears, a detector one is rejected (reason needed)."""

    track: str
    reason: str = ""

    def apply(self, s: ReviewState) -> ReviewState:
        t = s.track(self.track)
        _need_reason(t, self.reason, "deleting")
        if t.origin == "detector":
            return s.with_track(dataclasses.replace(t, decision="rejected", reason=self.reason))
        out = s.without_track(t.id)
        # A hidden suggestion whose track is deleted is undecided again.
        back = [k for k, v in s.suggestion_tracks.items() if v == t.id]
        return dataclasses.replace(
            out,
            suggestion_decisions={k: v for k, v in s.suggestion_decisions.items() if k not in back},
            suggestion_tracks={k: v for k, v in s.suggestion_tracks.items() if k not in back},
        )


@dataclass(frozen=True)
class Decide(Op):
    """Accept or reject a track (rejecting a detector track needs a reason)."""

    track: str
    decision: str
    reason: str = ""

    def apply(self, s: ReviewState) -> ReviewState:
        t = s.track(self.track)
        if self.decision not in ("accepted", "rejected"):
            raise InputError("a decision is `accepted` or `rejected`")
        if self.decision == "rejected":
            _need_reason(t, self.reason, "rejecting")
        return s.with_track(dataclasses.replace(t, decision=cast(Decision, self.decision),
                                                reason=self.reason if self.decision == "rejected" else ""))


@dataclass(frozen=True)
class Split(Op):
    """Split a track before ``frame``: ``frame..end`` becomes ``new`` (same decision)."""

    track: str
    frame: int
    new: str

    def apply(self, s: ReviewState) -> ReviewState:
        t = s.track(self.track)
        if not t.start < self.frame <= t.end:
            raise InputError(f"split frame must be in {t.start + 1}..{t.end} for track {t.id}")
        if self.new in s.tracks:
            raise InputError(f"track {self.new} exists already")
        ka = {k: v for k, v in t.keys.items() if k < self.frame}
        kb = {k: v for k, v in t.keys.items() if k >= self.frame}
        if self.frame - 1 not in ka and self.frame - 1 not in t.removed:
            ka[self.frame - 1] = t.regions_at(self.frame - 1)
        if self.frame not in kb and self.frame not in t.removed:
            kb[self.frame] = t.regions_at(self.frame)
        a = dataclasses.replace(t, end=self.frame - 1, keys={k: v for k, v in ka.items() if v},
                                removed=frozenset(f for f in t.removed if f < self.frame),
                                sightings=tuple(f for f in t.sightings if f < self.frame))
        b = dataclasses.replace(t, id=self.new, start=self.frame, keys={k: v for k, v in kb.items() if v},
                                removed=frozenset(f for f in t.removed if f >= self.frame),
                                sightings=tuple(f for f in t.sightings if f >= self.frame))
        return s.with_track(a).with_track(b)


@dataclass(frozen=True)
class Merge(Op):
    """Merge track ``other`` into ``track``; frames between them are interpolated (a gap bridged)."""

    track: str
    other: str

    def apply(self, s: ReviewState) -> ReviewState:
        a, b = s.track(self.track), s.track(self.other)
        if a.id == b.id:
            raise InputError("a track cannot be merged with itself")
        keys: dict[int, tuple[Region, ...]] = {}
        for t in (a, b):
            for f in range(t.start, t.end + 1):
                regs = t.regions_at(f)
                if regs:
                    keys[f] = keys.get(f, ()) + regs
        removed = (a.removed | b.removed) - set(keys)
        origin: Origin = "detector" if "detector" in (a.origin, b.origin) else a.origin
        decision = a.decision if a.decision == b.decision else None
        merged = dataclasses.replace(
            a, origin=origin, start=min(a.start, b.start), end=max(a.end, b.end), keys=keys,
            removed=frozenset(f for f in removed if f not in keys), sightings=tuple(sorted({*a.sightings, *b.sightings})),
            best_score=max(a.best_score, b.best_score), decision=decision, static=False)
        out = s.without_track(b.id).with_track(merged)
        return dataclasses.replace(out, suggestion_tracks={k: (a.id if v == b.id else v) for k, v in s.suggestion_tracks.items()})


@dataclass(frozen=True)
class MakeStatic(Op):
    """Hide the track's shape at ``frame`` in every frame of the clip."""

    track: str
    frame: int

    def apply(self, s: ReviewState) -> ReviewState:
        t = s.track(self.track)
        regs = t.regions_at(self.frame)
        if not regs:
            raise InputError(f"track {t.id} draws nothing at frame {self.frame}")
        r = regs[0]
        key = (Region(0, r.shape, r.box, 1.0, "manual"),)
        return s.with_track(dataclasses.replace(t, start=0, end=s.media.frames - 1, keys={0: key}, removed=frozenset(),
                                                static=True))


@dataclass(frozen=True)
class HideSuggestion(Op):
    """Hide what a suggestion points at: its regions become a new accepted track."""

    suggestion: str
    track: str

    def apply(self, s: ReviewState) -> ReviewState:
        sg = s.suggestions.get(self.suggestion)
        if sg is None:
            raise InputError(f"no suggestion {self.suggestion!r} in this review")
        if self.suggestion in s.suggestion_decisions:
            raise InputError(f"suggestion {self.suggestion} is decided already (undo it first)")
        keys: dict[int, tuple[Region, ...]] = {}
        for r in sg.regions:
            keys[r.frame] = (*keys.get(r.frame, ()), Region(r.frame, r.shape, r.box, 1.0, "manual"))
        t = ReviewTrack(self.track, "suggestion", min(keys), max(keys), keys,
                        removed=frozenset(f for f in range(min(keys), max(keys) + 1) if f not in keys),
                        best_score=sg.score, decision="accepted")
        out = s.with_track(t)
        return dataclasses.replace(out, suggestion_decisions={**s.suggestion_decisions, sg.id: "hidden"},
                                   suggestion_tracks={**s.suggestion_tracks, sg.id: t.id})


@dataclass(frozen=True)
class DismissSuggestion(Op):
    """Leave what a suggestion points at as it is (the reason is optional and logged)."""

    suggestion: str
    reason: str = ""

    def apply(self, s: ReviewState) -> ReviewState:
        if self.suggestion not in s.suggestions:
            raise InputError(f"no suggestion {self.suggestion!r} in this review")
        if self.suggestion in s.suggestion_decisions:
            raise InputError(f"suggestion {self.suggestion} is decided already (undo it first)")
        reasons = {**s.suggestion_reasons, self.suggestion: self.reason} if self.reason else s.suggestion_reasons
        return dataclasses.replace(s, suggestion_decisions={**s.suggestion_decisions, self.suggestion: "dismissed"},
                                   suggestion_reasons=reasons)


_OPS: dict[str, type[Op]] = {
    "add_region": AddRegion, "set_key": SetKey, "extend": Extend, "delete_frame": DeleteFrame,
    "delete_track": DeleteTrack, "decide": Decide, "split": Split, "merge": Merge, "make_static": MakeStatic,
    "hide_suggestion": HideSuggestion, "dismiss_suggestion": DismissSuggestion,
}
_NAMES = {v: k for k, v in _OPS.items()}


def op_from_json(d: Mapping[str, Any]) -> Op:
    """An operation from its stored form.

    Raises:
        InputError: Unknown operation or bad fields.
    """
    cls = _OPS.get(str(d.get("op")))
    if cls is None:
        raise InputError(f"unknown review operation {d.get('op')!r}")
    names = {f.name for f in dataclasses.fields(cls)}
    try:
        args = {k: (tuple(v) if isinstance(v, list) else v) for k, v in d.items() if k in names}
        return cls(**args)
    except TypeError as e:
        raise InputError(f"bad review operation {dict(d)!r}") from e


@dataclass
class History:
    """The operation log of a review: ``ops[:cursor]`` are applied; undo and redo move the cursor."""

    base: ReviewState
    ops: list[Op] = field(default_factory=list)
    cursor: int = 0
    _cache: dict[int, ReviewState] = field(default_factory=dict, repr=False)

    @property
    def state(self) -> ReviewState:
        return self.state_at(self.cursor)

    def state_at(self, n: int) -> ReviewState:
        if n in self._cache:
            return self._cache[n]
        s = self.base if n == 0 else self.ops[n - 1].apply(self.state_at(n - 1))
        self._cache[n] = s
        return s

    def do(self, op: Op) -> ReviewState:
        """Apply ``op`` (checked first: a refused edit changes nothing) and drop the redo tail."""
        new = op.apply(self.state)
        del self.ops[self.cursor:]
        self._cache = {k: v for k, v in self._cache.items() if k <= self.cursor}
        self.ops.append(op)
        self.cursor += 1
        self._cache[self.cursor] = new
        return new

    def undo(self) -> ReviewState:
        if self.cursor == 0:
            raise UsageError("nothing to undo")
        self.cursor -= 1
        return self.state

    def redo(self) -> ReviewState:
        if self.cursor >= len(self.ops):
            raise UsageError("nothing to redo")
        self.cursor += 1
        return self.state


def frames_to_ranges(frames: Iterable[int]) -> list[list[int]]:
    """``[[first, last], ...]`` of a set of frame indices (how frames shown are stored)."""
    out: list[list[int]] = []
    for f in sorted(set(frames)):
        if out and f == out[-1][1] + 1:
            out[-1][1] = f
        else:
            out.append([f, f])
    return out


def ranges_to_frames(ranges: Iterable[Sequence[int]]) -> set[int]:
    return {f for a, b in ranges for f in range(int(a), int(b) + 1)}
