"""The renderer hides every pixel of every region, and nothing else."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pytest

from witnessbox.errors import UsageError
from witnessbox.redact.regions import Region
from witnessbox.redact.render import Fill, region_mask, render

# ../shared/tools, beside the data that $WITNESSBOX_DATA may move (as in tests/conftest.py).
TOOLS = Path(os.environ.get("WITNESSBOX_DATA", Path(__file__).resolve().parents[3] / "shared" / "data")).parent / "tools"


def _noise(h: int = 60, w: int = 80, c: int = 3) -> np.ndarray:
    return np.random.default_rng(1).integers(0, 256, (h, w, c), dtype=np.uint8)


@pytest.mark.parametrize("fill", list(Fill))
def test_every_region_pixel_changes_and_outside_does_not(fill: Fill) -> None:
    pic = _noise()
    reg = Region(0, "ellipse", (10.3, 5.7, 41.2, 37.9), 0.9, "detector")
    out = render(pic, [reg], fill)
    (x0, y0, x1, y1), mask = region_mask(reg, 80, 60)  # type: ignore[misc]
    full = np.zeros((60, 80), bool)
    full[y0:y1, x0:x1] = mask
    assert (out[~full] == pic[~full]).all()
    if fill is Fill.SOLID:
        assert (out[full] == 0).all()
    else:
        # The detail is gone: neighbouring pixels inside barely differ any more.
        inner = full[:, 1:] & full[:, :-1]
        d_out = np.abs(np.diff(out.astype(int), axis=1))[inner].mean()
        d_pic = np.abs(np.diff(pic.astype(int), axis=1))[inner].mean()
        assert d_out < 0.15 * d_pic


def test_solid_covers_the_scorers_ellipse() -> None:
    # The benchmark's scorer rasterizes ellipses by pixel centres; ours must include all of them.
    if not (TOOLS / "redaction_eval.py").exists():
        pytest.skip("shared tools not found")
    sys.path.insert(0, str(TOOLS))
    from redaction_eval import ellipse_mask  # type: ignore[import-not-found]

    rng = np.random.default_rng(3)
    pic = np.full((50, 70, 3), 200, np.uint8)
    for _ in range(50):
        x0, y0 = rng.uniform(-10, 60), rng.uniform(-10, 40)
        box = (x0, y0, x0 + rng.uniform(1, 30), y0 + rng.uniform(1, 30))
        out = render(pic, [Region(0, "ellipse", box, 1.0, "manual")])
        assert (out[ellipse_mask(50, 70, list(box), "ellipse")] == 0).all()


def test_box_shape_and_clipping() -> None:
    pic = _noise()
    out = render(pic, [Region(0, "box", (-20, -20, 10, 10), 1.0, "manual")])
    assert (out[:10, :10] == 0).all() and (out[10:, 10:] == pic[10:, 10:]).all()


def test_region_outside_the_picture_is_ignored() -> None:
    pic = _noise()
    assert (render(pic, [Region(0, "box", (100, 100, 120, 130), 1.0, "manual")]) == pic).all()


def test_alpha_made_opaque_inside_regions() -> None:
    pic = _noise(c=4)
    pic[..., 3] = 0
    out = render(pic, [Region(0, "box", (0, 0, 5, 5), 1.0, "manual")])
    assert (out[:5, :5, 3] == 255).all() and (out[:5, :5, :3] == 0).all()
    assert (out[10:, 10:, 3] == 0).all()


def test_unknown_fill_lists_valid_ones() -> None:
    with pytest.raises(UsageError, match="solid, blur, pixelate"):
        Fill.parse("swirl")
