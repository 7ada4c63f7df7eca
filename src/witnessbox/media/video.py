"""Decode videos into upright RGB frames and encode frames into a clean H.264 MP4 (PyAV).

Decoding applies the display rotation of phone videos to the pixels, so every frame is in the
grid a viewer sees, and it is strict: a decoder error, or fewer frames than the container
promises (a truncated file), raises :class:`~witnessbox.errors.InputError`.

Encoding writes a new MP4 from pixels: H.264 at the source's frame size and rate, with
``+bitexact`` so that no creation time or muxer version is written, x264's SEI (its version
and settings) removed, and no tags copied from the source. Odd frame sizes are kept exactly (4:4:4 chroma, since 4:2:0 needs even sizes).
"""

from __future__ import annotations

import contextlib
import io
import queue
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import IO, Any, BinaryIO, cast

import numpy as np

from ..errors import InputError

_DEFAULT_CRF = 18
_DEFAULT_PRESET = "veryfast"
# Refuse frames above this many pixels: 8K (8192 x 4320) fits; a small file that declares
# huge frames would need gigabytes per frame while decoding runs ahead (a decompression bomb).
MAX_VIDEO_PIXELS = 36_000_000
# Make the decoder raise on damaged data instead of concealing it: a concealed frame is a
# guess of smeared pixels in which a face may survive half-visible and be missed by detection.
_STRICT_DECODE = {"err_detect": "crccheck+bitstream+buffer+explode"}


@dataclass(frozen=True)
class VideoInfo:
    """What a video holds, as displayed.

    Attributes:
        width: Displayed width (after rotation).
        height: Displayed height.
        frames: Frame count the container declares (0 when it does not say).
        fps: Average frame rate.
        rotation: Counter-clockwise rotation applied to decoded pixels, degrees (0, 90, 180, 270).
        audio_codec: Codec of the first audio stream, or None.
    """

    width: int
    height: int
    frames: int
    fps: Fraction
    rotation: int
    audio_codec: str | None


VideoSource = Path | BinaryIO
"""A video file, or a seekable stream of one (a decrypted original that never touches the disk
as a named file). A stream is read by one decoder at a time and rewound for each."""


def _open(path: VideoSource) -> Any:
    import av

    try:
        if isinstance(path, Path | str):
            return av.open(str(path), "r")
        path.seek(0)
        return av.open(path, "r")
    except (av.error.FFmpegError, OSError, UnicodeDecodeError) as e:
        raise InputError(f"{path}: not a readable video ({e}); nothing was written") from e


def _rotation_of(stream: Any, first: Any | None) -> int:
    rot = 0
    if first is not None:
        with contextlib.suppress(AttributeError, TypeError, ValueError):
            rot = int(round(float(first.rotation)))
    return rot % 360


def probe_video(path: VideoSource, *, max_pixels: int = MAX_VIDEO_PIXELS) -> VideoInfo:
    """Read a video's displayed size, frame count, rate, rotation and audio codec.

    Decodes the first frame to learn the rotation (PyAV exposes it per frame).

    Args:
        path: The video.
        max_pixels: Refuse frames larger than this.

    Raises:
        InputError: Not a video, no video stream, no decodable frame, or frames too large.
    """
    import av

    def _check_size(w: int, h: int) -> None:
        if w * h > max_pixels:
            raise InputError(
                f"{path}: refused, {w}x{h} frames are more than {max_pixels:,} pixels (decompression bomb?); "
                "nothing was written"
            )

    with _open(path) as c:
        if not c.streams.video:
            raise InputError(f"{path}: no video stream (not a video, or truncated); nothing was written")
        vs = c.streams.video[0]
        _check_size(int(vs.codec_context.width or 0), int(vs.codec_context.height or 0))
        vs.codec_context.options = dict(_STRICT_DECODE)
        first = None
        try:
            for fr in c.decode(vs):
                first = fr
                break
        except av.error.FFmpegError as e:
            raise InputError(f"{path}: corrupt video ({e}); nothing was written") from e
        if first is None:
            raise InputError(f"{path}: the video has no frames; nothing was written")
        rot = _rotation_of(vs, first)
        w, h = first.width, first.height
        _check_size(w, h)
        if rot in (90, 270):
            w, h = h, w
        rate = vs.average_rate or vs.guessed_rate or vs.base_rate
        if not rate or rate <= 0:
            raise InputError(f"{path}: the video declares no frame rate; nothing was written")
        audio = c.streams.audio[0].codec_context.name if c.streams.audio else None
        return VideoInfo(w, h, int(vs.frames or 0), Fraction(rate), rot, audio)


def _upright(arr: np.ndarray, rotation: int) -> np.ndarray:
    k = (rotation // 90) % 4
    return np.ascontiguousarray(np.rot90(arr, k)) if k else arr


def iter_frames(path: VideoSource, info: VideoInfo, *, prefetch: int = 8) -> Iterator[np.ndarray]:
    """Yield every frame as upright ``H x W x 3`` RGB, decoded in a background thread.

    The decoder runs ahead by up to ``prefetch`` frames, so decoding overlaps detection or
    encoding on another core.

    Raises:
        InputError: A decoder error, or fewer frames than the container declares.
    """
    q: queue.Queue[np.ndarray | BaseException | None] = queue.Queue(maxsize=prefetch)
    stop = threading.Event()

    def _put(item: np.ndarray | BaseException | None) -> bool:
        while not stop.is_set():
            try:
                q.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _work() -> None:
        import av

        try:
            with _open(path) as c:
                vs = c.streams.video[0]
                vs.codec_context.options = dict(_STRICT_DECODE)
                vs.thread_type = "AUTO"
                for fr in c.decode(vs):
                    arr = _upright(fr.to_ndarray(format="rgb24"), info.rotation)
                    if not _put(arr):
                        return
            _put(None)
        except av.error.FFmpegError as e:
            _put(InputError(f"{path}: corrupt video ({e}); nothing was written"))
        except BaseException as e:  # handed to the consumer, which re-raises it
            _put(e)

    t = threading.Thread(target=_work, name="witnessbox-decode", daemon=True)
    t.start()
    n = 0
    try:
        while True:
            item = q.get()
            if item is None:
                break
            if isinstance(item, BaseException):
                raise item
            if item.shape[1] != info.width or item.shape[0] != info.height:
                raise InputError(f"{path}: frame {n} changes size; such videos are not supported")
            n += 1
            yield item
    finally:
        stop.set()
        t.join(timeout=5)
    if n == 0:
        raise InputError(f"{path}: the video has no frames; nothing was written")
    if info.frames and n < info.frames:
        raise InputError(
            f"{path}: truncated or corrupt video: decoded {n} of {info.frames} frames; nothing was written"
        )


@dataclass(frozen=True)
class FrameIndex:
    """Where each frame of a video is, for exact random access (built from packets, no decoding).

    Attributes:
        pts: Presentation timestamp of frame ``i`` (decoded frames come out in this order).
        keyframes: Timestamps of the keyframes (where decoding can start), sorted.
    """

    pts: tuple[int, ...]
    keyframes: tuple[int, ...]

    @classmethod
    def build(cls, path: VideoSource, *, stop: threading.Event | None = None) -> FrameIndex | None:
        """Read the packets' timestamps; None when they cannot say where frames are (missing or
        repeated timestamps): then frames are found by decoding from the start. ``stop``: when
        set, reading stops and None is returned (a reader closed while its index was built)."""
        with _open(path) as c:
            if not c.streams.video:
                return None
            vs = c.streams.video[0]
            pts: list[int] = []
            keys: list[int] = []
            for pkt in c.demux(vs):
                if stop is not None and stop.is_set():
                    return None
                if pkt.size == 0:
                    continue  # the demuxer's end marker
                if pkt.pts is None:
                    return None
                pts.append(int(pkt.pts))
                if pkt.is_keyframe:
                    keys.append(int(pkt.pts))
        if not pts or not keys or len(set(pts)) != len(pts):
            return None
        return cls(tuple(sorted(pts)), tuple(sorted(keys)))


def read_frame(
    path: VideoSource, index: int, info: VideoInfo | None = None, *, frame_index: FrameIndex | None = None, frames: int = 0
) -> np.ndarray:
    """Frame number ``index`` (from 0, in decode order: the numbering of regions files) as
    upright ``H x W x 3`` RGB.

    Exact by index. Without ``frame_index``, frames are counted while decoding from the start.
    With one, decoding starts at the keyframe before the frame and stops at the frame whose
    timestamp is the ``index``-th; it is used only when it has exactly ``frames`` entries (the
    frame count the regions file was made with, so no packet without a picture can shift the
    numbering), and any surprise while decoding (a frame without a timestamp, the wanted one
    missing) falls back to counting from the start. Never a seek to a time alone: a seek lands
    on a keyframe near the time, which would show another frame than the regions describe.

    Raises:
        InputError: ``index`` is past the last frame, or the video cannot be decoded.
    """
    if index < 0:
        raise InputError(f"frame {index}: frame numbers start at 0")
    info = info or probe_video(path)
    fi = frame_index
    if fi is not None and frames and len(fi.pts) == frames and index < frames:
        got = _seek_frame(path, info, fi, index)
        if got is not None:
            return got
    for i, fr in enumerate(iter_frames(path, info)):
        if i == index:
            return fr
    raise InputError(f"{path}: no frame {index} (the video has fewer frames)")


class _StreamView(io.RawIOBase):
    """A decoder's own position in a shared seekable stream: the player and the index being built
    beside it read the same decrypted bytes, each seek-and-read under one lock."""

    def __init__(self, base: BinaryIO, lock: threading.Lock) -> None:
        super().__init__()
        self._base, self._lock, self._pos = base, lock, 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> bytes:
        with self._lock:
            self._base.seek(self._pos)
            data = self._base.read(-1 if size is None else size)
        self._pos += len(data)
        return data

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(memoryview(buffer)))
        memoryview(buffer)[: len(data)] = data
        return len(data)

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if whence == io.SEEK_SET:
            pos = offset
        elif whence == io.SEEK_CUR:
            pos = self._pos + offset
        elif whence == io.SEEK_END:
            with self._lock:
                pos = self._base.seek(0, io.SEEK_END) + offset
        else:
            raise ValueError(f"bad whence {whence}")
        if pos < 0:
            raise ValueError("negative seek position")
        self._pos = pos
        return pos

    def tell(self) -> int:
        return self._pos


# Before the index is ready, frames this close to the decoder's position (or to the start) are
# decoded by counting from the start; a farther jump waits for the index (reading packets is
# far quicker than decoding that many frames).
_COUNT_AHEAD = 30


class FrameReader:
    """Frames of one video by index, for stepping through it (the review screen's player).

    Exact like :func:`read_frame`, and fast for what a player does: a step forward continues the
    decoder where it stopped (no new seek while no keyframe lies between), and the last
    ``keep`` frames decoded are kept, so a step back within them costs nothing. Close it (or use
    it as a context manager) to release the file and stop the thread that builds the index.

    The :class:`FrameIndex` (every packet read: seconds for a long 1080p video) is built in a
    background thread, on its own view of the stream, so the first frame does not wait for it:
    until it is ready, frames near the start (or just after the last one read) are decoded from
    the start and counted, exactly as :func:`read_frame` counts; a farther jump waits for it.

    Args:
        path: The video.
        info: Its :func:`probe_video` result.
        frames: The frame count the regions file describes (the index is trusted only when it
            counts the same).
        keep: Decoded frames kept for steps back.
    """

    def __init__(self, path: VideoSource, info: VideoInfo, frames: int, *, keep: int = 16) -> None:
        self._path, self._info, self._frames, self._keep = path, info, frames, keep
        self._lock = threading.Lock()  # one seek-and-read at a time on a shared stream
        self._fi: FrameIndex | None = None
        self._at: dict[int, int] = {}
        self._cache: dict[int, np.ndarray] = {}
        self._container: Any = None
        self._decoder: Iterator[Any] | None = None
        self._last = -1  # index of the last frame the open decoder produced
        self._counting = False  # the open decoder started at frame 0 and counts (no index yet)
        self._built: FrameIndex | None = None
        self._adopted = False
        self._index_done = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._build_index, name="witnessbox-frame-index", daemon=True)
        self._thread.start()

    def __enter__(self) -> FrameReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Release the decoder and stop (and wait for) the index thread."""
        self._stop.set()
        self._thread.join()
        self._drop()

    def index_ready(self, timeout: float | None = None) -> bool:
        """Wait up to ``timeout`` seconds for the frame index to be built (or found unusable)."""
        return self._index_done.wait(timeout)

    def _source(self) -> VideoSource:
        if isinstance(self._path, Path | str):
            return self._path
        return cast(BinaryIO, _StreamView(self._path, self._lock))

    def _build_index(self) -> None:
        fi: FrameIndex | None = None
        try:
            fi = FrameIndex.build(self._source(), stop=self._stop)
        except Exception:  # noqa: BLE001 - no index: frames are counted from the start, errors found there
            fi = None
        finally:
            self._built = fi if fi is not None and len(fi.pts) == self._frames else None
            self._index_done.set()

    def _adopt(self) -> None:
        if self._adopted or not self._index_done.is_set():
            return
        self._adopted = True
        self._fi = self._built
        self._at = {p: i for i, p in enumerate(self._fi.pts)} if self._fi else {}
        if self._fi is None:
            self._drop()  # frames are counted by read_frame from now on
        self._counting = False  # an open decoder from the start goes on by timestamps

    def _drop(self) -> None:
        if self._container is not None:
            self._container.close()
        self._container, self._decoder, self._last, self._counting = None, None, -1, False

    def read(self, index: int, *, remember: bool = True) -> np.ndarray:
        """Frame ``index`` as upright RGB.

        Args:
            remember: Keep the frames decoded among the recent ones (steps back). A decoder
                working ahead of the player (:mod:`witnessbox.media.prefetch`) passes False and
                hands the frame over with :meth:`remember` when the player shows it.

        Raises:
            InputError: No such frame, or the video cannot be decoded.
        """
        if not 0 <= index < self._frames:
            raise InputError(f"no frame {index}: the video has frames 0..{self._frames - 1}")
        if index in self._cache:
            return self._cache[index]
        keep = self._remember if remember else _pass
        self._adopt()
        if not self._adopted:
            cont = self._counting and self._decoder is not None and self._last < index
            if (index - self._last - 1 if cont else index) < _COUNT_AHEAD:
                got = self._count_to(index, keep, cont)
                if got is not None:
                    return got
            self._index_done.wait()
            self._adopt()
        fi = self._fi
        if fi is None:
            return keep(index, read_frame(self._source(), index, self._info))
        got = self._forward(index, keep) if self._decoder is not None and self._last < index and not any(
            fi.pts[self._last] < k <= fi.pts[index] for k in fi.keyframes) else None
        if got is None:
            self._seek(index)
            got = self._forward(index, keep)
        if got is None:  # a surprise from the decoder: count from the start, exactly
            self._drop()
            return keep(index, read_frame(self._source(), index, self._info))
        return got

    def remember(self, index: int, arr: np.ndarray) -> None:
        """Keep frame ``index`` among the recent frames (it is being shown)."""
        self._remember(index, arr)

    def _remember(self, index: int, arr: np.ndarray) -> np.ndarray:
        self._cache.pop(index, None)
        self._cache[index] = arr
        while len(self._cache) > self._keep:
            del self._cache[next(iter(self._cache))]
        return arr

    def _count_to(self, index: int, keep: Callable[[int, np.ndarray], np.ndarray], cont: bool) -> np.ndarray | None:
        """Frame ``index`` decoded from the start and counted (no index yet); None on any
        surprise (the caller then waits for the index, whose path falls back to read_frame)."""
        import av

        try:
            if not cont:
                self._drop()
                c = _open(self._source())
                vs = c.streams.video[0]
                vs.codec_context.options = dict(_STRICT_DECODE)
                self._container, self._decoder, self._counting = c, iter(c.decode(vs)), True
            assert self._decoder is not None
            for fr in self._decoder:
                arr = _upright(fr.to_ndarray(format="rgb24"), self._info.rotation)
                if arr.shape[1] != self._info.width or arr.shape[0] != self._info.height:
                    break
                self._last += 1
                keep(self._last, arr)
                if self._last == index:
                    return arr
        except (InputError, IndexError, av.error.FFmpegError):
            pass
        self._drop()
        return None

    def _seek(self, index: int) -> None:
        import av

        assert self._fi is not None
        self._drop()
        want = self._fi.pts[index]
        start = max((k for k in self._fi.keyframes if k <= want), default=self._fi.keyframes[0])
        try:
            c = _open(self._source())
            vs = c.streams.video[0]
            vs.codec_context.options = dict(_STRICT_DECODE)
            c.seek(start, stream=vs, backward=True, any_frame=False)
        except av.error.FFmpegError:
            return
        self._container, self._decoder = c, iter(c.decode(vs))

    def _forward(self, index: int, keep: Callable[[int, np.ndarray], np.ndarray]) -> np.ndarray | None:
        import av

        assert self._fi is not None
        want = self._fi.pts[index]
        if self._decoder is None:
            return None
        try:
            for fr in self._decoder:
                at = self._at.get(fr.pts) if fr.pts is not None else None
                if at is None or fr.pts > want:
                    return None
                self._last = at
                arr = keep(at, _upright(fr.to_ndarray(format="rgb24"), self._info.rotation))
                if at == index:
                    return arr
        except av.error.FFmpegError:
            return None
        return None


def _pass(index: int, arr: np.ndarray) -> np.ndarray:
    return arr


def _seek_frame(path: VideoSource, info: VideoInfo, fi: FrameIndex, index: int) -> np.ndarray | None:
    import av

    want = fi.pts[index]
    start = max((k for k in fi.keyframes if k <= want), default=fi.keyframes[0])
    try:
        with _open(path) as c:
            vs = c.streams.video[0]
            vs.codec_context.options = dict(_STRICT_DECODE)
            c.seek(start, stream=vs, backward=True, any_frame=False)
            for fr in c.decode(vs):
                if fr.pts is None or fr.pts > want:
                    return None
                if fr.pts == want:
                    return _upright(fr.to_ndarray(format="rgb24"), info.rotation)
    except av.error.FFmpegError:
        return None
    return None


class VideoWriter:
    """Write RGB frames as H.264 into an MP4 on a binary stream (no metadata).

    Args:
        out: Seekable binary stream (the caller makes the file atomic).
        width: Frame width (kept exactly, odd sizes included).
        height: Frame height.
        fps: Frame rate; frame ``i`` is shown at ``i / fps``.
        audio_from: Re-encode the first audio stream of this file to AAC (never copied).
        crf: x264 quality (lower is better; 18 is visually lossless for most footage).
        preset: x264 speed preset.

    Raises:
        InputError: The encoder cannot be set up.
    """

    def __init__(
        self,
        out: IO[bytes],
        width: int,
        height: int,
        fps: Fraction,
        *,
        audio_from: Path | None = None,
        crf: int = _DEFAULT_CRF,
        preset: str = _DEFAULT_PRESET,
    ) -> None:
        import av

        self._audio_from = audio_from
        self._c = av.open(out, "w", format="mp4", options={"fflags": "+bitexact"})
        try:
            vs = self._c.add_stream("libx264", rate=fps)
            vs.width, vs.height = width, height
            even = width % 2 == 0 and height % 2 == 0
            vs.pix_fmt = "yuv420p" if even else "yuv444p"
            vs.codec_context.time_base = Fraction(1) / fps
            vs.codec_context.flags |= av.codec.context.Flags.bitexact
            # MB-tree off: with it, x264 gave different bytes for the same frames from one
            # encode to the next in one process (same frames, same settings; with or without
            # threads), so a redacted video was not reproducible. Without it the bytes are the
            # same every time (tests/redact/test_video_pairing.py), at about the same speed and
            # up to about a fifth larger files at the same crf (docs/redaction.md).
            vs.options = {"crf": str(crf), "preset": preset, "x264-params": "mbtree=0"}
            self._vs = vs
            self._as: Any = None
            self._a_in: Any = None
            if audio_from is not None:
                self._a_in = av.open(str(audio_from), "r")
                if self._a_in.streams.audio:
                    ain = self._a_in.streams.audio[0]
                    # Re-encoded, never copied: a copied bitstream carries the source encoder's
                    # strings (AAC fill elements, LAME tags) into the redacted copy.
                    self._as = self._c.add_stream("aac", rate=ain.codec_context.sample_rate or 48000)
                    self._as.codec_context.flags |= av.codec.context.Flags.bitexact
                    self._as.metadata.clear()
        except (av.error.FFmpegError, ValueError) as e:
            self.abort()
            raise InputError(f"cannot set up the H.264 encoder for {width}x{height}: {e}") from e
        self._n = 0
        self._bsf: Any = None

    def write(self, rgb: np.ndarray) -> None:
        """Encode one frame."""
        import av

        frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
        frame.pts = self._n
        frame.time_base = self._vs.codec_context.time_base
        self._n += 1
        for pkt in self._vs.encode(frame):
            self._mux_video(pkt)

    def _mux_video(self, pkt: Any) -> None:
        # x264 writes its version and every encoder setting into an SEI message of the first
        # frame; ``+bitexact`` does not stop it. Dropping SEI units (type 6) removes it; MP4
        # needs none of them (parameter sets live in the avcC box).
        from av.bitstream import BitStreamFilterContext

        if self._bsf is None:
            self._bsf = BitStreamFilterContext("filter_units=remove_types=6", self._vs)
        for out in self._bsf.filter(pkt):
            out.stream = self._vs
            self._c.mux(out)

    def close(self) -> int:
        """Flush the encoder, add the audio if asked, finish the file; return the frame count."""
        for pkt in self._vs.encode(None):
            self._mux_video(pkt)
        self._mux_video(None)
        if self._as is not None:
            self._mux_audio()
        self._c.close()
        if self._a_in is not None:
            self._a_in.close()
        return self._n

    def abort(self) -> None:
        """Release everything after an error (the caller discards the stream)."""
        with contextlib.suppress(Exception):
            self._c.close()
        with contextlib.suppress(Exception):
            if self._a_in is not None:
                self._a_in.close()

    def _mux_audio(self) -> None:
        import av

        ain = self._a_in.streams.audio[0]
        resampler = av.AudioResampler(format="fltp", layout="stereo", rate=self._as.codec_context.sample_rate)
        for fr in self._a_in.decode(ain):
            for r in resampler.resample(fr):
                for pkt in self._as.encode(r):
                    self._c.mux(pkt)
        for r in resampler.resample(None):
            for pkt in self._as.encode(r):
                self._c.mux(pkt)
        for pkt in self._as.encode(None):
            self._c.mux(pkt)
