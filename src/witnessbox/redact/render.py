"""Hide regions in a picture: solid fill (default), blur or pixelation.

Invariant: every pixel that touches a region's shape is replaced (the ellipse is rasterized with
its radii grown by half a pixel diagonal), so a regions file never promises more than was drawn.

Fill parameters (chosen so that nothing identifiable survives; see docs/redaction.md):

- ``solid``: every hidden pixel becomes black. Irreversible.
- ``pixelate``: the region's bounding box is cut into at most :data:`PIXELATE_BLOCKS` blocks
  across its longer side (never smaller than 4 pixels); each block takes its mean colour.
- ``blur``: the region's bounding box is reduced to :data:`BLUR_CELLS` x :data:`BLUR_CELLS`
  mean colours and smoothly enlarged back, so at most 9 colours of information remain. A
  Gaussian blur of the original face would keep high frequencies that deblurring can recover;
  this cannot.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import Enum

import numpy as np

from ..errors import UsageError
from .regions import Region

PIXELATE_BLOCKS = 5
BLUR_CELLS = 3
_HALF_DIAG = 0.7072


class Fill(str, Enum):
    """How hidden pixels are replaced."""

    SOLID = "solid"
    BLUR = "blur"
    PIXELATE = "pixelate"

    @classmethod
    def parse(cls, value: str) -> Fill:
        """The fill named ``value``.

        Raises:
            UsageError: Unknown name (the message lists the valid ones).
        """
        try:
            return cls(value)
        except ValueError as e:
            raise UsageError(f"unknown fill {value!r}: use one of {', '.join(f.value for f in cls)}") from e


def _clip_box(box: tuple[float, float, float, float], w: int, h: int) -> tuple[int, int, int, int] | None:
    x0 = max(int(np.floor(box[0])), 0)
    y0 = max(int(np.floor(box[1])), 0)
    x1 = min(int(np.ceil(box[2])), w)
    y1 = min(int(np.ceil(box[3])), h)
    if x1 <= x0 or y1 <= y0:
        return None
    return x0, y0, x1, y1


def region_mask(region: Region, w: int, h: int) -> tuple[tuple[int, int, int, int], np.ndarray] | None:
    """The pixels a region hides: its clipped bounding box and a boolean mask inside it."""
    clip = _clip_box(region.box, w, h)
    if clip is None:
        return None
    x0, y0, x1, y1 = clip
    if region.shape == "box":
        return clip, np.ones((y1 - y0, x1 - x0), bool)
    bx0, by0, bx1, by1 = region.box
    cx, cy = (bx0 + bx1) / 2, (by0 + by1) / 2
    rx, ry = max((bx1 - bx0) / 2, 0.5) + _HALF_DIAG, max((by1 - by0) / 2, 0.5) + _HALF_DIAG
    yy = (np.arange(y0, y1, dtype=np.float64) + 0.5 - cy) / ry
    xx = (np.arange(x0, x1, dtype=np.float64) + 0.5 - cx) / rx
    return clip, (xx[None, :] ** 2 + yy[:, None] ** 2) <= 1.0


def render(picture: np.ndarray, regions: Sequence[Region], fill: Fill = Fill.SOLID) -> np.ndarray:
    """Return a copy of ``picture`` (``H x W x C`` uint8) with every region hidden.

    Args:
        picture: RGB or RGBA pixels; an alpha channel is made opaque inside regions, so that
            hidden pixels are not merely transparent.
        regions: Shapes to hide (one frame's worth).
        fill: How to replace hidden pixels.
    """
    import cv2

    out = picture.copy()
    h, w = out.shape[:2]
    colour = out[..., :3]
    for r in regions:
        rm = region_mask(r, w, h)
        if rm is None:
            continue
        (x0, y0, x1, y1), mask = rm
        # Fills read only the original picture, never already-filled pixels of another region.
        src = picture[y0:y1, x0:x1, :3]
        if fill is Fill.SOLID:
            repl = np.zeros_like(src)
        elif fill is Fill.PIXELATE:
            bw, bh = x1 - x0, y1 - y0
            block = max(4, int(np.ceil(max(bw, bh) / PIXELATE_BLOCKS)))
            nx, ny = max(1, -(-bw // block)), max(1, -(-bh // block))
            small = cv2.resize(np.ascontiguousarray(src), (nx, ny), interpolation=cv2.INTER_AREA)
            repl = cv2.resize(small, (bw, bh), interpolation=cv2.INTER_NEAREST)
        else:
            small = cv2.resize(np.ascontiguousarray(src), (BLUR_CELLS, BLUR_CELLS), interpolation=cv2.INTER_AREA)
            repl = cv2.resize(small, (x1 - x0, y1 - y0), interpolation=cv2.INTER_CUBIC)
        repl = repl.reshape(src.shape)
        sub = colour[y0:y1, x0:x1]
        sub[mask] = repl[mask]
        if out.shape[2] == 4:
            out[y0:y1, x0:x1, 3][mask] = 255
    return out
