"""Metadata probe for sealing: what a file is, and what its EXIF and container tags say.

``probe(path)`` never decodes more than it must and never trusts a value: strings are
cleaned and capped, numbers range-checked, images bigger than :data:`MAX_PIXELS` are refused
before any pixel is decoded (decompression bombs). Sensitive values (GPS, device serials)
are returned apart from the rest so the archive can encrypt them like the originals.
Owner names and other personal fields in EXIF are never read.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import math
import mimetypes
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

MAX_PIXELS = 200_000_000  # ~ a 16k x 12k panorama; beyond that a header is lying or hostile
MAX_STRING = 200
MAX_TAGS = 64
_MAX_PACKETS = 300

_CTRL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


@dataclass(frozen=True)
class Gps:
    """A position from EXIF or a container tag (sensitive)."""

    latitude: float
    longitude: float
    altitude_m: float | None = None


@dataclass(frozen=True)
class ProbeResult:
    """What :func:`probe` found. ``problem`` is set when the file claims to be media but is
    damaged, truncated or hostile (the caller decides whether to refuse it)."""

    media_type: str
    kind: str = "other"  # image | video | audio | other
    container: str | None = None
    width: int | None = None
    height: int | None = None
    duration_s: float | None = None
    rotation: int | None = None
    codecs: tuple[str, ...] = ()
    camera_make: str | None = None
    camera_model: str | None = None
    capture_time: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()
    gps: Gps | None = None
    serials: dict[str, str] = field(default_factory=dict)
    problem: str | None = None

    def sensitive_json(self) -> dict[str, Any] | None:
        """The sensitive part as a JSON object, or None when there is none."""
        out: dict[str, Any] = {}
        if self.gps is not None:
            out["gps"] = {"latitude": self.gps.latitude, "longitude": self.gps.longitude, "altitude_m": self.gps.altitude_m}
        if self.serials:
            out["serials"] = dict(self.serials)
        return out or None


_MAGIC: list[tuple[bytes, int, str]] = [
    (b"\xff\xd8\xff", 0, "image/jpeg"),
    (b"\x89PNG\r\n\x1a\n", 0, "image/png"),
    (b"GIF87a", 0, "image/gif"),
    (b"GIF89a", 0, "image/gif"),
    (b"II*\x00", 0, "image/tiff"),
    (b"MM\x00*", 0, "image/tiff"),
    (b"BM", 0, "image/bmp"),
    (b"\x1aE\xdf\xa3", 0, "video/x-matroska"),
    (b"OggS", 0, "audio/ogg"),
    (b"fLaC", 0, "audio/flac"),
    (b"ID3", 0, "audio/mpeg"),
    (b"%PDF-", 0, "application/pdf"),
]
_FTYP = {
    b"heic": "image/heic", b"heix": "image/heic", b"mif1": "image/heif", b"msf1": "image/heif",
    b"avif": "image/avif", b"qt  ": "video/quicktime", b"M4A ": "audio/mp4",
}
_MEDIA_EXT = {
    ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".png": "image/png", ".gif": "image/gif",
    ".tif": "image/tiff", ".tiff": "image/tiff", ".webp": "image/webp", ".heic": "image/heic",
    ".heif": "image/heif", ".mp4": "video/mp4", ".m4v": "video/mp4", ".mov": "video/quicktime",
    ".mkv": "video/x-matroska", ".webm": "video/webm", ".avi": "video/x-msvideo",
    ".mp3": "audio/mpeg", ".m4a": "audio/mp4", ".wav": "audio/wav", ".ogg": "audio/ogg",
    ".opus": "audio/ogg", ".flac": "audio/flac", ".3gp": "video/3gpp",
}


def sniff(head: bytes, name: str) -> tuple[str | None, str | None]:
    """The media type the magic bytes show (or None), and the one the file name claims (or None)."""
    claimed = _MEDIA_EXT.get(Path(name).suffix.lower())
    for magic, off, mt in _MAGIC:
        if head[off : off + len(magic)] == magic:
            return mt, claimed
    if head[4:8] == b"ftyp":
        return _FTYP.get(head[8:12], "video/mp4"), claimed
    if head[:4] == b"RIFF":
        return {b"WEBP": "image/webp", b"WAVE": "audio/wav", b"AVI ": "video/x-msvideo"}.get(head[8:12]), claimed
    if len(head) > 1 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0 and claimed == "audio/mpeg":
        return "audio/mpeg", claimed
    return None, claimed


def clean_text(value: Any) -> str | None:
    """A tag value as short printable text, or None (bytes are decoded leniently)."""
    if value is None:
        return None
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    text = _CTRL.sub("", str(value)).strip()
    if not text:
        return None
    return text[:MAX_STRING]


def _num(value: Any) -> float | None:
    try:
        f = float(value)
    except (TypeError, ValueError, ZeroDivisionError, OverflowError):
        return None
    return f if math.isfinite(f) else None


def parse_exif_time(value: Any, offset: Any = None) -> str | None:
    """EXIF ``YYYY:MM:DD HH:MM:SS`` (+ optional ``+HH:MM`` offset) as ISO 8601, or None."""
    text = clean_text(value)
    if text is None:
        return None
    try:
        t = _dt.datetime.strptime(text[:19], "%Y:%m:%d %H:%M:%S")
    except ValueError:
        return None
    if not 1900 <= t.year <= 2100:
        return None
    off = clean_text(offset)
    if off and re.fullmatch(r"[+-]\d\d:\d\d", off):
        return t.isoformat() + off
    return t.isoformat()


def _dms(value: Any) -> float | None:
    try:
        d, m, s = (_num(x) for x in value)
    except (TypeError, ValueError):
        return None
    if d is None or m is None or s is None or m < 0 or s < 0 or m >= 60 or s >= 60:
        return None
    return d + m / 60 + s / 3600


def _gps_from_exif(gps: dict[int, Any]) -> tuple[Gps | None, list[str]]:
    if not gps:
        return None, []
    lat, lon = _dms(gps.get(2)), _dms(gps.get(4))
    if lat is None or lon is None:
        return None, ["GPS tags present but unreadable; ignored"]
    if clean_text(gps.get(1)) in ("S", "s"):
        lat = -lat
    if clean_text(gps.get(3)) in ("W", "w"):
        lon = -lon
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        return None, ["GPS position out of range; ignored"]
    alt = _num(gps.get(6))
    if alt is not None and not -12_000 <= alt <= 100_000:
        alt = None
    if alt is not None and gps.get(5) in (1, b"\x01"):
        alt = -alt
    return Gps(round(lat, 7), round(lon, 7), None if alt is None else round(alt, 2)), []


_ORIENTATION = {1: 0, 2: 0, 3: 180, 4: 180, 5: 90, 6: 90, 7: 270, 8: 270}


def _probe_image(path: Path, media_type: str) -> ProbeResult:
    # Pillow reports damaged EXIF as UserWarnings: kept in the record, never printed as Python
    # warning text on the user's terminal.
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = _probe_image_quiet(path, media_type)
    notes: list[str] = []
    for w in caught:
        text = clean_text(f"EXIF damaged: {w.message}")
        if text and text not in notes and len(notes) < 8 and not issubclass(w.category, DeprecationWarning):
            notes.append(text)
    if not notes:
        return result
    return dataclasses.replace(result, warnings=result.warnings + tuple(notes))


def _probe_image_quiet(path: Path, media_type: str) -> ProbeResult:
    from PIL import Image, ImageFile

    try:
        import pillow_heif

        pillow_heif.register_heif_opener()
    except ImportError:  # pragma: no cover - optional at runtime
        pass
    ImageFile.LOAD_TRUNCATED_IMAGES = False
    notes: list[str] = []
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as img:
                w, h = img.size
                if w <= 0 or h <= 0 or w * h > MAX_PIXELS:
                    return ProbeResult(media_type, "image", problem=f"image claims {w}x{h} pixels: refused as a decompression bomb")
                exif = img.getexif()
                fmt = img.format
                img.load()  # decode fully: the only way to detect truncation
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        return ProbeResult(media_type, "image", problem="refused as a decompression bomb (pixel count over the limit)")
    except (OSError, SyntaxError, ValueError, EOFError, MemoryError, IndexError, TypeError, KeyError) as e:
        return ProbeResult(media_type, "image", problem=f"truncated or corrupt image ({clean_text(e) or type(e).__name__})")
    make = model = capture = None
    rotation = 0
    gps = None
    serials: dict[str, str] = {}
    try:
        make, model = clean_text(exif.get(0x010F)), clean_text(exif.get(0x0110))
        o = exif.get(0x0112)
        rotation = _ORIENTATION.get(o, 0) if isinstance(o, int) else 0
        sub = exif.get_ifd(0x8769)
        capture = parse_exif_time(sub.get(0x9003) or exif.get(0x0132), sub.get(0x9011))
        if (sub.get(0x9003) or exif.get(0x0132)) and capture is None:
            notes.append("capture time unreadable or absurd; ignored")
        for tag, label in ((0xA431, "body"), (0xA435, "lens")):
            s = clean_text(sub.get(tag))
            if s:
                serials[label] = s
        gps, gnotes = _gps_from_exif(dict(exif.get_ifd(0x8825)))
        notes += gnotes
    except Exception as e:  # noqa: BLE001 - hostile EXIF must never stop sealing
        notes.append(f"EXIF unreadable ({type(e).__name__}); ignored")
    return ProbeResult(
        media_type, "image", container=(fmt or "").lower() or None, width=w, height=h, rotation=rotation,
        camera_make=make, camera_model=model, capture_time=capture, warnings=tuple(notes), gps=gps, serials=serials,
    )


_ISO6709 = re.compile(r"^([+-]\d+(?:\.\d+)?)([+-]\d+(?:\.\d+)?)([+-]\d+(?:\.\d+)?)?")
_LOCATION_KEYS = ("location", "location-eng", "com.apple.quicktime.location.iso6709")
_SERIAL_KEYS = ("serial", "com.android.serial", "com.apple.quicktime.camera.identifier")


def _probe_av(path: Path, media_type: str) -> ProbeResult:
    import av

    notes: list[str] = []
    try:
        container = av.open(str(path), metadata_errors="replace")
    except (av.FFmpegError, OSError, ValueError, UnicodeDecodeError) as e:
        return ProbeResult(media_type, media_type.split("/")[0], problem=f"truncated or corrupt container ({clean_text(e)})")
    with container:
        tags: dict[str, str] = {}
        gps = None
        serials: dict[str, str] = {}
        for k, v in list(container.metadata.items())[: MAX_TAGS * 4]:
            key, val = (clean_text(k) or "").lower(), clean_text(v)
            if not key or val is None:
                continue
            if key in _LOCATION_KEYS:
                m = _ISO6709.match(val)
                if m:
                    lat, lon = float(m.group(1)), float(m.group(2))
                    if -90 <= lat <= 90 and -180 <= lon <= 180:
                        alt = float(m.group(3)) if m.group(3) else None
                        gps = Gps(round(lat, 7), round(lon, 7), alt if alt is None or abs(alt) < 100_000 else None)
                continue
            if any(s in key for s in _SERIAL_KEYS):
                serials[key] = val
                continue
            if "author" in key or "artist" in key or "owner" in key:
                continue  # personal data: never kept
            if len(tags) < MAX_TAGS:
                tags[key[:64]] = val
        duration = _num(container.duration / 1_000_000) if container.duration else None
        if duration is not None and not 0 <= duration < 10 * 365 * 86400:
            notes.append("absurd duration; ignored")
            duration = None
        codecs: list[str] = []
        width = height = None
        rotation = None
        kind = "audio"
        vstream = None
        for s in container.streams:
            name = s.codec_context.name if s.codec_context is not None else None
            if name:
                codecs.append(f"{s.type}:{name}")
            if s.type == "video" and vstream is None:
                vstream = s
        if vstream is not None:
            kind = "video"
            cc: Any = vstream.codec_context
            if cc is None:  # a damaged sample description: no decoder can be set up
                return ProbeResult(media_type, kind, problem="truncated or corrupt: the video stream has no codec")
            width, height = cc.width or None, cc.height or None
            if width and height and width * height > MAX_PIXELS:
                return ProbeResult(media_type, kind, problem=f"video claims {width}x{height} pixels: refused as a decompression bomb")
        elif not container.streams.audio:
            return ProbeResult(media_type, media_type.split("/")[0], problem="truncated or corrupt: no audio or video stream found")
        # Demux and decode a little: catches a container whose header is fine but whose data is not.
        try:
            target = vstream if vstream is not None else container.streams.audio[0]
            decoded = False
            for i, packet in enumerate(container.demux(target)):
                if i >= _MAX_PACKETS:
                    break
                for frame in packet.decode():
                    decoded = True
                    if vstream is not None:
                        r = getattr(frame, "rotation", None)
                        rotation = int(r) % 360 if isinstance(r, (int, float)) and math.isfinite(r) else None
                    break
                if decoded:
                    break
            if not decoded:
                return ProbeResult(media_type, kind, problem="no decodable frame: truncated or corrupt")
        except (av.FFmpegError, ValueError, MemoryError) as e:
            return ProbeResult(media_type, kind, problem=f"truncated or corrupt stream ({clean_text(e)})")
        capture = clean_text(tags.get("creation_time"))
        return ProbeResult(
            media_type, kind, container=clean_text(container.format.name), width=width, height=height,
            duration_s=round(duration, 6) if duration is not None else None, rotation=rotation, codecs=tuple(codecs[:16]),
            camera_make=clean_text(tags.get("com.apple.quicktime.make") or tags.get("make")),
            camera_model=clean_text(tags.get("com.apple.quicktime.model") or tags.get("model")),
            capture_time=capture, tags=tags, warnings=tuple(notes), gps=gps, serials=serials,
        )


def probe(path: Path, *, name: str | None = None) -> ProbeResult:
    """Identify a file and extract its metadata.

    Args:
        path: The file to read.
        name: The name to judge the extension by (defaults to ``path.name``).

    Raises:
        OSError: The file cannot be read at all.
    """
    with open(path, "rb") as f:
        head = f.read(64)
    label = name or path.name
    found, claimed = sniff(head, label)
    if found is None:
        if claimed is not None:
            return ProbeResult(claimed, claimed.split("/")[0], problem=f"not a valid {claimed} file (no {claimed} signature)")
        return ProbeResult(mimetypes.guess_type(label)[0] or "application/octet-stream")
    major = found.split("/")[0]
    if major == "image":
        return _probe_image(path, found)
    if major in ("video", "audio"):
        return _probe_av(path, found)
    return ProbeResult(found)
