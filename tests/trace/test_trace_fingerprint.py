"""Fingerprints of photos and videos, and the clear reasons given for bad media."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pdqhash
import pytest
from PIL import Image

from witnessbox.trace import Fingerprints, fingerprint_file
from witnessbox.trace import pdq


def test_photo_has_whole_frame_and_mirrored_hash_and_features(photos: dict[str, Path]) -> None:
    fps = fingerprint_file(photos["astronaut"])
    assert fps.kind == "photo" and fps.reason is None and fps.usable
    assert (fps.width, fps.height) == (512, 512)
    assert {(h.region, h.flipped) for h in fps.hashes} == {(0, False), (0, True)}
    assert all(len(h.pdq) == 32 and h.quality >= 50 for h in fps.hashes)
    assert {f.flipped for f in fps.features} == {False, True}
    assert all(len(f) > 50 for f in fps.features)


def test_hash_is_pdq_of_the_frame_resampled_to_64x64(photos: dict[str, Path]) -> None:
    rgb = np.asarray(Image.open(photos["coffee"]).convert("RGB"))
    square = cv2.resize(pdq.shrink(pdq.shrink(rgb, 512)), (64, 64), interpolation=cv2.INTER_AREA)
    bits, _ = pdqhash.compute(np.ascontiguousarray(square))
    fps = fingerprint_file(photos["coffee"], flips=False)
    assert fps.hashes[0].pdq == np.packbits(bits.astype(np.uint8)).tobytes()


def test_black_borders_are_trimmed(photos: dict[str, Path], tmp_path: Path) -> None:
    rgb = np.asarray(Image.open(photos["chelsea"]).convert("RGB"))
    h, w = rgb.shape[:2]
    boxed = np.zeros((h + 200, w + 60, 3), np.uint8)
    boxed[100 : 100 + h, 30 : 30 + w] = rgb
    Image.fromarray(boxed).save(tmp_path / "boxed.png")
    a = fingerprint_file(photos["chelsea"], flips=False).hashes[0].pdq
    b = fingerprint_file(tmp_path / "boxed.png", flips=False).hashes[0].pdq
    assert pdq.distance(a, b) <= 16


def test_mirrored_hash_equals_hash_of_mirrored_file(photos: dict[str, Path], tmp_path: Path) -> None:
    rgb = np.asarray(Image.open(photos["rocket"]).convert("RGB"))
    Image.fromarray(np.ascontiguousarray(rgb[:, ::-1])).save(tmp_path / "m.png")
    orig = fingerprint_file(photos["rocket"])
    mirrored = fingerprint_file(tmp_path / "m.png", flips=False)
    flipped_hash = next(h.pdq for h in orig.hashes if h.flipped)
    assert pdq.distance(flipped_hash, mirrored.hashes[0].pdq) <= 4


def _black(p: Path) -> None:
    Image.new("RGB", (300, 200)).save(p)


def _tiny(p: Path) -> None:
    Image.fromarray((np.random.default_rng(0).random((12, 20, 3)) * 255).astype(np.uint8)).save(p)


def _flat(p: Path) -> None:
    Image.new("RGB", (300, 200), (120, 130, 140)).save(p)


def _corrupt_png(p: Path) -> None:
    img = p.with_suffix(".tmp.png")
    Image.fromarray((np.random.default_rng(1).random((200, 200, 3)) * 255).astype(np.uint8)).save(img)
    p.write_bytes(img.read_bytes()[:300])


def _garbage(p: Path) -> None:
    p.write_bytes(b"\x00not a picture or a video\x01" * 50)


def _empty(p: Path) -> None:
    p.write_bytes(b"")


def _huge(p: Path) -> None:
    # 200 MP of a single colour: tiny on disk, refused before decoding.
    Image.new("1", (20000, 10000)).save(p)


@pytest.mark.parametrize(
    ("name", "make", "kind", "words"),
    [
        ("black.png", _black, "photo", "blank"),
        ("tiny.png", _tiny, "photo", "too small"),
        ("flat.png", _flat, "photo", "uniform"),
        ("corrupt.png", _corrupt_png, "photo", "corrupt"),
        ("garbage.bin", _garbage, "none", "not a photo or video"),
        ("empty.jpg", _empty, "none", "not a photo or video"),
        ("huge.png", _huge, "photo", "too large"),
    ],
)
def test_bad_photo_gets_a_reason_and_no_usable_hash(
    tmp_path: Path, name: str, make, kind: str, words: str  # type: ignore[no-untyped-def]
) -> None:
    p = tmp_path / name
    make(p)
    fps = fingerprint_file(p)
    assert fps.kind == kind
    assert fps.reason is not None and words in fps.reason
    assert not fps.usable and fps.matchable() == () and fps.matchable_features() == ()


def test_video_frames_are_sampled_with_timestamps_and_deduplicated(clips: dict[str, Path]) -> None:
    fps = fingerprint_file(clips["coffee"])
    assert fps.kind == "video" and fps.reason is None
    assert fps.duration == pytest.approx(3.0, abs=0.15)
    starts = sorted({h.start for h in fps.hashes})
    assert starts[0] == 0.0 and starts[-1] <= 3.0 and len(starts) >= 3
    assert all(h.end >= h.start for h in fps.hashes)
    assert {round(f.time) for f in fps.features if not f.flipped} >= {0, 1, 2}


def test_static_video_keeps_one_hash_for_its_whole_length(make_video, tmp_path: Path, photos) -> None:  # type: ignore[no-untyped-def]
    rgb = np.asarray(Image.open(photos["coffee"]).convert("RGB"))
    p = make_video(tmp_path / "still.mp4", [rgb] * 30)
    fps = fingerprint_file(p, flips=False)
    assert len(fps.hashes) == 1
    assert fps.hashes[0].start == 0.0 and fps.hashes[0].end >= 2.5


@pytest.mark.parametrize(("clip", "words"), [("black", "blank"), ("single", "single frame")])
def test_bad_video_gets_a_reason(clips: dict[str, Path], clip: str, words: str) -> None:
    fps = fingerprint_file(clips[clip])
    assert fps.kind == "video" and fps.reason is not None and words in fps.reason
    assert not fps.usable


def test_truncated_video_keeps_what_decoded_or_says_why(clips: dict[str, Path], tmp_path: Path) -> None:
    data = clips["rocket"].read_bytes()
    p = tmp_path / "cut.mp4"
    p.write_bytes(data[: len(data) // 2])
    fps = fingerprint_file(p)
    assert isinstance(fps, Fingerprints)
    assert fps.usable or fps.reason


def test_real_video_from_shared_data(video_dir: Path) -> None:
    fps = fingerprint_file(video_dir / "group-fisheye-with-audio.mp4")
    assert fps.kind == "video" and fps.usable
    assert (fps.width, fps.height) == (2560, 1920)
    assert 1.3 <= fps.duration <= 1.5
