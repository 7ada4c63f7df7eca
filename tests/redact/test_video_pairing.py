"""Frames and regions stay paired in video redaction, over several videos and several runs.

Every clip's frame ``i`` carries ``i`` in its pixels (redact_helpers.numbered_frame) and one
green "face" square at a place of its own, far from the previous frame's, so that every frame's
regions differ from its neighbours'. The detector here finds the square in the pixels it is
given (a real pixel test, not a script keyed by frame number), so a frame analysed under the
wrong index would put its face in another frame's regions. Tracking is set to neither smooth
nor carry nor bridge gaps (one frame, one region), which makes every frame's hidden area unique: the test then
reads every output frame back and checks that (1) it shows its own number, (2) its own green
square is hidden, (3) its hidden pixels are exactly the regions file's regions of that frame
index, and (4) those of the next frame do not match (the check can fail). The three runs give
the same bytes.
"""

from __future__ import annotations

import random
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from redact_helpers import frame_number, numbered_frame
from witnessbox.media.video import VideoWriter
from witnessbox.redact.detector import Detection
from witnessbox.redact.pipeline import Redactor, RedactOptions
from witnessbox.redact.regions import Region, read_regions
from witnessbox.redact.render import Fill, render
from witnessbox.redact.tracking import TrackPolicy

pytestmark = pytest.mark.slow

W, H, FRAMES, SQ = 192, 112, 36, 12
Box = tuple[int, int, int, int]


def _places(seed: int) -> list[Box]:
    """One square per frame, each at least 40 px (centre) from the previous one."""
    rng = random.Random(seed)
    out: list[Box] = []
    while len(out) < FRAMES:
        x, y = rng.randrange(12, W - SQ - 12), rng.randrange(32, H - SQ - 12)
        if out and abs(x - out[-1][0]) + abs(y - out[-1][1]) < 40:
            continue
        out.append((x, y, x + SQ, y + SQ))
    return out


def _clip(path: Path, places: list[Box]) -> Path:
    with open(path, "wb") as f:
        w = VideoWriter(f, W, H, Fraction(25))
        for i, (x0, y0, x1, y1) in enumerate(places):
            a = numbered_frame(i, W, H)
            a[y0:y1, x0:x1] = (0, 255, 0)
            w.write(a)
        w.close()
    return path


class GreenSquareDetector:
    """Finds the green square in the frame it is given (bounding box of green pixels)."""

    name = "green-square"

    def __call__(self, rgb: np.ndarray, index: int) -> list[Detection]:
        r, g, b = (rgb[..., c].astype(int) for c in range(3))
        ys, xs = np.nonzero((g > 180) & (r < 100) & (b < 100))
        if len(xs) < 20:
            return []
        return [Detection((float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.max() + 1)), 0.9)]


def _hidden(regions: list[Region]) -> np.ndarray:
    """Where witnessbox's renderer hides ``regions`` in a W x H frame."""
    white = np.full((H, W, 3), 255, np.uint8)
    return render(white, regions, Fill.SOLID).max(axis=2) == 0


def _shrink(m: np.ndarray, k: int) -> np.ndarray:
    out = m.copy()
    for dy in range(-k, k + 1):
        for dx in range(-k, k + 1):
            out &= np.roll(np.roll(m, dy, 0), dx, 1)
    return out


def _mismatches(frame: np.ndarray, regions: list[Region]) -> int:
    """Pixels where ``frame`` disagrees with ``regions`` (2 px of coding blur allowed at edges),
    below the frame number's black and white cells (rows 0-15; squares start at row 32)."""
    want = _hidden(regions)[16:]
    dark = frame[16:].max(axis=2) < 50
    return int((_shrink(want, 2) & ~dark).sum() + (_shrink(~want, 2) & dark).sum())


def _decode(path: Path) -> list[np.ndarray]:
    import av

    with av.open(str(path)) as c:
        return [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]


def test_every_output_frame_hides_its_own_regions(tmp_path: Path) -> None:
    places = {f"clip{k}": _places(k) for k in range(3)}
    clips = [_clip(tmp_path / f"{name}.mp4", p) for name, p in places.items()]
    opts = RedactOptions(track=TrackPolicy(before=0, after=0, smooth=0, max_gap=0, long_gap=0), video_edges=None)
    outputs: list[dict[str, bytes]] = []
    for run in range(3):  # several batch runs, one redactor each, every clip in each
        out = tmp_path / f"run{run}"
        report = Redactor(opts, video_detector=GreenSquareDetector(), workers=1).redact_paths(clips, out)
        assert not report.failed and len(report.done) == len(clips)
        outputs.append({r.output.name: r.output.read_bytes() for r in report.done})
        for res in report.done:
            doc = read_regions(res.regions_file)
            by_frame = doc.by_frame()
            frames = _decode(res.output)
            assert len(frames) == FRAMES == doc.media.frames
            for i, fr in enumerate(frames):
                assert frame_number(fr) == i, f"{res.output.name}: frame {i} shows {frame_number(fr)}"
                own = by_frame.get(i, [])
                assert len(own) == 1, f"{res.output.name} frame {i}: {len(own)} regions"
                x0, y0, x1, y1 = places[res.output.stem][i]
                assert _hidden(own)[y0:y1, x0:x1].all(), f"{res.output.name} frame {i}: its face is not in its region"
                assert _mismatches(fr, own) == 0, f"{res.output.name} frame {i}: hidden pixels differ from its regions"
                if i + 1 < FRAMES:  # the next frame's regions must not fit: the check can fail
                    assert _mismatches(fr, by_frame[i + 1]) > 50
    # x264 runs with MB-tree off (media/video.py): the same input gives the same bytes.
    assert outputs[0] == outputs[1] == outputs[2]
