"""Helpers of the publish tests: hostile media and the published-archive record.

The session fixture in conftest.py uses these to build a real archive with hostile content.

The archive holds originals full of metadata (EXIF with GPS, XMP, IPTC, ICC, comments, MP4
title and location), redacted derivatives that still carry metadata (the site must strip it),
an approved and an unapproved derivative, a derivative of the wrong kind, incidents whose every
text field is an XSS attempt, a hostile region name, an incident with no media, a draft, and a
testimony with a marker that must never appear in the site.
"""

from __future__ import annotations

import hashlib
import io
import struct
from dataclasses import dataclass, field
from pathlib import Path

import av
import numpy as np
from PIL import Image, ImageCms

from witnessbox.publish.builder import BuildReport
from witnessbox.workspace import Workspace

PASS = "correct horse battery staple"
XSS = '<script>alert("x")</script><img src=x onerror=alert(1)>"\'><svg onload=alert(2)>'
HOSTILE_REGION = "../../<script>alert(3)</script>/" + "д" * 150
PLATE_XSS = "AB <script>x</script>"
TESTIMONY = "SECRET-TESTIMONY-5521 я бачыў усё"
CONTACT = "SECRET-CONTACT-+375290000000"
GPS_TEXT = b"SECRET-GPS-NOTE"
MARKERS = ("SECRET-TESTIMONY-5521", "SECRET-CONTACT", "SECRET-GPS-NOTE", "SECRET-XMP", "SECRET-IPTC", "SECRET-COMMENT",
           "SECRET-TITLE", "SECRET-MAKER")


def jpeg_with_everything(color: tuple[int, int, int], size: tuple[int, int] = (64, 48)) -> bytes:
    """A JPEG with EXIF (maker, GPS), XMP, IPTC (APP13), an ICC profile and a comment."""
    im = Image.new("RGB", size, color)
    im.paste((255 - color[0], color[1], 255 - color[2]), (8, 8, 24, 24))
    exif = Image.Exif()
    exif[0x010F] = "SECRET-MAKER"
    exif[0x0112] = 1
    gps = exif.get_ifd(0x8825)
    gps[1], gps[2], gps[3], gps[4] = "N", (53.0, 54.0, 12.5), "E", (27.0, 33.0, 1.0)
    gps[27] = b"ASCII\x00\x00\x00" + GPS_TEXT
    xmp = b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description>SECRET-XMP</rdf:Description></rdf:RDF></x:xmpmeta>'
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    out = io.BytesIO()
    im.save(out, "JPEG", exif=exif.tobytes(), xmp=xmp, icc_profile=icc, comment=b"SECRET-COMMENT", quality=95)
    return _insert_iptc(out.getvalue(), b"SECRET-IPTC")


def _insert_iptc(jpeg: bytes, caption: bytes) -> bytes:
    # IPTC-IIM record 2:120 (caption) inside a Photoshop APP13 8BIM resource 0x0404.
    iim = b"\x1c\x02\x78" + struct.pack(">H", len(caption)) + caption
    res = b"8BIM" + struct.pack(">H", 0x0404) + b"\x00\x00" + struct.pack(">I", len(iim)) + iim
    if len(iim) % 2:
        res += b"\x00"
    payload = b"Photoshop 3.0\x00" + res
    seg = b"\xff\xed" + struct.pack(">H", len(payload) + 2) + payload
    return jpeg[:2] + seg + jpeg[2:]


def mp4_with_metadata(shade: int) -> bytes:
    """A short H.264 MP4 whose container says title and location."""
    buf = io.BytesIO()
    with av.open(buf, "w", format="mp4") as c:
        c.metadata["title"] = "SECRET-TITLE"
        c.metadata["location"] = "+53.9000+027.5667/"
        s = c.add_stream("libx264", rate=10)
        s.width, s.height, s.pix_fmt = 64, 48, "yuv420p"
        for i in range(10):
            frame = av.VideoFrame.from_ndarray(np.full((48, 64, 3), (shade + 10 * i) % 255, np.uint8), format="rgb24")
            for p in s.encode(frame):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    return buf.getvalue()


@dataclass
class Published:
    """The fixture archive, its published site(s) and what must never leak into them."""

    ws: Workspace
    site: Path
    site_be: Path
    report: BuildReport
    originals: dict[str, bytes] = field(default_factory=dict)
    approved: dict[str, str] = field(default_factory=dict)  # name -> derivative sha256
    unapproved: dict[str, str] = field(default_factory=dict)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
