"""The detector finds faces on a real photo and nothing on a blank picture."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from witnessbox.redact.detector import CenterFace, MultiScaleDetector, VideoFrameDetector, available_providers, nms


def test_providers_end_with_cpu() -> None:
    assert available_providers()[-1] == "CPUExecutionProvider"


def test_blank_picture_has_no_face() -> None:
    assert MultiScaleDetector(CenterFace(0.1))(np.full((120, 160, 3), 128, np.uint8)) == []


def test_faces_found_on_a_real_photo(face_photo: Path) -> None:
    rgb = np.asarray(Image.open(face_photo).convert("RGB"))
    multi = MultiScaleDetector(CenterFace(0.1))(rgb)
    single = VideoFrameDetector(CenterFace(0.2), 640, threshold=0.2)(rgb, 1)
    assert len(multi) >= 4 and len(single) >= 2
    h, w = rgb.shape[:2]
    for d in multi:
        x0, y0, x1, y1 = d.box
        assert -w * 0.1 < x0 < x1 < w * 1.1 and -h * 0.1 < y0 < y1 < h * 1.1 and 0 < d.score <= 1


def test_nms_keeps_best_of_overlapping() -> None:
    boxes = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [50, 50, 60, 60]], np.float32)
    keep = nms(boxes, np.array([0.5, 0.9, 0.3], np.float32), 0.3)
    assert keep.tolist() == [1, 2]
