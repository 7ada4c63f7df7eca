"""Photo redaction end to end: outputs hide faces, keep the displayed size, carry no metadata,
and every bad input fails closed (no output, a message that says why)."""

from __future__ import annotations

import io
import json
import struct
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from witnessbox.errors import InputError, UnsupportedMediaError, WitnessboxError
from witnessbox.redact.pipeline import Redactor, RedactOptions
from witnessbox.redact.regions import read_regions
from witnessbox.redact.render import Fill


@pytest.fixture(scope="module")
def redactor() -> Redactor:
    return Redactor(workers=1)


def _exif_with_gps_and_orientation(orientation: int) -> bytes:
    ex = Image.Exif()
    ex[0x0112] = orientation
    ex[0x010F] = "PhoneMaker"  # Make
    ex[0x9003] = "2024:01:02 03:04:05"
    return ex.tobytes()


# Make, Model, DateTime, Artist, Software, ImageDescription, XMP, IPTC, ICC, Exif IFD, GPS IFD
_TAGS = (0x010F, 0x0110, 0x0132, 0x013B, 0x0131, 0x010E, 700, 33723, 34675, 0x8769, 0x8825)


def _no_metadata(path: Path) -> None:
    with Image.open(path) as im:
        ex = im.getexif()
        assert not [t for t in _TAGS if t in ex], "EXIF survived"
        for key in ("exif", "icc_profile", "xmp", "XML:com.adobe.xmp", "photoshop", "comment"):
            assert not im.info.get(key), f"{key} survived"
    assert b"PhoneMaker" not in path.read_bytes()


def test_face_photo_is_redacted(redactor: Redactor, face_photo: Path, tmp_path: Path) -> None:
    out = tmp_path / face_photo.name
    res = redactor.redact_file(face_photo, out)
    doc = read_regions(res.regions_file)
    assert res.regions >= 3 and len(doc.regions) == res.regions
    with Image.open(face_photo) as a, Image.open(out) as b:
        assert a.size == b.size == (doc.media.width, doc.media.height)
        pix = np.asarray(b.convert("RGB"))
    for r in doc.regions:  # the centre of every region is black
        cx, cy = int((r.box[0] + r.box[2]) / 2), int((r.box[1] + r.box[3]) / 2)
        if 0 <= cx < pix.shape[1] and 0 <= cy < pix.shape[0]:
            assert (pix[cy, cx] == 0).all()
    assert doc.source_sha256 and doc.method.fill == "solid"
    _no_metadata(out)


def _save(im: Image.Image, path: Path, **kw: object) -> Path:
    im.save(path, **kw)
    return path


def _grid(mode: str = "RGB", size: tuple[int, int] = (48, 32), seed: int = 0) -> Image.Image:
    a = np.random.default_rng(seed).integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)
    return Image.fromarray(a, "RGB").convert(mode)


# name, builder (tmp_path -> file), expected displayed (w, h), frames
_GOOD: list[tuple[str, Callable[[Path], Path], tuple[int, int], int]] = [
    ("rgb jpeg with exif", lambda d: _save(_grid(), d / "a.jpg", exif=_exif_with_gps_and_orientation(1)), (48, 32), 1),
    ("exif orientation 6 (rotated)", lambda d: _save(_grid(), d / "r.jpg", exif=_exif_with_gps_and_orientation(6)), (32, 48), 1),
    ("grayscale png", lambda d: _save(_grid("L"), d / "g.png"), (48, 32), 1),
    ("grayscale + alpha png", lambda d: _save(_grid("LA"), d / "ga.png"), (48, 32), 1),
    ("rgba png", lambda d: _save(_grid("RGBA"), d / "t.png"), (48, 32), 1),
    ("16-bit png", lambda d: _save(Image.fromarray((np.arange(48 * 32).reshape(32, 48) * 40).astype(np.uint16)), d / "h.png"), (48, 32), 1),
    ("cmyk jpeg", lambda d: _save(_grid("CMYK"), d / "c.jpg"), (48, 32), 1),
    ("palette gif", lambda d: _save(_grid("P"), d / "p.gif"), (48, 32), 1),
    ("webp", lambda d: _save(_grid(), d / "w.webp"), (48, 32), 1),
    ("bmp", lambda d: _save(_grid(), d / "b.bmp"), (48, 32), 1),
    ("animated gif", lambda d: _save(_grid("P"), d / "anim.gif", save_all=True,
                                     append_images=[_grid("P", seed=1), _grid("P", seed=2)], duration=100, loop=0), (48, 32), 3),
    ("multi-page tiff", lambda d: _save(_grid(), d / "pages.tif", save_all=True, append_images=[_grid(seed=1)]), (48, 32), 2),
    ("heic", lambda d: _heic(d / "phone.heic"), (48, 32), 1),
    ("rotated multi-page tiff", lambda d: _save(_grid(), d / "rp.tif", save_all=True, append_images=[_grid(seed=1)],
                                                exif=_exif_with_gps_and_orientation(6)), (32, 48), 2),
    ("rotated animated webp", lambda d: _save(_grid(), d / "rw.webp", save_all=True, append_images=[_grid(seed=1)],
                                              duration=100, exif=_exif_with_gps_and_orientation(6)), (32, 48), 2),
    # Multi-picture JPEG (phones, cameras): the photo plus a smaller preview; the photo is redacted.
    ("mpo jpeg with preview", lambda d: _save(_grid(), d / "cam.jpg", format="MPO", save_all=True,
                                              append_images=[_grid(size=(24, 16), seed=3)]), (48, 32), 1),
]


def _heic(path: Path) -> Path:
    import pillow_heif

    pillow_heif.register_heif_opener()
    _grid().save(path, format="HEIF", exif=_exif_with_gps_and_orientation(1))
    return path


@pytest.mark.parametrize(("case", "build", "size", "frames"), _GOOD, ids=[c[0] for c in _GOOD])
def test_supported_kinds(
    redactor: Redactor, tmp_path: Path, case: str, build: Callable[[Path], Path], size: tuple[int, int], frames: int
) -> None:
    src = build(tmp_path)
    out = tmp_path / "out" / src.name
    out.parent.mkdir()
    res = redactor.redact_file(src, out)
    assert res.frames == frames
    doc = read_regions(res.regions_file)
    assert (doc.media.width, doc.media.height, doc.media.frames) == (*size, frames)
    with Image.open(out) as im:
        assert im.size == size
        assert getattr(im, "n_frames", 1) == frames
    _no_metadata(out)


def _png_header_only(w: int, h: int) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)) + chunk(
        b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b"")


def _truncated(fmt: str, suffix: str) -> Callable[[Path], Path]:
    def build(d: Path) -> Path:
        buf = io.BytesIO()
        _grid(size=(200, 150)).save(buf, format=fmt)
        p = d / f"cut{suffix}"
        p.write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
        return p

    return build


def _write(name: str, data: bytes) -> Callable[[Path], Path]:
    def build(d: Path) -> Path:
        p = d / name
        p.write_bytes(data)
        return p

    return build


# name, builder, error class, message fragment
_BAD: list[tuple[str, Callable[[Path], Path], type[WitnessboxError], str]] = [
    ("truncated png", _truncated("PNG", ".png"), InputError, "truncated"),
    ("truncated jpeg", _truncated("JPEG", ".jpg"), InputError, "truncated"),
    ("garbage with photo name", _write("x.jpg", b"this is not a jpeg" * 10), UnsupportedMediaError, "not a readable image"),
    ("empty file", _write("empty.png", b""), UnsupportedMediaError, "not a readable image"),
    ("unsupported extension", _write("notes.txt", b"hello"), UnsupportedMediaError, ".jpg"),
    ("no extension", _write("README", b"hello"), UnsupportedMediaError, "no extension"),
    ("decompression bomb", _write("bomb.png", _png_header_only(30000, 30000)), InputError, "decompression bomb"),
    ("corrupt png data", _write("bad.png", _png_header_only(64, 64)), InputError, "corrupt or truncated"),
    ("animation named .jpg", lambda d: _save(_grid("P"), d / "anim.jpg", format="GIF", save_all=True,
                                             append_images=[_grid("P", seed=1)]), UnsupportedMediaError,
     "2 frames cannot be written as .jpg"),
]


@pytest.mark.parametrize(("case", "build", "err", "needle"), _BAD, ids=[c[0] for c in _BAD])
def test_bad_inputs_fail_closed(
    redactor: Redactor, tmp_path: Path, case: str, build: Callable[[Path], Path], err: type[WitnessboxError], needle: str
) -> None:
    src = build(tmp_path)
    outdir = tmp_path / "out"
    outdir.mkdir()
    with pytest.raises(err, match=needle):
        redactor.redact_file(src, outdir / src.name)
    assert list(outdir.iterdir()) == [], "something was left behind"


def test_too_many_pixels_limit(tmp_path: Path) -> None:
    src = _save(_grid(size=(100, 100)), tmp_path / "big.png")
    (tmp_path / "o").mkdir()
    with pytest.raises(InputError, match="pixels"):
        Redactor(RedactOptions(max_pixels=5000), workers=1).redact_file(src, tmp_path / "o" / "big.png")
    assert not list((tmp_path / "o").iterdir())


def test_output_folder_inside_the_input_folder(redactor: Redactor, tmp_path: Path) -> None:
    d = tmp_path / "d"
    (d / "sub").mkdir(parents=True)
    _save(_grid(), d / "a.png")
    _save(_grid(seed=1), d / "sub" / "b.png")
    for _ in range(2):  # the second run must not pick up the first run's outputs
        rep = redactor.redact_paths([d], d / "out")
        assert sorted(r.output.relative_to(d / "out").as_posix() for r in rep.done) == ["d/a.png", "d/sub/b.png"]
        assert not rep.skipped and not rep.failed


def test_pixel_limit_is_ours_not_pillows(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Pillow warns from about 89 million pixels; the documented limit is max_pixels (100 million).
    # Scaled down: Pillow's threshold below the photo's size, ours above it.
    from PIL import Image as PILImage

    monkeypatch.setattr(PILImage, "MAX_IMAGE_PIXELS", 1500)
    src = _save(_grid(size=(48, 40)), tmp_path / "p.png")  # 1920 pixels
    res = Redactor(RedactOptions(max_pixels=2500), workers=1).redact_file(src, tmp_path / "o.png")
    assert res.frames == 1


def test_animation_bomb_refused(tmp_path: Path) -> None:
    # Each frame is within the limit; all of them together are not.
    src = _save(_grid("P", size=(50, 50)), tmp_path / "many.gif", save_all=True,
                append_images=[_grid("P", size=(50, 50), seed=i) for i in range(1, 5)])
    (tmp_path / "o").mkdir()
    with pytest.raises(InputError, match="decompression bomb"):
        Redactor(RedactOptions(max_pixels=2500), workers=1).redact_file(src, tmp_path / "o" / "many.gif")
    assert not list((tmp_path / "o").iterdir())


def test_rerender_from_reviewed_regions(redactor: Redactor, tmp_path: Path) -> None:
    src = _save(_grid(size=(60, 40)), tmp_path / "p.png")
    first = redactor.redact_file(src, tmp_path / "first.png")
    doc = json.loads(first.regions_file.read_text())
    doc["regions"] = [{"frame": 0, "shape": "box", "box": [5, 5, 20, 15], "score": 1.0, "source": "manual"}]
    edited = tmp_path / "edited.regions.json"
    edited.write_text(json.dumps(doc))
    res = redactor.redact_file(src, tmp_path / "second.png", regions=edited)
    pix = np.asarray(Image.open(res.output).convert("RGB"))
    assert (pix[5:15, 5:20] == 0).all()
    assert read_regions(res.regions_file).regions[0].source == "manual"


def test_regions_of_another_file_refused(redactor: Redactor, tmp_path: Path) -> None:
    a = _save(_grid(size=(60, 40)), tmp_path / "a.png")
    b = _save(_grid(size=(61, 40)), tmp_path / "b.png")
    ra = redactor.redact_file(a, tmp_path / "ra.png")
    (tmp_path / "o").mkdir()
    with pytest.raises(InputError, match="another file"):
        redactor.redact_file(b, tmp_path / "o" / "b.png", regions=ra.regions_file)
    assert not list((tmp_path / "o").iterdir())


def test_regions_of_another_file_of_the_same_size_refused(redactor: Redactor, tmp_path: Path) -> None:
    a = _save(_grid(size=(60, 40)), tmp_path / "a.png")
    b = _save(_grid(size=(60, 40), seed=7), tmp_path / "b.png")
    ra = redactor.redact_file(a, tmp_path / "ra.png")
    (tmp_path / "o").mkdir()
    with pytest.raises(InputError, match="another file"):
        redactor.redact_file(b, tmp_path / "o" / "b.png", regions=ra.regions_file)
    assert not list((tmp_path / "o").iterdir())


def test_failure_leaves_no_earlier_output_behind(redactor: Redactor, tmp_path: Path) -> None:
    src = _save(_grid(size=(60, 40)), tmp_path / "p.png")
    out = tmp_path / "o" / "p.png"
    out.parent.mkdir()
    redactor.redact_file(src, out)
    src.write_bytes(src.read_bytes()[:80])  # the source is replaced by a broken file
    with pytest.raises(InputError):
        redactor.redact_file(src, out)
    assert not list(out.parent.iterdir()), "an old output stayed without its regions file"


@pytest.mark.parametrize("fill", ["blur", "pixelate"])
def test_other_fills(face_photo: Path, tmp_path: Path, fill: str) -> None:
    res = Redactor(RedactOptions(fill=Fill.parse(fill)), workers=1).redact_file(face_photo, tmp_path / "x.png")
    assert read_regions(res.regions_file).method.fill == fill
