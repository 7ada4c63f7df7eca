"""Removing what could identify a source's device or location from a photo or video, in memory.

Photos are decoded and re-encoded from their pixels (:mod:`witnessbox.media.images`): no EXIF,
GPS, XMP, maker notes, ICC profile or thumbnail survives. Videos are remuxed with PyAV into a
new container of the same kind, copying only the audio and video packets: container and stream
tags (creation time, GPS ``location``, device make and model, encoder) are not copied. The
pictures themselves are not re-encoded. Everything happens in memory: the drop box never writes
plaintext to disk, so a file too large for the memory budget is refused rather than spooled.
"""

from __future__ import annotations

import io
from pathlib import Path

from ..errors import InputError, UnsupportedMediaError
from ..media.images import encode_image, load_image

# Containers PyAV can write back, by media type the magic bytes show.
_VIDEO_FORMATS = {
    "video/mp4": ("mp4", ".mp4"),
    "video/quicktime": ("mov", ".mov"),
    "video/3gpp": ("3gp", ".3gp"),
    "video/x-matroska": ("matroska", ".mkv"),
    "video/webm": ("webm", ".webm"),
    "video/x-msvideo": ("avi", ".avi"),
}
_IMAGE_EXT = {
    "image/jpeg": ".jpg", "image/png": ".png", "image/webp": ".webp", "image/gif": ".gif",
    "image/tiff": ".tif", "image/heic": ".heic", "image/heif": ".heic", "image/bmp": ".bmp",
}


def strippable(media_type: str | None) -> bool:
    """True for the photo and video types :func:`strip` handles."""
    return media_type in _IMAGE_EXT or media_type in _VIDEO_FORMATS


def strip(data: bytes, media_type: str) -> bytes:
    """The same picture or footage without metadata.

    Raises:
        InputError: The file cannot be decoded (damaged, hostile, too many pixels): the source is
            told to send it again without metadata removal, or not at all.
        UnsupportedMediaError: ``media_type`` is not a photo or video handled here.
    """
    if media_type in _IMAGE_EXT:
        img = load_image(io.BytesIO(data), name="upload" + _IMAGE_EXT[media_type])
        out = io.BytesIO()
        encode_image(img, img.frames, out, _IMAGE_EXT[media_type])
        return out.getvalue()
    if media_type in _VIDEO_FORMATS:
        return _remux(data, *_VIDEO_FORMATS[media_type])
    raise UnsupportedMediaError(f"cannot remove metadata from {media_type}")


def _remux(data: bytes, fmt: str, ext: str) -> bytes:
    import av

    out = io.BytesIO()
    try:
        with av.open(io.BytesIO(data), mode="r") as src, av.open(out, mode="w", format=fmt) as dst:
            mapping = {}
            for s in src.streams:
                if s.type in ("video", "audio"):
                    mapping[s.index] = dst.add_stream_from_template(s)
                    mapping[s.index].metadata.clear()
            if not mapping:
                raise InputError("the video has no picture or sound to keep")
            for packet in src.demux(*[s for s in src.streams if s.index in mapping]):
                if packet.dts is None:
                    continue
                packet.stream = mapping[packet.stream.index]
                dst.mux(packet)
            dst.metadata.clear()
    except (av.error.FFmpegError, ValueError, OSError) as e:
        raise InputError(f"the video could not be rewritten without metadata ({Path(ext).suffix}: {e})") from e
    return out.getvalue()
