"""Use case: a person reviews a redacted copy before anything is published (``ws.review``).

The browser review screen (issue 12) is a thin shell over this module; scripts use
``witnessbox review``. A review is opened on a redacted derivative; it shows its regions as
tracks (:mod:`witnessbox.redact.review`) and the pipeline's suggestions
(:mod:`witnessbox.redact.suggestions`), takes edits with undo and redo, records which frames
were shown to which reviewer, saves (re-render through the redaction pipeline, no detection, a
new sealed derivative of the same original; the previous one stays) and approves.

On disk: the unsaved part of a review (its operation log and the frames shown) is kept in
``reviews/<derivative sha256>.json`` in the archive, written atomically after every change, so
a review survives a restart of the web app. Decisions that were saved travel with the copy as
a sealed sidecar ``NAME.review.json``. Formats: docs/review.md.

Logged: opening a review (``review.open``: it shows the original; who, when, which item),
saving (``redact`` and ``review.save`` with the reviewer as actor, the rejections and their
reasons), approving (``approve`` and ``review.approve``) and the archive setting for two
reviewers (``review.settings``).
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import hashlib
import json
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .._fsutil import atomic_write_text
from ..catalog import Approval, Catalog, Change
from ..errors import InputError, IntegrityError, NotFoundError, ReviewError, UsageError
from ..media.formats import MediaKind, media_kind, output_name
from ..redact.pipeline import ProgressHook, RedactOptions, _no_progress, finish_regions
from ..redact.regions import Region, RegionsFile, loads_regions
from ..redact.render import Fill
from ..redact.review import (
    AddRegion,
    Decide,
    DeleteFrame,
    DeleteTrack,
    DismissSuggestion,
    Extend,
    HideSuggestion,
    History,
    MakeStatic,
    Merge,
    Op,
    ReviewState,
    ReviewTrack,
    SetKey,
    Split,
    check_box,
    frames_to_ranges,
    hides_the_file,
    op_from_json,
    ranges_to_frames,
    record_of,
    state_from_files,
)
from ..redact.suggestions import Suggestion, SuggestionsFile, TrackRef, loads_suggestions

if TYPE_CHECKING:
    from ..ledger.records import ItemRecord
    from ..media.video import FrameIndex
    from .core import Workspace

RECORD_SUFFIX = ".review.json"
RECORD_FORMAT = "witnessbox-review"
DRAFT_FORMAT = "witnessbox-review-draft"
SETTINGS_OBJECT = "review-settings"
"""The custody log object that ``review.settings`` entries name (the archive's review settings)."""
LOW_SCORE = 0.3
"""Detector scores under this are drawn red on the timeline (the tracker's own keep floor)."""
WINDOW_RADIUS = 150
"""Frames on each side of the current one whose keys the review screen's state carries."""
MAX_WINDOW = 2001
"""The most frames one window of keys may span (:meth:`Review.window_doc`)."""


TIMELINE_CODES = {"sighting": "s", "key": "k", "low": "l", "interpolated": "i", "held": "h", "empty": "e"}
"""The letter of each timeline kind in the review screen's compact timeline (:func:`timeline_text`)."""


def _region_json(r: Region) -> list[Any]:
    x0, y0, x1, y1 = r.box
    return [r.shape, round(float(x0), 2), round(float(y0), 2), round(float(x1), 2), round(float(y1), 2), r.source,
            round(float(r.score), 4)]


def timeline_text(spans: Iterable[tuple[str, int, int]]) -> str:
    """A track's timeline spans (:meth:`ReviewTrack.timeline`, contiguous from its first frame)
    as the review screen gets them: each run as its kind's letter (:data:`TIMELINE_CODES`)
    and its length in frames, ``"s12l1s3i40"``. A long track's thousands of runs fit in a few
    characters each (a list of ``[kind, first, last]`` took 20 and more, and as many elements
    in the browser)."""
    return "".join(f"{TIMELINE_CODES[k]}{b - a + 1}" for k, a, b in spans)


@dataclass
class _Parsed:
    """What was parsed from one redacted copy's sealed files (shared by every review of it in
    this process: every session opens its own workspace). Immutable once built, except the
    caches filled on first use."""

    regions: RegionsFile
    state: ReviewState
    record: dict[str, Any]
    same_start: bool | None = None
    summaries: dict[str, tuple[ReviewTrack, float, dict[str, Any]]] = dataclasses.field(default_factory=dict)


_PARSED: dict[tuple[object, ...], _Parsed] = {}
_PARSED_LOCK = threading.Lock()
_PARSED_KEEP = 2
"""Copies whose parsed files stay in memory (a 10-minute analysed video's take ~0.2 GB)."""


def _parsed_key(rec: ItemRecord) -> tuple[object, ...]:
    """What the parse of a copy's files depends on: the copy, its original and the sealed hash
    of every sidecar (each file is checked against its hash before the cache is asked)."""
    return (rec.sha256, rec.parent, tuple(sorted(rec.sidecars.items())))


@dataclass(frozen=True)
class ReviewStatus:
    """What stands between a redacted copy and its approval, for one reviewer.

    Attributes:
        derivative: sha256 of the redacted copy under review.
        original: sha256 of its original.
        kind: ``photo`` or ``video``.
        frames: Frame count.
        reviewer: Whose frames shown are counted.
        tracks: Number of tracks.
        undecided_tracks: Ids of tracks neither accepted nor rejected.
        suggestions: Number of suggestions.
        undecided_suggestions: Ids of suggestions neither hidden nor dismissed.
        frames_not_shown: Frames never shown to the reviewer.
        first_not_shown: The first of them (None when all were shown).
        unsaved: Edits that change what is hidden are not saved yet.
        approvals: Reviewers who approved this copy.
        approvals_required: Distinct reviewers the archive requires (1 or 2).
    """

    derivative: str
    original: str
    kind: str
    frames: int
    reviewer: str
    tracks: int
    undecided_tracks: tuple[str, ...]
    suggestions: int
    undecided_suggestions: tuple[str, ...]
    frames_not_shown: int
    first_not_shown: int | None
    unsaved: bool
    approvals: tuple[str, ...]
    approvals_required: int

    @property
    def ready(self) -> bool:
        """Whether this reviewer may approve now."""
        return not (self.undecided_tracks or self.undecided_suggestions or self.frames_not_shown or self.unsaved)

    def blockers(self) -> list[str]:
        """Why approval is refused, one line each (empty when ready)."""
        out = []
        if self.unsaved:
            out.append("there are unsaved edits: save first")
        if self.undecided_tracks:
            out.append(f"{len(self.undecided_tracks)} track(s) undecided (first: {self.undecided_tracks[0]})")
        if self.undecided_suggestions:
            out.append(f"{len(self.undecided_suggestions)} suggestion(s) undecided "
                       f"(first: {self.undecided_suggestions[0]})")
        if self.frames_not_shown:
            out.append(f"{self.frames_not_shown} frame(s) never shown to {self.reviewer} "
                       f"(first: {self.first_not_shown})")
        return out

    def to_json(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["ready"] = self.ready
        d["undecided_tracks"] = list(self.undecided_tracks)
        d["undecided_suggestions"] = list(self.undecided_suggestions)
        d["approvals"] = list(self.approvals)
        return d


def _check_reviewer(reviewer: str) -> str:
    if not reviewer or not reviewer.strip() or not reviewer.isprintable() or len(reviewer) > 200:
        raise UsageError("a reviewer is a short printable login name")
    return reviewer.strip()


class Reviews:
    """The review use cases of one open archive (``ws.review``)."""

    def __init__(self, ws: Workspace) -> None:
        self._ws = ws

    # -- opening -------------------------------------------------------------------------------

    def latest(self, item: str) -> ItemRecord:
        """The redacted copy to review for ``item``: itself when it is one, else the newest
        redacted derivative of the original.

        Raises:
            NotFoundError: No such item, or the original has no redacted copy yet.
        """
        rec = self._ws.item(item)
        if rec.parent is not None:
            return rec
        kids = [c for c in self._ws.children(rec.sha256) if c.derivation is not None and c.derivation.kind == "redacted"]
        if not kids:
            raise NotFoundError(f"{rec.sha256[:16]} has no redacted copy: run `witnessbox redact {rec.sha256[:12]}` first")
        return max(kids, key=lambda c: (c.received_at, c.sha256))

    def open(self, item: str, reviewer: str, *, log: bool = True) -> Review:
        """Open the review of a redacted copy (or of an original's newest one).

        Logged as ``review.open`` (the review shows the original): who, when, which item.

        Raises:
            NotFoundError: No such item or no redacted copy.
            InputError: The copy has no regions file, or its regions or suggestions name
                another original.
            IntegrityError: A sidecar does not match its sealed hash.
        """
        reviewer = _check_reviewer(reviewer)
        rec = self.latest(item)
        parsed = self._load(rec)
        regions, state, record = parsed.regions, parsed.state, parsed.record
        draft = self._read_draft(rec.sha256)
        hist = History(state)
        shown: dict[str, set[int]] = {k: ranges_to_frames(v) for k, v in record.get("shown", {}).items()}
        if draft is not None:
            for d in draft.get("ops", []):
                hist.do(op_from_json(d))
            hist.cursor = min(int(draft.get("cursor", len(hist.ops))), len(hist.ops))
            for who, ranges in draft.get("shown", {}).items():
                shown.setdefault(who, set()).update(ranges_to_frames(ranges))
        review = Review(self, rec, reviewer, hist, shown, record)
        review._base = (rec.sha256, regions)
        review._parsed = parsed
        if log:
            assert rec.parent is not None
            self._ws.log_action("review.open", [rec.parent, rec.sha256], {"frames": state.media.frames},
                                actor=reviewer)
        return review

    def status(self, item: str, reviewer: str) -> ReviewStatus:
        """The review status of a redacted copy for ``reviewer`` (not logged: shows no pixels)."""
        return self.open(item, reviewer, log=False).status()

    def _sidecar(self, rec: ItemRecord, name: str) -> bytes | None:
        """The sidecar's bytes, read once and checked against its sealed hash (the bytes
        checked are the bytes parsed)."""
        p = self._ws.sidecars(rec.sha256).get(name)
        if p is None:
            return None
        data = p.read_bytes()
        want = rec.sidecars.get(name)
        if want is None or hashlib.sha256(data).hexdigest() != want:
            raise IntegrityError(f"sidecar {name} of {rec.sha256[:16]} does not match its sealed hash; run `witnessbox verify`")
        return data

    def _load(self, rec: ItemRecord) -> _Parsed:
        """The copy's regions file, the review state it starts from and its review record.
        Every sidecar's sealed hash is checked on every call; what was parsed from the same
        sealed files is reused by every workspace of this process (the last two copies:
        parsing a long video's files takes seconds)."""
        if rec.parent is None or rec.derivation is None or rec.derivation.kind != "redacted":
            raise InputError(f"{rec.sha256[:16]} is not a redacted copy: open the review of its redacted derivative")
        name = rec.name
        rp = self._sidecar(rec, name + ".regions.json")
        if rp is None:
            raise InputError(f"{rec.sha256[:16]} has no regions file: redact the original with witnessbox to review it")
        sp = self._sidecar(rec, name + ".suggestions.json")
        kp = self._sidecar(rec, name + RECORD_SUFFIX)
        key = _parsed_key(rec)
        with _PARSED_LOCK:
            hit = _PARSED.get(key)
        if hit is not None:
            return hit
        regions = loads_regions(rp, where=name + ".regions.json")
        if regions.source_sha256 != rec.parent:
            # A regions file of another original would leave this one's faces visible.
            raise InputError(f"the regions file of {rec.sha256[:16]} belongs to another original "
                             f"({regions.source_sha256[:12] or '(none)'}...): refused")
        sugg = loads_suggestions(sp, where=name + ".suggestions.json") if sp is not None else None
        record: dict[str, Any] = {}
        if kp is not None:
            record = json.loads(kp)
            if not isinstance(record, dict) or record.get("format") != RECORD_FORMAT:
                raise InputError(f"{name + RECORD_SUFFIX} is not a review record (see docs/review.md)")
        # The regions file's sealed hash was just checked: it is the digest the suggestions
        # name when they were made for exactly this file (no need to serialize it again).
        state = state_from_files(regions, sugg, record, regions_file_sha256=rec.sidecars.get(name + ".regions.json"))
        # Whether the starting state hides exactly the file (Review.unsaved): proved here from
        # the tracks' index lists when it can be, else found by comparing the regions once.
        out = _Parsed(regions, state, record, same_start=True if hides_the_file(regions, sugg, state) else None)
        with _PARSED_LOCK:
            _PARSED.pop(key, None)
            _PARSED[key] = out
            while len(_PARSED) > _PARSED_KEEP:
                del _PARSED[next(iter(_PARSED))]
        return out

    # -- drafts --------------------------------------------------------------------------------

    def _draft_path(self, sha: str) -> Path:
        return self._ws.root / "reviews" / f"{sha}.json"

    def _read_draft(self, sha: str) -> dict[str, Any] | None:
        p = self._draft_path(sha)
        if not p.is_file():
            return None
        try:
            d = json.loads(p.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as e:
            raise InputError(f"review draft {p} is unreadable ({e}); remove it to start the review again") from e
        if not isinstance(d, dict) or d.get("format") != DRAFT_FORMAT or d.get("derivative") != sha:
            raise InputError(f"review draft {p} is not a review draft of {sha[:16]}; remove it to start again")
        return d

    def _write_draft(self, review: Review) -> None:
        p = self._draft_path(review.derivative.sha256)
        p.parent.mkdir(exist_ok=True)
        doc = {
            "format": DRAFT_FORMAT,
            "version": 1,
            "derivative": review.derivative.sha256,
            "ops": [op.to_json() for op in review._hist.ops],
            "cursor": review._hist.cursor,
            "shown": {k: frames_to_ranges(v) for k, v in sorted(review._shown.items())},
        }
        atomic_write_text(p, json.dumps(doc, indent=1) + "\n")

    # -- approvals -----------------------------------------------------------------------------

    def approvals_required(self) -> int:
        """Distinct reviewers whose approval a copy needs before ``publish`` takes it (1 or 2)."""
        entries = self._ws.log(SETTINGS_OBJECT, exact=True)
        n = 1
        for e in entries:
            if e.action == "review.settings":
                n = int(e.details.get("approvals_required", 1))
        return n

    def set_approvals_required(self, n: int, *, actor: str | None = None) -> None:
        """Require ``n`` (1 or 2) approvals by different reviewers; logged (``review.settings``)."""
        if n not in (1, 2):
            raise UsageError("approvals required must be 1 or 2")
        self._ws.log_action("review.settings", [SETTINGS_OBJECT], {"approvals_required": n}, actor=actor)

    def approvers(self, derivative: str) -> tuple[str, ...]:
        """Reviewers whose approval of ``derivative`` stands (since its last revocation), in order."""
        sha = self._ws.resolve(derivative)
        who: list[str] = []
        for e in self._ws.log(sha, exact=True):
            if not e.objects or e.objects[0] != sha:
                continue
            if e.action == "approve.revoke":
                who = []
            elif e.action == "approve" and e.actor not in who:
                who.append(e.actor)
        return tuple(who)

    def publishable(self, approvals: Mapping[str, str]) -> dict[str, str]:
        """The approvals that count for publication under the archive's setting (fail closed:
        with two required, a copy approved by one reviewer only is left out)."""
        need = self.approvals_required()
        if need <= 1:
            return dict(approvals)
        return {sha: at for sha, at in approvals.items() if len(self.approvers(sha)) >= need}


class Review:
    """One open review of a redacted copy, for one reviewer (from :meth:`Reviews.open`)."""

    def __init__(
        self,
        reviews: Reviews,
        derivative: ItemRecord,
        reviewer: str,
        hist: History,
        shown: dict[str, set[int]],
        record: Mapping[str, Any],
    ) -> None:
        self._reviews = reviews
        self._ws = reviews._ws
        self.derivative = derivative
        self.reviewer = reviewer
        self._hist = hist
        self._shown = shown
        self._saved = dict(record)
        assert derivative.parent is not None
        self.original: str = derivative.parent
        self._frame_index: FrameIndex | None = None
        self._index_built = False
        self._base: tuple[str, RegionsFile] | None = None
        self._parsed: _Parsed | None = None

    # -- reading -------------------------------------------------------------------------------

    @property
    def state(self) -> ReviewState:
        return self._hist.state

    @property
    def kind(self) -> str:
        return "photo" if media_kind(Path(self.derivative.name)) is MediaKind.IMAGE else "video"

    @property
    def frames(self) -> int:
        return self.state.media.frames

    def tracks(self) -> list[ReviewTrack]:
        """Every track (rejected ones included), by first frame."""
        return sorted(self.state.tracks.values(), key=lambda t: (t.start, t.id))

    def track(self, track_id: str) -> ReviewTrack:
        return self.state.track(track_id)

    def suggestions(self) -> list[Suggestion]:
        return list(self.state.suggestions.values())

    def regions(self) -> tuple[Region, ...]:
        """What saving now would hide, exactly as the regions file will list it."""
        return finish_regions(self.state.regions())

    def regions_file(self) -> RegionsFile:
        """The regions file saving now would write (the fixed format of docs/regions.md)."""
        base = self._base_regions()
        return dataclasses.replace(base, regions=self.regions())

    def _base_regions(self) -> RegionsFile:
        """The regions file of the copy under review (read once per copy: it is sealed)."""
        sha = self.derivative.sha256
        if self._base is None or self._base[0] != sha:
            name = self.derivative.name + ".regions.json"
            data = self._reviews._sidecar(self.derivative, name)
            assert data is not None
            self._base = (sha, loads_regions(data, where=name))
        return self._base[1]

    @contextlib.contextmanager
    def original_path(self) -> Iterator[Path]:
        """The original's plaintext as a temporary file, removed on exit (the screen decodes it)."""
        with self._ws.plaintext_path(self.original) as p:
            yield p

    def frame(self, index: int) -> np.ndarray:
        """Frame ``index`` of the original (exact by index), ``H x W x 3`` RGB, decoded in memory."""
        from ..media.images import load_image
        from ..media.video import FrameIndex, read_frame

        if self.kind == "photo":
            with self.original_path() as p:
                img = load_image(p)
            if not 0 <= index < len(img.frames):
                raise InputError(f"no frame {index}")
            return np.ascontiguousarray(img.frames[index][..., :3])
        # Videos are decoded from the decrypted stream (in memory, or an anonymous file that
        # is unlinked at once): no named plaintext file exists at any time.
        with self._ws.open_original(self.original) as f:
            if not self._index_built:
                # Packets only (fast); trusted only when it counts the frames the regions count.
                self._frame_index = FrameIndex.build(f)
                self._index_built = True
            return read_frame(f, index, frame_index=self._frame_index, frames=self.frames)

    @contextlib.contextmanager
    def frame_reader(self, *, ahead: int = 0) -> Iterator[Callable[[int], np.ndarray]]:
        """``read(index)`` for stepping through the original's frames (a player): exact by
        index, a step forward continues decoding, recent frames are kept. Decoded from the
        decrypted stream, which exists only inside the ``with`` block (in memory, or an
        anonymous file unlinked at once).

        Args:
            ahead: Video: after each frame read, decode the next ``ahead`` frames in the
                background (:class:`~witnessbox.media.prefetch.Prefetcher`: bounded, in memory,
                cancelled by a jump, stopped when the block ends).
        """
        from ..media.images import load_image
        from ..media.prefetch import Prefetcher
        from ..media.video import FrameReader, probe_video

        if self.kind == "photo":
            with self.original_path() as p:
                img = load_image(p)

            def photo(index: int) -> np.ndarray:
                if not 0 <= index < len(img.frames):
                    raise InputError(f"no frame {index}")
                return np.ascontiguousarray(img.frames[index][..., :3])

            yield photo
            return
        # Chunks decrypted as read: the first frame does not wait for the whole original.
        with (self._ws.open_original(self.original, random_access=True) as f,
              FrameReader(f, probe_video(f), self.frames) as reader):
            if ahead <= 0:
                yield reader.read
                return
            with Prefetcher(reader, self.frames, ahead=ahead) as pf:
                yield pf.read

    @contextlib.contextmanager
    def encoded_frames(self, encode: Callable[[np.ndarray], bytes], *, ahead: int = 0) -> Iterator[Callable[[int], bytes]]:
        """``send(index)``: ``encode`` of frame ``index`` of the original (the review screen's
        JPEG), like :meth:`frame_reader`. With ``ahead``, the next ``ahead`` frames of a video
        are decoded and encoded in the background while a frame is shown (bounded, in memory)."""
        from ..media.prefetch import Prefetcher
        from ..media.video import FrameReader, probe_video

        if self.kind == "photo" or ahead <= 0:
            with self.frame_reader() as read:
                yield lambda index: encode(read(index))
            return
        with (self._ws.open_original(self.original, random_access=True) as f,
              FrameReader(f, probe_video(f), self.frames) as reader,
              Prefetcher(reader, self.frames, ahead=ahead, encode=encode) as pf):
            yield pf.read_encoded

    def preview(self, index: int) -> np.ndarray:
        """Frame ``index`` rendered with what saving now would hide, with the copy's fill (the
        toggle to the redacted view; the saved copy is rendered by the same function)."""
        from ..redact.render import render

        base = self._base_regions()
        fill = Fill.parse(base.method.fill) if base.method.fill in {f.value for f in Fill} else Fill.SOLID
        regs = [r for r in self.regions() if r.frame == index]
        return render(self.frame(index), regs, fill)

    # -- the review screen's state (docs/review-screen.md) --------------------------------------

    def _summary(self, t: ReviewTrack, low_score: float) -> dict[str, Any]:
        """A track without its keys: what the lists and the timeline draw. Cached per track
        version (tracks are immutable; an edit replaces only the tracks it changes), with the
        parsed files (so another session's review of the same copy finds them ready)."""
        cache = self._parsed.summaries if self._parsed is not None else {}
        hit = cache.get(t.id)
        if hit is not None and hit[0] is t and hit[1] == low_score:
            return hit[2]
        doc = {
            "id": t.id, "origin": t.origin, "start": t.start, "end": t.end, "decision": t.decision,
            "reason": t.reason, "static": t.static, "best_score": round(float(t.best_score), 4),
            "sightings": len(t.sightings), "timeline": timeline_text(t.timeline(low_score)), "marks": t.marks(),
        }
        cache[t.id] = (t, low_score, doc)
        return doc

    def window_doc(self, first: int, last: int) -> dict[str, Any]:
        """The keys needed to draw frames ``first..last`` (clipped to the clip): per track its
        keys inside the window plus the nearest non-empty key on each side, and its emptied
        frames inside; per suggestion its regions inside. JSON-ready (docs/review-screen.md).

        Raises:
            InputError: ``first > last`` or a window over :data:`MAX_WINDOW` frames.
        """
        first, last = max(0, int(first)), min(self.frames - 1, int(last))
        if first > last:
            raise InputError(f"no frames in the window {first}..{last} (the copy has 0..{self.frames - 1})")
        if last - first + 1 > MAX_WINDOW:
            raise InputError(f"a window spans at most {MAX_WINDOW} frames")
        return self._window(first, last)

    def _window(self, first: int, last: int) -> dict[str, Any]:
        tracks: dict[str, Any] = {}
        for t in self.tracks():
            keys, removed = t.window(first, last)
            tracks[t.id] = {"keys": {str(f): [_region_json(r) for r in regs] for f, regs in keys.items()},
                            "removed": removed}
        sugg = {s.id: [[r.frame, *_region_json(r)] for r in s.regions if first <= r.frame <= last]
                for s in self.suggestions()}
        return {"first": first, "last": last, "tracks": tracks, "suggestions": sugg}

    def state_doc(self, around: int | None = None, *, radius: int = WINDOW_RADIUS,
                  low_score: float = LOW_SCORE) -> dict[str, Any]:
        """Everything the review screen draws, JSON-ready: media, track summaries (timeline
        spans, no keys), suggestions (no regions), status, and the keys of the frames within
        ``radius`` of ``around`` (:meth:`window_doc`; ``around=None``: of every frame).
        Format: docs/review-screen.md."""
        st = self.state
        status = self.status()
        if around is None:
            window = self._window(0, self.frames - 1)
        else:
            a = min(max(0, int(around)), self.frames - 1)
            window = self._window(max(0, a - radius), min(self.frames - 1, a + radius))
        suggestions = [{
            "id": s.id, "kind": s.kind, "first": s.first, "last": s.last, "score": round(float(s.score), 4),
            "track": s.track, "decision": st.suggestion_decisions.get(s.id),
            "reason": st.suggestion_reasons.get(s.id, ""), "hidden_as": st.suggestion_tracks.get(s.id),
        } for s in self.suggestions()]
        m = st.media
        return {
            "kind": self.kind, "derivative": self.derivative.sha256, "original": self.original,
            "reviewer": self.reviewer,
            "media": {"width": m.width, "height": m.height, "frames": m.frames, "fps": m.fps or 25.0},
            "tracks": [self._summary(t, low_score) for t in self.tracks()], "suggestions": suggestions,
            "window": window, "low_score": low_score,
            "status": {**status.to_json(), "blockers": status.blockers()},
            "shown": sorted(self.shown()) if self.frames <= 20000 else [],
            "can_undo": self.can_undo, "can_redo": self.can_redo,
        }

    # -- what was shown ------------------------------------------------------------------------

    def show(self, frames: Iterable[int]) -> None:
        """Record that these frames were displayed to the reviewer (playback counts)."""
        n = self.frames
        fs = {int(f) for f in frames}
        bad = [f for f in fs if not 0 <= f < n]
        if bad:
            raise InputError(f"frame {bad[0]} is not in 0..{n - 1}")
        self._shown.setdefault(self.reviewer, set()).update(fs)
        self._reviews._write_draft(self)

    def shown(self, reviewer: str | None = None) -> set[int]:
        return set(self._shown.get(reviewer or self.reviewer, set()))

    # -- edits ---------------------------------------------------------------------------------

    def _do(self, op: Op) -> ReviewState:
        st = self._hist.do(op)
        self._reviews._write_draft(self)
        return st

    def add_region(self, frame: int, box: Iterable[float], shape: str = "box") -> str:
        """Draw a box or an ellipse at ``frame``; returns the new track's id (accepted)."""
        tid = self.state.new_id("m")
        self._do(AddRegion(tid, frame, shape, check_box(box)))
        return tid

    def set_key(self, track: str, frame: int, box: Iterable[float], shape: str | None = None) -> None:
        """Move or resize a track's shape at ``frame`` (a new key, interpolated towards the others)."""
        self._do(SetKey(track, frame, check_box(box), shape))

    def extend(self, track: str, frame: int) -> None:
        """Extend a track forwards or backwards to ``frame``."""
        self._do(Extend(track, frame))

    def delete_frame(self, track: str, frame: int, reason: str = "") -> None:
        """Remove a track's shape on one frame (a detector track needs a reason)."""
        self._do(DeleteFrame(track, frame, reason))

    def delete_track(self, track: str, reason: str = "") -> None:
        """Delete a drawn track, or reject a detector track (reason needed)."""
        self._do(DeleteTrack(track, reason))

    def split(self, track: str, frame: int) -> str:
        """Split a track before ``frame``; returns the id of the part from ``frame`` on."""
        new = self.state.new_id(f"{track}.")
        self._do(Split(track, frame, new))
        return new

    def merge(self, track: str, other: str) -> None:
        """Merge ``other`` into ``track`` (the frames between them are interpolated)."""
        self._do(Merge(track, other))

    def make_static(self, track: str, frame: int) -> None:
        """Hide the track's shape at ``frame`` in every frame of the clip."""
        self._do(MakeStatic(track, frame))

    def accept(self, track: str) -> None:
        self._do(Decide(track, "accepted"))

    def reject(self, track: str, reason: str = "") -> None:
        """Leave a track unhidden (a detector track needs a written reason; it is logged)."""
        self._do(Decide(track, "rejected", reason))

    def hide_suggestion(self, suggestion: str) -> str:
        """Hide what a suggestion points at; returns the new track's id."""
        tid = self.state.new_id("s")
        self._do(HideSuggestion(suggestion, tid))
        return tid

    def dismiss_suggestion(self, suggestion: str, reason: str = "") -> None:
        self._do(DismissSuggestion(suggestion, reason))

    def undo(self) -> None:
        self._hist.undo()
        self._reviews._write_draft(self)

    def redo(self) -> None:
        self._hist.redo()
        self._reviews._write_draft(self)

    @property
    def can_undo(self) -> bool:
        return self._hist.cursor > 0

    @property
    def can_redo(self) -> bool:
        return self._hist.cursor < len(self._hist.ops)

    # -- status, save, approve -----------------------------------------------------------------

    def unsaved(self) -> bool:
        """Whether what is hidden now differs from the copy under review."""
        # Compared as multisets: regions with the same frame and box may come in either order.
        def key(r: Region) -> tuple[object, ...]:
            return (r.frame, r.box, r.shape, r.score, r.source)

        def hidden(st: ReviewState, ids: Iterable[str] | None = None) -> list[Region]:
            ts = st.tracks.values() if ids is None else [st.tracks[i] for i in ids if i in st.tracks]
            return sorted(finish_regions(r for t in ts if t.hidden for r in t.regions()), key=key)

        start = self._hist.base
        parsed = self._parsed
        if parsed is None or parsed.state is not start:  # not opened by Reviews.open
            parsed = _Parsed(self._base_regions(), start, dict(self._saved))
            self._parsed = parsed
        if parsed.same_start is None:
            # Once per copy: whether the review's starting state hides exactly the copy's regions.
            # The starting state's tracks hold the very region objects parsed from the file: the
            # same objects, as many times each, prove it in one pass. Else counted before
            # rounding (the file's regions are rounded already, and rounding twice changes
            # nothing): equal counts prove it, else compare rounded.
            base = parsed.regions.regions
            mine = [r for t in start.tracks.values() if t.hidden for r in t.regions()]
            parsed.same_start = (
                sorted(map(id, mine)) == sorted(map(id, base))
                or collections.Counter(map(key, mine)) == collections.Counter(map(key, base))
                or hidden(start) == sorted(base, key=key))
        if not parsed.same_start:
            return sorted(self.regions(), key=key) != sorted(self._base_regions().regions, key=key)
        # Tracks are immutable and an edit replaces only those it changes: the multisets differ
        # exactly when the regions of the tracks that are not the starting state's objects do.
        # A track whose shapes are the same objects and that is hidden (or not) in both, like
        # one just accepted, changes nothing hidden: only the others are compared.
        st = self.state

        def differs(a: ReviewTrack | None, b: ReviewTrack | None) -> bool:
            if a is b:
                return False
            if a is None or b is None:
                return True
            if not a.hidden and not b.hidden:
                return False
            return not (a.hidden == b.hidden and a.keys is b.keys and a.removed == b.removed
                        and (a.start, a.end, a.origin) == (b.start, b.end, b.origin))

        changed = [i for i in st.tracks.keys() | start.tracks.keys() if differs(st.tracks.get(i), start.tracks.get(i))]
        return bool(changed) and hidden(st, changed) != hidden(start, changed)

    def status(self) -> ReviewStatus:
        st = self.state
        missing = sorted(set(range(self.frames)) - self.shown())
        return ReviewStatus(
            derivative=self.derivative.sha256,
            original=self.original,
            kind=self.kind,
            frames=self.frames,
            reviewer=self.reviewer,
            tracks=len(st.tracks),
            undecided_tracks=tuple(t.id for t in self.tracks() if t.decision is None),
            suggestions=len(st.suggestions),
            undecided_suggestions=tuple(st.undecided_suggestions()),
            frames_not_shown=len(missing),
            first_not_shown=missing[0] if missing else None,
            unsaved=self.unsaved(),
            approvals=self._reviews.approvers(self.derivative.sha256),
            approvals_required=self._reviews.approvals_required(),
        )

    def _suggestions_file(self, regions: RegionsFile) -> SuggestionsFile:
        st = self.state
        refs: list[TrackRef] = []
        index: dict[Region, list[int]] = {}
        for i, r in enumerate(regions.regions):
            index.setdefault(r, []).append(i)
        for t in sorted(st.tracks.values(), key=lambda t: t.id):
            if not t.hidden:
                continue
            ix: list[int] = []
            for r in finish_regions(t.regions()):
                if index.get(r):
                    ix.append(index[r].pop(0))
            if ix:
                refs.append(TrackRef(t.id, tuple(sorted(ix)), t.sightings, t.best_score))
        params: dict[str, float | int | str | bool] = {}
        data = self._reviews._sidecar(self.derivative, self.derivative.name + ".suggestions.json")
        if data is not None:
            params = dict(loads_suggestions(data).params)
        return SuggestionsFile(regions.media, regions.source_sha256, "", tuple(refs), tuple(st.suggestions.values()),
                               params)

    def _record_doc(self) -> dict[str, Any]:
        rec = record_of(self.state)
        reviewers = sorted({*self._saved.get("reviewers", []), self.reviewer})
        return {
            "format": RECORD_FORMAT,
            "version": 1,
            "previous": self.derivative.sha256,
            "reviewers": reviewers,
            **rec,
            "shown": {k: frames_to_ranges(v) for k, v in sorted(self._shown.items())},
        }

    def save(self, *, progress: ProgressHook = _no_progress) -> ItemRecord:
        """Write the regions file, re-render through the redaction pipeline (no detection), seal
        the new copy with the original as parent and log it with the reviewer as actor. The
        copy under review stays in the archive; this review continues on the new one.

        Raises:
            InputError: The regions do not fit the original.
            RedactionError: Rendering failed (nothing sealed).
        """
        ws = self._ws
        base = self._base_regions()
        doc = self.regions_file()
        fill = Fill.parse(base.method.fill) if base.method.fill in {f.value for f in Fill} else Fill.SOLID
        record = self._record_doc()
        name = output_name(Path(ws.item(self.original).name)) + RECORD_SUFFIX
        data = json.dumps(record, indent=1, sort_keys=True, ensure_ascii=False).encode("utf-8") + b"\n"
        new = ws.redaction.redact_reviewed(
            self.original, options=RedactOptions(fill=fill), regions=doc, suggestions=self._suggestions_file(doc),
            sidecars={name: data}, actor=self.reviewer, progress=progress,
        )
        st = self.state
        rejected = [{"track": t.id, "reason": t.reason} for t in self.tracks() if t.decision == "rejected"]
        emptied = [{"track": t.id, "frames": frames_to_ranges(t.removed), "reason": t.reason}
                   for t in self.tracks() if t.removed and t.origin == "detector" and t.decision != "rejected"]
        ws.log_action(
            "review.save",
            [self.original, self.derivative.sha256, new.sha256],
            {
                "regions": len(doc.regions),
                "tracks": len(st.tracks),
                "drawn": sum(1 for t in st.tracks.values() if t.origin != "detector"),
                "rejected": rejected,
                "frames_emptied": emptied,
                "suggestions_hidden": sum(1 for v in st.suggestion_decisions.values() if v == "hidden"),
                "suggestions_dismissed": sum(1 for v in st.suggestion_decisions.values() if v == "dismissed"),
            },
            actor=self.reviewer,
        )
        # Continue on the new copy: its files carry the state; frames shown carry over.
        reopened = self._reviews.open(new.sha256, self.reviewer, log=False)
        reopened._shown = {k: set(v) for k, v in self._shown.items()}
        self._reviews._write_draft(reopened)
        old = self._reviews._draft_path(self.derivative.sha256)
        with contextlib.suppress(OSError):
            old.unlink()
        self.derivative, self._hist, self._saved = reopened.derivative, reopened._hist, reopened._saved
        self._base, self._parsed = reopened._base, reopened._parsed
        return new

    def approve(self) -> Approval:
        """Approve the copy under review for publication, as this reviewer.

        Refused until every track and suggestion is decided, every frame was shown to this
        reviewer and nothing is unsaved. Logged (``approve`` with the reviewer as actor, which
        is what ``publish`` reads, and ``review.approve`` with the decisions).

        Raises:
            ReviewError: Not ready (the message says what is missing).
        """
        status = self.status()
        if not status.ready:
            raise ReviewError("approval refused: " + "; ".join(status.blockers()))
        ws = self._ws
        sha = self.derivative.sha256

        def _log(change: Change) -> None:
            ws.log_action(change.action, change.objects, dict(change.details), actor=self.reviewer)

        with ws.transaction():
            approval = Catalog(ws.engine).approve(sha, self.reviewer, _log)
            st = self.state
            ws.log_action(
                "review.approve",
                [self.original, sha],
                {
                    "tracks_accepted": sum(1 for t in st.tracks.values() if t.decision == "accepted"),
                    "tracks_rejected": sum(1 for t in st.tracks.values() if t.decision == "rejected"),
                    "suggestions": len(st.suggestions),
                    "frames_shown": len(self.shown()),
                },
                actor=self.reviewer,
            )
        return approval


__all__ = ["LOW_SCORE", "MAX_WINDOW", "RECORD_SUFFIX", "SETTINGS_OBJECT", "TIMELINE_CODES", "WINDOW_RADIUS", "Review",
           "ReviewStatus", "Reviews", "timeline_text"]
