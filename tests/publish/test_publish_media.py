"""Re-encoding strips every metadata block and is deterministic."""

from __future__ import annotations

import io

import pytest
from publish_fixtures import jpeg_with_everything, mp4_with_metadata
from PIL import Image

from witnessbox.errors import PublishError
from witnessbox.publish.media import encode, encode_image, encode_video, leftover_tags, video_tags


def test_image_keeps_pixels_only() -> None:
    src = jpeg_with_everything((120, 40, 200))
    out = encode_image(src)
    assert out.ext == "jpg" and (out.width, out.height) == (64, 48)
    for needle in (b"Exif", b"SECRET", b"8BIM", b"ICC_PROFILE", b"adobe"):
        assert needle not in out.data
    with Image.open(io.BytesIO(out.data)) as im:
        assert len(im.getexif()) == 0 and "icc_profile" not in im.info and "comment" not in im.info
    assert encode_image(src).data == out.data  # deterministic


def test_orientation_is_applied_before_the_tag_is_dropped() -> None:
    im = Image.new("RGB", (40, 20), (0, 0, 0))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 on display
    b = io.BytesIO()
    im.save(b, "JPEG", exif=exif.tobytes())
    out = encode_image(b.getvalue())
    assert (out.width, out.height) == (20, 40)


def test_transparent_png_stays_png_without_text_chunks() -> None:
    from PIL import PngImagePlugin

    info = PngImagePlugin.PngInfo()
    info.add_text("Comment", "SECRET-PNG")
    b = io.BytesIO()
    Image.new("RGBA", (8, 8), (1, 2, 3, 100)).save(b, "PNG", pnginfo=info)
    out = encode_image(b.getvalue())
    assert out.ext == "png" and b"SECRET" not in out.data and b"tEXt" not in out.data


def test_video_loses_container_metadata_and_audio() -> None:
    src = mp4_with_metadata(50)
    assert "title" in video_tags(src)
    out = encode_video(src)
    assert leftover_tags(out.data) == []
    assert b"SECRET" not in out.data and b"Lavf" not in out.data
    assert encode_video(src).data == out.data


@pytest.mark.parametrize(("data", "mt"), [(b"garbage", "image/jpeg"), (b"garbage", "video/mp4"), (b"%PDF", "application/pdf")])
def test_undecodable_media_fails_closed(data: bytes, mt: str) -> None:
    with pytest.raises(PublishError):
        encode(data, mt)
