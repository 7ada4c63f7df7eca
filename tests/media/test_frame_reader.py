"""The review player's frame reader (media/video.py FrameReader) while its frame index is still
being built in the background: the first frames come at once and exact (counted from the start),
a far jump waits for the index, closing stops the thread. Clips whose frames carry their own
number in their pixels, read from memory (as the review reads the decrypted original)."""

from __future__ import annotations

import io
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from witnessbox.media.video import FrameIndex, FrameReader, probe_video

from _redact_helpers import redact_helpers

_rh = redact_helpers()
frame_number = _rh.frame_number  # type: ignore[attr-defined]
make_numbered_clip = _rh.make_numbered_clip  # type: ignore[attr-defined]

FRAMES = 60


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """A keyframe every 12 frames and B-frames (decode order differs from the packets' order)."""
    p = make_numbered_clip(tmp_path_factory.mktemp("reader") / "n.mp4", frames=FRAMES, gop=12)
    return Path(p).read_bytes()


class Gate:
    """Holds ``FrameIndex.build`` until opened (or until the reader stops it)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.open = threading.Event()
        self.started = threading.Event()
        self.stopped = False
        real = FrameIndex.build.__func__  # type: ignore[attr-defined]

        def build(cls: type[FrameIndex], path: Any, *, stop: threading.Event | None = None) -> FrameIndex | None:
            self.started.set()
            while not self.open.is_set():
                if stop is not None and stop.is_set():
                    self.stopped = True
                    break
                time.sleep(0.005)
            return real(cls, path, stop=stop)  # type: ignore[no-any-return]

        monkeypatch.setattr(FrameIndex, "build", classmethod(build))


def test_first_frames_before_the_index_is_ready_are_exact(clip: bytes, monkeypatch: pytest.MonkeyPatch) -> None:
    gate = Gate(monkeypatch)
    f = io.BytesIO(clip)
    with FrameReader(f, probe_video(f), FRAMES, keep=4) as r:
        assert gate.started.wait(5)
        # Steps forward from the start, a step back past the kept frames, a restart: all counted.
        for k in [0, 1, 2, 3, 5, 9, 13, 1, 0, 14]:
            assert frame_number(r.read(k)) == k, f"asked for {k}"
        assert not r.index_ready(0), "all of these came before the index"
        gate.open.set()
        assert r.index_ready(5)
        # The decoder opened for counting goes on by the index's timestamps, then seeks.
        for k in [15, 16, 40, 41, 3, 59]:
            assert frame_number(r.read(k)) == k, f"asked for {k}"


def test_a_far_jump_waits_for_the_index(clip: bytes, monkeypatch: pytest.MonkeyPatch) -> None:
    gate = Gate(monkeypatch)
    f = io.BytesIO(clip)
    with FrameReader(f, probe_video(f), FRAMES) as r:
        assert frame_number(r.read(0)) == 0
        threading.Timer(0.3, gate.open.set).start()
        t = time.perf_counter()
        assert frame_number(r.read(55)) == 55
        assert time.perf_counter() - t >= 0.25, "frame 55 is found through the index"
        assert r.index_ready(0)


def test_close_stops_the_index_thread(clip: bytes, monkeypatch: pytest.MonkeyPatch) -> None:
    gate = Gate(monkeypatch)
    f = io.BytesIO(clip)
    before = {t.name for t in threading.enumerate()}
    r = FrameReader(f, probe_video(f), FRAMES)
    assert gate.started.wait(5)
    assert frame_number(r.read(2)) == 2
    r.close()
    assert gate.stopped, "the build was told to stop"
    assert not r._thread.is_alive()  # noqa: SLF001
    assert "witnessbox-frame-index" not in {t.name for t in threading.enumerate()} - before
    assert not f.closed


def test_an_index_that_does_not_fit_counts_every_frame(clip: bytes) -> None:
    f = io.BytesIO(clip)
    with FrameReader(f, probe_video(f), FRAMES + 1) as r:  # the regions count one frame more
        assert r.index_ready(5)
        for k in [0, 1, 31, 30, 59]:
            assert frame_number(r.read(k)) == k
    with FrameReader(Path("/nonexistent/video.mp4"), probe_video(io.BytesIO(clip)), FRAMES) as r:
        assert r.index_ready(5)  # an unreadable file: no index, the read says why
        with pytest.raises(Exception, match="not a readable video"):
            r.read(0)
