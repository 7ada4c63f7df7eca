"""Small generated media for the trace tests (photos from skimage.data, short videos)."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image
from skimage import data

Array = np.ndarray


def write_video(path: Path, frames: list[Array], fps: int = 10) -> Path:
    """Encode RGB frames as H.264 (even sizes)."""
    h, w = frames[0].shape[:2]
    with av.open(str(path), "w") as out:
        st = out.add_stream("libx264", rate=fps)
        st.width, st.height, st.pix_fmt = w // 2 * 2, h // 2 * 2, "yuv420p"
        for f in frames:
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(f[: st.height, : st.width]), format="rgb24")
            for pkt in st.encode(frame):
                out.mux(pkt)
        for pkt in st.encode():
            out.mux(pkt)
    return path


def pan(rgb: Array, n: int = 30, size: tuple[int, int] = (256, 192)) -> list[Array]:
    """A camera move over a photo: n frames of a window sliding and zooming."""
    import cv2

    h, w = rgb.shape[:2]
    out = []
    for i in range(n):
        t = i / max(1, n - 1)
        z = 1.0 - 0.35 * t
        cw, ch = w * z, h * z
        x0, y0 = (w - cw) * t, (h - ch) * t * 0.5
        m = np.array([[size[0] / cw, 0, -x0 * size[0] / cw], [0, size[1] / ch, -y0 * size[1] / ch]])
        out.append(cv2.warpAffine(rgb, m, size, flags=cv2.INTER_AREA))
    return out


PHOTOS = {
    "astronaut": data.astronaut,
    "coffee": data.coffee,
    "chelsea": data.chelsea,
    "rocket": data.rocket,
    "hubble": data.hubble_deep_field,
    "immunohistochemistry": data.immunohistochemistry,
}


@pytest.fixture(scope="session")
def photos(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Unrelated public-domain photos as PNG files."""
    d = tmp_path_factory.mktemp("photos")
    out = {}
    for name, fn in PHOTOS.items():
        p = d / f"{name}.png"
        Image.fromarray(np.asarray(fn())[..., :3]).save(p)
        out[name] = p
    return out


@pytest.fixture(scope="session")
def make_video():  # type: ignore[no-untyped-def]
    """The video writer, for tests that build their own clip."""
    return write_video


@pytest.fixture(scope="session")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Three short videos: two camera moves over unrelated photos, and one static black video."""
    d = tmp_path_factory.mktemp("clips")
    return {
        "coffee": write_video(d / "coffee.mp4", pan(np.asarray(data.coffee()))),
        "rocket": write_video(d / "rocket.mp4", pan(np.asarray(data.rocket()))),
        "black": write_video(d / "black.mp4", [np.zeros((120, 160, 3), np.uint8)] * 10),
        "single": write_video(d / "single.mp4", [np.asarray(data.chelsea())[:300, :450]]),
    }
