"""Decoding ahead of the review player (media/prefetch.py): exact frames, bounded memory, a
jump cancels the work ahead. Clips whose frames carry their own number in their pixels, read
from memory (as the review reads the decrypted original)."""

from __future__ import annotations

import io
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from witnessbox.media.prefetch import Prefetcher
from witnessbox.media.video import FrameReader, probe_video

from _redact_helpers import redact_helpers


_rh = redact_helpers()
frame_number = _rh.frame_number  # type: ignore[attr-defined]
make_numbered_clip = _rh.make_numbered_clip  # type: ignore[attr-defined]

FRAMES = 60


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """A clip with a keyframe every 12 frames and B-frames (reordered, mid-stream starts)."""
    p = make_numbered_clip(tmp_path_factory.mktemp("prefetch") / "n.mp4", frames=FRAMES, gop=12)
    return Path(p).read_bytes()


class Counting:
    """A real FrameReader that records which frames were decoded ahead (``remember=False``),
    optionally slowed down so that the player can overtake the thread."""

    def __init__(self, reader: FrameReader, delay: float = 0.0) -> None:
        self.reader, self.delay = reader, delay
        self.ahead: list[int] = []
        self.lock = threading.Lock()

    def read(self, index: int, *, remember: bool = True) -> np.ndarray:
        if not remember:
            with self.lock:
                self.ahead.append(index)
            time.sleep(self.delay)
        return self.reader.read(index, remember=remember)

    def remember(self, index: int, arr: np.ndarray) -> None:
        self.reader.remember(index, arr)


def _reader(data: bytes) -> FrameReader:
    f = io.BytesIO(data)
    return FrameReader(f, probe_video(f), FRAMES)


def test_every_frame_is_exactly_the_one_asked_for(clip: bytes) -> None:
    with _reader(clip) as r, Prefetcher(r, FRAMES, ahead=8) as pf:
        assert frame_number(pf.read(0)) == 0
        assert pf.wait_idle()
        assert pf.held() == tuple(range(1, 9)), "frames 1..8 are decoded while frame 0 is on screen"
        for k in range(1, 30):  # steps forward, with time to look at each frame
            assert frame_number(pf.read(k)) == k
            assert pf.wait_idle()
            assert pf.held() == tuple(range(k + 1, min(k + 9, FRAMES)))
        assert pf.hits == 29 and pf.misses == 1
        # A held key: steps faster than the thread decodes; a jump; steps back; the last frames.
        order = [*range(30, 45), 52, 53, 54, 20, 19, 18, 5, 6, 59, 58, 0, 1, 2, 3]
        for k in order:
            assert frame_number(pf.read(k)) == k, f"asked for {k}"
        assert pf.wait_idle()
        assert pf.held() == tuple(range(4, 12))


def test_decoding_ahead_stops_at_the_last_frame(clip: bytes) -> None:
    with _reader(clip) as r, Prefetcher(r, FRAMES, ahead=8) as pf:
        pf.read(FRAMES - 3)
        assert pf.wait_idle()
        assert pf.held() == (FRAMES - 2, FRAMES - 1)
        assert frame_number(pf.read(FRAMES - 1)) == FRAMES - 1
        assert pf.wait_idle() and pf.held() == ()


def test_memory_held_ahead_is_bounded(clip: bytes) -> None:
    with _reader(clip) as r:
        one = r.read(0).nbytes
    with _reader(clip) as r, Prefetcher(r, FRAMES, ahead=8, max_bytes=3 * one) as pf:
        for k in (0, 1, 2, 10):
            assert frame_number(pf.read(k)) == k
            assert pf.wait_idle()
            assert pf.held() == tuple(range(k + 1, k + 4)), "as many frames ahead as the bytes allow"
            assert pf.held_bytes() <= 3 * one
    with _reader(clip) as r, Prefetcher(r, FRAMES, ahead=8, max_frames=2) as pf:
        pf.read(0)
        assert pf.wait_idle() and pf.held() == (1, 2)
    with _reader(clip) as r, Prefetcher(r, FRAMES, ahead=8, max_bytes=one // 2) as pf:
        assert frame_number(pf.read(0)) == 0
        assert pf.wait_idle() and pf.held() == () and pf.held_bytes() == 0, "not even one frame fits"
        assert frame_number(pf.read(1)) == 1


def test_a_jump_cancels_the_work_ahead(clip: bytes) -> None:
    with _reader(clip) as r:
        slow = Counting(r, delay=0.05)
        with Prefetcher(slow, FRAMES, ahead=8) as pf:
            pf.read(0)
            time.sleep(0.06)  # the thread is on frame 1 or 2 of 1..8
            assert frame_number(pf.read(40)) == 40
            assert pf.wait_idle()
            assert pf.held() == tuple(range(41, 49)), "nothing of the old window is kept"
            before = [k for k in slow.ahead if k < 40]
            assert before == list(range(1, len(before) + 1)) and len(before) <= 3, slow.ahead
            assert [k for k in slow.ahead if k >= 40] == list(range(41, 49))


def test_a_step_onto_the_frame_being_decoded_takes_it_over(clip: bytes) -> None:
    """The player asking for the frame the thread is decoding waits for it instead of decoding
    it again (which would cost a seek: the decoder is already past it)."""
    with _reader(clip) as r:
        slow = Counting(r, delay=0.1)
        with Prefetcher(slow, FRAMES, ahead=8) as pf:
            pf.read(0)
            deadline = time.monotonic() + 10
            while pf._busy != 1 and time.monotonic() < deadline:  # the thread is decoding frame 1
                time.sleep(0.001)
            assert frame_number(pf.read(1)) == 1
            assert pf.hits == 1 and pf.misses == 1
            assert slow.ahead.count(1) == 1


def test_close_stops_the_thread_and_drops_every_frame(clip: bytes) -> None:
    with _reader(clip) as r:
        pf = Prefetcher(r, FRAMES, ahead=8)
        pf.read(0)
        assert pf.wait_idle() and pf.held()
        thread = pf._thread
        pf.close()
        assert pf.held() == () and pf.held_bytes() == 0
        assert thread is not None and not thread.is_alive()
        with pytest.raises(RuntimeError):
            pf.read(1)


def test_frames_are_encoded_ahead_too(clip: bytes) -> None:
    """The review screen's JPEG is made in the thread ahead, and only it is held: a step forward
    costs neither the decoding nor the encoding; a step back to a recent frame costs nothing."""
    where: list[tuple[int, str]] = []

    def encode(arr: np.ndarray) -> bytes:
        n = frame_number(arr)
        where.append((n, threading.current_thread().name))
        return bytes([n]) * 1000

    with _reader(clip) as r, Prefetcher(r, FRAMES, ahead=4, encode=encode, behind=5) as pf:
        assert pf.read_encoded(0) == bytes([0]) * 1000
        assert pf.wait_idle() and pf.held() == (1, 2, 3, 4)
        assert pf.held_bytes() == 4 * 1000, "only the encodings are held"
        for k in range(1, 10):
            assert pf.read_encoded(k) == bytes([k]) * 1000
            assert pf.wait_idle()
        assert {n for n, t in where if t == "frame-prefetch"} == set(range(1, 14))
        assert [n for n, t in where if t != "frame-prefetch"] == [0], "a miss is encoded by the caller"
        made = len(where)
        for k in range(8, 4, -1):  # steps back within the last 5 frames read: kept
            assert pf.read_encoded(k) == bytes([k]) * 1000
            assert pf.wait_idle()
        assert len(where) == made, "nothing decoded or encoded again"
        assert pf.read_encoded(2) == bytes([2]) * 1000  # older: decoded again, exactly
        assert pf.read_encoded(40) == bytes([40]) * 1000
        with pytest.raises(RuntimeError):
            pf.read(41)
