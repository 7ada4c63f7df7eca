"""Helpers shared by the redaction tests (a module of its own: ``from conftest import`` is
ambiguous when several test folders have a conftest)."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np

from witnessbox.media.video import VideoWriter


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
