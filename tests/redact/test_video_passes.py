"""How the video passes share their work without changing what is hidden: frames detected
several at once (``Redactor(workers=2)``), and a short video's frames decoded once."""

from __future__ import annotations

import threading
import time
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from redact_helpers import frame_number, numbered_frame
from witnessbox.errors import RedactionError
from witnessbox.media.video import VideoWriter
from witnessbox.redact.detector import Detection
from witnessbox.redact import pipeline
from witnessbox.redact.pipeline import Redactor, _Kept, detect_frames


class SlowOnEvenFrames:
    """Boxes that say which frame they came from; even frames take longer, so a pool finishes
    them out of order. Counts how many calls ran at once; the first calls wait (a few seconds at
    most) until ``together`` of them run at once."""

    name = "numbered"

    def __init__(self, fail_at: int | None = None, together: int = 1) -> None:
        self.fail_at = fail_at
        self.together = together
        self.running = 0
        self.most = 0
        self.calls: list[int] = []
        self._cond = threading.Condition()

    def __call__(self, rgb: np.ndarray, index: int) -> list[Detection]:
        with self._cond:
            self.running += 1
            self.most = max(self.most, self.running)
            self.calls.append(index)
            self._cond.notify_all()
            self._cond.wait_for(lambda: self.most >= self.together, timeout=5)
        try:
            time.sleep(0.02 if index % 2 == 0 else 0.0)
            if index == self.fail_at:
                raise RedactionError(f"frame {index} failed")
            n = frame_number(rgb)
            return [Detection((n, index, n + 10, index + 10), 0.5)]
        finally:
            with self._cond:
                self.running -= 1


def _frames(n: int) -> list[np.ndarray]:
    return [numbered_frame(i) for i in range(n)]


@pytest.mark.parametrize("workers", [1, 2, 3])
def test_results_come_in_frame_order(workers: int) -> None:
    det = SlowOnEvenFrames(together=workers)
    got = list(detect_frames(det, _frames(20), workers))
    assert [k[0].box[:2] for k, _ in got] == [(i, i) for i in range(20)]
    assert all(weak == [] for _, weak in got)
    assert det.most == workers  # one at a time, or really several at once


def test_pool_holds_a_bounded_number_of_frames_ahead() -> None:
    det = SlowOnEvenFrames()
    taken: list[int] = []

    def frames() -> object:
        for i in range(40):
            taken.append(i)
            yield numbered_frame(i)

    it = detect_frames(det, frames(), 2)  # type: ignore[arg-type]
    next(it)
    assert len(taken) <= 4  # 2 x workers in flight, not the whole video decoded ahead
    it.close()


def test_an_error_is_raised_at_its_frame() -> None:
    det = SlowOnEvenFrames(fail_at=6, together=2)
    got: list[int] = []
    with pytest.raises(RedactionError, match="frame 6"):
        for k, _ in detect_frames(det, _frames(30), 2):
            got.append(int(k[0].box[1]))
    assert got == list(range(6))
    assert max(det.calls) < 6 + 4 + 2  # frames after the failure are not all detected


def _crowd_clip(path: Path, photo: Path, frames: int = 8) -> Path:
    """A window panning over a real photo with faces, at 640 x 360."""
    rgb = np.asarray(Image.open(photo).convert("RGB").resize((800, 450)))
    with open(path, "wb") as f:
        w = VideoWriter(f, 640, 360, Fraction(25))
        for i in range(frames):
            x, y = 10 * i, 5 * i
            w.write(np.ascontiguousarray(rgb[y : y + 360, x : x + 640]))
        w.close()
    return path


def test_same_regions_with_one_or_two_workers(tmp_path: Path, face_photo: Path) -> None:
    # The default detector, real weights: two frames at once, one inference thread each, gives
    # the same faces (hence the same regions file and the same video) as one frame at a time
    # on one inference thread per core.
    clip = _crowd_clip(tmp_path / "crowd.mp4", face_photo)
    out = {}
    for workers in (1, 2):
        red = Redactor(workers=workers)
        res = red.redact_file(clip, tmp_path / f"w{workers}.mp4")
        assert res.regions > 0
        out[workers] = (res.regions_file.read_bytes(), res.output.read_bytes())
    assert out[1] == out[2]


def test_a_short_video_is_decoded_once_with_the_same_output(
    tmp_path: Path, small_video: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[Path] = []
    real = pipeline.iter_frames

    def counting(path: Path, info: object, **kw: object) -> object:
        calls.append(path)
        return real(path, info, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(pipeline, "iter_frames", counting)
    out = {}
    for budget, decodes in ((pipeline.KEEP_FRAMES_BYTES, 1), (0, 2)):
        monkeypatch.setattr(pipeline, "KEEP_FRAMES_BYTES", budget)
        calls.clear()
        res = Redactor(workers=1).redact_file(small_video, tmp_path / f"b{budget}.mp4")
        assert len(calls) == decodes
        out[budget] = (res.regions_file.read_bytes(), res.output.read_bytes())
    assert out[0] == out[pipeline.KEEP_FRAMES_BYTES]


def test_kept_frames_given_up_past_the_declared_count() -> None:
    frames = _frames(5)
    k = _Kept(5)
    assert [id(f) for f in k.taking(frames)] == [id(f) for f in frames]
    assert k.frames is not None and [id(f) for f in k.frames] == [id(f) for f in frames]
    short = _Kept(3)
    assert len(list(short.taking(frames))) == 5  # every frame still goes to detection
    assert short.frames is None
