"""The suggestions sidecar (format version 1, docs/review.md): what the detector saw but did not
hide, and which regions of the regions file belong to which track.

No detector finds every face. A person reviews every redacted copy before it is published, and
this file points them at the places where a face is most likely to have been missed:

- ``below_threshold``: a detection scoring under the hiding threshold (photos: a fused face
  under ``threshold``; videos: weak per-frame boxes, linked into tracks);
- ``dropped_track``: a video track the tracker did not keep (too short and too weak);
- ``gap``: frames inside a kept video track where the face was not seen (the region there is
  carried from the neighbouring sightings and may not follow the face).

Each suggestion carries the regions that hiding it would add, so the review screen can draw it
and a "hide" is exact. It sits beside the regions file (``NAME.suggestions.json`` beside
``NAME.regions.json``), whose fixed format (docs/regions.md) it never changes, and names that
file's sha256: a suggestions file is only ever read with the regions file it was written for.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, cast

import msgspec
import numpy as np

from .._fsutil import atomic_write_text
from ..errors import InputError
from .detector import Detection
from .regions import SHAPES, MediaInfo, Region, RegionsFile, Shape
from .tracking import BoxMargin, EdgeCover, Margin, Track, TrackPolicy, is_kept, link, track_cover

FORMAT_VERSION = 1
SUFFIX = ".suggestions.json"
FORMAT_NAME = "witnessbox-suggestions"

Kind = Literal["below_threshold", "dropped_track", "gap"]
KINDS: tuple[str, ...] = ("below_threshold", "dropped_track", "gap")
Finish = Callable[[Iterable[Region]], tuple[Region, ...]]
"""The pipeline's final rounding and ordering of regions (passed in: the pipeline owns it)."""


@dataclass(frozen=True)
class TrackRef:
    """One track of the regions file: which regions (indices into its ``regions`` list) it drew.

    A photo's detections are tracks of one region each, so the review treats both alike.

    Attributes:
        id: ``t1``, ``t2``... (stable within one file).
        regions: Indices into the regions file's ``regions``, increasing.
        sightings: Frames where the detector saw the face (the rest are carried).
        best_score: Best detector score of the track.
    """

    id: str
    regions: tuple[int, ...]
    sightings: tuple[int, ...]
    best_score: float


@dataclass(frozen=True)
class Suggestion:
    """One place to check.

    Attributes:
        id: ``s1``, ``s2``... (stable within one file).
        kind: ``below_threshold``, ``dropped_track`` or ``gap``.
        first: First frame concerned.
        last: Last frame concerned.
        score: Best detector score (0 for a gap).
        track: For a gap, the id of the kept track it belongs to.
        regions: What hiding it adds (``source`` ``manual`` once a person accepts it).
    """

    id: str
    kind: Kind
    first: int
    last: int
    score: float
    track: str | None
    regions: tuple[Region, ...]


@dataclass(frozen=True)
class SuggestionsFile:
    """The whole sidecar."""

    media: MediaInfo
    source_sha256: str
    regions_sha256: str
    tracks: tuple[TrackRef, ...]
    suggestions: tuple[Suggestion, ...]
    params: Mapping[str, float | int | str | bool] = field(default_factory=dict)

    def to_json(self) -> str:
        """Serialise (one track and one suggestion per line, stable order)."""
        media: dict[str, object] = {"width": self.media.width, "height": self.media.height, "frames": self.media.frames}
        if self.media.fps is not None:
            media["fps"] = round(self.media.fps, 6)
        tracks = [
            json.dumps({"id": t.id, "regions": list(t.regions), "sightings": list(t.sightings),
                        "best_score": round(t.best_score, 4)})
            for t in self.tracks
        ]
        sugg = [json.dumps(_suggestion_dict(s)) for s in self.suggestions]
        return (
            f'{{\n  "format": {json.dumps(FORMAT_NAME)},\n  "version": {FORMAT_VERSION},\n'
            f'  "media": {json.dumps(media)},\n  "source_sha256": {json.dumps(self.source_sha256)},\n'
            f'  "regions_sha256": {json.dumps(self.regions_sha256)},\n'
            f'  "params": {json.dumps(dict(self.params), sort_keys=True)},\n'
            f'  "tracks": {_lines(tracks)},\n  "suggestions": {_lines(sugg)}\n}}\n'
        )

    def write(self, path: Path) -> None:
        """Write atomically.

        Raises:
            ArchiveError: The folder is not writable or the disk is full.
        """
        atomic_write_text(path, self.to_json())


def _lines(items: list[str]) -> str:
    return "[\n    " + ",\n    ".join(items) + "\n  ]" if items else "[]"


def _num(v: float) -> float | int:
    r = round(float(v), 2)
    return int(r) if r == int(r) and abs(r) < 1e15 else r


def _suggestion_dict(s: Suggestion) -> dict[str, object]:
    return {
        "id": s.id,
        "kind": s.kind,
        "frames": [s.first, s.last],
        "score": round(s.score, 4),
        "track": s.track,
        "regions": [{"frame": r.frame, "shape": r.shape, "box": [_num(v) for v in r.box]} for r in s.regions],
    }


def suggestions_path(output: Path) -> Path:
    """The suggestions sidecar of a redacted output: ``<output name>.suggestions.json``."""
    return output.with_name(output.name + SUFFIX)


def regions_digest(regions: RegionsFile) -> str:
    """The sha256 of a regions file as witnessbox writes it (what ``regions_sha256`` names)."""
    return hashlib.sha256(regions.to_json().encode("utf-8")).hexdigest()


# -- reading -----------------------------------------------------------------------------------


def _bad(where: str, what: str) -> InputError:
    return InputError(f"suggestions file {where}: {what} (see docs/review.md)")


def read_suggestions(path: Path) -> SuggestionsFile:
    """Read and validate a suggestions file.

    Raises:
        InputError: Missing, not JSON, or breaking the format (the message says where).
    """
    try:
        data = Path(path).read_bytes()
    except OSError as e:
        raise InputError(f"cannot read suggestions file {path}: {e.strerror}") from e
    return loads_suggestions(data, where=str(path))


class _Wire(msgspec.Struct):
    """A suggestions document as the fast decoder takes it: every track complete and typed,
    as witnessbox writes it (msgspec builds the :class:`TrackRef` objects and their index
    lists in C). The other fields are taken as they come and checked by
    :func:`parse_suggestions`' own code; the defaults are what ``doc.get`` gives it."""

    tracks: list[TrackRef]
    format: Any = None
    version: Any = None
    media: Any = None
    source_sha256: Any = None
    regions_sha256: Any = None
    params: Any = msgspec.field(default_factory=dict)
    suggestions: Any = None


_WIRE = msgspec.json.Decoder(_Wire)


def loads_suggestions(data: bytes | str, *, where: str = "<suggestions>") -> SuggestionsFile:
    """Read a suggestions file from its bytes (UTF-8 JSON), as strictly as
    :func:`parse_suggestions`: a file as witnessbox writes it is decoded straight into typed
    tracks; anything else is read again by ``json`` and :func:`parse_suggestions`, which
    accepts or refuses it exactly as before (same result either way).

    Raises:
        InputError: Not JSON, or the document breaks the format (the message says where).
    """
    try:
        wire = _WIRE.decode(data)
    except msgspec.MsgspecError:
        wire = None
    if wire is not None:
        head = {"format": wire.format, "version": wire.version, "media": wire.media,
                "source_sha256": wire.source_sha256, "regions_sha256": wire.regions_sha256,
                "params": wire.params, "suggestions": wire.suggestions}
        return _parse_doc(head, where, wire.tracks)
    try:
        doc = json.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        line = f" (line {e.lineno})" if isinstance(e, json.JSONDecodeError) else ""
        raise _bad(where, f"not valid JSON{line}") from e
    return parse_suggestions(doc, where=where)


def parse_suggestions(doc: object, *, where: str = "<suggestions>") -> SuggestionsFile:
    """Validate a decoded suggestions document.

    Raises:
        InputError: The document breaks the format.
    """
    if not isinstance(doc, dict) or doc.get("format") != FORMAT_NAME:
        raise _bad(where, f"not a {FORMAT_NAME} document")
    return _parse_doc(doc, where, None)


def _parse_doc(doc: dict[str, Any], where: str, typed: list[TrackRef] | None) -> SuggestionsFile:
    """:func:`parse_suggestions` of an object; ``typed``: its tracks as the fast decoder built
    them (each an ``id`` string, integer lists and a float score: nothing more to check)."""
    if doc.get("format") != FORMAT_NAME:
        raise _bad(where, f"not a {FORMAT_NAME} document")
    if doc.get("version") != FORMAT_VERSION:
        raise _bad(where, f"unsupported version {doc.get('version')!r}, expected {FORMAT_VERSION}")
    m = doc.get("media")
    try:
        assert isinstance(m, dict)
        media = MediaInfo(int(m["width"]), int(m["height"]), int(m["frames"]),
                          float(m["fps"]) if m.get("fps") is not None else None)
    except (AssertionError, KeyError, TypeError, ValueError) as e:
        raise _bad(where, "`media` needs integer width, height and frames") from e
    src, reg = doc.get("source_sha256"), doc.get("regions_sha256")
    if not isinstance(src, str) or not isinstance(reg, str):
        raise _bad(where, "`source_sha256` and `regions_sha256` must be strings")
    params = doc.get("params", {})
    if not isinstance(params, dict):
        raise _bad(where, "`params` must be an object")
    tracks: list[TrackRef] = typed if typed is not None else []
    for i, t in enumerate(_list(doc, "tracks", where) if typed is None else ()):
        try:
            assert isinstance(t, dict) and isinstance(t["id"], str)
            tracks.append(TrackRef(t["id"], tuple(_ints(t["regions"])), tuple(_ints(t["sightings"])),
                                   float(t.get("best_score", 0.0))))
        except (AssertionError, KeyError, TypeError, ValueError) as e:
            raise _bad(where, f"track {i} needs `id`, integer lists `regions` and `sightings`") from e
    out: list[Suggestion] = []
    for i, s in enumerate(_list(doc, "suggestions", where)):
        out.append(_parse_suggestion(s, i, media.frames, where))
    return SuggestionsFile(media, src, reg, tuple(tracks), tuple(out), cast(dict[str, float | int | str | bool], params))


def _list(doc: dict[str, object], key: str, where: str) -> list[object]:
    v = doc.get(key)
    if not isinstance(v, list):
        raise _bad(where, f"`{key}` must be a list")
    return v


def _ints(v: object) -> list[int]:
    if not isinstance(v, list):
        raise TypeError("not a list of integers")
    # Plain JSON ints (a track's indices, tens of thousands) are checked in one C-level pass.
    if not set(map(type, v)) <= {int} and not all(isinstance(x, int) and not isinstance(x, bool) for x in v):
        raise TypeError("not a list of integers")
    return list(v)


def _parse_suggestion(s: object, i: int, frames: int, where: str) -> Suggestion:
    try:
        assert isinstance(s, dict)
        sid, kind, (first, last) = s["id"], s["kind"], s["frames"]
        assert isinstance(sid, str) and kind in KINDS
        assert isinstance(first, int) and isinstance(last, int) and 0 <= first <= last < frames
        track = s.get("track")
        assert track is None or isinstance(track, str)
        regs: list[Region] = []
        for g in s["regions"]:
            f, shape, box = g["frame"], g.get("shape", "ellipse"), g["box"]
            assert isinstance(f, int) and 0 <= f < frames and shape in SHAPES
            assert isinstance(box, list) and len(box) == 4 and all(
                isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) for v in box)
            x0, y0, x1, y1 = (float(v) for v in box)
            assert x1 > x0 and y1 > y0
            regs.append(Region(f, cast(Shape, shape), (x0, y0, x1, y1), 1.0, "manual"))
        return Suggestion(sid, cast(Kind, kind), first, last, float(s.get("score", 0.0)), track, tuple(regs))
    except (AssertionError, KeyError, TypeError, ValueError) as e:
        raise _bad(where, f"suggestion {i} breaks the format") from e


# -- building (inside the redaction pipeline) ----------------------------------------------------


def _inside(region: Region, x: float, y: float) -> bool:
    x0, y0, x1, y1 = region.box
    if region.shape == "box":
        return x0 <= x <= x1 and y0 <= y <= y1
    rx, ry = (x1 - x0) / 2, (y1 - y0) / 2
    if rx <= 0 or ry <= 0:
        return False
    return ((x - (x0 + x1) / 2) / rx) ** 2 + ((y - (y0 + y1) / 2) / ry) ** 2 <= 1.0


def covered(box: tuple[float, float, float, float], hidden: Sequence[Region]) -> bool:
    """Whether a face box's centre lies inside a hidden shape (a suggestion there adds nothing)."""
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    return any(_inside(r, cx, cy) for r in hidden)


def covered_many(boxes: Sequence[tuple[float, float, float, float]], hidden: Sequence[Region]) -> list[bool]:
    """:func:`covered` for many boxes at once (a crowd photo has thousands of weak boxes)."""
    if not boxes or not hidden:
        return [False] * len(boxes)
    b = np.asarray(boxes, np.float64)
    cx, cy = (b[:, 0] + b[:, 2]) / 2, (b[:, 1] + b[:, 3]) / 2
    r = np.asarray([h.box for h in hidden], np.float64)
    ell = np.asarray([h.shape != "box" for h in hidden])
    x0, y0, x1, y1 = (r[:, k][:, None] for k in range(4))
    in_box = (x0 <= cx) & (cx <= x1) & (y0 <= cy) & (cy <= y1)
    rx, ry = (x1 - x0) / 2, (y1 - y0) / 2
    with np.errstate(divide="ignore", invalid="ignore"):
        in_ell = ((cx - (x0 + x1) / 2) / rx) ** 2 + ((cy - (y0 + y1) / 2) / ry) ** 2 <= 1.0
    in_ell &= (rx > 0) & (ry > 0)
    inside = np.where(ell[:, None], in_ell, in_box)
    hits: np.ndarray = np.asarray(inside.any(axis=0))
    return [bool(v) for v in hits]


def _index(final: Sequence[Region], per_track: Sequence[Sequence[Region]]) -> list[list[int]]:
    """For each track, the indices in ``final`` of the regions it produced (matched exactly)."""
    owners: dict[Region, list[int]] = {}
    for ti, regs in enumerate(per_track):
        for r in regs:
            owners.setdefault(r, []).append(ti)
    out: list[list[int]] = [[] for _ in per_track]
    for i, r in enumerate(final):
        who = owners.get(r)
        if who:
            out[who.pop(0)].append(i)
    return out


def photo_suggestions(
    regions: RegionsFile,
    kept: Sequence[Sequence[Detection]],
    weak: Sequence[Sequence[Detection]],
    margin: BoxMargin,
    finish: Finish,
    params: Mapping[str, float | int | str | bool],
) -> SuggestionsFile:
    """The suggestions of a photo (one list of detections per frame of the file).

    Args:
        regions: The regions file as written.
        kept: The detections that became regions, per frame.
        weak: The detections under the threshold, per frame.
        margin: How a face box becomes the hidden shape.
        finish: The pipeline's rounding and ordering of regions (so the index matches exactly).
        params: Recorded in the file (the floor and the threshold).
    """
    per_track = [
        finish([Region(f, "ellipse", margin.apply(d.box), d.score, "detector")])
        for f, dets in enumerate(kept) for d in dets
    ]
    scores = [d.score for dets in kept for d in dets]
    frames = [f for f, dets in enumerate(kept) for _ in dets]
    idx = _index(regions.regions, per_track)
    tracks = [TrackRef(f"t{i + 1}", tuple(ix), (frames[i],), scores[i]) for i, ix in enumerate(idx) if ix]
    hidden = regions.by_frame()
    sugg: list[Suggestion] = []
    for f, dets in enumerate(weak):
        ordered = sorted(dets, key=lambda d: (-d.score, d.box))
        listed: list[Region] = []
        for d, hit in zip(ordered, covered_many([d.box for d in ordered], hidden.get(f, [])), strict=True):
            # Nor one whose centre lies in a stronger suggestion's shape: the reviewer looking
            # there sees it (on the crowd tuning set: 38% fewer suggestions, 2% fewer misses
            # pointed at).
            if hit or (listed and covered_many([d.box], listed)[0]):
                continue
            regs = finish([Region(f, "ellipse", margin.apply(d.box), d.score, "manual")])
            listed += regs
            sugg.append(Suggestion(f"s{len(sugg) + 1}", "below_threshold", f, f, d.score, None, regs))
    return SuggestionsFile(regions.media, regions.source_sha256, regions_digest(regions), tuple(tracks), tuple(sugg),
                           dict(params))


def video_suggestions(
    regions: RegionsFile,
    tracks: Sequence[Track],
    weak: Sequence[Sequence[Detection]],
    margin: Margin,
    policy: TrackPolicy,
    edges: EdgeCover | None,
    finish: Finish,
    params: Mapping[str, float | int | str | bool],
) -> SuggestionsFile:
    """The suggestions of a video.

    Args:
        regions: The regions file as written.
        tracks: Every track the tracker linked (kept and dropped).
        weak: Per frame, the boxes under the per-frame threshold.
        margin: The video margin.
        policy: The track policy the pipeline used.
        edges: The pipeline's edge cover (applied to suggested regions too).
        finish: The pipeline's rounding and ordering of regions.
        params: Recorded in the file.
    """
    n, w, h = regions.media.frames, regions.media.width, regions.media.height

    def cover(t: Track) -> list[Region]:
        regs = track_cover(t, n, margin, policy)
        return edges.apply(regs, w, h) if edges is not None else regs

    kept = [t for t in tracks if is_kept(t, n, policy)]
    per_track = [finish(cover(t)) for t in kept]
    idx = _index(regions.regions, per_track)
    refs: list[TrackRef] = []
    ids: dict[int, str] = {}
    for t, ix in zip(kept, idx, strict=True):
        if ix:
            ids[id(t)] = f"t{len(refs) + 1}"
            refs.append(TrackRef(ids[id(t)], tuple(ix), tuple(t.frames), max(t.scores)))
    hidden = regions.by_frame()
    found: list[tuple[int, Kind, int, int, float, str | None, tuple[Region, ...]]] = []

    def add_track(kind: Kind, t: Track) -> None:
        if all(covered(b, hidden.get(f, [])) for f, b in zip(t.frames, t.boxes, strict=True)):
            return
        regs = finish(Region(r.frame, r.shape, r.box, r.score, "manual") for r in cover(t))
        found.append((t.frames[0], kind, t.frames[0], t.frames[-1], max(t.scores), None, regs))

    for t in tracks:
        if not is_kept(t, n, policy):
            add_track("dropped_track", t)
    uncovered = [[d for d in dets if not covered(d.box, hidden.get(f, []))] for f, dets in enumerate(weak)]
    for t in link(uncovered, policy):
        add_track("below_threshold", t)
    for t in kept:
        if id(t) not in ids:
            continue
        for a, b, fa, fb in zip(t.frames, t.frames[1:], t.boxes, t.boxes[1:], strict=False):
            if b - a <= 1:
                continue
            # Hiding a gap covers both neighbouring sightings' boxes in every frame between them.
            box = (min(fa[0], fb[0]), min(fa[1], fb[1]), max(fa[2], fb[2]), max(fa[3], fb[3]))
            regs = finish(Region(f, "ellipse", margin.apply(box), 1.0, "manual") for f in range(a + 1, b))
            found.append((a + 1, "gap", a + 1, b - 1, 0.0, ids[id(t)], regs))
    found.sort(key=lambda s: (s[0], KINDS.index(s[1]), -s[4]))
    sugg = tuple(Suggestion(f"s{i + 1}", k, a, b, sc, tr, regs) for i, (_, k, a, b, sc, tr, regs) in enumerate(found))
    return SuggestionsFile(regions.media, regions.source_sha256, regions_digest(regions), tuple(refs), sugg,
                           dict(params))
