"""Small media files made on the fly (JPEG with EXIF, PNG, MP4) and broken variants."""

from __future__ import annotations

import struct
import zlib
from fractions import Fraction
from pathlib import Path

from PIL import Image


def jpeg_with_exif(path: Path, *, gps: tuple[float, float] | None = (48.8584, 2.2945), when: str = "2024:05:01 12:30:00",
                   make: str = "TestCam", model: str = "X1", serial: str | None = "SN12345", size: tuple[int, int] = (64, 48)) -> Path:
    img = Image.new("RGB", size, (120, 30, 200))
    exif = Image.Exif()
    exif[0x010F] = make
    exif[0x0110] = model
    exif[0x0112] = 6
    sub = exif.get_ifd(0x8769)
    sub[0x9003] = when
    if serial:
        sub[0xA431] = serial
    if gps is not None:
        g = exif.get_ifd(0x8825)

        def dms(v: float) -> tuple[Fraction, Fraction, Fraction]:
            v = abs(v)
            d = int(v)
            m = int((v - d) * 60)
            s = round(((v - d) * 60 - m) * 60, 4)
            return (Fraction(d), Fraction(m), Fraction(s).limit_denominator(10000))

        g[1] = "N" if gps[0] >= 0 else "S"
        g[2] = dms(gps[0])
        g[3] = "E" if gps[1] >= 0 else "W"
        g[4] = dms(gps[1])
    img.save(path, "JPEG", exif=exif)
    return path


def png(path: Path, size: tuple[int, int] = (32, 32)) -> Path:
    Image.new("RGB", size, (0, 128, 0)).save(path, "PNG")
    return path


def png_bomb(path: Path, width: int = 100_000, height: int = 100_000) -> Path:
    """A tiny PNG whose header claims a huge image (a decompression bomb)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 1000)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b""))
    return path


def mp4(path: Path, frames: int = 12) -> Path:
    import av
    import numpy as np

    with av.open(str(path), "w") as out:
        s = out.add_stream("mpeg4", rate=12)
        s.width, s.height, s.pix_fmt = 64, 48, "yuv420p"
        for i in range(frames):
            arr = np.full((48, 64, 3), i * 20 % 255, dtype=np.uint8)
            for p in s.encode(av.VideoFrame.from_ndarray(arr, format="rgb24")):
                out.mux(p)
        for p in s.encode():
            out.mux(p)
    return path


def truncated(src: Path, dest: Path, keep: float = 0.5) -> Path:
    data = src.read_bytes()
    dest.write_bytes(data[: max(1, int(len(data) * keep))])
    return dest
