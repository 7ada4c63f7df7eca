"""Photo decoding: upright 8-bit pixels from every mode; encoding without metadata."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from witnessbox.errors import InputError
from witnessbox.media.images import encode_image, load_image


def _png(im: Image.Image) -> io.BytesIO:
    b = io.BytesIO()
    im.save(b, format="PNG")
    b.seek(0)
    return b


def test_16_bit_keeps_the_top_byte() -> None:
    a = np.full((4, 4), 0xFF00, np.uint16)
    img = load_image(_png(Image.fromarray(a)), name="x")
    assert img.grey and img.frames[0].shape == (4, 4, 3)
    assert int(img.frames[0][0, 0, 0]) == 254  # not clipped to 255, not the low byte (0)


def test_alpha_is_kept() -> None:
    img = load_image(_png(Image.new("RGBA", (3, 2), (10, 20, 30, 40))), name="x")
    assert img.frames[0].shape == (2, 3, 4) and int(img.frames[0][0, 0, 3]) == 40


def test_grey_written_back_as_grey() -> None:
    img = load_image(_png(Image.new("L", (5, 5), 77)), name="x")
    out = io.BytesIO()
    encode_image(img, img.frames, out, ".png")
    out.seek(0)
    assert Image.open(out).mode == "L"


def test_pixel_limit() -> None:
    with pytest.raises(InputError, match="pixels"):
        load_image(_png(Image.new("RGB", (100, 100))), name="x", max_pixels=999)
