"""Video redaction end to end: same frame count, rate and size, H.264 MP4, rotation applied,
audio dropped unless asked, and bad videos fail closed."""

from __future__ import annotations

import errno
import io
import subprocess
import threading
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from redact_helpers import make_video
from witnessbox.errors import InputError, UnsupportedMediaError, WitnessboxError
from witnessbox.redact.pipeline import Redactor, RedactOptions
from witnessbox.media.video import probe_video
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
    data = res.output.read_bytes()
    assert b"x264" not in data and b"Lavf" not in data and b"Lavc" not in data, "an encoder string leaks"
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


def test_kept_audio_and_tags_leak_nothing(small_video: Path, tmp_path: Path) -> None:
    import imageio_ffmpeg

    tagged = tmp_path / "tagged.mp4"
    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-y", "-loglevel", "error", "-i", str(small_video),
                    "-f", "lavfi", "-i", "sine=d=1", "-shortest", "-c:v", "copy", "-c:a", "aac",
                    "-metadata", "creation_time=2024-01-01T00:00:00Z", "-metadata", "location=+48.85+002.35/",
                    "-metadata", "title=SECRETTITLE", "-metadata:s:v", "handler_name=SECRETHANDLER",
                    "-metadata:s:a", "handler_name=SECRETAUDIO", str(tagged)], check=True)
    assert b"Lavc" in tagged.read_bytes()  # ffmpeg's AAC encoder signs its bitstream
    res = Redactor(RedactOptions(keep_audio=True), workers=1).redact_file(tagged, tmp_path / "o.mp4")
    assert _streams(res.output)[1] == ["video", "audio"]
    data = res.output.read_bytes()
    for leak in (b"SECRET", b"48.85", b"2024", b"Lavc", b"Lavf", b"x264"):
        assert leak not in data, leak


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


def _corrupt_frames(d: Path) -> Path:
    # Flip a few bytes inside some frames' data: by default the H.264 decoder conceals such
    # damage and hands out smeared frames without an error.
    src = make_video(d / "full.mp4", frames=40)
    data = bytearray(src.read_bytes())
    with av.open(str(src)) as c:
        packets = [(p.pos, p.size) for p in c.demux(c.streams.video[0]) if p.size]
    for seed in (12, 21, 27):
        rng = np.random.default_rng(seed)
        pos, size = packets[rng.integers(1, len(packets))]
        for k in rng.integers(pos + 8, pos + size, 3):
            data[k] ^= 0xFF
    p = d / "damaged.mp4"
    p.write_bytes(bytes(data))
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
    ("corrupt frames", _corrupt_frames, InputError, "corrupt"),
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


def test_frames_too_large_refused(small_video: Path, tmp_path: Path) -> None:
    # A video's frames count against the pixel limit like a photo's (66 x 50 = 3300 here).
    (tmp_path / "o").mkdir()
    with pytest.raises(InputError, match="decompression bomb"):
        Redactor(RedactOptions(max_pixels=3000), workers=1).redact_file(small_video, tmp_path / "o" / "x.mp4")
    assert not list((tmp_path / "o").iterdir())


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


class _FullDisk(io.RawIOBase):
    """A seekable output that fails like a full disk once ``limit`` bytes are written."""

    def __init__(self, limit: int) -> None:
        self.buf = io.BytesIO()
        self.limit = limit

    def writable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def write(self, b: bytes) -> int:  # type: ignore[override]
        if self.buf.tell() + len(b) > self.limit:
            raise OSError(errno.ENOSPC, "No space left on device")
        return self.buf.write(b)

    def seek(self, pos: int, whence: int = 0) -> int:
        return self.buf.seek(pos, whence)

    def tell(self) -> int:
        return self.buf.tell()


def test_encoder_failure_is_reported_not_a_hang(tmp_path: Path) -> None:
    # The encoder thread fails while the render loop is blocked on a full queue: the error
    # must come back (nothing written), never a deadlock.
    src = make_video(tmp_path / "long.mp4", 320, 240, frames=120)
    redactor = Redactor(workers=1)
    info = probe_video(src)
    outcome: list[BaseException | int] = []

    def run() -> None:
        try:
            outcome.append(redactor._encode(src, info, _FullDisk(2000), {}, None, 120, lambda *a: None, "x"))
        except BaseException as e:
            outcome.append(e)

    t = threading.Thread(target=run, daemon=True)
    t.start()
    t.join(60)
    assert outcome, "redaction hung after the encoder failed"
    assert isinstance(outcome[0], BaseException)
