"""The detector finds faces on a real photo and nothing on a blank picture."""

from __future__ import annotations

import subprocess
import sys
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


def test_reused_input_buffer_gives_the_same_boxes(face_photo: Path) -> None:
    # The network's input array is reused by each thread; a larger picture before must leave
    # nothing behind in the padding of a smaller one (its sides are not multiples of 32).
    rgb = np.asarray(Image.open(face_photo).convert("RGB"))[:, :-7]
    cf = CenterFace(0.1)
    before = cf.raw(rgb)
    noise = np.random.default_rng(0).integers(0, 256, (rgb.shape[0] + 100, rgb.shape[1] + 100, 3), np.uint8)
    cf.raw(noise)
    after = cf.raw(rgb)
    assert before[0].shape[0] > 0
    assert np.array_equal(before[0], after[0]) and np.array_equal(before[1], after[1])


def test_dynamic_model_without_the_onnx_package_is_the_same() -> None:
    # The rewrite loads only onnx's protobuf schema; the result must equal the rewrite with the
    # whole package, and importing the package afterwards must still work.
    code = (
        "import sys\n"
        "from witnessbox.redact import detector as d\n"
        "fast = d._load_dynamic_model()\n"
        "assert 'onnx' not in sys.modules, 'the onnx package was imported'\n"
        "import onnx\n"
        "del sys.modules[d._PB2_MODULE]\n"
        "assert d._model_proto() is onnx.ModelProto\n"
        "assert d._load_dynamic_model() == fast\n"
        "dims = [x.dim_param for x in onnx.load_from_string(fast).graph.input[0].type.tensor_type.shape.dim]\n"
        "assert dims == ['B', '', 'H', 'W'], dims\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
