"""Decode ahead of a player: while frame N is on screen, frames N+1..N+``ahead`` are decoded.

The review screen steps through a video one frame at a time (a key press, a held key,
playback). :class:`Prefetcher` wraps a :class:`~witnessbox.media.video.FrameReader` and, after
each frame read, decodes the next ``ahead`` frames in a background thread, so that the next
step finds its frame decoded. Frames are exact by index (they come from the reader, which is).

Bounded and in memory only: at most ``max_frames`` frames and ``max_bytes`` bytes are held
ahead (decoded pictures, never written anywhere: the decrypted original stays in memory, as
the reader's stream); frames behind the cursor stay in the reader's own small cache of recent
frames (steps back). A read of a frame that is not decoded yet (a seek, a jump) cancels the
work ahead: the thread stops after the frame it is decoding, the frames held ahead that are not
in the new window are dropped, and decoding ahead restarts from the new position.

With an ``encode`` function (the review screen's JPEG), each frame decoded ahead is encoded in
the same thread too and only its encoding is held (a JPEG is a few hundred kilobytes, a decoded
1080p picture 6 MB), so that a step forward costs neither the decoding nor the encoding; the
encodings of the last ``behind`` frames read are kept, so that a step back costs nothing.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Protocol

import numpy as np

AHEAD = 8
BEHIND = 48
MAX_FRAMES = 48
MAX_BYTES = 48 * 1024 * 1024


class _Reader(Protocol):
    """What a prefetcher decodes with (:class:`~witnessbox.media.video.FrameReader`)."""

    def read(self, index: int, *, remember: bool = True) -> np.ndarray: ...

    def remember(self, index: int, arr: np.ndarray) -> None: ...


class Prefetcher:
    """Frames of one video by index, decoded ahead of the reader's position (thread-safe).

    Args:
        reader: Decodes frame ``i`` exactly (not thread-safe itself: only one thread uses it at
            a time, under this object's lock).
        frames: Frame count (nothing is decoded past the last frame).
        ahead: Frames to decode after each frame read.
        max_frames: At most this many frames held ahead.
        max_bytes: At most this many bytes held ahead (decoded pictures, or their encodings).
        encode: Encode each frame decoded ahead (the review screen: JPEG) in the same thread
            and hold only the encoding; use :meth:`read_encoded`. The encodings of the last
            ``behind`` frames read are kept too (at most ``max_bytes``): a step back is free.
        behind: See ``encode``.
    """

    def __init__(self, reader: _Reader, frames: int, *, ahead: int = AHEAD, max_frames: int = MAX_FRAMES,
                 max_bytes: int = MAX_BYTES, encode: Callable[[np.ndarray], bytes] | None = None,
                 behind: int = BEHIND) -> None:
        self._reader = reader
        self._frames = frames
        self._ahead = max(0, min(ahead, max_frames))
        self._max_frames = max_frames
        self._max_bytes = max_bytes
        self._encode = encode
        self._behind = behind
        self._decode = threading.Lock()  # one user of the reader at a time
        self._cond = threading.Condition()  # guards everything below
        self._held: dict[int, np.ndarray | bytes] = {}  # ahead: pictures, or encodings
        self._bytes = 0
        self._recent: dict[int, bytes] = {}  # encodings of the frames read last (steps back)
        self._cursor = -1
        self._generation = 0  # bumped by every read that moves the window: stale work stops
        self._busy: int | None = None  # the frame the thread is decoding now
        self._closed = False
        self._thread: threading.Thread | None = None
        self.hits = 0
        self.misses = 0

    def __enter__(self) -> Prefetcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- what the player calls -----------------------------------------------------------------

    def read(self, index: int) -> np.ndarray:
        """Frame ``index`` (exact), then decode ahead of it in the background.

        Raises:
            InputError: No such frame, or the video cannot be decoded (from the reader).
        """
        if self._encode is not None:
            raise RuntimeError("this prefetcher encodes: use read_encoded")
        got = self._take(index)
        if got is not None:
            assert isinstance(got, np.ndarray)
            with self._decode:
                self._reader.remember(index, got)  # for steps back, like a frame read directly
        else:
            with self._decode:  # waits for the frame the thread is decoding now, at most
                got = self._reader.read(index)
        self._wake()
        return got

    def read_encoded(self, index: int) -> bytes:
        """The encoding of frame ``index`` (exact): made ahead, kept from a recent read, or made
        now; then decode and encode ahead of it in the background."""
        if self._encode is None:
            raise RuntimeError("this prefetcher has no encoder")
        with self._cond:
            enc = self._recent.get(index)
        got = self._take(index, count=enc is None)
        if enc is None and got is not None:
            assert isinstance(got, bytes)
            enc = got
        if enc is None:
            with self._decode:  # remembered by the reader: going back, the frames decoded on
                arr = self._reader.read(index)  # the way are kept for the next steps back
            enc = self._encode(arr)
        with self._cond:
            self._recent.pop(index, None)
            self._recent[index] = enc
            while len(self._recent) > self._behind or (
                    len(self._recent) > 1 and sum(map(len, self._recent.values())) > self._max_bytes):
                del self._recent[next(iter(self._recent))]
        self._wake()
        return enc

    def _take(self, index: int, *, count: bool = True) -> np.ndarray | bytes | None:
        """Move the window to ``index``; what was made ahead for it, if anything."""
        with self._cond:
            if self._closed:
                raise RuntimeError("the prefetcher is closed")
            self._generation += 1
            self._cursor = index
            got = self._held.pop(index, None)
            if got is None and self._busy == index and count:  # the thread is on it: take it over
                self._cond.wait_for(lambda: self._busy != index or self._closed)
                got = self._held.pop(index, None)
            if got is not None:
                self._bytes -= _size(got)
            self._drop_outside()
        if count:
            if got is not None:
                self.hits += 1
            else:
                self.misses += 1
        return got

    def held(self) -> tuple[int, ...]:
        """Indices of the frames decoded ahead and held now (sorted)."""
        with self._cond:
            return tuple(sorted(self._held))

    def held_bytes(self) -> int:
        with self._cond:
            return self._bytes

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Wait until the work ahead of the cursor is done (tests, benchmarks); False on timeout."""
        with self._cond:
            return self._cond.wait_for(lambda: self._closed or self._next_wanted() is None, timeout)

    def close(self) -> None:
        """Stop decoding ahead and drop every frame held (before the stream is closed)."""
        with self._cond:
            self._closed = True
            self._generation += 1
            self._held.clear()
            self._recent.clear()
            self._bytes = 0
            self._cond.notify_all()
            t = self._thread
        if t is not None and t is not threading.current_thread():
            t.join()

    # -- the thread ahead ----------------------------------------------------------------------

    def _window(self) -> range:
        return range(self._cursor + 1, min(self._cursor + 1 + self._ahead, self._frames))

    def _drop_outside(self) -> None:
        w = self._window()
        for k in [k for k in self._held if k not in w]:
            self._bytes -= _size(self._held.pop(k))

    def _fits(self, nbytes: int) -> bool:
        return len(self._held) < self._max_frames and self._bytes + nbytes <= self._max_bytes

    def _next_wanted(self) -> int | None:
        """The next frame to decode ahead, or None (window full, budget spent, or closed)."""
        if self._closed or self._cursor < 0:
            return None
        size = _size(next(iter(self._held.values()))) if self._held else 0
        for k in self._window():
            if k not in self._held and k not in self._recent:  # (encoded on a recent read: kept)
                return k if self._fits(size) else None
        return None

    def _wake(self) -> None:
        with self._cond:
            if self._closed or self._ahead == 0:
                return
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="frame-prefetch", daemon=True)
                self._thread.start()
            self._cond.notify_all()

    def _run(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._closed or self._next_wanted() is not None)
                if self._closed:
                    return
                k = self._next_wanted()
                gen = self._generation
            if k is None:
                continue
            with self._decode:
                with self._cond:
                    if self._closed or gen != self._generation:
                        continue  # the player moved while this thread waited: look again
                    self._busy = k
                try:
                    arr = self._reader.read(k, remember=False)
                except Exception:  # a frame that cannot be decoded: the player's own read will say so
                    with self._cond:
                        self._ahead, self._busy = 0, None
                        self._cond.notify_all()
                    return
            # Encoded outside the reader's lock: a jump decodes meanwhile.
            got: np.ndarray | bytes = self._encode(arr) if self._encode is not None else arr
            with self._cond:
                self._busy = None
                wanted = k == self._cursor  # the player is waiting for this very frame
                if not self._closed and k not in self._held and (
                        wanted or (k in self._window() and self._fits(_size(got)))):
                    self._held[k] = got
                    self._bytes += _size(got)
                elif not self._closed and gen == self._generation:
                    self._ahead = k - self._cursor - 1  # over budget: hold fewer ahead from now on
                self._cond.notify_all()


def _size(got: np.ndarray | bytes) -> int:
    return got.nbytes if isinstance(got, np.ndarray) else len(got)


__all__ = ["AHEAD", "BEHIND", "MAX_BYTES", "MAX_FRAMES", "Prefetcher"]
