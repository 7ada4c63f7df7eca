"""Matching: copies are found under each transform, unrelated content never is."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from witnessbox.trace import FingerprintIndex, Fingerprints, copy_groups, faiss_available, fingerprint_file


def _rgb(p: Path) -> np.ndarray:
    return np.asarray(Image.open(p).convert("RGB"))


def _letterbox(a: np.ndarray) -> np.ndarray:
    h, w = a.shape[:2]
    canvas = np.zeros((int(w * 16 / 9) // 2 * 2, w, 3), np.uint8)
    y0 = (canvas.shape[0] - h) // 2
    canvas[y0 : y0 + h] = (255 * (a / 255.0) ** 1.3).astype(np.uint8)
    return canvas


TRANSFORMS = {
    "recompress": lambda a: a,  # saved as JPEG quality 20 below
    "resize": lambda a: cv2.resize(a, (a.shape[1] // 3, a.shape[0] // 3), interpolation=cv2.INTER_AREA),
    "grayscale": lambda a: np.repeat(cv2.cvtColor(a, cv2.COLOR_RGB2GRAY)[..., None], 3, axis=2),
    "crop15": lambda a: a[int(a.shape[0] * 0.15) :, int(a.shape[1] * 0.05) : int(a.shape[1] * 0.9)],
    "flip": lambda a: a[:, ::-1],
    "screen": _letterbox,
}


@pytest.fixture(scope="module")
def index(photos: dict[str, Path]) -> tuple[FingerprintIndex, dict[str, Fingerprints]]:
    fps = {name: fingerprint_file(p) for name, p in photos.items()}
    idx = FingerprintIndex("numpy")
    for name, f in fps.items():
        idx.add(name, f)
    return idx, fps


@pytest.mark.parametrize("transform", sorted(TRANSFORMS))
@pytest.mark.parametrize("name", ["astronaut", "coffee", "chelsea"])
def test_transformed_photo_finds_only_its_original(
    index: tuple[FingerprintIndex, dict[str, Fingerprints]], photos: dict[str, Path], tmp_path: Path,
    transform: str, name: str,
) -> None:
    copy = np.ascontiguousarray(TRANSFORMS[transform](_rgb(photos[name])))
    p = tmp_path / "copy.jpg"
    Image.fromarray(copy).save(p, quality=20 if transform == "recompress" else 85)
    found = index[0].match(fingerprint_file(p))
    assert [m.key for m in found] == [name]
    assert found[0].flipped == (transform == "flip")
    assert 0 < found[0].score <= 1


def test_unrelated_photos_never_match(index: tuple[FingerprintIndex, dict[str, Fingerprints]]) -> None:
    idx, fps = index
    for name, f in fps.items():
        assert idx.match(f, exclude=name) == []


def test_video_clip_matches_with_time_ranges_on_both_sides(clips: dict[str, Path], make_video, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    import av

    idx = FingerprintIndex("numpy")
    for name in ("coffee", "rocket"):
        idx.add(name, fingerprint_file(clips[name]))
    with av.open(str(clips["coffee"])) as c:
        frames = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    # Seconds 1.0-2.0 of the original, mirrored, at 5 fps.
    clip = make_video(tmp_path / "clip.mp4", [np.ascontiguousarray(f[:, ::-1]) for f in frames[10:20:2]], fps=5)
    found = idx.match(fingerprint_file(clip))
    assert [m.key for m in found] == ["coffee"]
    m = found[0]
    assert m.flipped and m.matched_samples >= 2
    assert m.query_range is not None and m.item_range is not None
    assert m.query_range.start == pytest.approx(0.0, abs=0.3) and m.query_range.end <= 1.0
    assert m.item_range.start == pytest.approx(1.0, abs=0.35) and m.item_range.end == pytest.approx(2.0, abs=0.5)


def test_frame_grab_matches_the_video_second_it_came_from(clips: dict[str, Path], tmp_path: Path) -> None:
    import av

    idx = FingerprintIndex("numpy")
    idx.add("coffee", fingerprint_file(clips["coffee"]))
    with av.open(str(clips["coffee"])) as c:
        frame = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)][20]
    Image.fromarray(frame).save(tmp_path / "grab.jpg")
    (m,) = idx.match(fingerprint_file(tmp_path / "grab.jpg"))
    assert m.key == "coffee" and m.item_range is not None
    assert m.method == "pdq" and m.item_range.start <= 2.0 <= m.item_range.end


def test_unusable_items_are_never_indexed_or_matched(clips: dict[str, Path], tmp_path: Path) -> None:
    idx = FingerprintIndex("numpy")
    black = fingerprint_file(clips["black"])
    assert idx.add("black", black) == 0
    Image.new("RGB", (300, 200)).save(tmp_path / "b.png")
    assert idx.match(fingerprint_file(tmp_path / "b.png")) == []
    assert idx.match(black) == []


def test_copy_groups_join_copies_and_keep_unrelated_apart(photos: dict[str, Path], tmp_path: Path) -> None:
    a = np.ascontiguousarray(_rgb(photos["astronaut"])[:, ::-1])
    Image.fromarray(a).save(tmp_path / "a-flip.jpg")
    Image.fromarray(_rgb(photos["astronaut"])[40:, 30:]).save(tmp_path / "a-crop.jpg")
    items = {
        "a": fingerprint_file(photos["astronaut"]),
        "a-flip": fingerprint_file(tmp_path / "a-flip.jpg"),
        "a-crop": fingerprint_file(tmp_path / "a-crop.jpg"),
        "c": fingerprint_file(photos["coffee"]),
    }
    idx = FingerprintIndex("numpy")
    for k, f in items.items():
        idx.add(k, f)
    assert copy_groups(items, idx) == [["a", "a-crop", "a-flip"]]


@pytest.mark.skipif(not faiss_available(), reason="faiss-cpu not installed")
def test_faiss_and_numpy_indexes_give_the_same_matches(photos: dict[str, Path], tmp_path: Path) -> None:
    copy = np.ascontiguousarray(_rgb(photos["chelsea"])[30:, ::-1])
    Image.fromarray(copy).save(tmp_path / "c.jpg", quality=50)
    query = fingerprint_file(tmp_path / "c.jpg")
    results = []
    for kind in ("numpy", "faiss"):
        idx = FingerprintIndex(kind)  # type: ignore[arg-type]
        for name, p in photos.items():
            idx.add(name, fingerprint_file(p))
        results.append(idx.match(query))
    assert results[0] == results[1] and [m.key for m in results[0]] == ["chelsea"]


def test_shared_photos_cropped_and_screen_recorded_find_their_original(facemask_dev: Path, tmp_path: Path) -> None:
    paths = sorted((facemask_dev / "images").glob("*.png"))[:4]
    idx = FingerprintIndex("numpy")
    for p in paths:
        idx.add(p.stem, fingerprint_file(p))
    for p in paths:
        rgb = _rgb(p)
        h, w = rgb.shape[:2]
        Image.fromarray(rgb[int(h * 0.12) :, : int(w * 0.88)]).save(tmp_path / "crop.jpg", quality=70)
        Image.fromarray(_letterbox(rgb)).save(tmp_path / "screen.jpg", quality=70)
        for name in ("crop.jpg", "screen.jpg"):
            assert [m.key for m in idx.match(fingerprint_file(tmp_path / name))] == [p.stem], name
