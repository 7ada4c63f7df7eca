"""Fingerprints of still frames: decode a photo safely, hash every region, mirrored on request."""

from __future__ import annotations

import contextlib
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from . import pdq
from .features import FrameFeatures, frame_features
from .records import REGIONS, FrameHash, Fingerprints

#: Photos larger than this (after JPEG draft decoding) are refused with a reason rather than
#: decoded: a decompression bomb must not take the archive down.
MAX_PIXELS = 120_000_000
#: JPEG draft decoding: the decoder skips DCT detail down to about this size, which is what
#: makes full-resolution photos cheap to fingerprint.
_DRAFT_SIDE = pdq.WORK_SIDE * 2

with contextlib.suppress(ImportError):  # HEIC photos from phones, when pillow-heif is present
    from pillow_heif import register_heif_opener

    register_heif_opener()


class NotAnImage(Exception):
    """Internal: PIL does not recognise the file (it may be a video)."""


def load_rgb(path: Path) -> tuple[pdq.RGB, tuple[int, int]]:
    """Decode a photo to RGB uint8, upright, shrunk for hashing (JPEG draft mode when possible).

    Returns:
        The shrunk frame and the photo's full size ``(width, height)``.

    Raises:
        NotAnImage: Not an image format PIL knows.
        ValueError: The image is corrupt or too large; the message says which.
    """
    try:
        with warnings.catch_warnings():
            # Size is checked after JPEG draft decoding below; PIL's hard limit still applies.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img = Image.open(path)
    except UnidentifiedImageError as e:
        raise NotAnImage(str(path)) from e
    except Image.DecompressionBombError as e:
        raise ValueError("image is too large to decode safely") from e
    except OSError as e:
        raise ValueError(f"cannot read the image: {e}") from e
    with img:
        try:
            size = img.size
            if img.format == "JPEG":
                img.draft("RGB", (_DRAFT_SIDE, _DRAFT_SIDE))
            w, h = img.size
            if w * h > MAX_PIXELS:
                raise ValueError(f"image is too large to decode safely ({w}x{h})")
            upright: Image.Image = ImageOps.exif_transpose(img)
            if upright.size == (h, w) and w != h:  # rotated upright by its EXIF orientation
                size = size[1], size[0]
            if upright.mode != "RGB":
                upright = _flatten(upright)
            rgb: pdq.RGB = np.asarray(upright, dtype=np.uint8)
        except (OSError, SyntaxError, Image.DecompressionBombError, EOFError) as e:
            raise ValueError(f"the image is corrupt or truncated: {e}") from e
    return pdq.shrink(rgb, pdq.WORK_SIDE * 2), size


def _flatten(img: Image.Image) -> Image.Image:
    # Transparent pixels become white, as a browser shows them: the same picture as a JPEG copy.
    if "A" in img.getbands() or img.mode == "P":
        rgba = img.convert("RGBA")
        bg = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(bg, rgba).convert("RGB")
    return img.convert("RGB")


def frame_hashes(
    rgb: pdq.RGB, *, start: float = 0.0, end: float = 0.0, flips: bool = True, features: bool = True
) -> tuple[tuple[FrameHash, ...], tuple[FrameFeatures, ...], str | None]:
    """Hash every region of one frame (and of its mirror image when ``flips``).

    Returns:
        The hashes, the frame's local features (when ``features``) and, when the frame cannot
        be used, the reason (blank, tiny).
    """
    trimmed = pdq.trim(rgb)
    frame = pdq.shrink(trimmed, pdq.WORK_SIDE)
    h, w = frame.shape[:2]
    if h == 0 or w == 0:
        return (), (), "the picture is blank (all black)"
    if min(rgb.shape[:2]) < pdq.MIN_SIDE or min(h, w) < pdq.MIN_SIDE // 2:
        return (), (), f"the picture is too small to fingerprint ({rgb.shape[1]}x{rgb.shape[0]} px)"
    out: list[FrameHash] = []
    mirrored = frame[:, ::-1] if flips else None
    for i, (fx0, fy0, fx1, fy1) in enumerate(REGIONS):
        x0, x1 = round(fx0 * w), round(fx1 * w)
        y0, y1 = round(fy0 * h), round(fy1 * h)
        digest, quality = pdq.hash_frame(frame[y0:y1, x0:x1])
        out.append(FrameHash(digest, quality, start, end, i, False))
        if mirrored is not None:
            # The mirror of region (x0..x1) is region (w-x1..w-x0) of the mirrored frame.
            digest, quality = pdq.hash_frame(mirrored[y0:y1, w - x1 : w - x0])
            out.append(FrameHash(digest, quality, start, end, i, True))
    if not any(fh.usable for fh in out if fh.region == 0):
        return tuple(out), (), (
            f"the picture is blank or nearly uniform (PDQ quality {out[0].quality} < {pdq.MIN_QUALITY})"
        )
    feats = frame_features(trimmed, time=start, flips=flips) if features else ()
    return tuple(out), feats, None


def fingerprint_image(path: Path, *, flips: bool = True) -> Fingerprints:
    """Fingerprints of a photo; a file that cannot be used gets a reason, never an exception.

    Raises:
        NotAnImage: PIL does not recognise the format (the caller may try video).
    """
    try:
        rgb, (width, height) = load_rgb(path)
    except ValueError as e:
        return Fingerprints("photo", (), reason=str(e))
    if min(width, height) < pdq.MIN_SIDE:
        small = f"the picture is too small to fingerprint ({width}x{height} px)"
        return Fingerprints("photo", (), reason=small, width=width, height=height)
    hashes, feats, reason = frame_hashes(rgb, flips=flips)
    return Fingerprints("photo", hashes, reason=reason, width=width, height=height, features=feats)
