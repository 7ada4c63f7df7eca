"""Redact photos and videos: detect, track, render, encode, and write the regions file.

Fail closed: every output is written through an atomic write, the regions file first and the
picture last, and on any error both are removed, so a redacted copy exists only when it is
complete and described. Nothing of the source's metadata reaches the output (it is re-encoded
from pixels, see :mod:`witnessbox.media.images` and :mod:`witnessbox.media.video`).
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import functools
import io
import math
import queue
import threading
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Protocol

import numpy as np

from .._fsutil import atomic_write, sha256_file
from ..errors import InputError, RedactionError, UsageError, WitnessboxError
from ..media.formats import MediaKind, is_supported, media_kind, output_name
from ..media.images import encode_image, load_image
from ..media.video import MAX_VIDEO_PIXELS, VideoInfo, VideoWriter, iter_frames, probe_video
from .detector import (
    CandidateFrameDetector,
    CenterFace,
    Detection,
    Detector,
    FrameDetector,
    MultiScaleDetector,
    ScalePlan,
    SecondLook,
    VideoFrameDetector,
    ZoomPlan,
)
from .regions import MediaInfo, Method, Region, RegionsFile, read_regions, regions_path, sorted_regions
from .render import Fill, render
from .suggestions import SuggestionsFile, photo_suggestions, regions_digest, suggestions_path, video_suggestions
from .tracking import EdgeCover, Margin, SizedMargin, Track, TrackPolicy, link, track_regions

if TYPE_CHECKING:
    from ..executor import Executor


class ProgressHook(Protocol):
    """Told about progress: ``what`` is ``files`` or ``frames``; ``total`` may be unknown."""

    def __call__(self, what: str, done: int, total: int | None, label: str) -> None: ...


def _no_progress(what: str, done: int, total: int | None, label: str) -> None:
    return None


@dataclass(frozen=True)
class RedactOptions:
    """Everything that decides what is hidden and how (defaults: docs/redaction.md).

    Attributes:
        fill: How hidden pixels are replaced.
        raw_threshold: Per-pass detector threshold (photos) / per-frame threshold (videos).
        threshold: Minimum fused score of a face in a photo.
        video_threshold: Per-frame detector threshold for videos (weak sightings are kept
            only when their track persists, see :class:`TrackPolicy`).
        margin: How a face box becomes the hidden ellipse in photos.
        video_margin: The same for video frames (single-pass boxes jitter more).
        plan: Photo passes (scales, mirroring).
        video_side: Long side, in pixels, at which video frames are analysed.
        video_zoom: The closer look at small faces in video frames (None: off).
        video_edges: Extra cover for video regions at the frame edges (None: off).
        track: How video detections are linked and carried in time.
        keep_audio: Keep a video's sound (dropped by default: voices identify people).
        max_pixels: Refuse photos above this many pixels (videos: also at most
            :data:`~witnessbox.media.video.MAX_VIDEO_PIXELS` per frame).
        suggest_floor: Photos: the lowest fused score listed as a review suggestion (videos
            list what the network returns, down to its own threshold). Never changes what is
            hidden; recorded in the suggestions file, not in the regions file.
        weights: Photos: ``"int8"`` runs the int8 copy of the detector that witnessbox makes
            on first use (CPU only) on pictures with a long side of at least
            ``plan.int8_from`` (about 0.6 of the time, the same protected share on the crowd
            tuning set, docs/redaction.md); ``"fp32"``: the shipped weights only. Regions
            files record ``int8_from`` (0: the int8 copy never ran).
    """

    fill: Fill = Fill.SOLID
    raw_threshold: float = 0.1
    threshold: float = 0.16
    video_threshold: float = 0.1
    margin: SizedMargin = field(default_factory=SizedMargin)
    video_margin: Margin = field(default_factory=lambda: Margin(x=0.45, y=0.45, jitter_least=0.3, jitter_gain=2.0))
    plan: ScalePlan = field(default_factory=ScalePlan)
    video_side: int = 640
    video_zoom: ZoomPlan | None = field(default_factory=ZoomPlan)
    video_edges: EdgeCover | None = field(default_factory=EdgeCover)
    track: TrackPolicy = field(default_factory=lambda: TrackPolicy(growth=0.03, max_growth=0.3, motion=True))
    keep_audio: bool = False
    max_pixels: int = 100_000_000
    suggest_floor: float = 0.05
    weights: str = "int8"

    def thorough(self) -> RedactOptions:
        """These options with the second look at weak faces of 16 px and more in photos of 800 px
        and more (:class:`~witnessbox.redact.detector.SecondLook`; ``redact --thorough``).

        For documenters who would rather hide a little more than leave a recognisable face: on
        the whole crowd tuning set, faces of 16 px and more protected 0.9740 instead of 0.9708
        (34 fewer exposed), over-redaction 0.0123 instead of 0.0114 (over the benchmark's 0.012
        limit, which is why it is not the default), 6-14% more CPU time (docs/redaction.md,
        "Thorough redaction"). Videos and smaller photos are analysed as without it.
        """
        return dataclasses.replace(self, plan=dataclasses.replace(self.plan, second=SecondLook()))

    def params(self, kind: MediaKind) -> dict[str, float | int | str | bool]:
        """The parameters recorded in a regions file's ``method.params``."""
        m = self.margin.small if kind is MediaKind.IMAGE else self.video_margin
        common: dict[str, float | int | str | bool] = {
            "margin_x": m.x, "margin_y": m.y, "shift_y": m.shift_y, "margin_px": m.pixels,
        }
        if m.large_share is not None:
            common.update({"margin_large_share": m.large_share, "margin_small_px": m.small, "margin_large_px": m.large})
        if m.jitter_least is not None:
            common.update({"margin_jitter_least": m.jitter_least, "margin_jitter_gain": m.jitter_gain})
        if kind is MediaKind.IMAGE:
            p, big = self.plan, self.margin
            return {
                **common,
                "large_margin_x": big.large.x,
                "large_margin_y": big.large.y,
                "large_face": big.face,
                "large_picture": big.picture,
                "raw_threshold": self.raw_threshold,
                "threshold": self.threshold,
                "upscale": p.upscale,
                "upscale_below": p.upscale_below,
                "upscale_pixels": p.upscale_pixels,
                "upscale_small_face": p.small_face,
                "upscale_small_candidate": p.small_candidate,
                "upscale_small_face_from": p.small_face_from,
                "look_keep_min": p.look_keep[0] if p.look_keep else 0.0,
                "look_keep_max": p.look_keep[1] if p.look_keep else 0.0,
                "look_flip": p.look_flip,
                "look_flip_sure": p.look_flip_sure,
                "look_flip_context": p.look_flip_context,
                "look_flip_context_px": p.look_flip_context_px,
                "look_flip_whole": p.look_flip_whole,
                "half_from": p.half_from,
                "half_large_face": p.large_face,
                "flip": p.flip,
                "tile_above": p.tile_above,
                "tile": p.tile,
                "tile_overlap": p.overlap,
                **({} if p.crowd is None else {
                    "crowd_zoom": p.crowd.zoom, "crowd_cell": p.crowd.cell, "crowd_small": p.crowd.small,
                    "crowd_candidate": p.crowd.candidate, "crowd_min_count": p.crowd.min_count,
                    "crowd_pad": p.crowd.pad, "crowd_keep_below": p.crowd.keep_below, "crowd_flip": p.crowd.flip,
                    "crowd_picture_from": p.crowd.picture_from,
                    "crowd_threshold": p.crowd.threshold, "crowd_threshold_below": p.crowd.threshold_below,
                }),
                **({} if p.second is None else {
                    "second_low": p.second.low, "second_floor": p.second.floor, "second_min_face": p.second.min_face,
                    "second_scales": " ".join(f"{s:g}<{m:g}" if m else f"{s:g}" for s, m in p.second.scales),
                    "second_flip": p.second.flip, "second_pad": p.second.pad,
                    "second_near": p.second.near, "second_picture_from": p.second.picture_from,
                }),
            }
        t, z = self.track, self.video_zoom
        zoom: dict[str, float | int | str | bool] = {} if z is None else {
            "zoom_every": z.every, "zoom_candidate": z.candidate, "zoom_small": z.small, "zoom": z.zoom,
            "zoom_threshold": z.threshold,
        }
        e = self.video_edges
        edges: dict[str, float | int | str | bool] = {} if e is None else {"edge_near": e.near, "edge_stretch": e.stretch}
        return {
            **common,
            **zoom,
            **edges,
            "threshold": self.video_threshold,
            "video_side": self.video_side,
            "frames_before": t.before,
            "frames_after": t.after,
            "max_gap": t.max_gap,
            "long_gap": t.long_gap,
            "long_hits": t.long_hits,
            "keep_score": t.keep_score,
            "keep_hits": t.keep_hits,
            "smooth": t.smooth,
            "growth": t.growth,
            "max_growth": t.max_growth,
            "carry_motion": t.motion,
        }


@dataclass(frozen=True)
class FileResult:
    """One redacted file."""

    source: Path
    output: Path
    regions_file: Path
    kind: MediaKind
    frames: int
    regions: int
    source_sha256: str
    suggestions_file: Path | None = None


@dataclass(frozen=True)
class FileFailure:
    """One file that could not be redacted (nothing was written for it)."""

    source: Path
    error: str


@dataclass(frozen=True)
class RedactReport:
    """The outcome of redacting several inputs."""

    done: tuple[FileResult, ...]
    failed: tuple[FileFailure, ...]
    skipped: tuple[Path, ...]


#: A video whose decoded frames fit in this many bytes (declared frames x width x height x 3)
#: is decoded once: the detection pass keeps its frames and the render pass takes them. Longer
#: videos are decoded a second time for rendering, so memory does not grow with their length.
KEEP_FRAMES_BYTES = 256 * 2**20

_EPS = 1e-9  # far below a hundredth of a pixel: only absorbs the binary error of 2-decimal values


def _outward(box: tuple[float, float, float, float]) -> tuple[float, float, float, float]:
    # Regions files keep 2 decimals; round outwards so the file never promises less than drawn.
    # The epsilon makes it idempotent: 0.29 * 100 is 28.999999999999996 in binary, and without
    # it every re-render of a reviewed file (already at 2 decimals) would move boxes by 0.01.
    return (
        math.floor(box[0] * 100 + _EPS) / 100,
        math.floor(box[1] * 100 + _EPS) / 100,
        math.ceil(box[2] * 100 - _EPS) / 100,
        math.ceil(box[3] * 100 - _EPS) / 100,
    )


def finish_regions(regions: Iterable[Region]) -> tuple[Region, ...]:
    """Regions as witnessbox writes them: boxes rounded outwards to 2 decimals, in file order."""
    return _finish(regions)


def _finish(regions: Iterable[Region]) -> tuple[Region, ...]:
    return sorted_regions(Region(r.frame, r.shape, _outward(r.box), r.score, r.source) for r in regions)


class Redactor:
    """Redacts files with one set of options; the detector is created on first use.

    Args:
        options: What to hide and how.
        detector: A photo detector to use instead of the default multi-pass CenterFace.
        video_detector: A per-frame video detector instead of the default (called with each
            frame and its index; with ``workers`` above 1, from that many threads at once).
        workers: Photos processed at once, and video frames detected at once (2 uses both
            cores on a two-core machine; the default detectors then run one inference thread
            each).
    """

    def __init__(
        self,
        options: RedactOptions | None = None,
        *,
        detector: Detector | None = None,
        video_detector: FrameDetector | None = None,
        workers: int = 2,
    ) -> None:
        self.options = options or RedactOptions()
        self._photo = detector
        self._video = video_detector
        self.workers = max(1, workers)
        self._lock = threading.Lock()

    def photo_detector(self, threads: int = 0) -> Detector:
        with self._lock:
            if self._photo is None:
                o = self.options
                base = CenterFace(o.raw_threshold, threads=threads)
                fast = CenterFace(o.raw_threshold, threads=threads, weights="int8") if o.weights == "int8" else None
                self._photo = MultiScaleDetector(base, o.plan, threshold=o.threshold, fast=fast)
            return self._photo

    def video_detector(self) -> FrameDetector:
        with self._lock:
            if self._video is None:
                o = self.options
                floor = min(o.video_threshold, o.video_zoom.candidate) if o.video_zoom else o.video_threshold
                # Videos are redacted one at a time and detection is their slowest stage: every
                # core detects. With several workers, each detects its own frame on one
                # inference thread (no thread waits for another inside a run; the same faces,
                # see docs/redaction.md); with one, a run uses one inference thread per core.
                threads = 1 if self.workers > 1 else 0
                self._video = VideoFrameDetector(
                    CenterFace(floor, threads=threads), o.video_side, threshold=o.video_threshold, zoom=o.video_zoom
                )
            return self._video

    # -- one file ---------------------------------------------------------------------------

    def redact_file(
        self,
        source: Path,
        output: Path,
        *,
        regions: RegionsFile | Path | None = None,
        progress: ProgressHook = _no_progress,
        name: str | None = None,
        suggestions: SuggestionsFile | None = None,
    ) -> FileResult:
        """Redact ``source`` into ``output`` and write ``output``'s regions file beside it.

        Args:
            source: Photo or video.
            name: The file name that says what ``source`` is (default: its own name), for
                sources stored without an extension (archive blobs).
            output: Destination (its folder must exist); a video should end in ``.mp4``.
            regions: Re-render from this (reviewed) regions file instead of detecting.
            progress: Told about frames done (videos).
            suggestions: With ``regions``: the suggestions file to write beside it (a review
                keeps its suggestions). Without detection, no other is written.

        Raises:
            UnsupportedMediaError: Unsupported format (the message lists the supported ones).
            InputError: Corrupt, truncated or refused input, or a regions file that does not fit.
            RedactionError: Detection or rendering failed. In every case nothing is left behind.
        """
        source, output = Path(source), Path(output)
        kind = media_kind(Path(name) if name else source)
        given = read_regions(regions) if isinstance(regions, Path) else regions
        if not source.is_file():
            raise InputError(f"{source}: no such file")
        if output.resolve() == source.resolve():
            raise UsageError(f"{output}: output would overwrite its own source; choose another output folder")
        sha = sha256_file(source)
        side = regions_path(output)
        hints = suggestions_path(output)
        try:
            if given is not None and given.source_sha256 != sha:
                # Same size is not enough: regions reviewed for another photo would leave this
                # one's faces visible.
                raise InputError(
                    f"regions file is for source sha256 {given.source_sha256[:12] or '(none)'}..., but "
                    f"{name or source} has {sha[:12]}...: it belongs to another file; give the regions file"
                    " written beside this file's redacted copy"
                )
            # An old suggestions file beside a new regions file would point at the wrong regions.
            _remove(hints)
            if kind is MediaKind.IMAGE:
                res = self._photo_file(source, output, side, sha, given, hints, suggestions)
            else:
                res = self._video_file(source, output, side, sha, given, progress, hints, suggestions)
            return res
        except WitnessboxError:
            _discard(output, side, hints)
            raise
        except MemoryError as e:
            _discard(output, side, hints)
            raise InputError(f"{source}: too large to redact in memory; nothing was written") from e
        except Exception as e:
            # Fail closed on anything unexpected: no output, and say what broke.
            _discard(output, side, hints)
            raise RedactionError(f"{source}: {type(e).__name__}: {e}") from e

    def _photo_file(
        self,
        source: Path,
        output: Path,
        side: Path,
        sha: str,
        given: RegionsFile | None,
        hints: Path,
        suggestions: SuggestionsFile | None,
    ) -> FileResult:
        img = load_image(source, max_pixels=self.options.max_pixels)
        n = len(img.frames)
        o = self.options
        kept: list[list[Detection]] = []
        weak: list[list[Detection]] = []
        if given is not None:
            _check_fits(given, img.width, img.height, n, source)
            regs = _finish(given.regions)
            detector_name = given.method.detector or "manual"
            mparams = o.params(MediaKind.IMAGE)
        else:
            det = self.photo_detector()
            margin = o.margin.for_picture(img.width, img.height)
            found: list[Region] = []
            for i, fr in enumerate(img.frames):
                rgb = np.ascontiguousarray(fr[..., :3])
                # A detector that can also say what it saw under the threshold feeds the review
                # suggestions; the faces it returns are exactly those of a plain call.
                k, wk = det.detect_all(rgb, o.suggest_floor) if isinstance(det, MultiScaleDetector) else (det(rgb), [])
                kept.append(k)
                weak.append(wk)
                for d in k:
                    found.append(Region(i, "ellipse", margin.apply(d.box), d.score, "detector"))
            regs = _finish(found)
            detector_name = det.name
            # What really ran: the int8 copy may be unavailable (GPU, other weights).
            mparams = {**o.params(MediaKind.IMAGE),
                       "int8_from": det.int8_from if isinstance(det, MultiScaleDetector) else 0}
        doc = RegionsFile(
            media=MediaInfo(img.width, img.height, n),
            source_sha256=sha,
            regions=regs,
            method=Method(o.fill.value, detector_name, mparams),
        )
        if given is None:
            params = {"floor": o.suggest_floor, "threshold": o.threshold}
            suggestions = photo_suggestions(doc, kept, weak, o.margin.for_picture(img.width, img.height), _finish, params)
        by_frame = doc.by_frame()
        frames = [render(fr, by_frame.get(i, []), o.fill) for i, fr in enumerate(img.frames)]
        buf = io.BytesIO()
        encode_image(img, frames, buf, output.suffix)
        doc.write(side)
        written = _write_suggestions(hints, doc, suggestions)
        _write_bytes(output, buf.getvalue())
        return FileResult(source, output, side, MediaKind.IMAGE, n, len(regs), sha, written)

    def _video_file(
        self,
        source: Path,
        output: Path,
        side: Path,
        sha: str,
        given: RegionsFile | None,
        progress: ProgressHook,
        hints: Path,
        suggestions: SuggestionsFile | None,
    ) -> FileResult:
        info = probe_video(source, max_pixels=min(self.options.max_pixels, MAX_VIDEO_PIXELS))
        tracks: list[Track] = []
        weak: list[list[Detection]] = []
        kept: _Kept | None = None
        label = source.name
        if given is not None:
            n = given.media.frames
            _check_fits(given, info.width, info.height, n if not info.frames else info.frames, source)
            regs = _finish(given.regions)
            detector_name = given.method.detector or "manual"
        else:
            det = self.video_detector()
            dets: list[list[Detection]] = []
            total = info.frames or None
            fits = 0 < info.frames * info.width * info.height * 3 <= KEEP_FRAMES_BYTES
            kept = _Kept(info.frames) if fits else None
            decoded = iter_frames(source, info)
            # Pass 1: detect every frame (decoding runs ahead in its own thread; with several
            # workers, that many frames are detected at once, the results taken in order).
            for k, wk in detect_frames(det, kept.taking(decoded) if kept else decoded, self.workers):
                dets.append(k)
                weak.append(wk)
                progress("frames", len(dets), total and 2 * total, f"{label} (detect)")
            n = len(dets)
            tracks = link(dets, self.options.track)
            found = track_regions(tracks, n, self.options.video_margin, self.options.track)
            if self.options.video_edges is not None:
                found = self.options.video_edges.apply(found, info.width, info.height)
            regs = _finish(found)
            detector_name = det.name
        doc = RegionsFile(
            media=MediaInfo(info.width, info.height, n, float(info.fps)),
            source_sha256=sha,
            regions=regs,
            method=Method(self.options.fill.value, detector_name, self.options.params(MediaKind.VIDEO)),
        )
        if given is None:
            o = self.options
            params = {"floor": o.video_zoom.candidate if o.video_zoom else o.video_threshold,
                      "threshold": o.video_threshold}
            suggestions = video_suggestions(doc, tracks, weak, o.video_margin, o.track, o.video_edges, _finish, params)
        doc.write(side)
        sugg_file = _write_suggestions(hints, doc, suggestions)
        by_frame = doc.by_frame()
        audio = source if self.options.keep_audio and info.audio_codec else None
        with atomic_write(output, "wb") as f:
            frames = kept.frames if kept is not None and kept.frames is not None else None
            written = self._encode(source, info, f, by_frame, audio, n, progress, label, frames)
        if written != n:
            _remove(output)
            raise InputError(f"{source}: decoded {written} frames the second time, {n} the first; nothing was written")
        return FileResult(source, output, side, MediaKind.VIDEO, n, len(regs), sha, sugg_file)

    def _encode(
        self,
        source: Path,
        info: VideoInfo,
        f: IO[bytes],
        by_frame: dict[int, list[Region]],
        audio: Path | None,
        n: int,
        progress: ProgressHook,
        label: str,
        frames: list[np.ndarray] | None = None,
    ) -> int:
        # Pass 2: decode (thread; or the frames pass 1 kept) -> render (here) -> encode
        # (another thread; x264 has its own).
        writer = VideoWriter(f, info.width, info.height, info.fps, audio_from=audio)
        q: queue.Queue[np.ndarray | None] = queue.Queue(maxsize=8)
        err: list[BaseException] = []

        def _enc() -> None:
            # Keep taking frames after a failure, until the end marker: a thread that stopped
            # taking would leave the render loop blocked on a full queue forever.
            while True:
                item = q.get()
                if item is None:
                    return
                if err:
                    continue
                try:
                    writer.write(item)
                except BaseException as e:
                    err.append(e)

        t = threading.Thread(target=_enc, name="witnessbox-encode", daemon=True)
        t.start()
        i = 0
        try:
            for fr in frames if frames is not None else iter_frames(source, info):
                if i >= n:
                    raise InputError(f"{source}: more frames than the regions file describes ({n})")
                q.put(render(fr, by_frame.get(i, []), self.options.fill))
                i += 1
                if err:
                    break
                progress("frames", n + i, 2 * n, f"{label} (encode)")
        finally:
            q.put(None)
            t.join()
        if err:
            writer.abort()
            raise err[0]
        try:
            writer.close()
        except Exception:
            writer.abort()
            raise
        return i

    # -- many files ---------------------------------------------------------------------------

    def redact_paths(
        self,
        inputs: Sequence[Path],
        outdir: Path,
        *,
        regions: Path | None = None,
        progress: ProgressHook = _no_progress,
        executor: Executor | None = None,
    ) -> RedactReport:
        """Redact files and folders into ``outdir``, keeping names and folder structure.

        A file given directly goes to ``outdir/NAME``; a folder ``F`` goes to ``outdir/F/...``.
        Videos become ``NAME.mp4``. Files of unsupported types inside folders are skipped and
        listed; a file given directly that is not supported fails.

        Args:
            executor: Where the files are redacted: a Ray executor runs one file per task on
                its workers (each holding one detector), which must see ``outdir`` and the
                inputs at the same paths; default, or the local executor: this process.

        Raises:
            UsageError: Two inputs would produce the same output, or ``--regions`` with several inputs.
        """
        jobs, skipped = plan_outputs(inputs, outdir)
        if regions is not None and len(jobs) != 1:
            raise UsageError("--regions re-renders exactly one input; give one file")
        outdir.mkdir(parents=True, exist_ok=True)
        done: list[FileResult] = []
        failed: list[FileFailure] = []
        total = len(jobs)
        progress("files", 0, total, "")
        if executor is not None and executor.name != "local" and self._photo is None and self._video is None:
            results = executor.map(_redact_task, [(s, o, regions) for s, o in jobs],
                                   setup=functools.partial(_task_redactor, self.options))
            for r in results:
                (done if isinstance(r, FileResult) else failed).append(r)  # type: ignore[arg-type]
            progress("files", total, total, "")
            return RedactReport(tuple(done), tuple(failed), tuple(skipped))
        photos = [(s, o) for s, o in jobs if media_kind(s) is MediaKind.IMAGE]
        videos = [(s, o) for s, o in jobs if media_kind(s) is MediaKind.VIDEO]

        def _one(src: Path, out: Path) -> None:
            out.parent.mkdir(parents=True, exist_ok=True)
            try:
                done.append(self.redact_file(src, out, regions=regions, progress=progress))
            except WitnessboxError as e:
                failed.append(FileFailure(src, e.message))
            progress("files", len(done) + len(failed), total, src.name)

        if photos:
            if self.workers > 1 and len(photos) > 1:
                # Two files at once, one inference thread each: both cores stay busy while
                # the other file decodes or encodes.
                self.photo_detector(threads=1)
                with ThreadPoolExecutor(self.workers) as pool:
                    list(pool.map(lambda j: _one(*j), photos))
            else:
                for s, o in photos:
                    _one(s, o)
        for s, o in videos:
            _one(s, o)
        order = {s: i for i, (s, _) in enumerate(jobs)}
        done.sort(key=lambda r: order[r.source])
        failed.sort(key=lambda r: order[r.source])
        return RedactReport(tuple(done), tuple(failed), tuple(skipped))


class _Kept:
    """The decoded frames of a short video, kept by the detection pass for the render pass;
    given up (``frames`` None) if the video has more frames than it declared."""

    def __init__(self, declared: int) -> None:
        self.declared = declared
        self.frames: list[np.ndarray] | None = []

    def taking(self, frames: Iterable[np.ndarray]) -> Iterator[np.ndarray]:
        for fr in frames:
            if self.frames is not None:
                self.frames.append(fr)
                if len(self.frames) > self.declared:
                    self.frames = None
            yield fr


def _detect_one(det: FrameDetector, rgb: np.ndarray, index: int) -> tuple[list[Detection], list[Detection]]:
    if isinstance(det, CandidateFrameDetector):
        # The faces are exactly those of a plain call; the weak boxes come for free.
        return det.detect_all(rgb, index)
    return det(rgb, index), []


def detect_frames(
    det: FrameDetector, frames: Iterable[np.ndarray], workers: int = 1
) -> Iterator[tuple[list[Detection], list[Detection]]]:
    """``(faces, weaker boxes)`` of each frame, in the frames' order.

    With ``workers`` above 1, that many frames are detected at once in a thread pool (ONNX
    Runtime lets go of the GIL while it runs), at most ``2 * workers`` frames held ahead; each
    frame's result is what a call on it alone gives, whatever the order the threads finish in.
    An error of any frame is raised when its turn comes; the frames after it are dropped.
    """
    if workers <= 1:
        for i, fr in enumerate(frames):
            yield _detect_one(det, fr, i)
        return
    with ThreadPoolExecutor(workers, thread_name_prefix="witnessbox-detect") as pool:
        pending: collections.deque[Future[tuple[list[Detection], list[Detection]]]] = collections.deque()
        try:
            for i, fr in enumerate(frames):
                pending.append(pool.submit(_detect_one, det, fr, i))
                if len(pending) >= 2 * workers:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
        finally:
            for f in pending:
                f.cancel()


def _task_redactor(options: RedactOptions) -> Redactor:
    """A worker's redactor: one file at a time, so its detector uses every core it has."""
    return Redactor(options, workers=1)


def _redact_task(redactor: Redactor, job: tuple[Path, Path, Path | None]) -> FileResult | FileFailure:
    """One file of a distributed batch (runs on a worker; writes only its own output files)."""
    src, out, regions = job
    out.parent.mkdir(parents=True, exist_ok=True)
    try:
        return redactor.redact_file(src, out, regions=regions)
    except WitnessboxError as e:
        return FileFailure(src, e.message)


def plan_outputs(inputs: Sequence[Path], outdir: Path) -> tuple[list[tuple[Path, Path]], list[Path]]:
    """Map inputs to output paths; return ``(jobs, skipped files)``.

    Raises:
        InputError: An input does not exist.
        UnsupportedMediaError: A file given directly is not a supported photo or video.
        UsageError: Two inputs map to the same output.
    """
    jobs: list[tuple[Path, Path]] = []
    skipped: list[Path] = []
    out_root = outdir.resolve()
    for p in map(Path, inputs):
        if p.is_dir():
            for f in sorted(q for q in p.rglob("*") if q.is_file()):
                if out_root in f.resolve().parents:
                    continue  # an output folder inside the input: never redact earlier outputs again
                rel = f.relative_to(p)
                if any(part.startswith(".") for part in rel.parts) or not is_supported(f):
                    skipped.append(f)
                    continue
                jobs.append((f, outdir / p.resolve().name / rel.parent / output_name(f)))
        elif p.is_file():
            media_kind(p)
            jobs.append((p, outdir / output_name(p)))
        else:
            raise InputError(f"{p}: no such file or folder")
    seen: dict[Path, Path] = {}
    for s, o in jobs:
        key = o.resolve()
        if key in seen:
            raise UsageError(f"{s} and {seen[key]} would both be written to {o}; redact them separately")
        if key == s.resolve():
            raise UsageError(f"{o}: output would overwrite its own source; choose another output folder")
        seen[key] = s
    return jobs, skipped


def _check_fits(doc: RegionsFile, width: int, height: int, frames: int, source: Path) -> None:
    m = doc.media
    if (m.width, m.height) != (width, height) or m.frames != frames:
        raise InputError(
            f"regions file describes {m.width}x{m.height}, {m.frames} frame(s) but {source} is "
            f"{width}x{height}, {frames} frame(s): it belongs to another file"
        )


def _write_bytes(path: Path, data: bytes) -> None:
    with atomic_write(path, "wb") as f:
        f.write(data)


def _write_suggestions(path: Path, doc: RegionsFile, suggestions: SuggestionsFile | None) -> Path | None:
    if suggestions is None:
        return None
    if suggestions.source_sha256 != doc.source_sha256:
        raise InputError("suggestions file is for another source; nothing was written")
    # It must name the regions file written beside it, which re-rendering may have re-rounded.
    fixed = dataclasses.replace(suggestions, regions_sha256=regions_digest(doc), media=doc.media)
    fixed.write(path)
    return path


def _discard(output: Path, side: Path, hints: Path | None = None) -> None:
    # A failed run leaves no output for this source at all, not even one from an earlier run:
    # an old copy beside a missing or new regions file would not be what the file describes,
    # and "nothing was written" must mean that there is nothing there to publish.
    _remove(output)
    _remove(side)
    if hints is not None:
        _remove(hints)


def _remove(path: Path) -> None:
    with contextlib.suppress(OSError):
        path.unlink()


__all__ = [
    "FileFailure",
    "FileResult",
    "ProgressHook",
    "RedactOptions",
    "RedactReport",
    "Redactor",
    "plan_outputs",
]
