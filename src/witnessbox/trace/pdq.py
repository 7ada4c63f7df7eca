"""PDQ primitives: one 256-bit hash of an RGB array, bytes in the canonical PDQ bit order.

A hash is 32 bytes. Byte 0 holds the highest bits of the 16th PDQ word, so ``h.hex()`` is the
64-digit hex string that Facebook's reference tools print (see docs/trace.md).

The frame is prepared the same way everywhere (archive side and query side) so that distances
mean the same thing: black borders trimmed, then resampled with an area filter to exactly
:data:`PDQ_SIDE` x :data:`PDQ_SIDE`, the size PDQ reduces every frame to internally. Doing that
step ourselves, with the same filter whatever the input size, is what makes a copy shrunk to
100 px hash like its 4000 px original (benchmarks/trace_suite.py: resize recall 0.81 -> 1.0,
distances of unrelated photos unchanged), and it makes hashing cost nothing next to decoding.
"""

from __future__ import annotations

import cv2
import numpy as np
import numpy.typing as npt
import pdqhash

HASH_BYTES = 32
HASH_BITS = 256
#: Side of the square frame PDQ hashes (its own internal size).
PDQ_SIDE = 64
#: Long side, in pixels, of the frame that is hashed (after border trimming).
WORK_SIDE = 256
#: PDQ quality below this is not used for matching (Facebook's recommendation).
MIN_QUALITY = 50
#: Frames smaller than this on their short side (after trimming) carry no usable hash.
MIN_SIDE = 32

# A border row or column is "black" when nearly all of it is this dark (luma 0..255). Letterbox
# bars of screen recordings stay near 0 after gamma and recompression; real dark scenes have
# texture, so the percentile test keeps them.
_BORDER_LUMA = 28.0
_BORDER_PCT = 97.0
#: At most this share of each dimension is trimmed from each side.
_MAX_TRIM = 0.4

RGB = npt.NDArray[np.uint8]


def hash_rgb(rgb: RGB) -> tuple[bytes, int]:
    """PDQ hash and quality (0..100) of an RGB uint8 array of shape (h, w, 3), as given."""
    bits, quality = pdqhash.compute(np.ascontiguousarray(rgb))
    return np.packbits(bits.astype(np.uint8)).tobytes(), int(quality)


def hash_frame(rgb: RGB) -> tuple[bytes, int]:
    """PDQ hash and quality of a prepared frame, resampled to the 64x64 PDQ works on."""
    h, w = rgb.shape[:2]
    # Area averaging when shrinking; bilinear for the rare frame under 64 px on a side.
    interp = cv2.INTER_AREA if min(h, w) >= PDQ_SIDE else cv2.INTER_LINEAR
    square = np.ascontiguousarray(cv2.resize(rgb, (PDQ_SIDE, PDQ_SIDE), interpolation=interp), np.uint8)
    return hash_rgb(square)


def luma(rgb: RGB) -> npt.NDArray[np.float32]:
    """BT.601 luma, as PDQ computes it."""
    f = rgb.astype(np.float32)
    y: npt.NDArray[np.float32] = f[..., 0] * 0.299 + f[..., 1] * 0.587 + f[..., 2] * 0.114
    return y


def shrink(rgb: RGB, side: int = WORK_SIDE) -> RGB:
    """Scale down (area filter) so that the long side is at most ``side``; never scales up."""
    h, w = rgb.shape[:2]
    scale = side / max(h, w, 1)
    if scale >= 1.0 or min(h, w) == 0:
        return rgb
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    out: RGB = np.asarray(cv2.resize(rgb, size, interpolation=cv2.INTER_AREA), dtype=np.uint8)
    return out


def content_box(rgb: RGB) -> tuple[int, int, int, int]:
    """The box ``(x0, y0, x1, y1)`` left after trimming black borders (letterbox, pillarbox).

    An all-black frame returns an empty box (``x0 == x1``).
    """
    y = luma(rgb)
    h, w = y.shape
    rows = np.percentile(y, _BORDER_PCT, axis=1) > _BORDER_LUMA
    cols = np.percentile(y, _BORDER_PCT, axis=0) > _BORDER_LUMA
    if not rows.any() or not cols.any():
        return (0, 0, 0, 0)
    y0 = min(int(np.argmax(rows)), int(h * _MAX_TRIM))
    y1 = max(h - int(np.argmax(rows[::-1])), h - int(h * _MAX_TRIM))
    x0 = min(int(np.argmax(cols)), int(w * _MAX_TRIM))
    x1 = max(w - int(np.argmax(cols[::-1])), w - int(w * _MAX_TRIM))
    return (x0, y0, x1, y1)


def trim(rgb: RGB) -> RGB:
    """Shrink to twice the working size and cut black borders (empty when all black)."""
    small = shrink(rgb, WORK_SIDE * 2)
    x0, y0, x1, y1 = content_box(small)
    if x1 <= x0 or y1 <= y0:
        return small[:0, :0]
    return small[y0:y1, x0:x1]


def prepare(rgb: RGB) -> RGB:
    """Trim black borders, then shrink to the working size: the frame every hash is taken from."""
    return shrink(trim(rgb), WORK_SIDE)


def distance(a: bytes, b: bytes) -> int:
    """Hamming distance between two hashes."""
    return int(np.unpackbits(np.frombuffer(a, np.uint8) ^ np.frombuffer(b, np.uint8)).sum())
