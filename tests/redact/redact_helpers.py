"""Helpers shared by the redaction tests (a module of its own: ``from conftest import`` is
ambiguous when several test folders have a conftest)."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np

from witnessbox.media.video import VideoWriter
from witnessbox.redact.detector import Detection


def make_video(path: Path, width: int = 66, height: int = 50, frames: int = 12, fps: Fraction = Fraction(25)) -> Path:
    """A small H.264 MP4 with a moving bright square (frame i has the square at x = 2i)."""
    with open(path, "wb") as f:
        w = VideoWriter(f, width, height, fps)
        for i in range(frames):
            a = np.full((height, width, 3), 40, np.uint8)
            a[10:20, 2 * i : 2 * i + 10] = 220
            a[: height // 4, : width // 4, 0] = 255  # red top-left marker (for rotation checks)
            w.write(a)
        w.close()
    return path


# -- frame-numbered clips (frame-exactness tests; the web review screen's test reuses these) ----

NUMBER_BITS = 12
_CELL = 8


def numbered_frame(index: int, width: int = 128, height: int = 72) -> np.ndarray:
    """A frame that carries ``index`` in its pixels: a row of 12 cells of 8x8 px at the top
    left (white = 1, black = 0, most significant bit first, on a grey background that survives
    lossy coding) and the number written below for a person looking at it."""
    import cv2

    if not 0 <= index < 2**NUMBER_BITS:
        raise ValueError(f"frame number {index} does not fit in {NUMBER_BITS} bits")
    if width < _CELL * NUMBER_BITS + 8 or height < 40:
        raise ValueError("frame too small for the number")
    a = np.full((height, width, 3), 128, np.uint8)
    for b in range(NUMBER_BITS):
        bit = (index >> (NUMBER_BITS - 1 - b)) & 1
        x = 4 + b * _CELL
        a[4 : 4 + _CELL, x : x + _CELL] = 255 if bit else 0
    cv2.putText(a, str(index), (4, height - 8), cv2.FONT_HERSHEY_SIMPLEX, 0.8, (255, 255, 0), 2)
    return a


def frame_number(rgb: np.ndarray) -> int:
    """The number :func:`numbered_frame` drew into ``rgb`` (read back after lossy coding)."""
    n = 0
    for b in range(NUMBER_BITS):
        x = 4 + b * _CELL
        cell = rgb[4 + 2 : 4 + _CELL - 2, x + 2 : x + _CELL - 2]
        n = (n << 1) | int(cell.mean() > 128)
    return n


def make_numbered_clip(
    path: Path, frames: int = 48, width: int = 128, height: int = 72, fps: Fraction = Fraction(25),
    gop: int | None = None,
) -> Path:
    """An H.264 MP4 whose frame ``i`` shows the number ``i`` (see :func:`frame_number`).

    ``gop``: a keyframe every ``gop`` frames, with B-frames (so that random access really starts
    in the middle of the stream and frames are reordered); default: witnessbox's own encoder.
    """
    if gop is not None:
        import av

        with av.open(str(path), "w") as c:
            vs = c.add_stream("libx264", rate=fps)
            vs.width, vs.height, vs.pix_fmt = width, height, "yuv420p"
            vs.options = {"g": str(gop), "bf": "2", "crf": "18", "sc_threshold": "0"}
            for i in range(frames):
                for pkt in vs.encode(av.VideoFrame.from_ndarray(numbered_frame(i, width, height), format="rgb24")):
                    c.mux(pkt)
            for pkt in vs.encode():
                c.mux(pkt)
        return path
    with open(path, "wb") as f:
        w = VideoWriter(f, width, height, fps)
        for i in range(frames):
            w.write(numbered_frame(i, width, height))
        w.close()
    return path


# -- a scripted video detector (review and suggestion tests: exact tracks, gaps, weak boxes) ----

Box = tuple[float, float, float, float]


class ScriptedDetector:
    """A frame detector that "sees" what a script says: ``{frame: [(box, score), ...]}``.

    Boxes scoring at least ``threshold`` are faces; the others are the weak boxes that
    ``detect_all`` reports (as CenterFace's video detector does).
    """

    name = "scripted"

    def __init__(self, script: dict[int, list[tuple[Box, float]]], threshold: float = 0.1) -> None:
        self.script = script
        self.threshold = threshold

    def detect_all(self, rgb: np.ndarray, index: int) -> tuple[list[Detection], list[Detection]]:
        seen = [Detection(b, s) for b, s in self.script.get(index, [])]
        return [d for d in seen if d.score >= self.threshold], [d for d in seen if d.score < self.threshold]

    def __call__(self, rgb: np.ndarray, index: int) -> list[Detection]:
        return self.detect_all(rgb, index)[0]


class PlainScriptedDetector:
    """The same script without ``detect_all`` (what the pipeline hides must not depend on it)."""

    name = "scripted"

    def __init__(self, script: dict[int, list[tuple[Box, float]]], threshold: float = 0.1) -> None:
        self._inner = ScriptedDetector(script, threshold)

    def __call__(self, rgb: np.ndarray, index: int) -> list[Detection]:
        return self._inner(rgb, index)


# The scene of the review tests: 30 frames of 96 x 72 with bright squares ("faces").
SCENE_FRAMES = 30
FACE_A: Box = (10, 10, 26, 26)  # a face the detector follows, lost in frames 6-8 (a gap)
FACE_B: Box = (78, 8, 94, 24)  # seen weakly in frames 14-15 only: a dropped track
FACE_C: Box = (40, 44, 56, 60)  # seen under the threshold in frames 10-12
FACE_D: Box = (70, 46, 86, 62)  # never seen: the reviewer must draw it
POSTER: Box = (40, 6, 52, 18)  # a false positive the detector is sure of in every frame


def scene_script() -> dict[int, list[tuple[Box, float]]]:
    s: dict[int, list[tuple[Box, float]]] = {f: [] for f in range(SCENE_FRAMES)}
    for f in range(SCENE_FRAMES):
        if not 6 <= f <= 8:
            s[f].append((FACE_A, 0.8))
        s[f].append((POSTER, 0.9))
    for f in (14, 15):
        s[f].append((FACE_B, 0.15))
    for f in (10, 11, 12):
        s[f].append((FACE_C, 0.07))
    s[20].append(((12, 12, 24, 24), 0.06))  # weak box inside face A's hidden region: no suggestion
    return s


def make_scene(path: Path) -> Path:
    """The scene as an H.264 MP4: every face square bright (230) on dark grey (40)."""
    with open(path, "wb") as f:
        w = VideoWriter(f, 96, 72, Fraction(25))
        for _ in range(SCENE_FRAMES):
            a = np.full((72, 96, 3), 40, np.uint8)
            for b in (FACE_A, FACE_B, FACE_C, FACE_D, POSTER):
                x0, y0, x1, y1 = (int(v) for v in b)
                a[y0:y1, x0:x1] = 230
            w.write(a)
        w.close()
    return path
