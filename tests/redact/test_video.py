"""Video redaction end to end: same frame count, rate and size, H.264 MP4, rotation applied,
audio dropped unless asked, and bad videos fail closed."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from redact_helpers import make_video
from witnessbox.errors import InputError, UnsupportedMediaError, WitnessboxError
from witnessbox.redact.pipeline import Redactor, RedactOptions
from witnessbox.redact.regions import read_regions


@pytest.fixture(scope="module")
def redactor() -> Redactor:
    return Redactor(workers=1)


def _frames(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as c:
        return [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]


def _streams(path: Path) -> tuple[str, list[str], dict[str, str], int]:
    with av.open(str(path)) as c:
        v = c.streams.video[0]
        first = next(c.decode(v))
        return v.codec_context.name, [s.type for s in c.streams], dict(c.metadata), int(first.rotation or 0)


@pytest.mark.parametrize(("w", "h"), [(66, 50), (65, 49)])
def test_same_frames_rate_and_size(redactor: Redactor, tmp_path: Path, w: int, h: int) -> None:
    src = make_video(tmp_path / "in.mp4", w, h, frames=12, fps=Fraction(30000, 1001))
    res = redactor.redact_file(src, tmp_path / "out.mp4")
    out = _frames(res.output)
    assert len(out) == 12 and out[0].shape == (h, w, 3)
    with av.open(str(res.output)) as c:
        assert c.streams.video[0].average_rate == Fraction(30000, 1001)
    codec, kinds, meta, rot = _streams(res.output)
    assert codec == "h264" and kinds == ["video"] and rot == 0
    assert "creation_time" not in meta and "encoder" not in meta
    doc = read_regions(res.regions_file)
    assert (doc.media.width, doc.media.height, doc.media.frames) == (w, h, 12)
    assert doc.media.fps == pytest.approx(30000 / 1001)


def test_manual_region_hidden_in_every_frame(redactor: Redactor, small_video: Path, tmp_path: Path) -> None:
    first = redactor.redact_file(small_video, tmp_path / "a.mp4")
    import json

    doc = json.loads(first.regions_file.read_text())
    doc["regions"] = [{"frame": f, "shape": "box", "box": [20, 20, 40, 40], "score": 1, "source": "manual"} for f in range(12)]
    edited = tmp_path / "e.regions.json"
    edited.write_text(json.dumps(doc))
    res = redactor.redact_file(small_video, tmp_path / "b.mp4", regions=edited)
    for fr in _frames(res.output):
        assert fr[22:38, 22:38].max() < 40  # black after lossy coding


def test_rotation_is_applied_to_pixels(redactor: Redactor, small_video: Path, tmp_path: Path) -> None:
    import imageio_ffmpeg

    rotated = tmp_path / "phone.mp4"
    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-y", "-loglevel", "error", "-display_rotation", "90",
                    "-i", str(small_video), "-c", "copy", str(rotated)], check=True)
    res = redactor.redact_file(rotated, tmp_path / "out.mp4")
    fr = _frames(res.output)[0]
    assert fr.shape == (66, 50, 3)  # portrait, as displayed
    assert fr[-3, 2, 0] > 200 and fr[-3, 2, 1] < 100  # the red marker is bottom-left when displayed
    assert _streams(res.output)[3] == 0
    doc = read_regions(res.regions_file)
    assert (doc.media.width, doc.media.height) == (50, 66)


def test_other_container_becomes_mp4(tmp_path: Path) -> None:
    src = make_video(tmp_path / "movie.mp4")
    mov = src.rename(tmp_path / "movie.mov")
    rep = Redactor(workers=1).redact_paths([mov], tmp_path / "out")
    assert [r.output.name for r in rep.done] == ["movie.mp4"]
    assert (tmp_path / "out" / "movie.mp4.regions.json").is_file()


def _zero_frames(d: Path) -> Path:
    p = d / "empty.mp4"
    c = av.open(str(p), "w", format="mp4")
    s = c.add_stream("libx264", rate=25)
    s.width, s.height, s.pix_fmt = 64, 48, "yuv420p"
    c.start_encoding()
    c.close()
    return p


def _truncated(d: Path) -> Path:
    src = make_video(d / "full.mp4", frames=40)
    data = src.read_bytes()
    p = d / "cut.mp4"
    p.write_bytes(data[: len(data) // 2])
    return p


def _garbage(d: Path) -> Path:
    p = d / "noise.mp4"
    p.write_bytes(np.random.default_rng(0).integers(0, 255, 5000, dtype=np.uint8).tobytes())
    return p


def _unsupported(d: Path) -> Path:
    p = d / "clip.flv"
    p.write_bytes(b"FLV\x01")
    return p


_BAD: list[tuple[str, Callable[[Path], Path], type[WitnessboxError], str]] = [
    ("zero frames", _zero_frames, InputError, "no frames|no video stream"),
    ("truncated", _truncated, InputError, "truncated|corrupt|not a readable"),
    ("garbage", _garbage, InputError, "not a readable video"),
    ("unsupported container", _unsupported, UnsupportedMediaError, r"\.mp4"),
]


@pytest.mark.parametrize(("case", "build", "err", "needle"), _BAD, ids=[c[0] for c in _BAD])
def test_bad_videos_fail_closed(
    redactor: Redactor, tmp_path: Path, case: str, build: Callable[[Path], Path], err: type[WitnessboxError], needle: str
) -> None:
    src = build(tmp_path)
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(err, match=needle):
        redactor.redact_file(src, out / "x.mp4")
    assert list(out.iterdir()) == []


@pytest.mark.slow
@pytest.mark.parametrize("keep", [False, True])
def test_audio_dropped_unless_kept(video_dir: Path, tmp_path: Path, keep: bool) -> None:
    src = video_dir / "group-fisheye-with-audio.mp4"
    res = Redactor(RedactOptions(keep_audio=keep), workers=1).redact_file(src, tmp_path / "o.mp4")
    kinds = _streams(res.output)[1]
    assert kinds == (["video", "audio"] if keep else ["video"])
    with av.open(str(src)) as a, av.open(str(res.output)) as b:
        assert (b.streams.video[0].codec_context.width, b.streams.video[0].codec_context.height) == (
            a.streams.video[0].codec_context.width, a.streams.video[0].codec_context.height)
    assert len(_frames(res.output)) == len(_frames(src)) == res.frames
    assert res.regions > 0  # people are in this clip
