"""Re-encoding of approved derivatives for publication, with no metadata at all.

Images are rebuilt from their pixels alone (a new Pillow image from the raw pixel buffer), so
no EXIF, XMP, IPTC, ICC, comment or GPS block can survive, and written as JPEG (or PNG when
they have transparency). Videos keep only their video stream, remuxed into a fresh MP4 with
``fflags +bitexact`` so the muxer writes no encoder string or creation time; the result is
checked and, if any tag other than the structural ones remains, re-encoded from frames. Audio is
dropped on purpose: voices identify people and the redaction step does not treat audio.

The output is deterministic: the same input gives the same bytes (byte-identical rebuilds).
"""

from __future__ import annotations

import io
from dataclasses import dataclass

from PIL import Image, ImageOps

from ..errors import PublishError

ENCODER_VERSION = "wb-media-1"
"""Changes whenever the output of this module would change (invalidates incremental caches)."""

JPEG_QUALITY = 85
MAX_PIXELS = 80_000_000
# Tags FFmpeg's MP4 demuxer reports for any file: structural, not about the recording.
STRUCTURAL_TAGS = frozenset({"major_brand", "minor_version", "compatible_brands", "language", "handler_name", "vendor_id"})


@dataclass(frozen=True, slots=True)
class Encoded:
    """Published bytes and their file extension (without dot) and MIME type."""

    data: bytes
    ext: str
    media_type: str
    width: int
    height: int


def encode(data: bytes, media_type: str) -> Encoded:
    """Re-encode an approved derivative for the public site.

    Raises:
        PublishError: the media cannot be decoded or re-encoded cleanly.
    """
    if media_type.startswith("image/"):
        return encode_image(data)
    if media_type.startswith("video/"):
        return encode_video(data)
    raise PublishError(f"cannot publish media of type {media_type}")


def encode_or_error(data: bytes, media_type: str) -> Encoded | str:
    """:func:`encode` for worker processes: the error comes back as its message, not raised."""
    try:
        return encode(data, media_type)
    except PublishError as e:
        return e.detail or e.message


def encode_image(data: bytes) -> Encoded:
    """Rebuild an image from its pixels and write it without any metadata.

    Raises:
        PublishError: the bytes are not a decodable image or are too large.
    """
    try:
        with Image.open(io.BytesIO(data)) as im:
            if im.width * im.height > MAX_PIXELS:
                raise PublishError(f"image of {im.width}x{im.height} pixels is too large to publish")
            im.load()
            # Apply the orientation the derivative declares, since the tag itself is dropped.
            upright: Image.Image = ImageOps.exif_transpose(im) or im
            has_alpha = upright.mode in ("RGBA", "LA", "PA") or (upright.mode == "P" and "transparency" in upright.info)
            rgb = upright.convert("RGBA" if has_alpha else "RGB")
    except PublishError:
        raise
    except (OSError, ValueError, Image.DecompressionBombError) as e:
        raise PublishError(f"cannot decode image ({e})") from e
    clean = Image.frombytes(rgb.mode, rgb.size, rgb.tobytes())  # pixels only: no info, no exif
    out = io.BytesIO()
    if has_alpha:
        clean.save(out, format="PNG", optimize=False)
        return Encoded(out.getvalue(), "png", "image/png", clean.width, clean.height)
    clean.save(out, format="JPEG", quality=JPEG_QUALITY, optimize=False, progressive=False)
    return Encoded(out.getvalue(), "jpg", "image/jpeg", clean.width, clean.height)


def video_tags(data: bytes) -> dict[str, str]:
    """Every container and stream tag of a video, as FFmpeg reads them (``stream<i>.key``)."""
    import av

    tags: dict[str, str] = {}
    with av.open(io.BytesIO(data)) as c:
        tags.update({k: str(v) for k, v in c.metadata.items()})
        for i, s in enumerate(c.streams):
            tags.update({f"stream{i}.{k}": str(v) for k, v in s.metadata.items()})
    return tags


def leftover_tags(data: bytes) -> list[str]:
    """Tags of a video that are not structural (should be empty for a published video)."""
    return sorted(k for k in video_tags(data) if k.rsplit(".", 1)[-1] not in STRUCTURAL_TAGS)


def encode_video(data: bytes) -> Encoded:
    """Remux the video stream into a clean MP4; re-encode if remuxing leaves any tag.

    Raises:
        PublishError: the video cannot be read, or neither remux nor re-encode is clean.
    """
    import av

    try:
        out = _remux(data)
        if leftover_tags(out):
            out = _reencode(data)
        left = leftover_tags(out)
        with av.open(io.BytesIO(out)) as c:
            w, h = c.streams.video[0].codec_context.width, c.streams.video[0].codec_context.height
    except (av.FFmpegError, OSError, ValueError, IndexError) as e:
        raise PublishError(f"cannot re-encode video ({e})") from e
    if left:
        raise PublishError(f"video still carries metadata {left} after re-encoding")
    return Encoded(out, "mp4", "video/mp4", w, h)


def _remux(data: bytes) -> bytes:
    import av

    buf = io.BytesIO()
    with av.open(io.BytesIO(data), "r") as inp:
        src = inp.streams.video[0]
        with av.open(buf, "w", format="mp4", container_options={"fflags": "+bitexact"}) as out:
            dst = out.add_stream_from_template(src)
            for pkt in inp.demux(src):
                if pkt.dts is None:  # flush packet
                    continue
                pkt.stream = dst
                out.mux(pkt)
    return buf.getvalue()


def _reencode(data: bytes) -> bytes:
    import av

    buf = io.BytesIO()
    with av.open(io.BytesIO(data), "r") as inp:
        src = inp.streams.video[0]
        rate = src.average_rate or 25
        with av.open(buf, "w", format="mp4", container_options={"fflags": "+bitexact"}) as out:
            dst = out.add_stream("libx264", rate=rate, options={"crf": "23", "preset": "veryfast"})
            dst.codec_context.flags |= av.codec.context.Flags.bitexact
            dst.width = src.codec_context.width - src.codec_context.width % 2
            dst.height = src.codec_context.height - src.codec_context.height % 2
            dst.pix_fmt = "yuv420p"
            for frame in inp.decode(src):
                img = frame.reformat(width=dst.width, height=dst.height, format="yuv420p")
                img.pts = None
                for pkt in dst.encode(img):
                    out.mux(pkt)
            for pkt in dst.encode():
                out.mux(pkt)
    return buf.getvalue()
