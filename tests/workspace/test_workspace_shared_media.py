"""Real media from ../shared/data (skipped with a reason when absent): sealed with metadata."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from witnessbox.workspace import Workspace

pytestmark = pytest.mark.data


def test_real_videos_are_sealed_with_their_metadata(ws: Workspace, video_dir: Path) -> None:
    rep = ws.add([video_dir])
    assert rep.ok, rep.failed
    by_name = {r.name: r.metadata for r in rep.added}
    walk = by_name["one-person-walking.mp4"]
    assert (walk.kind, walk.width, walk.height) == ("video", 608, 1080)
    assert walk.duration_s is not None and 19 < walk.duration_s < 21 and "video:h264" in walk.codecs
    group = by_name["group-fisheye-with-audio.mp4"]
    assert (group.width, group.height) == (2560, 1920) and "audio:aac" in group.codecs
    assert ws.verify().ok


def test_real_photos_and_a_damaged_one(ws: Workspace, facemask_dev: Path, tmp_path: Path) -> None:
    photos = sorted((facemask_dev / "images").glob("*.png"))[:5]
    d = tmp_path / "photos"
    d.mkdir()
    for p in photos:
        shutil.copy(p, d / p.name)
    cut = d / "cut.png"
    cut.write_bytes(photos[0].read_bytes()[: photos[0].stat().st_size // 2])
    rep = ws.add([d])
    assert len(rep.added) == len(photos) and [f.path for f in rep.failed] == [str(cut)]
    for r in rep.added:
        assert r.media_type == "image/png" and r.metadata.width and r.metadata.height
    assert ws.verify().ok
