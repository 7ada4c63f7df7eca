"""Local features (ORB) of a frame, and their geometric verification: what finds crops.

PDQ changes by ~30 bits when the picture shifts by 1% of its width (measured in
benchmarks/trace_suite.py), so a copy cropped by 5% or more is out of its reach. ORB keypoints
describe small patches of texture (content, never people: nothing here models faces) and
survive crops, logos, recompression and screen recording. A candidate found through shared
descriptors is accepted only when enough of them agree on one similarity transform (RANSAC)
and the agreeing points are spread over the item's frame, which rejects a shared channel logo.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from . import pdq

#: Keypoints kept per frame (the strongest by ORB's Harris score).
N_FEATURES = 200
#: Long side of the frame ORB runs on.
FEATURE_SIDE = 512
#: Largest Hamming distance (of 256 bits) between two descriptors of the same patch.
DESCRIPTOR_DISTANCE = 48
#: Agreeing keypoints needed for a match; unrelated photos sharing a logo reach ~32.
MIN_INLIERS = 36
#: Cells of a 4x4 grid over the item's frame that the agreeing points must reach.
MIN_CELLS = 5
#: RANSAC reprojection tolerance, as a share of the frame's long side (4 px at 512).
_RANSAC_TOL = 4.0 / FEATURE_SIDE

_ORB = cv2.ORB_create(nfeatures=N_FEATURES, fastThreshold=10, edgeThreshold=15)  # type: ignore[attr-defined]


@dataclass(frozen=True)
class FrameFeatures:
    """ORB keypoints of one frame.

    Attributes:
        time: Second of the frame (0 for photos).
        flipped: Features of the mirrored frame (used to query, never indexed).
        points: float16 (x, y) pairs in units of the frame's long side, packed.
        descriptors: 32 bytes per keypoint, packed, same order as ``points``.
        width: Frame width in units of its long side (1.0 for landscape).
        height: Frame height in units of its long side.
    """

    time: float
    flipped: bool
    points: bytes
    descriptors: bytes
    width: float
    height: float

    def __len__(self) -> int:
        return len(self.descriptors) // 32

    def point_array(self) -> npt.NDArray[np.float32]:
        """Keypoints as an (n, 2) float32 array."""
        return np.frombuffer(self.points, np.float16).reshape(-1, 2).astype(np.float32)

    def descriptor_array(self) -> npt.NDArray[np.uint8]:
        """Descriptors as an (n, 32) uint8 array."""
        return np.frombuffer(self.descriptors, np.uint8).reshape(-1, 32)


def frame_features(trimmed: pdq.RGB, *, time: float = 0.0, flips: bool = True) -> tuple[FrameFeatures, ...]:
    """ORB features of a border-trimmed frame (and of its mirror image when ``flips``)."""
    frame = pdq.shrink(trimmed, FEATURE_SIDE)
    gray = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)
    out = []
    for flipped in (False, True) if flips else (False,):
        g = np.ascontiguousarray(gray[:, ::-1]) if flipped else gray
        keypoints, desc = _ORB.detectAndCompute(g, None)
        if desc is None or len(keypoints) == 0:
            continue
        long_side = float(max(g.shape))
        pts = np.array([k.pt for k in keypoints], np.float32) / long_side
        out.append(
            FrameFeatures(
                time,
                flipped,
                pts.astype(np.float16).tobytes(),
                np.ascontiguousarray(desc, np.uint8).tobytes(),
                g.shape[1] / long_side,
                g.shape[0] / long_side,
            )
        )
    return tuple(out)


def verify(
    query_pts: npt.NDArray[np.float32],
    item_pts: npt.NDArray[np.float32],
    item_size: tuple[float, float],
) -> int:
    """Count the correspondences that agree on one similarity transform, spread out enough.

    Args:
        query_pts: (n, 2) points of the query, each paired with the same row of ``item_pts``.
        item_pts: (n, 2) points of the item.
        item_size: The item frame's (width, height) in the same units.

    Returns:
        The number of agreeing points, or 0 when they are too few or too bunched together.
    """
    if len(query_pts) < MIN_INLIERS:
        return 0
    model, mask = cv2.estimateAffinePartial2D(
        query_pts, item_pts, method=cv2.RANSAC, ransacReprojThreshold=_RANSAC_TOL, maxIters=500
    )
    if model is None or mask is None:
        return 0
    inliers = mask.ravel().astype(bool)
    n = int(inliers.sum())
    if n < MIN_INLIERS:
        return 0
    scale = float(np.hypot(model[0, 0], model[1, 0]))
    if not 0.25 <= scale <= 4.0:
        return 0
    w, h = item_size
    cells = item_pts[inliers] / np.array([max(w, 1e-6), max(h, 1e-6)], np.float32)
    grid = np.clip((cells * 4).astype(int), 0, 3)
    if len(np.unique(grid[:, 0] * 4 + grid[:, 1])) < MIN_CELLS:
        return 0
    return n
