"""The per-frame video detector: mirrored odd frames and the closer look at small faces.

A stand-in network "sees" the one bright rectangle in whatever picture it is given and scores it
by its size there, like a real detector that is unsure of small faces: so the geometry of the
resize, mirror, crop and zoom is checked end to end.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from witnessbox.redact.detector import (
    CenterFace,
    Detection,
    VideoFrameDetector,
    ZoomPlan,
)

CROWD = "maksssksksss518"  # facemask-dev: 83 annotated faces, most of them small


class BrightBoxNet:
    """Finds each bright rectangle; 0.06 when it is under 20 px wide (small), 0.6 otherwise."""

    name = "bright"
    nms_iou = 0.3

    def __init__(self) -> None:
        self.sizes: list[tuple[int, int]] = []

    def __call__(self, img: np.ndarray) -> list[Detection]:
        import cv2

        self.sizes.append((img.shape[1], img.shape[0]))
        n, _, stats, _ = cv2.connectedComponentsWithStats((img[:, :, 0] > 128).astype(np.uint8))
        out = []
        for x, y, bw, bh, _ in stats[1:n]:
            out.append(Detection((float(x), float(y), float(x + bw), float(y + bh)), 0.06 if bw < 20 else 0.6))
        return out


def frame_with(*boxes: tuple[int, int, int, int], w: int = 640, h: int = 360) -> np.ndarray:
    rgb = np.zeros((h, w, 3), np.uint8)
    for x0, y0, x1, y1 in boxes:
        rgb[y0:y1, x0:x1] = 255
    return rgb


def test_small_face_found_by_the_closer_look() -> None:
    net = BrightBoxNet()
    det = VideoFrameDetector(net, 640, threshold=0.1, zoom=ZoomPlan())  # type: ignore[arg-type]
    found = det(frame_with((100, 100, 110, 112)), 0)
    assert len(found) == 1 and found[0].score == pytest.approx(0.6)
    assert found[0].box == pytest.approx((100, 100, 110, 112), abs=1.0)
    # The second look covered only the rectangle around the candidate (32 px padding), twice enlarged.
    assert net.sizes == [(640, 360), (2 * (110 + 32 - 68), 2 * (112 + 32 - 68))]


def test_one_closer_look_at_all_small_faces() -> None:
    net = BrightBoxNet()
    det = VideoFrameDetector(net, 640, threshold=0.1, zoom=ZoomPlan())  # type: ignore[arg-type]
    found = det(frame_with((100, 100, 110, 112), (500, 250, 510, 262)), 0)
    assert sorted(d.box for d in found) == [pytest.approx((100, 100, 110, 112), abs=1.0),
                                             pytest.approx((500, 250, 510, 262), abs=1.0)]
    assert net.sizes[1:] == [(2 * (510 + 32 - 68), 2 * (262 + 32 - 68))]


def test_closer_look_only_on_planned_frames() -> None:
    net = BrightBoxNet()
    det = VideoFrameDetector(net, 640, threshold=0.1, zoom=ZoomPlan(every=2))  # type: ignore[arg-type]
    assert det(frame_with((100, 100, 110, 112)), 1) == []  # odd frame: one (mirrored) pass only
    assert len(net.sizes) == 1
    off = VideoFrameDetector(BrightBoxNet(), 640, threshold=0.1, zoom=None)  # type: ignore[arg-type]
    assert off(frame_with((100, 100, 110, 112)), 0) == []


def test_no_closer_look_without_small_candidates() -> None:
    net = BrightBoxNet()
    det = VideoFrameDetector(net, 640, threshold=0.1, zoom=ZoomPlan())  # type: ignore[arg-type]
    found = det(frame_with((300, 100, 360, 180)), 0)
    assert [d.box for d in found] == [pytest.approx((300, 100, 360, 180))]
    assert len(net.sizes) == 1


@pytest.mark.parametrize("index", [0, 1])
def test_boxes_map_back_to_the_frame(index: int) -> None:
    # A 1280x720 frame is analysed at 640x360, mirrored on odd frames; boxes come back in frame pixels.
    det = VideoFrameDetector(BrightBoxNet(), 640, threshold=0.1, zoom=ZoomPlan())  # type: ignore[arg-type]
    found = det(frame_with((200, 300, 320, 460), w=1280, h=720), index)
    assert len(found) == 1
    assert found[0].box == pytest.approx((200, 300, 320, 460), abs=2.0)


def test_closer_look_cuts_the_frame_itself() -> None:
    # 1920x1080 is analysed at 640x360 (1/3): a 24 px face is 8 px there, a candidate. The closer
    # look cuts the candidate plus 32 analysed px (96 frame px) on each side from the full frame
    # and enlarges it 2 x 1/3.
    net = BrightBoxNet()
    det = VideoFrameDetector(net, 640, threshold=0.1, zoom=ZoomPlan())  # type: ignore[arg-type]
    det(frame_with((960, 540, 984, 570), w=1920, h=1080), 0)
    assert net.sizes[0] == (640, 360)
    assert net.sizes[1][0] == pytest.approx((24 + 2 * 96) * 2 / 3, abs=3)


def test_closer_look_finds_more_faces_in_a_real_crowd(facemask_dev: Path) -> None:
    rgb = np.asarray(Image.open(facemask_dev / "images" / f"{CROWD}.png").convert("RGB"))
    root = ET.parse(facemask_dev / "annotations" / f"{CROWD}.xml").getroot()
    truth = [[float(o.findtext(f"bndbox/{k}", "0")) for k in ("xmin", "ymin", "xmax", "ymax")] for o in root.iter("object")]

    def found(det: VideoFrameDetector) -> set[int]:
        # A face is found when a detection is centred on it (its box grown by a quarter a side:
        # boxes of 5-10 px faces are a pixel or two off).
        centres = [((d.box[0] + d.box[2]) / 2, (d.box[1] + d.box[3]) / 2) for d in det(rgb, 0)]
        out = set()
        for i, (x0, y0, x1, y1) in enumerate(truth):
            gx, gy = (x1 - x0) / 4, (y1 - y0) / 4
            if any(x0 - gx <= x <= x1 + gx and y0 - gy <= y <= y1 + gy for x, y in centres):
                out.add(i)
        return out

    base = CenterFace(0.05)
    single = found(VideoFrameDetector(base, 640, threshold=0.1, zoom=None))
    closer = found(VideoFrameDetector(base, 640, threshold=0.1, zoom=ZoomPlan()))
    # Measured: 80 of 83 faces found by the single pass, all 83 with the closer look.
    assert single <= closer and len(closer) >= len(single) + 2, (len(single), len(closer), len(truth))
