"""Which files witnessbox can redact, by extension, and what each becomes."""

from __future__ import annotations

from enum import Enum
from pathlib import Path

from ..errors import UnsupportedMediaError

# Extension -> Pillow format name used to write the redacted copy.
IMAGE_FORMATS: dict[str, str] = {
    ".jpg": "JPEG",
    ".jpeg": "JPEG",
    ".png": "PNG",
    ".webp": "WEBP",
    ".tif": "TIFF",
    ".tiff": "TIFF",
    ".bmp": "BMP",
    ".gif": "GIF",
    ".heic": "HEIF",
    ".heif": "HEIF",
}
VIDEO_EXTENSIONS: frozenset[str] = frozenset({".mp4", ".mov", ".m4v", ".mkv", ".webm", ".avi", ".3gp", ".mts", ".ts"})


class MediaKind(str, Enum):
    """What kind of picture a file holds."""

    IMAGE = "image"
    VIDEO = "video"


def supported_extensions() -> list[str]:
    """Every extension witnessbox redacts, sorted."""
    return sorted(set(IMAGE_FORMATS) | VIDEO_EXTENSIONS)


def media_kind(path: Path) -> MediaKind:
    """Classify ``path`` by its extension.

    Raises:
        UnsupportedMediaError: Not a supported photo or video (the message lists what is).
    """
    ext = Path(path).suffix.lower()
    if ext in IMAGE_FORMATS:
        return MediaKind.IMAGE
    if ext in VIDEO_EXTENSIONS:
        return MediaKind.VIDEO
    raise UnsupportedMediaError(
        f"{path}: unsupported format {ext or '(no extension)'!s}; witnessbox redacts "
        f"{', '.join(supported_extensions())}"
    )


def is_supported(path: Path) -> bool:
    """True when :func:`media_kind` accepts ``path``."""
    ext = Path(path).suffix.lower()
    return ext in IMAGE_FORMATS or ext in VIDEO_EXTENSIONS


def output_name(path: Path) -> str:
    """File name of the redacted copy: the same, except videos always become ``NAME.mp4``."""
    p = Path(path)
    if media_kind(p) is MediaKind.VIDEO and p.suffix.lower() != ".mp4":
        return p.stem + ".mp4"
    return p.name
