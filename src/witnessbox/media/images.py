"""Decode photos into upright pixels, and encode pixels into a photo with no metadata at all.

Decoding is strict, because a photo that decodes only partly could be published with a face
that was never looked at: truncated or corrupt files, decompression bombs and unknown modes
raise :class:`~witnessbox.errors.InputError`. EXIF orientation is applied to the pixels, so
the output is displayed the same way with no orientation tag. Every frame of an animated GIF,
WebP or PNG and every page of a multi-page TIFF is decoded, so every frame can be redacted.

Encoding starts from the pixel array only: nothing of the original file's EXIF, XMP, IPTC,
ICC profile, comments or text chunks can reach the output.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import numpy as np

from ..errors import InputError, UnsupportedMediaError
from .formats import IMAGE_FORMATS

# Refuse pictures above this many pixels (per frame): a 100 MP limit covers every phone and
# most cameras while a decompression bomb (a tiny file that expands to gigabytes) is refused
# before its pixels are allocated.
MAX_PIXELS = 100_000_000
MAX_FRAMES = 1000
# All frames together may hold at most this many times ``max_pixels``: an animation of many
# huge frames is a bomb too (each frame passes, together they need hundreds of gigabytes).
MAX_TOTAL_FACTOR = 4
# Formats that hold one picture: several frames cannot be written back into them.
_SINGLE_FRAME_FORMATS = frozenset({"JPEG", "BMP"})

_GREY_MODES = frozenset({"1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "I;16N", "F"})


@dataclass(frozen=True)
class DecodedImage:
    """An image as displayed: upright 8-bit pixels of every frame.

    Attributes:
        frames: One ``H x W x 3`` (RGB) or ``H x W x 4`` (RGBA) uint8 array per frame.
        format: Pillow format name of the source (``JPEG``, ``PNG``...).
        grey: The source had no colour (written back as greyscale where the format allows).
        durations: Display time of each frame in ms (animations), else empty.
        loop: Animation loop count (0 = forever) or None.
    """

    frames: tuple[np.ndarray, ...]
    format: str
    grey: bool = False
    durations: tuple[int, ...] = ()
    loop: int | None = None

    @property
    def width(self) -> int:
        return int(self.frames[0].shape[1])

    @property
    def height(self) -> int:
        return int(self.frames[0].shape[0])


def _register_heif() -> None:
    import pillow_heif

    pillow_heif.register_heif_opener()


def _to_array(im: object, grey: bool) -> np.ndarray:
    from PIL import Image

    assert isinstance(im, Image.Image)
    mode = im.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        # 16-bit (and 32-bit int) greyscale: keep the top 8 bits, not a clipped low byte.
        a = np.asarray(im).astype(np.int64)
        top = 65535 if mode != "I" or a.max(initial=0) > 255 else 255
        a8 = np.clip(a * 255 // max(top, 1), 0, 255).astype(np.uint8)
        return np.repeat(a8[:, :, None], 3, axis=2)
    if mode == "F":
        a = np.asarray(im, dtype=np.float64)
        hi = max(float(a.max(initial=0.0)), 1.0)
        a8 = np.clip(a * (255.0 / hi if hi > 255 else 1.0), 0, 255).astype(np.uint8)
        return np.repeat(a8[:, :, None], 3, axis=2)
    has_alpha = mode in ("RGBA", "LA", "PA", "La", "RGBa") or (mode == "P" and "transparency" in im.info)
    if mode.startswith("RGB") and mode not in ("RGB", "RGBA") and not has_alpha:
        # 16-bit RGB modes: Pillow converts them by scaling.
        pass
    target = "RGBA" if has_alpha else "RGB"
    if mode == "CMYK" or mode == "YCbCr" or mode == "LAB":
        target = "RGB"
    conv = im.convert(target)
    arr = np.asarray(conv, dtype=np.uint8)
    return np.ascontiguousarray(arr)


def _to_srgb(im: object) -> object:
    """Convert pixels to sRGB using the embedded ICC profile, which the output will not carry."""
    from PIL import Image, ImageCms

    assert isinstance(im, Image.Image)
    icc = im.info.get("icc_profile")
    if not icc or im.mode not in ("RGB", "RGBA", "CMYK"):
        return im
    try:
        src = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        dst = ImageCms.createProfile("sRGB")
        out_mode = "RGBA" if im.mode == "RGBA" else "RGB"
        return ImageCms.profileToProfile(im, src, dst, outputMode=out_mode)
    except (ImageCms.PyCMSError, OSError, ValueError):
        # A broken profile only costs colour accuracy, never privacy: keep the pixels as they are.
        return im


def load_image(path: Path | IO[bytes], *, name: str | None = None, max_pixels: int = MAX_PIXELS) -> DecodedImage:
    """Decode a photo (every frame) into upright 8-bit RGB(A) pixels.

    Args:
        path: File path or binary stream.
        name: Name used in messages (defaults to the path).
        max_pixels: Refuse frames larger than this.

    Raises:
        InputError: Unreadable, truncated or corrupt file, too large, or too many frames.
        UnsupportedMediaError: Pillow cannot read this kind of image.
    """
    from PIL import Image, ImageFile, ImageOps, ImageSequence, UnidentifiedImageError

    _register_heif()
    label = name or str(path)
    ImageFile.LOAD_TRUNCATED_IMAGES = False  # a truncated photo is an error, never half a picture
    try:
        with warnings.catch_warnings():
            # Pillow's own warning threshold (about 89 million pixels) is not our limit: the
            # explicit ``max_pixels`` check below is, before any pixel is decoded.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            im = Image.open(path)
    except UnidentifiedImageError as e:
        raise UnsupportedMediaError(f"{label}: not a readable image (corrupt, or not the format its name says)") from e
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise InputError(f"{label}: refused, too many pixels (decompression bomb?); limit {max_pixels:,}") from e
    except OSError as e:
        raise InputError(f"{label}: cannot read: {e}") from e
    with im:
        w, h = im.size
        if w <= 0 or h <= 0:
            raise InputError(f"{label}: image has no pixels")
        if w * h > max_pixels:
            raise InputError(f"{label}: refused, {w}x{h} is more than {max_pixels:,} pixels (decompression bomb?)")
        fmt = im.format or ""
        n = int(getattr(im, "n_frames", 1) or 1)
        if fmt == "MPO":
            # A multi-picture JPEG (many phones and cameras): the photo is the first picture;
            # the others are previews or depth maps, which are not written to the output.
            n = 1
        if n > MAX_FRAMES:
            raise InputError(f"{label}: refused, {n} frames is more than {MAX_FRAMES}")
        if n * w * h > MAX_TOTAL_FACTOR * max_pixels:
            raise InputError(
                f"{label}: refused, {n} frames of {w}x{h} is more than {MAX_TOTAL_FACTOR * max_pixels:,} "
                "pixels in all (decompression bomb?)"
            )
        grey = im.mode in _GREY_MODES or (im.mode == "P" and _palette_is_grey(im))
        frames: list[np.ndarray] = []
        durations: list[int] = []
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", Image.DecompressionBombWarning)
                for fr in ImageSequence.Iterator(im):
                    if len(frames) == n:
                        break
                    fr.load()
                    if fr.size[0] * fr.size[1] > max_pixels:
                        raise InputError(f"{label}: refused, a frame has more than {max_pixels:,} pixels")
                    durations.append(int(fr.info.get("duration", 0) or 0))
                    # Every frame, not only single ones: pages of a TIFF or frames of a WebP carry
                    # the orientation too, and the output has no tag to say it.
                    up = ImageOps.exif_transpose(fr)
                    frames.append(_to_array(_to_srgb(up), grey))
        except InputError:
            raise
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
            raise InputError(f"{label}: refused, too many pixels (decompression bomb?)") from e
        except (OSError, ValueError, SyntaxError, EOFError, IndexError) as e:
            raise InputError(f"{label}: corrupt or truncated image, nothing was written: {e}") from e
        loop = im.info.get("loop") if n > 1 else None
    if not frames:
        raise InputError(f"{label}: image has no frames")
    shapes = {f.shape[:2] for f in frames}
    if len(shapes) > 1:
        # Frames of different sizes (rare GIF/TIFF pages) are put on the first frame's canvas size.
        raise UnsupportedMediaError(f"{label}: frames of different sizes are not supported; split the file first")
    return DecodedImage(
        frames=tuple(frames),
        format=fmt,
        grey=grey,
        durations=tuple(durations) if n > 1 else (),
        loop=int(loop) if isinstance(loop, int) else (0 if n > 1 else None),
    )


def _palette_is_grey(im: object) -> bool:
    from PIL import Image

    assert isinstance(im, Image.Image)
    pal = im.getpalette() or []
    rgb = np.asarray(pal[: (len(pal) // 3) * 3]).reshape(-1, 3)
    return bool(rgb.size) and bool((rgb == rgb[:, :1]).all())


def encode_image(img: DecodedImage, frames: list[np.ndarray] | tuple[np.ndarray, ...], out: IO[bytes], ext: str) -> None:
    """Encode redacted ``frames`` in the format named by ``ext``, with no metadata.

    Args:
        img: The decoded source (format hints: greyscale, frame timing).
        frames: Redacted pixels, same sizes as ``img.frames``.
        out: Binary stream to write to (the caller makes it atomic).
        ext: Output extension, e.g. ``.jpg``.

    Raises:
        UnsupportedMediaError: No encoder for ``ext``.
        InputError: The encoder refused the pixels.
    """
    from PIL import Image

    fmt = IMAGE_FORMATS.get(ext.lower())
    if fmt is None:
        raise UnsupportedMediaError(f"cannot write {ext} images")
    if fmt == "HEIF":
        _register_heif()
    if len(frames) > 1 and fmt in _SINGLE_FRAME_FORMATS:
        # Writing only the first frame would drop frames the regions file describes.
        raise UnsupportedMediaError(
            f"{len(frames)} frames cannot be written as {ext} (one picture only); the file is an "
            "animation or has several pages: give it a .gif, .png, .webp or .tif name"
        )
    pics = []
    for a in frames:
        mode = "RGBA" if a.shape[2] == 4 else "RGB"
        p = Image.fromarray(np.ascontiguousarray(a), mode)
        if img.grey and fmt in ("JPEG", "PNG", "TIFF", "BMP", "WEBP", "GIF"):
            p = p.convert("LA" if mode == "RGBA" and fmt in ("PNG", "WEBP", "TIFF") else "L")
        if fmt in ("JPEG", "BMP") and p.mode in ("RGBA", "LA"):
            p = p.convert("RGB" if p.mode == "RGBA" else "L")
        pics.append(p)
    # Only encoder settings, never the source's info dict: that is where metadata lives.
    opts: dict[str, object] = {}
    if fmt == "JPEG":
        opts = {"quality": 92, "optimize": False}
    elif fmt == "PNG":
        opts = {"compress_level": 1}  # fast; PNG stays lossless
    elif fmt == "WEBP":
        opts = {"quality": 90, "method": 4}
    elif fmt == "TIFF":
        opts = {"compression": "tiff_deflate"}
    elif fmt == "HEIF":
        opts = {"quality": 90}
    if len(pics) > 1:
        opts["save_all"] = True
        opts["append_images"] = pics[1:]
        if img.durations:
            opts["duration"] = list(img.durations)
        if img.loop is not None and fmt in ("GIF", "WEBP", "PNG"):
            opts["loop"] = img.loop
    try:
        pics[0].save(out, format=fmt, **opts)
    except (OSError, ValueError, KeyError) as e:
        raise InputError(f"cannot encode the redacted image as {fmt}: {e}") from e
