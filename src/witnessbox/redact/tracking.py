"""Link per-frame detections into tracks and turn tracks into regions that never let a face
flash through.

A detector misses a face now and then (motion blur, a turn of the head). Each track is covered
in every frame from its first to its last sighting (boxes interpolated across gaps), and for
``before`` / ``after`` frames beyond, so that a face entering or leaving is hidden too. Carried
boxes grow with their distance (in frames) from the nearest sighting, because the face may have
moved; the margin follows the face's own size, frame by frame.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Protocol

from .detector import Detection
from .regions import Region

Box = tuple[float, float, float, float]


@dataclass(frozen=True)
class Margin:
    """How a face box becomes the hidden shape.

    Attributes:
        x: Added on the left and on the right, as a share of the box width.
        y: Added above and below, as a share of the box height.
        shift_y: The box is first moved down by this share of its height (CenterFace boxes sit
            high on masked faces: they include the forehead and stop above the chin).
        pixels: Added on every side in pixels, so that tiny faces get a safe border.
        large_share: When set, ``x`` and ``y`` shrink linearly to this share for boxes from
            ``small`` to ``large`` pixels wide (a large face's box jitters less, in proportion
            to its size, than a small one's; video over-redaction is mostly large margins).
        small: Box width up to which ``x`` and ``y`` apply in full.
        large: Box width from which ``large_share`` applies.
        jitter_least: When set, a video track's margin shares are at most
            ``jitter_least + jitter_gain * jitter`` (and never more than ``x`` / ``y``), where
            ``jitter`` is how much the track's box wobbles from frame to frame as a share of its
            width (:func:`track_jitter`): a face the detector boxes steadily needs less room
            than one it boxes loosely. Tracks with fewer than 3 sightings keep ``x`` / ``y``.
        jitter_gain: See ``jitter_least``.
    """

    x: float = 0.3
    y: float = 0.3
    shift_y: float = 0.1
    pixels: float = 3.0
    large_share: float | None = None
    small: float = 24.0
    large: float = 64.0
    jitter_least: float | None = None
    jitter_gain: float = 2.0

    def for_jitter(self, jitter: float) -> Margin:
        """The margin of a track whose boxes wobble by ``jitter`` (see ``jitter_least``)."""
        if self.jitter_least is None:
            return self
        share = self.jitter_least + self.jitter_gain * jitter
        return replace(self, x=min(self.x, share), y=min(self.y, share), jitter_least=None)

    def apply(self, box: Box) -> Box:
        x0, y0, x1, y1 = box
        w, h = x1 - x0, y1 - y0
        mx, my = self.x, self.y
        if self.large_share is not None:
            t = min(1.0, max(0.0, (w - self.small) / max(self.large - self.small, 1e-9)))
            mx, my = mx + (self.large_share - mx) * t, my + (self.large_share - my) * t
        y0, y1 = y0 + self.shift_y * h, y1 + self.shift_y * h
        dx, dy = mx * w + self.pixels, my * h + self.pixels
        return (x0 - dx, y0 - dy, x1 + dx, y1 + dy)


class BoxMargin(Protocol):
    """Anything that turns a face box into the box of the hidden ellipse."""

    def apply(self, box: Box) -> Box: ...


@dataclass(frozen=True)
class SizedMargin:
    """The photo margin: a larger one for large faces in large pictures.

    CenterFace's box of a large face stops at the eyebrows and above the chin; with the
    ellipse inscribed in the grown box, forehead and chin of faces 32 px and wider stayed
    uncovered on the crowd tuning set (faces of 32-64 px: 0.944 protected with the small
    margin, 0.958 with this one; 64 px and more: 0.899 before, 0.976). Faces of 16-32 px
    too: of the 16+ px faces the whole set still missed, 105 had an ellipse on them covering
    under 95%, the box 0.5-0.9 of WIDER's height (benchmarks/REDACTION.md, helper
    ``bigfaces``). Small pictures (facemask-dev's, all under 800 px) keep the small margin.

    Attributes:
        small: The margin of every face in pictures under ``picture`` px (long side), and of
            faces under ``face`` px wide in the others.
        large: The margin of faces at least ``face`` px wide in pictures of at least ``picture`` px.
        face: Box width, in picture pixels, from which a face is large.
        picture: Long side, in pixels, from which a picture's large faces get ``large``.
    """

    small: Margin = field(default_factory=lambda: Margin(x=0.32, y=0.28))
    large: Margin = field(default_factory=lambda: Margin(x=0.32, y=0.36))
    face: float = 16.0
    picture: int = 800

    def for_picture(self, width: int, height: int) -> BoxMargin:
        """The margin to use in a picture of this size."""
        return self if max(width, height) >= self.picture else self.small

    def apply(self, box: Box) -> Box:
        """``box`` grown by ``large`` when it is at least ``face`` wide, else by ``small``."""
        return (self.large if box[2] - box[0] >= self.face else self.small).apply(box)


@dataclass(frozen=True)
class TrackPolicy:
    """How detections are linked and carried.

    Attributes:
        link_iou: Minimum overlap between a track's last box and a new detection.
        link_distance: Or: centre distance below this share of the box size.
        max_gap: Frames a track may go unseen and still be continued.
        long_gap: The same for a track already seen in at least ``long_hits`` frames: a face
            the detector has followed for a while is still there when it loses it for longer
            (a turn of the head, a stretch of motion blur), and a false detection rarely
            persists that long.
        long_hits: Sightings that make a track established (see ``long_gap``).
        before: Frames covered before the first sighting.
        after: Frames covered after the last sighting.
        growth: Carried boxes grow by this share of their size per frame of distance.
        max_growth: Cap of that growth.
        keep_score: A track is kept when its best score reaches this...
        keep_hits: ...or when it was seen in at least this many frames. Weak detections are
            accepted per frame (small and masked faces score low) and a face persists while a
            false detection on a texture flickers, so persistence separates them. Tracks
            within this many frames of the video's start or end are always kept (the video may
            have cut them short).
        smooth: A sighting's box is the union of the track's sightings within this many
            frames, which absorbs the detector's frame-to-frame jitter.
        motion: Boxes carried before the first and after the last sighting move on with the
            track's own velocity (over its first or last 3 sightings) instead of staying put:
            a face leaving the picture or passing by keeps its cover on it with less growth.
    """

    link_iou: float = 0.1
    link_distance: float = 1.0
    max_gap: int = 15
    long_gap: int = 30
    long_hits: int = 12
    before: int = 6
    after: int = 6
    growth: float = 0.06
    max_growth: float = 0.6
    smooth: int = 2
    keep_score: float = 0.3
    keep_hits: int = 4
    motion: bool = False

    def gap(self, track: Track) -> int:
        """Frames ``track`` may go unseen and still be continued."""
        return self.long_gap if len(track.frames) >= self.long_hits else self.max_gap


@dataclass
class Track:
    """One face followed through frames (sightings in increasing frame order)."""

    frames: list[int] = field(default_factory=list)
    boxes: list[Box] = field(default_factory=list)
    scores: list[float] = field(default_factory=list)


def _iou(a: Box, b: Box) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def _affinity(a: Box, b: Box, policy: TrackPolicy) -> float:
    iou = _iou(a, b)
    if iou >= policy.link_iou:
        return 1.0 + iou
    size = max(a[2] - a[0], a[3] - a[1], b[2] - b[0], b[3] - b[1], 1.0)
    dist = (((a[0] + a[2]) - (b[0] + b[2])) ** 2 + ((a[1] + a[3]) - (b[1] + b[3])) ** 2) ** 0.5 / 2
    ratio = (b[2] - b[0]) / max(a[2] - a[0], 1e-6)
    if dist < policy.link_distance * size and 0.5 < ratio < 2.0:
        return float(1.0 - dist / (policy.link_distance * size))
    return 0.0


def link(detections: Sequence[Sequence[Detection]], policy: TrackPolicy | None = None) -> list[Track]:
    """Greedily link detections frame by frame into tracks (best affinity first)."""
    pol = policy or TrackPolicy()
    tracks: list[Track] = []
    active: list[Track] = []
    for f, dets in enumerate(detections):
        active = [t for t in active if f - t.frames[-1] <= pol.gap(t) + 1]
        pairs = []
        for ti, t in enumerate(active):
            for di, d in enumerate(dets):
                a = _affinity(t.boxes[-1], d.box, pol)
                if a > 0:
                    pairs.append((a, ti, di))
        pairs.sort(reverse=True)
        used_t: set[int] = set()
        used_d: set[int] = set()
        for _, ti, di in pairs:
            if ti in used_t or di in used_d:
                continue
            used_t.add(ti)
            used_d.add(di)
            t = active[ti]
            t.frames.append(f)
            t.boxes.append(dets[di].box)
            t.scores.append(dets[di].score)
        for di, d in enumerate(dets):
            if di not in used_d:
                t = Track([f], [d.box], [d.score])
                tracks.append(t)
                active.append(t)
    return tracks


def _grow(box: Box, k: float) -> Box:
    x0, y0, x1, y1 = box
    dx, dy = (x1 - x0) * k / 2, (y1 - y0) * k / 2
    return (x0 - dx, y0 - dy, x1 + dx, y1 + dy)


def _union(a: Box, b: Box) -> Box:
    return (min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3]))


def _lerp(a: Box, b: Box, t: float) -> Box:
    return (a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t, a[2] + (b[2] - a[2]) * t, a[3] + (b[3] - a[3]) * t)


def track_regions(
    tracks: Sequence[Track], n_frames: int, margin: Margin, policy: TrackPolicy | None = None
) -> list[Region]:
    """Regions covering every track in every frame of its life, plus the margins in time."""
    pol = policy or TrackPolicy()
    out: list[Region] = []
    for t in tracks:
        if is_kept(t, n_frames, pol):
            out += track_cover(t, n_frames, margin, pol)
    return out


def is_kept(track: Track, n_frames: int, policy: TrackPolicy) -> bool:
    """Whether :func:`track_regions` hides ``track`` (a dropped one becomes a review suggestion)."""
    pol, t = policy, track
    # A track that starts or ends within keep_hits frames of the video's first or last frame
    # may have been cut short by the video itself: its persistence cannot be judged, keep it.
    cut = t.frames[0] < pol.keep_hits or t.frames[-1] >= n_frames - pol.keep_hits
    return not (max(t.scores) < pol.keep_score and len(t.frames) < pol.keep_hits and not cut)


def _centre(b: Box) -> tuple[float, float]:
    return (b[0] + b[2]) / 2, (b[1] + b[3]) / 2


def _shift(b: Box, dx: float, dy: float) -> Box:
    return (b[0] + dx, b[1] + dy, b[2] + dx, b[3] + dy)


def track_velocity(track: Track, at: int, span: int = 5) -> tuple[float, float]:
    """Centre motion of ``track``, in pixels per frame, over up to ``span`` sightings around
    sighting number ``at`` (at the ends: the first or last ones); ``(0, 0)`` from one sighting."""
    t, last = track, len(track.frames) - 1
    i0, i1 = max(0, at - span // 2), min(last, at + span // 2)
    if i1 == i0 or t.frames[i1] == t.frames[i0]:
        return 0.0, 0.0
    (ax, ay), (bx, by) = _centre(t.boxes[i0]), _centre(t.boxes[i1])
    n = t.frames[i1] - t.frames[i0]
    return (bx - ax) / n, (by - ay) / n


def track_jitter(track: Track) -> float:
    """How much a track's box wobbles: the median, over its inner sightings, of the largest
    distance of a side from where the neighbouring sightings put it (interpolated in time),
    as a share of the box width. 1.0 (a loose track) under 3 sightings."""
    t = track
    if len(t.frames) < 3:
        return 1.0
    res = []
    for i in range(1, len(t.frames) - 1):
        fa, fb, fc = t.frames[i - 1], t.frames[i], t.frames[i + 1]
        pred, b = _lerp(t.boxes[i - 1], t.boxes[i + 1], (fb - fa) / (fc - fa)), t.boxes[i]
        res.append(max(abs(b[k] - pred[k]) for k in range(4)) / max(b[2] - b[0], 1.0))
    return statistics.median(res)


def track_cover(track: Track, n_frames: int, margin: Margin, policy: TrackPolicy) -> list[Region]:
    """The regions that hide one track in every frame of its life, plus the margins in time."""
    pol, t = policy, track
    out: list[Region] = []
    margin = margin.for_jitter(track_jitter(t))
    v0 = track_velocity(t, 0) if pol.motion else (0.0, 0.0)
    v1 = track_velocity(t, len(t.frames) - 1) if pol.motion else (0.0, 0.0)
    first, last = t.frames[0], t.frames[-1]
    seen = dict(zip(t.frames, range(len(t.frames)), strict=True))
    j = 0  # index of the last sighting at or before f
    for f in range(max(0, first - pol.before), min(n_frames, last + pol.after + 1)):
        if f in seen:
            i = seen[f]
            j = i
            box = t.boxes[i]
            k = i - 1
            while k >= 0 and f - t.frames[k] <= pol.smooth:
                box = _union(box, t.boxes[k])
                k -= 1
            k = i + 1
            while k < len(t.frames) and t.frames[k] - f <= pol.smooth:
                box = _union(box, t.boxes[k])
                k += 1
            out.append(Region(f, "ellipse", margin.apply(box), t.scores[i], "detector"))
            continue
        if f < first:
            box = _grow(_shift(t.boxes[0], v0[0] * (f - first), v0[1] * (f - first)),
                        min(pol.max_growth, pol.growth * (first - f)))
        elif f > last:
            box = _grow(_shift(t.boxes[-1], v1[0] * (f - last), v1[1] * (f - last)),
                        min(pol.max_growth, pol.growth * (f - last)))
        else:
            while j + 1 < len(t.frames) and t.frames[j + 1] < f:
                j += 1
            fa, fb = t.frames[j], t.frames[j + 1]
            dist = min(f - fa, fb - f)
            box = _grow(_lerp(t.boxes[j], t.boxes[j + 1], (f - fa) / (fb - fa)), min(pol.max_growth, pol.growth * dist))
        out.append(Region(f, "ellipse", margin.apply(box), 0.0, "track"))
    return out


@dataclass(frozen=True)
class EdgeCover:
    """A second ellipse for every region that reaches a frame edge.

    The detector sees only the visible part of a face cut by the frame edge and places its box
    inside the frame, so the ellipse drawn from it leaves the face's part along the edge
    uncovered (its chord there is short). A region whose box comes within ``near`` of its own
    size from an edge gets a copy stretched ``stretch`` of its size past that edge; the original
    stays, so nothing it covered is lost.
    """

    near: float = 0.1
    stretch: float = 0.25

    def apply(self, regions: Sequence[Region], width: int, height: int) -> list[Region]:
        """The regions plus the stretched copies."""
        out = list(regions)
        for r in regions:
            x0, y0, x1, y1 = r.box
            w, h = x1 - x0, y1 - y0
            near_w, near_h, far_w, far_h = self.near * w, self.near * h, self.stretch * w, self.stretch * h
            box = (
                x0 - far_w if x0 < near_w else x0,
                y0 - far_h if y0 < near_h else y0,
                x1 + far_w if x1 > width - near_w else x1,
                y1 + far_h if y1 > height - near_h else y1,
            )
            if box != r.box:
                out.append(Region(r.frame, r.shape, box, r.score, r.source))
        return out
