"""Supported formats and output names."""

from __future__ import annotations

from pathlib import Path

import pytest

from witnessbox.errors import UnsupportedMediaError
from witnessbox.media.formats import MediaKind, media_kind, output_name, supported_extensions


@pytest.mark.parametrize(
    ("name", "kind", "out"),
    [
        ("a.JPG", MediaKind.IMAGE, "a.JPG"),
        ("b.heic", MediaKind.IMAGE, "b.heic"),
        ("c.mp4", MediaKind.VIDEO, "c.mp4"),
        ("d.MOV", MediaKind.VIDEO, "d.mp4"),
        ("e.mkv", MediaKind.VIDEO, "e.mp4"),
    ],
)
def test_kinds_and_names(name: str, kind: MediaKind, out: str) -> None:
    assert media_kind(Path(name)) is kind
    assert output_name(Path(name)) == out


@pytest.mark.parametrize("name", ["x.pdf", "y", "z.docx", "w.flv"])
def test_unsupported_lists_supported(name: str) -> None:
    with pytest.raises(UnsupportedMediaError) as e:
        media_kind(Path(name))
    for ext in (".jpg", ".png", ".heic", ".mp4", ".mov"):
        assert ext in e.value.message
    assert ".mp4" in supported_extensions()
